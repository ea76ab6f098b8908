"""The one guard around the app's event handlers: user errors become a clean ``gr.Error``, never a traceback; and the
per-session stop flags a long handler checks so that Stop ends its work, not only its display."""

from __future__ import annotations

import functools
import html
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ettin.errors import UserError

__all__ = ["StopFlags", "Stopped", "guard", "guarded_stream"]

logger = logging.getLogger("ettin.app")

F = TypeVar("F", bound=Callable[..., Any])


OUT_OF_MEMORY = "out of memory: choose a smaller model, a smaller K or a smaller corpus"


class Stopped(UserError):
    """The user pressed Stop: the handler gives up at its next check."""


class StopFlags:
    """One stop flag per browser session.

    Gradio's ``cancels=`` ends a sync handler's event (its outputs are dropped) but not the thread running it, so a
    handler calls :meth:`start` and passes the returned check to its work (e.g. inside the progress callback, called
    between stages and batches); the Stop button calls :meth:`stop`, and the next check raises :class:`Stopped`. Work
    that Gradio does not cancel in its queue (Compare, which ends its own stream) is :meth:`arm`-ed before it queues.
    """

    MAX_ARMED = 4096  # sessions whose armed flag no handler took (a request refused by a full queue): oldest dropped

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._armed: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, session: str | None) -> None:
        """Make ``session``'s flag before its handler leaves the queue (a ``queue=False`` event that the queued one
        follows with ``.then``): Stop pressed while the work still waits for a slot is then seen when it starts."""
        with self._lock:
            self._armed.pop(session or "", None)
            self._armed[session or ""] = threading.Event()
            while len(self._armed) > self.MAX_ARMED:
                del self._armed[next(iter(self._armed))]

    def start(self, session: str | None) -> Callable[[], None]:
        """``session``'s flag (the armed one, else a fresh one; it replaces an older running one) and the check that
        raises once it is set."""
        with self._lock:
            flag = self._armed.pop(session or "", None) or threading.Event()
            self._flags[session or ""] = flag

        def check() -> None:
            if flag.is_set():
                raise Stopped("stopped by the user")

        check.flag = flag  # type: ignore[attr-defined] - lets finish() forget only its own flag
        return check

    def stop(self, session: str | None) -> bool:
        """Set ``session``'s flags (running and armed); ``False`` when nothing was running or waiting there."""
        with self._lock:  # an armed flag stays, set, for its handler to find when it starts
            flags = [f for f in (self._flags.pop(session or "", None), self._armed.get(session or "")) if f]
        for flag in flags:
            flag.set()
        return bool(flags)

    def finish(self, session: str | None, check: Callable[[], None] | None = None) -> None:
        """Forget ``session``'s flag once its handler is done (only the flag of ``check``, when given: a newer search of
        the same session keeps its own)."""
        with self._lock:
            current = self._flags.get(session or "")
            if current is not None and (check is None or getattr(check, "flag", None) is current):
                del self._flags[session or ""]


def _as_text(message: str) -> str:
    """The message with ``&``, ``<`` and ``>`` escaped: Gradio renders an error's message as HTML, and it may quote the
    user's input."""
    return html.escape(message, quote=False)


def _is_out_of_memory(exc: Exception) -> bool:
    """torch's allocator failures (``torch.OutOfMemoryError``, or a ``RuntimeError`` saying so on CPU)."""
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _error(message: str) -> Exception:
    """The ``gr.Error`` that shows ``message``; Gradio prints no traceback for it (a refusal is not a crash, and an
    unexpected error is logged here, with its traceback, before this is raised)."""
    import gradio as gr

    return gr.Error(message, print_exception=False)


def guard(fn: F) -> F:
    """Wrap a handler so every refusal reaches the user as one line (a message in the UI, an error over the API).

    A :class:`~ettin.errors.UserError` keeps its message; running out of memory says what to make smaller; anything else
    is logged server-side with its traceback and reported as ``unexpected error (Type): message``.
    """
    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as exc:
            raise _error(_as_text(str(exc))) from None
        except MemoryError:
            raise _error(OUT_OF_MEMORY) from None
        except Exception as exc:  # noqa: BLE001 - logged server-side; the user gets one line
            if _is_out_of_memory(exc):
                logger.warning("out of memory in %s: %s", fn.__name__, exc)
                raise _error(OUT_OF_MEMORY) from None
            logger.exception("unexpected error in %s", fn.__name__)
            raise _error(_as_text(f"unexpected error ({type(exc).__name__}): {str(exc)[:200]}")) from None

    return wrapper  # type: ignore[return-value]


_DONE = object()


def guarded_stream(stream: Iterator[Any]) -> Iterator[Any]:
    """``stream``'s items, with every refusal turned into one clean line by :func:`guard` (which by itself cannot see
    the errors a generator raises while it is advanced)."""

    @guard
    def step() -> Any:
        return next(stream, _DONE)

    while (item := step()) is not _DONE:
        yield item
