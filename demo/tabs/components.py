"""The app's input components: Gradio's own, each of which first checks what a request sent for it.

A browser sends only what its widget allows; ``gradio_client`` and raw HTTP clients can send anything: NaN, a string or
a list for a slider, null for a checkbox, a list for a dropdown. Gradio's own preprocessing lets some of that through
(``int(NaN)`` then fails in the handler) and refuses the rest with an error that names no parameter, or with a bare
"has not enabled verbose error reporting". Each component here takes the API parameter's name (``param``, the
handler's argument, as ``gradio_client`` names it) and a description (``what``), and refuses a bad payload before
Gradio's preprocessing with the app's clean one-line error (through :func:`demo.tabs.guard.guard`): the parameter's
name, then what it allows (the range, the choices) and what was sent; the checks are :mod:`demo.search.params`'.

They are drop-in: the same arguments as Gradio's component plus ``param`` and ``what`` (and ``nullable`` or
``choices_now`` where said), and the page sees Gradio's own component (``is_template``). :func:`unchecked_inputs` lists
the API inputs of an app that are not one of these (the test of every endpoint fails on any).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from demo.search.params import check_choice, check_choices, check_flag, check_number, check_text
from demo.tabs.guard import guard

__all__ = ["CHECKED", "Checkbox", "CheckboxGroup", "Dropdown", "File", "Number", "Radio", "Slider", "Textbox",
           "unchecked_inputs"]  # fmt: skip


@guard
def _check(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``check(*args, **kwargs)``, its refusal turned into the app's clean ``gr.Error`` by the guard."""
    return check(*args, **kwargs)


def _signature(base: type) -> inspect.Signature:
    """``base``'s constructor signature: Gradio reads a component's config (and maps positional arguments) from its
    class's ``__init__`` signature, so a subclass shows exactly its base's (``param`` and the like are keywords)."""
    return inspect.signature(base.__init__)


def _values(choices: Any) -> list[Any]:
    """The values of Gradio's normalised ``(label, value)`` choices."""
    return [value for _, value in choices or []]


class Slider(gr.Slider):
    """``gr.Slider`` that refuses anything but a finite number in its range (a whole one when its step and bounds are
    whole numbers).

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", **kwargs: Any) -> None:
        self.param, self.what = param, what or param
        super().__init__(*args, **kwargs)

    __init__.__signature__ = _signature(gr.Slider)  # type: ignore[attr-defined]

    def preprocess(self, payload: Any) -> Any:
        whole = all(float(v).is_integer() for v in (self.step or 1, self.minimum, self.maximum))
        _check(check_number, payload, self.param, self.what, self.minimum, self.maximum, whole=whole)
        return super().preprocess(payload)


class Number(gr.Number):
    """``gr.Number`` that refuses anything but a finite number within its ``minimum`` and ``maximum``.

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
        nullable: Whether null (an emptied box) is allowed (it means "no value"; default ``True``).
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", nullable: bool = True, **kwargs: Any) -> None:
        self.param, self.what, self.nullable = param, what or param, nullable
        super().__init__(*args, **kwargs)

    __init__.__signature__ = _signature(gr.Number)  # type: ignore[attr-defined]

    def preprocess(self, payload: Any) -> Any:
        whole = self.precision == 0
        if whole and (self.minimum is None or self.maximum is None):
            whole = False  # whole_number needs both bounds; round_to_precision rounds below
        _check(check_number, payload, self.param, self.what, self.minimum, self.maximum, whole=whole,
               nullable=self.nullable)  # fmt: skip
        return super().preprocess(payload)


class Radio(gr.Radio):
    """``gr.Radio`` that refuses anything but one of its choices (null too).

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", **kwargs: Any) -> None:
        self.param, self.what = param, what or param
        super().__init__(*args, **kwargs)

    __init__.__signature__ = _signature(gr.Radio)  # type: ignore[attr-defined]

    def preprocess(self, payload: Any) -> Any:
        _check(check_choice, payload, self.param, self.what, _values(self.choices))
        return super().preprocess(payload)


class Dropdown(gr.Dropdown):
    """``gr.Dropdown`` (one value) that refuses anything but one of the allowed values (a list, a number, null too).

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
        choices_now: The values allowed now, asked at each request (the models offered after a refresh, the benchmarks
            after a reload); default: the dropdown's choices. ``"any"``: any text, which the handler checks against
            what only it knows (e.g. the queries of the comparison chosen).
        nullable: Whether null (nothing chosen) is allowed.
        enum_in_api: List ``choices_now`` in the API's schema (``False`` where asking them waits, e.g. for the
            leaderboard built in the background; a wrong value's message still lists them).
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", choices_now: Callable[[], Sequence[Any]] | str | None = None,
                 nullable: bool = False, enum_in_api: bool = True, **kwargs: Any) -> None:  # fmt: skip
        self.param, self.what, self.nullable, self._choices_now = param, what or param, nullable, choices_now
        self._enum_in_api = enum_in_api
        super().__init__(*args, **kwargs)

    __init__.__signature__ = _signature(gr.Dropdown)  # type: ignore[attr-defined]

    def api_info(self) -> dict[str, Any]:
        if self._choices_now == "any" or not self._enum_in_api:
            return {"type": "string"}
        if callable(self._choices_now):
            return {"type": "string", "enum": list(self._choices_now())}
        return super().api_info()

    def preprocess(self, payload: Any) -> Any:
        if self._choices_now == "any":  # a text, or the whole number an id may be
            if isinstance(payload, int) and not isinstance(payload, bool):
                return payload
            return _check(check_text, payload, self.param, self.what, nullable=self.nullable)
        allowed = list(self._choices_now()) if callable(self._choices_now) else _values(self.choices)
        value = _check(check_choice, payload, self.param, self.what, allowed, nullable=self.nullable)
        if self._choices_now is not None and self.type == "value":
            return value  # checked against what is offered now, not against the choices the page was built with
        return super().preprocess(payload)


class CheckboxGroup(gr.CheckboxGroup):
    """``gr.CheckboxGroup`` that refuses anything but a list of its choices (a string, null, a number too).

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
        choices_now: The values allowed now, asked at each request; default: the group's choices.
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", choices_now: Callable[[], Sequence[Any]] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        self.param, self.what, self._choices_now = param, what or param, choices_now
        super().__init__(*args, **kwargs)

    __init__.__signature__ = _signature(gr.CheckboxGroup)  # type: ignore[attr-defined]

    def preprocess(self, payload: Any) -> Any:
        allowed = list(self._choices_now()) if self._choices_now is not None else _values(self.choices)
        value = _check(check_choices, payload, self.param, self.what, allowed)
        if self._choices_now is not None and self.type == "value":
            return value
        return super().preprocess(payload)


class Checkbox(gr.Checkbox):
    """``gr.Checkbox`` that refuses anything but ``true`` or ``false`` (the string ``"false"``, 0, null too).

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", **kwargs: Any) -> None:
        self.param, self.what = param, what or param
        super().__init__(*args, **kwargs)

    __init__.__signature__ = _signature(gr.Checkbox)  # type: ignore[attr-defined]

    def preprocess(self, payload: Any) -> Any:
        return super().preprocess(_check(check_flag, payload, self.param, self.what))


class Textbox(gr.Textbox):
    """``gr.Textbox`` that refuses anything but a string (never a list or a number turned into text).

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
        nullable: Whether null is allowed (the handler then says what is missing).
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", nullable: bool = False, **kwargs: Any) -> None:
        self.param, self.what, self.nullable = param, what or param, nullable
        super().__init__(*args, **kwargs)

    __init__.__signature__ = _signature(gr.Textbox)  # type: ignore[attr-defined]

    def preprocess(self, payload: Any) -> Any:
        return super().preprocess(_check(check_text, payload, self.param, self.what, nullable=self.nullable))


def _file_model(model: type, param: str, what: str) -> type:
    """``model`` (Gradio's ``FileData`` or ``ListFiles``), whose validation of a payload that is not a file refuses it
    naming ``param`` (Gradio validates it before any preprocessing, and would answer with no message)."""
    from pydantic import ValidationError

    from demo.search.params import ParameterError, shown

    def refuse(payload: Any) -> None:
        raise ParameterError(f"{param}: {what} must be a file uploaded first (as gradio_client's handle_file sends it, "
                             f"or null: none), not {shown(payload)}")  # fmt: skip

    class FileData(model):  # type: ignore[misc, valid-type] - the same schema and name as Gradio's
        @classmethod
        def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().model_validate(obj, *args, **kwargs)
            except (ValidationError, TypeError, ValueError):
                return _check(refuse, obj)

    FileData.__name__ = FileData.__qualname__ = model.__name__
    return FileData


class File(gr.File):
    """``gr.File`` that refuses a payload that is not an uploaded file (a number, a list, a bare string) naming the
    parameter; null stays "no file".

    Args:
        param: The API parameter's name.
        what: What it is, for the message.
    """

    is_template = True

    def __init__(self, *args: Any, param: str, what: str = "", **kwargs: Any) -> None:
        self.param, self.what = param, what or param
        super().__init__(*args, **kwargs)
        self.data_model = _file_model(self.data_model, self.param, self.what)

    __init__.__signature__ = _signature(gr.File)  # type: ignore[attr-defined]


CHECKED = (Slider, Number, Radio, Dropdown, CheckboxGroup, Checkbox, Textbox, File)
"""The checked components; an API input of another kind is one of :func:`unchecked_inputs`."""


def unchecked_inputs(blocks: gr.Blocks) -> list[str]:
    """``"/endpoint: Component (label)"`` for every input of a documented API endpoint that is neither a checked
    component nor state (which no client sends)."""
    found = []
    for fn in blocks.fns.values():
        if not fn.api_name or fn.api_visibility != "public":  # gr.Examples' own loaders are "undocumented"
            continue
        for block in fn.inputs:
            if isinstance(block, (*CHECKED, gr.State)):
                continue
            found.append(f"/{fn.api_name}: {type(block).__name__} ({getattr(block, 'label', None)!r})")
    return found
