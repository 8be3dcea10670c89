"""Showing user-provided text safely: names isolated from the text around them, values readable.

Graph, node, pin and block names come from users (or from a server). A name holding a bidirectional
control character (U+202E RIGHT-TO-LEFT OVERRIDE and friends) must not be able to reorder the text
around it, and a control character must not break the document it is put in. So:

- in HTML a name goes into ``<bdi>`` (the browser isolates it: whatever it holds, it cannot reorder
  its surroundings), escaped;
- in plain text and in SVG ``<text>`` (where no element isolates) the bidirectional controls and
  other control characters of the name are replaced by visible escapes (``\\u202e``) and the name is
  wrapped in FIRST STRONG ISOLATE / POP DIRECTIONAL ISOLATE, so right-to-left scripts still read right
  and still cannot spill over.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from workbench import jsonutil

FSI, PDI = "\u2068", "\u2069"
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Every character that changes the direction of the text after it (Unicode's bidi formatting set)."""

_BIDI = "".join(sorted(BIDI_CONTROLS))
_CONTROLS = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
"""Control characters (tab and newlines kept) and the bidi controls: escaped in text and SVG."""
_C0_C1 = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with its control and bidi control characters shown as escapes (``\\u202e``)."""
    return _CONTROLS.sub(_escape_char, text)


def isolate(text: Any) -> str:
    """A name for plain text (or SVG text): controls made visible, wrapped in FSI ... PDI."""
    return f"{FSI}{visible(str(text))}{PDI}"


def html_name(text: Any) -> str:
    """A name for HTML: escaped, control characters made visible, in a ``<bdi>`` isolate."""
    return f"<bdi>{escape(_C0_C1.sub(_escape_char, str(text)))}</bdi>"


def svg_name(text: Any) -> str:
    """A name for SVG ``<text>``: isolated as in plain text, then escaped for XML."""
    return escape(isolate(text))


def display_value(value: Any, limit: int = 200) -> str:
    """A value as a reader wants it: a string as itself, anything else as compact JSON; cut to ``limit``."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = jsonutil.dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def html_value(value: Any, limit: int = 200) -> str:
    """A value for HTML: :func:`display_value`, escaped, isolated like a name."""
    return html_name(display_value(value, limit))
