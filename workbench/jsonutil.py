"""JSON encoding of pin values: fast (orjson), total (anything encodes), and stable for comparison."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import orjson
from pydantic import BaseModel

_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return repr(value)


def dumps(value: Any) -> str:
    """Encode any value as JSON text; what JSON cannot hold becomes its closest JSON form."""
    return orjson.dumps(value, default=_default, option=_OPTS).decode()


_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def dumps_db(value: Any) -> str:
    """Like :func:`dumps`, for PostgreSQL ``jsonb``: NUL characters (which jsonb cannot hold) become
    U+FFFD, so a block yielding one can never make a write fail."""
    text = dumps(value)
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def clean_text(value: str | None) -> str | None:
    """A string PostgreSQL ``text`` can hold (NUL replaced by U+FFFD)."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def dumpb(value: Any) -> bytes:
    """Like :func:`dumps`, as bytes."""
    return orjson.dumps(value, default=_default, option=_OPTS)


def loads(text: str | bytes) -> Any:
    """Decode JSON text."""
    return orjson.loads(text)


def normalize(value: Any) -> Any:
    """The value as it reads back after a JSON round trip (for comparing with stored data)."""
    return orjson.loads(dumpb(value))
