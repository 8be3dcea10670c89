"""Sandboxed, bounded Jinja2 rendering for templates that come from graphs (users' data, never trusted).

Jinja's sandbox keeps a template away from Python's internals and from mutating its inputs, but not
from the CPU: ``{% for i in range(99999) %}{% for j in range(99999) %}`` or ``{{ 9 ** 9 ** 9 }}``
runs for minutes, and on the event loop that freezes the whole process. So:

- :func:`render` (async) renders in the sandbox process pool (:mod:`workbench.sandbox`), where a
  hard time and memory limit stops it, except a template that only substitutes values (no ``{%``,
  no ``{#``, every ``{{ }}`` a name with attributes or constant subscripts, no filters, no
  operators), which is linear in the size of the values and renders in-process;
- inside the renderer, ``*``, ``**`` and ``+`` refuse results past :data:`MAX_OUTPUT` characters
  or :data:`MAX_INT_BITS` bits, ``range()`` counts at most :data:`MAX_RANGE_ITEMS` numbers per
  render, and the output stops at :data:`MAX_OUTPUT` characters: the first line of defence, with a
  precise message; the pool's limits are the guarantee;
- a source longer than :data:`MAX_TEMPLATE` characters is refused.

Every failure is a :class:`TemplateFailure` (``kind``: syntax, security, template, runtime) or a
:class:`~workbench.errors.LimitExceeded` naming the limit.
"""

from __future__ import annotations

import contextvars
import math
import re
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, Undefined
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

from workbench.errors import BlockError, LimitExceeded

MAX_TEMPLATE = 1_000_000
"""Longest template source, in characters."""
MAX_OUTPUT = 1_000_000
"""Longest rendered text (and longest string or list an operator may build), in characters."""
MAX_INT_BITS = 100_000
"""Largest integer an operator may build, in bits (about 30,000 decimal digits)."""
MAX_RANGE_ITEMS = 1_000_000
"""Most numbers all ``range()`` calls of one render may produce together (loop iterations)."""
INLINE_MAX = 20_000
"""Longest plain-substitution template rendered in-process (compiling is not free either)."""

_range_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("range_budget")


class TemplateFailure(BlockError):
    """A template cannot be rendered: ``kind`` is "syntax" (with ``lineno``), "security" (the
    sandbox refused an operation), "template" (another Jinja error, an undefined name) or "runtime"
    (a Python error while rendering, e.g. a division by zero: ``message`` starts with its type)."""

    def __init__(self, kind: str, message: str, lineno: int | None = None) -> None:
        super().__init__(kind, message, lineno)
        self.kind = kind
        self.message = message
        self.lineno = lineno

    def __str__(self) -> str:
        return self.message


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) and not isinstance(value, bool) else 0


def _short(number: Any) -> str:
    return f"a {_bits(number):,}-bit number" if _bits(number) > 64 else repr(number)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse a ``*``, ``**`` or ``+`` whose result would be too large, before it is computed."""
    if operator == "**":
        if (
            _bits(left) > 1
            and isinstance(right, int)
            and right > 0
            and right * math.log2(abs(left)) > MAX_INT_BITS
        ):
            raise LimitExceeded(
                f"{_short(left)} ** {_short(right)} in the template would exceed {MAX_INT_BITS:,} bits"
            )
        if isinstance(right, int | float) and abs(right) > MAX_INT_BITS and _bits(left) > 1:
            raise LimitExceeded(f"the exponent {_short(right)} in the template is too large")
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if _size(seq) and isinstance(times, int) and _size(seq) * times > MAX_OUTPUT:
                raise LimitExceeded(
                    f"repeating a value {times:,} times in the template would exceed "
                    f"{MAX_OUTPUT:,} characters or items"
                )
        if _bits(left) + _bits(right) > MAX_INT_BITS:
            raise LimitExceeded(f"a product in the template would exceed {MAX_INT_BITS:,} bits")
    elif operator == "+" and _size(left) + _size(right) > MAX_OUTPUT:
        raise LimitExceeded(f"joining values in the template would exceed {MAX_OUTPUT:,} characters or items")


def _budgeted_range(*args: int) -> range:
    """``range()`` of the sandbox (at most 100,000 numbers), charged to the render's loop budget."""
    numbers = safe_range(*args)
    budget = _range_budget.get(None)
    if budget is not None:
        budget[0] -= len(numbers)
        if budget[0] < 0:
            raise LimitExceeded(
                f"the template's loops count more than {MAX_RANGE_ITEMS:,} numbers with range()"
            )
    return numbers


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox whose ``*``, ``**``, ``+`` and ``range()`` refuse huge results."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _budgeted_range

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Check the operands' sizes, then apply the operator."""
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)


_ENVS = {
    (False, False): BoundedEnvironment(autoescape=False),
    (True, False): BoundedEnvironment(autoescape=True),
    (False, True): BoundedEnvironment(autoescape=False, undefined=StrictUndefined),
    (True, True): BoundedEnvironment(autoescape=True, undefined=StrictUndefined),
}


@lru_cache(maxsize=512)
def _compile(source: str, autoescape: bool, strict: bool) -> Template:
    return _ENVS[(autoescape, strict)].from_string(source)


def render_inline(source: str, values: dict[str, Any], autoescape: bool = False, strict: bool = False) -> str:
    """Render in this process, with the in-template limits but no time or memory limit.

    This is the sandbox pool's job; elsewhere use it only for a template
    :func:`is_plain_substitution` accepts (or one you wrote yourself).

    Raises:
        TemplateFailure: the template is wrong or does something the sandbox refuses.
        LimitExceeded: the source, an operator's result, the loops or the output are too large.
    """
    if len(source) > MAX_TEMPLATE:
        raise LimitExceeded(f"the template is longer than {MAX_TEMPLATE:,} characters")
    token = _range_budget.set([MAX_RANGE_ITEMS])
    try:
        template = _compile(source, autoescape, strict)
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**values):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise LimitExceeded(f"the rendered text exceeds {MAX_OUTPUT:,} characters")
            pieces.append(piece)
        return "".join(pieces)
    except TemplateSyntaxError as exc:
        raise TemplateFailure("syntax", exc.message or str(exc), exc.lineno) from None
    except SecurityError as exc:
        raise TemplateFailure("security", str(exc)) from None
    except TemplateError as exc:
        raise TemplateFailure("template", str(exc)) from None
    except (LimitExceeded, MemoryError, RecursionError):
        raise
    except Exception as exc:
        raise TemplateFailure("runtime", f"{type(exc).__name__}: {exc}") from None
    finally:
        _range_budget.reset(token)


LINEAR_FILTERS = frozenset(
    {
        "upper", "lower", "title", "capitalize", "trim", "length", "count", "string", "first", "last",
        "e", "escape", "safe", "int", "float", "abs", "join", "tojson", "wordcount", "urlencode",
    }
)  # fmt: skip
"""Filters whose cost is linear in their input when given no arguments (``default`` may have one
constant argument): a template of names and these still renders in-process."""
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_CONSTANT = r"(?:\d+|'[^'\\{}]*'|\"[^\"\\{}]*\")"
_PLAIN_EXPRESSION = re.compile(
    r"[-+]?\s*[A-Za-z_]\w*"
    rf"(?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*{_CONSTANT}\s*\])*"
    rf"(?P<filters>(?:\s*\|\s*[A-Za-z_]\w*(?:\s*\(\s*{_CONSTANT}\s*\))?)*)"
    r"\s*-?",
    re.ASCII,
)
_FILTER = re.compile(r"\|\s*([A-Za-z_]\w*)\s*(\()?", re.ASCII)


def _plain(expression: str) -> bool:
    match = _PLAIN_EXPRESSION.fullmatch(expression)
    if match is None:
        return False
    for name, call in _FILTER.findall(match.group("filters")):
        if not (name in LINEAR_FILTERS and not call) and name not in ("default", "d"):
            return False
    return True


def is_plain_substitution(source: str) -> bool:
    """Whether ``source`` only substitutes values: linear in their size, safe to render in-process.

    No statements or comments, and every ``{{ }}`` holds a name with attributes or constant
    subscripts (``user.name``, ``items[0]``, ``row['id']``), optionally through argument-less
    :data:`LINEAR_FILTERS` (``name | upper``) or ``default`` with a constant: no calls, no
    operators, no other filters.
    """
    if len(source) > INLINE_MAX or "{%" in source or "{#" in source:
        return False
    for match in _PLACEHOLDER.finditer(source):
        if not _plain(match.group(1).strip()):
            return False
    rest = _PLACEHOLDER.sub("", source)
    return "{{" not in rest and "}}" not in rest


async def render(
    source: str, values: dict[str, Any], *, autoescape: bool = False, strict: bool = False
) -> str:
    """Render ``source`` with ``values``: sandboxed, within the limits (see the module docstring).

    Raises:
        TemplateFailure: a syntax error, a sandbox violation, an undefined name (``strict``) or an
            error while rendering.
        LimitExceeded: the template ran out of time or memory, or built something too large.
    """
    if is_plain_substitution(source):
        return render_inline(source, values, autoescape, strict)
    from workbench import sandbox

    return await sandbox.run(render_inline, source, values, autoescape, strict, what="rendering the template")


__all__ = [
    "MAX_OUTPUT",
    "MAX_TEMPLATE",
    "BoundedEnvironment",
    "TemplateFailure",
    "Undefined",
    "is_plain_substitution",
    "render",
    "render_inline",
]
