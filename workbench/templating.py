"""Sandboxed Jinja2 rendering for templates that come from graphs (users' data, never trusted)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENVS = {
    (False, False): ImmutableSandboxedEnvironment(autoescape=False),
    (True, False): ImmutableSandboxedEnvironment(autoescape=True),
    (False, True): ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined),
    (True, True): ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined),
}
MAX_OUTPUT = 1_000_000


@lru_cache(maxsize=512)
def _compile(source: str, autoescape: bool, strict: bool) -> Template:
    return _ENVS[(autoescape, strict)].from_string(source)


def render(source: str, values: dict[str, Any], *, autoescape: bool = False, strict: bool = False) -> str:
    """Render ``source`` with ``values`` in a sandbox (no attribute escapes, no mutation of inputs).

    Raises:
        jinja2.TemplateError: a syntax error, a sandbox violation, or (``strict``) an undefined name.
    """
    out = _compile(source, autoescape, strict).render(**values)
    if len(out) > MAX_OUTPUT:
        raise ValueError(f"rendered text exceeds {MAX_OUTPUT} characters")
    return out


__all__ = ["Undefined", "render"]
