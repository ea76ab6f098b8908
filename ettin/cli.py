"""One command-line convention for every package: ``python -m <package> <verb>``.

A verb is a function ``run(args) -> int | None`` registered with the :func:`verb` decorator in the module that owns it,
with an optional ``arguments(parser)`` function adding its flags. A package's ``__main__`` calls :func:`main` with the
modules that hold its verbs; those are imported only then, so ``--help`` stays fast and heavy imports stay lazy. Every
:class:`~ettin.errors.UserError` a verb raises is printed as ``error: <message>`` with exit status 2.

Dataclasses that hold a command's settings generate their own flags with :func:`add_dataclass_arguments` and are built
back from the parsed namespace with :func:`dataclass_from_args`, so each setting is spelled out once.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ettin.errors import UserError

__all__ = [
    "Verb",
    "add_dataclass_arguments",
    "build_parser",
    "dataclass_from_args",
    "flag",
    "main",
    "parse_positive_int",
    "reraise_as",
    "verb",
    "verb_group",
]

Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], "int | None"]


@dataclasses.dataclass(frozen=True)
class Verb:
    """A registered command: its name, one-line help, how it adds its flags and what it runs."""

    name: str
    help: str
    run: Run
    arguments: Arguments | None = None
    description: str | None = None


_VERBS: dict[str, dict[str, Verb]] = {}
_GROUP_HELP: dict[str, str] = {}


def verb_group(name: str, *, help: str) -> None:
    """Give the verb group ``name`` (the first word of verbs like ``"data mix"``) its one-line help."""
    _GROUP_HELP[name] = help


def verb(name: str, *, help: str, arguments: Arguments | None = None, description: str | None = None) -> Callable[[Run], Run]:
    """Register the decorated function as the verb ``name`` of the module that defines it."""

    def register(run: Run) -> Run:
        _VERBS.setdefault(run.__module__, {})[name] = Verb(name, help, run, arguments, description or help)
        return run

    return register


def verbs_of(modules: Sequence[str]) -> list[Verb]:
    """The verbs registered by ``modules`` (imported here), in module order."""
    found: list[Verb] = []
    for module in modules:
        importlib.import_module(module)
        found.extend(_VERBS.get(module, {}).values())
    return found


def build_parser(prog: str, description: str, modules: Sequence[str]) -> argparse.ArgumentParser:
    """An argparse parser with one sub-command per verb registered in ``modules``.

    A verb named with a space (``"data mix"``) becomes a sub-command of a group (``data``), as in ``python -m train data mix``.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    top = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for v in verbs_of(modules):
        group, _, name = v.name.rpartition(" ")
        sub = top
        if group:
            if group not in groups:
                group_help = _GROUP_HELP.get(group, f"{group} commands")
                group_parser = top.add_parser(group, help=group_help, description=group_help)
                groups[group] = group_parser.add_subparsers(dest=f"{group}_command", required=True)
            sub = groups[group]
        p = sub.add_parser(name, help=v.help, description=v.description, formatter_class=argparse.RawDescriptionHelpFormatter)
        if v.arguments is not None:
            v.arguments(p)
        p.set_defaults(_run=v.run)
    return parser


def main(
    prog: str,
    description: str,
    modules: Sequence[str],
    argv: Sequence[str] | None = None,
    *,
    interrupted: str = "interrupted",
) -> int:
    """Parse ``argv``, run the chosen verb, and turn a :class:`UserError` into ``error: ...`` and exit status 2.

    Ctrl-C prints ``interrupted`` (a package may say there how to continue) and exits with 130.
    """
    args = build_parser(prog, description, modules).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130


@contextmanager
def reraise_as(
    error: type[UserError], causes: tuple[type[BaseException], ...] = (ValueError, OSError, RuntimeError)
) -> Iterator[None]:
    """Report the errors bad input causes deep inside libraries (bad values, missing files, unloadable models) as
    ``error``, a :class:`UserError` carrying the original message; user errors pass through unchanged."""
    try:
        yield
    except UserError:
        raise
    except causes as exc:
        raise error(str(exc)) from exc


def parse_positive_int(value: str) -> int:
    """argparse ``type`` for counts that must be at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


# --------------------------------------------------------------------------------------------------------------------
# Dataclass settings <-> flags


def flag(help: str, **more: Any) -> dict[str, Any]:
    """Field metadata of one generated flag: ``field(default=..., metadata=flag("what it sets", type=..., flag="--x"))``."""
    return {"help": help, **more}


def _flag(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _base_type(annotation: Any) -> Any:
    """The type argparse converts to for a field annotation (``int | None`` -> ``int``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *, exclude: Sequence[str] = ()) -> None:
    """Add one flag per field of dataclass ``cls`` (``foo_bar`` -> ``--foo-bar``), typed and defaulted from the field.

    Field metadata may give ``help``, ``flag`` (another spelling), ``type`` (a converter), ``choices`` and ``metavar``; a
    field whose metadata has ``cli=False`` gets no flag, and a field without a default is a required flag. Booleans
    become a switch (``--flag``), or ``--flag/--no-flag`` when they default to true. Defaults are left as ``None`` so
    that :func:`dataclass_from_args` can tell an omitted flag from one given.
    """
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in exclude or not field.metadata.get("cli", True):
            continue
        kind = _base_type(hints[field.name])
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        default = None if field.default is dataclasses.MISSING else field.default
        help_text = field.metadata.get("help", "")
        if default is not None:
            help_text = f"{help_text} (default: {default})".strip()
        kwargs: dict[str, Any] = {"dest": field.name, "default": None, "help": help_text}
        if required:
            kwargs["required"] = True
        for key in ("choices", "metavar"):
            if key in field.metadata:
                kwargs[key] = field.metadata[key]
        if kind is bool:
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(_flag(field), action=action, **kwargs)
        else:
            parser.add_argument(_flag(field), type=field.metadata.get("type", kind), **kwargs)


def dataclass_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """Build ``cls`` from the flags :func:`add_dataclass_arguments` added: given flags win over the field defaults, and
    ``overrides`` win over both."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if f.init and getattr(args, f.name, None) is not None
    }
    return cls(**{**values, **overrides})
