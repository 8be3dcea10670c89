"""Type coercion of pin values (AutoGPT's ``convert``): Part D of the interoperability contract.

The engine applies it to every declared input whose value has another type than the pin declares,
before validation; the Universal Type Converter block exposes it directly.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

_CONTAINERS = (list, dict, tuple, set)


def _num(value: float) -> float | int:
    return int(value) if value == int(value) else value


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def _to_number(value: Any) -> float | int:
    if isinstance(value, _CONTAINERS):
        return len(value)
    try:
        return _num(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple | set):
        return list(value)
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return parsed if isinstance(parsed, list) else [parsed]
    return [value]


def _to_dict(value: Any) -> dict[Any, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {"value": value}
        return parsed if isinstance(parsed, dict) else {"value": parsed}
    if isinstance(value, list | tuple):
        return dict(enumerate(value))
    return {"value": value}


def _to_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, str | list | tuple | set) else (value,)


def _to_set(value: Any) -> set[Any]:
    return set(value) if isinstance(value, str | list | tuple | set) else {value}


_SCALAR: dict[type, Callable[[Any], Any]] = {
    str: _to_str,
    int: lambda v: int(_to_number(v)),
    float: lambda v: float(_to_number(v)),
    bool: _to_bool,
    list: _to_list,
    dict: _to_dict,
    tuple: _to_tuple,
    set: _to_set,
}


def convert(value: Any, target: Any) -> Any:
    """Convert ``value`` to the type annotation ``target`` by the contract's rules.

    Only list/dict/tuple/set/str/int/float/bool targets are converted (with their generic
    arguments); any other target, ``Any`` and unions containing the value's type pass through.
    """
    if value is None or target is Any:
        return value
    origin = get_origin(target)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(target) if a is not type(None)]
        for option in options:
            if _matches(value, option):
                # Same outer type: still convert the elements of a parametrized container.
                if _origin_type(option) in _CONTAINERS and get_args(option):
                    return convert(value, option)
                return value
        for option in options:
            if _origin_type(option) in _SCALAR:
                return convert(value, option)
        return value
    if origin is typing.Literal or origin is typing.Annotated:
        return value
    base = _origin_type(target)
    if base is bool and isinstance(value, bool):
        return value
    if base not in _SCALAR:
        return value
    if base in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
        # A float for an int pin is truncated, as AutoGPT's int(float(value)) does.
        return value if base is float or isinstance(value, int) else _SCALAR[int](value)
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        value = _SCALAR[base](value)
    args = get_args(target)
    if not args:
        return value
    if base is list:
        return [convert(v, args[0]) for v in value]
    if base is set:
        return {convert(v, args[0]) for v in value}
    if base is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0]) for v in value)
        return tuple(convert(v, a) for v, a in zip(value, args, strict=False))
    if base is dict and len(args) == 2:
        return {convert(k, args[0]): convert(v, args[1]) for k, v in value.items()}
    return value


def _origin_type(annotation: Any) -> Any:
    return get_origin(annotation) or annotation


def _matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` already has the (outer) type of ``annotation``."""
    if annotation is Any:
        return True
    base = _origin_type(annotation)
    if base is Union or base is types.UnionType:
        return any(_matches(value, a) for a in get_args(annotation))
    if base is typing.Literal:
        return value in get_args(annotation)
    if base is typing.Annotated:
        return _matches(value, get_args(annotation)[0])
    if not isinstance(base, type):
        return True
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    if base is int and isinstance(value, bool):
        return False
    try:
        return isinstance(value, base)
    except TypeError:
        return True


def needs_conversion(value: Any, annotation: Any) -> bool:
    """True when ``value`` should go through :func:`convert` for a pin of type ``annotation``.

    That is when its outer type differs, or when the pin is a parametrized container whose elements
    may need converting too.
    """
    if value is None:
        return False
    if not _matches(value, annotation):
        return True
    origin = _origin_type(annotation)
    if origin is Union or origin is types.UnionType:
        matching = [a for a in get_args(annotation) if a is not type(None) and _matches(value, a)]
        return bool(matching) and needs_conversion(value, matching[0])
    return origin in _CONTAINERS and bool(get_args(annotation))
