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
    U+FFFD, so a block yielding one can never make a write fail.

    What a user gives is never stored altered this way: run inputs with a NUL are refused (see
    :func:`nul_path`); only values blocks produce are replaced, and a live result shows them as
    stored (:func:`as_stored`), so an immediate reply and a later read agree."""
    text = dumps(value)
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def as_stored(value: Any) -> Any:
    """``value`` exactly as it reads back from ``jsonb``: a JSON round trip (objects become their
    JSON form, tuples lists) with NUL characters replaced by U+FFFD."""
    return loads(dumps_db(value))


def nul_path(value: Any, path: str) -> str | None:
    """The location (``path`` extended with ``.key`` and ``[index]``) of the first NUL character in
    ``value``'s strings or keys, or None when there is none."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}"
            if isinstance(key, str) and "\x00" in key:
                return inner.replace("\x00", "\\u0000")
            found = nul_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


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
