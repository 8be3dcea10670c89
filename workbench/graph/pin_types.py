"""Which output pin may feed which input pin: the kinds of value a pin carries, and the Builder's rule.

The engine converts a value to the type its input declares (AutoGPT's ``convert``,
:mod:`workbench.block.coerce`), so most links work across types: anything becomes text, text is
parsed into numbers, lists or objects. A few conversions turn a value into something meaningless
(a list into a number is its length; a number into a list is a one-item list of it): the Builder
refuses those links and says why. A pin whose type is ``Any`` (or unknown) accepts and feeds all.
"""

from __future__ import annotations

import datetime
import enum
import types
import typing
from collections.abc import Mapping, Sequence, Set
from functools import lru_cache
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from workbench.block import pins

ANY = "any"
KIND_NAMES = {
    "string": "text",
    "integer": "integer",
    "number": "number",
    "boolean": "true/false",
    "array": "list",
    "object": "object",
    "null": "nothing",
    ANY: "anything",
}
"""How each kind is named to a person."""

_SCALARS = {"string", "integer", "number", "boolean"}
_REFUSED = {
    ("array", "integer"),
    ("array", "number"),
    ("array", "boolean"),
    ("object", "integer"),
    ("object", "number"),
    ("object", "boolean"),
    ("integer", "array"),
    ("number", "array"),
    ("boolean", "array"),
    ("integer", "object"),
    ("number", "object"),
    ("boolean", "object"),
    ("array", "object"),
    ("object", "array"),
}
"""(source kind, sink kind) pairs whose conversion yields a meaningless value."""


@lru_cache(maxsize=4096)
def kinds(annotation: Any) -> frozenset[str]:
    """The JSON kinds of value a pin of this type carries (``{"any"}`` when it takes anything)."""
    if annotation is Any or annotation is object:
        return frozenset({ANY})
    if annotation is None or annotation is type(None):
        return frozenset({"null"})
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return kinds(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        found: set[str] = set()
        for arg in get_args(annotation):
            found |= kinds(arg)
        return frozenset(found)
    if origin is Literal:
        return frozenset(_value_kind(value) for value in get_args(annotation))
    target = origin or annotation
    if not isinstance(target, type):
        return frozenset({ANY})
    return frozenset({_type_kind(target)})


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string"


def _type_kind(target: type) -> str:
    if issubclass(target, bool):
        return "boolean"
    if issubclass(target, enum.Enum):
        return "string"
    if issubclass(target, int):
        return "integer"
    if issubclass(target, float):
        return "number"
    if issubclass(target, (str, bytes, datetime.date, datetime.time, datetime.timedelta)):
        return "string"
    if issubclass(target, (BaseModel, Mapping)) or typing.is_typeddict(target):
        return "object"
    if issubclass(target, (Sequence, Set)):
        return "array"
    return ANY


def describe(found: frozenset[str]) -> str:
    """The kinds as a person reads them: ``text or list``."""
    shown = sorted(KIND_NAMES.get(kind, kind) for kind in found if kind != "null")
    return " or ".join(shown) or "nothing"


def _pair_ok(source: str, sink: str) -> bool:
    if ANY in (source, sink) or source == sink or "null" in (source, sink):  # null: nothing to convert
        return True
    if sink == "string":
        return True  # anything can be written as text
    if source == "string":
        return True  # text is parsed into the sink's type
    if source in _SCALARS and sink in _SCALARS:
        return True
    return (source, sink) not in _REFUSED


def refusal(source: frozenset[str], sink: frozenset[str]) -> str | None:
    """Why a value of kinds ``source`` cannot feed a pin of kinds ``sink``; None when it can (some
    pair of the two unions converts meaningfully)."""
    source = source - {"null"} or source  # "or nothing" adds no conversion
    sink = sink - {"null"} or sink
    if any(_pair_ok(a, b) for a in source for b in sink):
        return None
    return f"a {describe(source)} value cannot become {describe(sink)}"


def output_kinds(block: Any, pin: str) -> frozenset[str]:
    """Kinds of an output pin of ``block`` (a dynamic selector such as ``items_$_0`` takes anything)."""
    if pin != pins.base_name(pin):
        return frozenset({ANY})
    outputs = block.output_pins
    return kinds(outputs[pin]) if pin in outputs else frozenset({ANY})


def input_kinds(block: Any, pin: str) -> frozenset[str]:
    """Kinds of an input pin of ``block`` (a dynamic entry such as ``values_#_name`` takes anything)."""
    if pin != pins.base_name(pin):
        return frozenset({ANY})
    spec = block.input_pins.get(pin)
    return kinds(spec.annotation) if spec is not None else frozenset({ANY})
