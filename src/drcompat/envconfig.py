"""Frozen settings read from keyword arguments, else the environment, else the class defaults.

What ``pydantic-settings`` did for ``config.Settings``, for the field types settings use (str, int,
float, bool, Path, Literal, optional, tuple of str), with the standard library only: importing
pydantic-settings cost a Lambda cold start ~65 ms, as much as numpy and onnxruntime together.
Environment names are ``<prefix><FIELD>`` in any case; booleans read as pydantic reads them
(1/0, true/false, yes/no, on/off, t/f, y/n); a tuple is written as a JSON list.
"""

from __future__ import annotations

import json
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, dataclass_transform

TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


class SettingsError(ValueError):
    """A setting's value (argument or environment variable) that its field's type refuses."""


@dataclass_transform(kw_only_default=True, frozen_default=True)
class EnvSettings:
    """Subclasses declare fields as annotated class attributes with defaults (as a dataclass)."""

    env_prefix: ClassVar[str] = ""
    _fields: ClassVar[dict[str, Any]]

    def __init__(self, **values: Any) -> None:
        fields = self.fields()
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {', '.join(unknown)}")
        prefix = self.env_prefix.lower()
        environ = {k.lower(): v for k, v in os.environ.items() if k.lower().startswith(prefix)} if prefix else {}
        for name, kind in fields.items():
            if name in values:
                value = _coerce(name, kind, values[name])
            elif prefix + name in environ:
                value = _coerce(name, kind, environ[prefix + name], from_env=True)
            else:
                value = getattr(type(self), name)
            object.__setattr__(self, name, value)

    @classmethod
    def fields(cls) -> dict[str, Any]:
        """Field name -> type, in declaration order (evaluated once per class)."""
        if "_fields" not in cls.__dict__:
            hints = typing.get_type_hints(cls)
            cls._fields = {n: t for n, t in hints.items() if typing.get_origin(t) is not ClassVar}
        return cls._fields

    def replace(self, **changes: Any) -> typing.Self:
        """A copy with ``changes`` (checked as arguments are); the environment is not read again."""
        return type(self)(**{**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.fields()}

    def to_json(self) -> str:
        """Every field (paths as text, tuples as lists): ``from_json`` rebuilds the same settings."""
        return json.dumps(self.as_dict(), default=str)

    @classmethod
    def from_json(cls, text: str) -> typing.Self:
        return cls(**json.loads(text))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: use replace()")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnvSettings) and type(other) is type(self) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


def _coerce(name: str, kind: Any, value: Any, from_env: bool = False) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(name, inner, value, from_env)
    if origin is Literal:
        if value not in args:
            raise SettingsError(f"{name} must be one of {', '.join(map(repr, args))}, not {value!r}")
        return value
    if origin is tuple:
        if from_env:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{name} must be a JSON list, not {value!r}") from exc
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{name} must be a list of strings, not {value!r}")
        return tuple(value)
    try:
        if kind is bool:
            return _boolean(value)
        if kind is int and not isinstance(value, bool):
            number = float(value) if isinstance(value, str) and "." in value else value
            if isinstance(number, float) and not number.is_integer():
                raise ValueError(value)
            return int(number)
        if kind is float and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str):
            return value
        if kind is Path and isinstance(value, str | os.PathLike):
            return Path(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name} must be {getattr(kind, '__name__', kind)}, not {value!r}") from exc
    raise SettingsError(f"{name} must be {getattr(kind, '__name__', kind)}, not {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(value)
