"""Command-line flags generated from typed dataclasses: the dataclass owns each option's name, type and
default (and its validation, in `__post_init__`); the CLI adds only help texts, a few historical flag
names and the choices a registry offers."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from types import NoneType, UnionType


def _base_type(annotation):
    """int | None -> int; tuple[float, ...] -> (tuple, float); anything else as is."""
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        args = [a for a in typing.get_args(annotation) if a is not NoneType]
        return _base_type(args[0]) if len(args) == 1 else str
    if typing.get_origin(annotation) is tuple:
        return tuple, typing.get_args(annotation)[0]
    return annotation


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _csv_of(kind):
    def parse(text: str):
        return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
    parse.__name__ = f"comma-separated {kind.__name__}"
    return parse


def _help(text: str, default) -> str:
    if default in (dataclasses.MISSING, None) or isinstance(default, bool):
        return text
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    return f"{text} (default: {shown})" if text else f"default: {shown}"


def add_fields(parser: argparse.ArgumentParser, cls, *, helps: dict[str, str], flags: dict[str, str] | None = None,
               choices: dict[str, typing.Iterable[str]] | None = None, prefix: str = "",
               optional: typing.Iterable[str] = ()) -> None:
    """One flag per field of `cls` named in `helps` (`--field-name`, or `flags[field]`), with the field's type
    and default; a bool field that defaults to True becomes a `--no-...` switch. `prefix` keeps the
    destinations of two dataclasses apart (see `from_args`); a field in `optional` may be left out although
    the dataclass has no default (the command fills it in)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name not in helps:
            continue
        default, kind = _default(field), _base_type(hints[field.name])
        negated = kind is bool and default is True
        flag = (flags or {}).get(field.name) or ("--no-" if negated else "--") + field.name.replace("_", "-")
        options: dict = {"dest": prefix + field.name, "help": _help(helps[field.name], default)}
        if kind is bool:
            options["action"] = "store_false" if negated else "store_true"
        else:
            options["type"] = _csv_of(kind[1]) if isinstance(kind, tuple) else kind
            options["metavar"] = field.name.upper() if isinstance(kind, tuple) else None
            if choices and field.name in choices:
                options["choices"] = list(choices[field.name])
        if default is dataclasses.MISSING:
            options["required"] = field.name not in optional
            options["default"] = None
        else:
            options["default"] = default
        parser.add_argument(flag, **{k: v for k, v in options.items() if v is not None or k == "default"})


def from_args(cls, args: argparse.Namespace, prefix: str = "", **values):
    """`cls` from the parsed flags of `add_fields` (fields without a flag keep their defaults), plus `values`."""
    given = {f.name: getattr(args, prefix + f.name) for f in dataclasses.fields(cls) if hasattr(args, prefix + f.name)}
    return cls(**(given | values))
