"""Utility blocks: log a message, evaluate a math expression, extract code blocks, parse XML, sample data.

Delays and dates live in ``blocks/time.py`` (CountdownTimerBlock, GetCurrentDate/Time blocks).
"""

from __future__ import annotations

import ast
import enum
import logging
import math
import random
import re
from collections import OrderedDict, defaultdict
from typing import Any
from xml.etree.ElementTree import Element

import simpleeval
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.errors import BlockError, LimitExceeded

block_log = logging.getLogger("workbench.block.log")


class LogLevel(enum.StrEnum):
    """Levels of the log block."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogMessageBlock(Block):
    """Writes a message to the server log at a level, tagged with the run and node, and passes it on."""

    id = "5b0e8a3c-1d2f-4e6a-8b9c-0d1e2f3a4b5c"
    name = "LogMessageBlock"
    description = (
        "Writes the message to the server log (logger `workbench.block.log`) at the chosen level, "
        "tagged with the run and node ids, and outputs it unchanged."
    )
    categories = (BlockCategory.BASIC, BlockCategory.DEVELOPER_TOOLS)

    class Input(BlockSchema):
        message: Any = Field(description="What to log (any value).")
        level: LogLevel = Field(default=LogLevel.INFO, description="Log level.")

    class Output(BlockSchema):
        output: Any = Field(description="The message, unchanged.")

    test_input = [{"message": "hello"}, {"message": {"n": 1}, "level": "WARNING"}]
    test_output = [("output", "hello"), ("output", {"n": 1})]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = kwargs.get("context")
        run_id = ctx.graph_execution_id if ctx is not None else ""
        node_id = ctx.node_id if ctx is not None else ""
        block_log.log(
            logging.getLevelName(str(input_data.level)),
            "[run %s node %s] %s",
            run_id,
            node_id,
            input_data.message,
            extra={"graph_execution_id": run_id, "node_id": node_id},
        )
        yield "output", input_data.message


# ---- math --------------------------------------------------------------------------------------

MAX_EXPRESSION = 1000
MAX_RESULT_BITS = 10_000
"""Integers beyond this many bits are refused (each step is checked before it is computed)."""


def _guard_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise BlockError(f"a number in the expression grows past {MAX_RESULT_BITS} bits")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if max(base.bit_length(), 1) * exponent > MAX_RESULT_BITS and abs(base) > 1:
            raise BlockError(f"{base} ** {exponent} is too large (over {MAX_RESULT_BITS} bits)")
    elif isinstance(exponent, int | float) and abs(exponent) > 10_000:
        raise BlockError(f"exponent {exponent} is too large")
    return _guard_int(base**exponent)


def _times(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_RESULT_BITS:
        raise BlockError(f"a product in the expression grows past {MAX_RESULT_BITS} bits")
    return simpleeval.safe_mult(a, b)  # refuses texts and lists past simpleeval.MAX_STRING_LENGTH


def _shift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and b > MAX_RESULT_BITS:
        raise BlockError(f"shift by {b} is too large")
    return simpleeval.safe_lshift(a, b)


def _round(number: Any, ndigits: Any = None) -> Any:
    # round(5, -10**7) computes 10 ** 10**7 on the way: refuse digit counts no number needs.
    if isinstance(ndigits, int) and abs(ndigits) > MAX_RESULT_BITS:
        raise BlockError(f"round() to {ndigits} digits is out of range")
    return round(number, ndigits)


def _modulo(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        raise BlockError("text formatting with % is not available")
    return a % b


_NUMERIC_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)


def is_numeric(expression: str) -> bool:
    """Whether ``expression`` uses only numbers, names, operators and the math functions.

    Each such step is checked before it is computed (at most :data:`MAX_RESULT_BITS`-bit integers),
    so the whole expression is cheap: it is evaluated in-process. Anything else (texts, attributes,
    subscripts, method calls) is evaluated in the sandbox process pool.
    """
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | bool):
                return False
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS) or node.keywords:
                return False
        elif not isinstance(node, _NUMERIC_NODES):
            return False
    return True


_FUNCTIONS = {
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "floor": math.floor,
    "ceil": math.ceil,
    "hypot": math.hypot,
    "int": int,
    "float": float,
}


class MathExpressionBlock(Block):
    """Evaluates an arithmetic expression with variables, safely (no names beyond the given ones)."""

    id = "c7d9e1f3-2a4b-4c6d-8e0f-1a3b5c7d9e2f"
    name = "MathExpressionBlock"
    description = (
        "Evaluates a math expression such as `2 * (x + 1) ** 2 / sqrt(y)` with the given variables: "
        "+ - * / // % **, comparisons, `a if c else b`, functions abs round min max sqrt exp log "
        "log10 log2 sin cos tan asin acos atan atan2 floor ceil hypot, constants pi e tau. Nothing "
        "else can be called; huge numbers are refused."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        expression: str = Field(description="The expression.")
        variables: dict[str, float | int | bool] = Field(
            default_factory=dict, description="Values of the names in the expression."
        )

    class Output(BlockSchema):
        result: float | int | bool = Field(description="The value of the expression.")

    test_input = [
        {"expression": "2 * (x + 1) ** 2", "variables": {"x": 2}},
        {"expression": "round(sqrt(16) + pi, 2)"},
        {"expression": "1 / 0"},
        {"expression": "__import__('os')"},
    ]
    test_output = [
        ("result", 18),
        ("result", 7.14),
        ("error", "division by zero in '1 / 0'"),
        ("error", "cannot evaluate \"__import__('os')\": function '__import__' is not available"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        text = input_data.expression.strip()
        if not text:
            yield "error", "expression is empty"
            return
        if len(text) > MAX_EXPRESSION:
            yield "error", f"expression is longer than {MAX_EXPRESSION} characters"
            return
        try:
            result = await evaluate_bounded(text, input_data.variables)
        except BlockError as exc:
            yield "error", str(exc)
            return
        yield "result", result


async def evaluate_bounded(expression: str, variables: dict[str, Any]) -> Any:
    """:func:`evaluate`, in the sandbox process pool unless the expression :func:`is_numeric`.

    Raises:
        BlockError: the expression cannot be evaluated (LimitExceeded: it ran out of time or memory).
    """
    if is_numeric(expression):
        return evaluate(expression, variables)
    from workbench import sandbox  # the pool (pebble, asyncio) is imported when first needed

    return await sandbox.run(evaluate, expression, variables, what="evaluating the expression")


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """The value of ``expression``; BlockError with the reason when it cannot be evaluated.

    simpleeval's own limits apply (texts and lists up to ``simpleeval.MAX_STRING_LENGTH`` items),
    and every integer step is checked against :data:`MAX_RESULT_BITS` before it is computed.
    """
    operators = dict(simpleeval.DEFAULT_OPERATORS)
    operators.update({ast.Pow: _power, ast.Mult: _times, ast.LShift: _shift, ast.Mod: _modulo})
    names = {"pi": math.pi, "e": math.e, "tau": math.tau, "True": True, "False": False, **variables}
    evaluator = simpleeval.SimpleEval(operators=operators, functions=_FUNCTIONS, names=names)
    try:
        result = evaluator.eval(expression)
    except ZeroDivisionError:
        raise BlockError(f"division by zero in {expression!r}") from None
    except simpleeval.FunctionNotDefined as exc:
        raise BlockError(
            f"cannot evaluate {expression!r}: function {exc.func_name!r} is not available"
        ) from None
    except simpleeval.NameNotDefined as exc:
        raise BlockError(
            f"cannot evaluate {expression!r}: unknown name {exc.name!r} (add it to variables)"
        ) from None
    except simpleeval.IterableTooLong:
        raise LimitExceeded(
            f"{expression!r} would build a text or list longer than {simpleeval.MAX_STRING_LENGTH:,} items"
        ) from None
    except simpleeval.NumberTooHigh as exc:
        raise LimitExceeded(f"{expression!r} is too large to compute: {exc}") from None
    except (simpleeval.InvalidExpression, SyntaxError) as exc:
        raise BlockError(f"cannot evaluate {expression!r}: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise BlockError(f"cannot evaluate {expression!r}: {exc}") from None
    if not isinstance(result, int | float | bool):
        raise BlockError(f"{expression!r} gives {type(result).__name__}, not a number")
    if isinstance(result, float) and not math.isfinite(result):
        raise BlockError(f"{expression!r} is not a finite number ({result})")
    return _guard_int(result)


# ---- code extraction ---------------------------------------------------------------------------

_FENCE = re.compile(
    r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<code>.*?)^[ \t]{0,3}(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "node": "javascript",
    "ts": "typescript",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
    "console": "bash",
    "yml": "yaml",
    "c++": "cpp",
    "cs": "csharp",
    "c#": "csharp",
    "rb": "ruby",
    "rs": "rust",
    "golang": "go",
    "md": "markdown",
    "postgres": "sql",
    "postgresql": "sql",
}
MAX_TEXT = 1_000_000
CODE_INLINE_MAX = 4_000
"""Texts up to this many characters are searched for code blocks in-process; longer ones in the
sandbox pool (the fence pattern backtracks: unclosed fences make it quadratic in the text's length)."""


def normalize_language(name: str) -> str:
    """``py`` -> ``python``, ``JS`` -> ``javascript``...; the empty string stays empty."""
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def extract_code_blocks(text: str) -> list[dict[str, str]]:
    """Every fenced code block of ``text`` (``` or ~~~), in order, as ``{"language", "code"}``."""
    blocks = []
    for match in _FENCE.finditer(text[:MAX_TEXT]):
        info = match["info"].strip().split()
        blocks.append(
            {"language": normalize_language(info[0]) if info else "", "code": match["code"].rstrip("\n")}
        )
    return blocks


class ExtractCodeBlock(Block):
    """Pulls fenced code blocks (```lang ... ```) out of Markdown or an LLM's answer."""

    id = "e4a2c6b8-9d1f-4a3e-b5c7-d9e1f3a5b7c9"
    name = "ExtractCodeBlock"
    description = (
        "Extracts the fenced code blocks (```python ... ```) from Markdown or an LLM answer, "
        "optionally only those of one language (aliases such as py, js, sh are understood)."
    )
    categories = (BlockCategory.TEXT, BlockCategory.DEVELOPER_TOOLS)

    class Input(BlockSchema):
        text: str = Field(description="The text holding code blocks.")
        language: str = Field(default="", description="Keep only blocks of this language (empty: all).")

    class Output(BlockSchema):
        code: str = Field(description="The matching blocks' code, joined by blank lines (when any).")
        code_blocks: list[dict[str, str]] = Field(description="The matching blocks: [{language, code}].")
        count: int = Field(description="How many blocks matched.")

    test_input = [
        {"text": "Try:\n```py\nprint('hi')\n```\nand\n```bash\nls -l\n```\n", "language": "python"},
        {"text": "no code here"},
    ]
    test_output = [
        ("code", "print('hi')"),
        ("code_blocks", [{"language": "python", "code": "print('hi')"}]),
        ("count", 1),
        ("code_blocks", []),
        ("count", 0),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        wanted = normalize_language(input_data.language)
        text = input_data.text
        try:
            if len(text) <= CODE_INLINE_MAX:
                found = extract_code_blocks(text)
            else:
                from workbench import sandbox

                found = await sandbox.run(extract_code_blocks, text, what="extracting the code blocks")
        except BlockError as exc:
            yield "error", str(exc)
            return
        blocks = [b for b in found if not wanted or b["language"] == wanted]
        if blocks:
            yield "code", "\n\n".join(b["code"] for b in blocks)
        yield "code_blocks", blocks
        yield "count", len(blocks)


# ---- XML ---------------------------------------------------------------------------------------

MAX_XML = 10 * 1024 * 1024
MAX_DEPTH = 256
XML_INLINE_MAX = 100_000
"""XML up to this many characters is parsed in-process; larger documents in the sandbox pool."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def element_to_value(element: Element, depth: int = 0) -> Any:
    """An element as JSON: its text when it is a plain leaf, else a dict of attributes (``@name``),
    children by tag (a list when a tag repeats) and its text (``#text``)."""
    if depth > MAX_DEPTH:
        raise BlockError(f"XML nests deeper than {MAX_DEPTH} levels")
    children = list(element)
    text = (element.text or "").strip()
    if not children and not element.attrib:
        return text
    value: dict[str, Any] = {f"@{_local(k)}": v for k, v in element.attrib.items()}
    repeated: set[str] = set()
    for child in children:
        key, item = _local(child.tag), element_to_value(child, depth + 1)
        if key in repeated:
            value[key].append(item)  # in place: n repeated siblings cost O(n), not O(n²)
        elif key in value:
            value[key] = [value[key], item]
            repeated.add(key)
        else:
            value[key] = item
    tails = " ".join(t for t in [text, *((c.tail or "").strip() for c in children)] if t)
    if tails:
        value["#text"] = tails
    return value


def parse_xml(text: str) -> dict[str, Any]:
    """``{root tag: value}``; BlockError for bad XML, DTDs and entities (defusedxml refuses them)."""
    if not text.strip():
        raise BlockError("input_xml is empty")
    if len(text.encode()) > MAX_XML:
        raise BlockError(f"input_xml is larger than {MAX_XML} bytes")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BlockError(f"input_xml uses a forbidden XML feature: {exc}") from None
    except ParseError as exc:
        raise BlockError(f"input_xml is not well-formed XML: {exc}") from None
    return {_local(root.tag): element_to_value(root)}


async def parse_xml_bounded(text: str) -> dict[str, Any]:
    """:func:`parse_xml`, in the sandbox process pool for documents over :data:`XML_INLINE_MAX`."""
    if len(text) <= XML_INLINE_MAX:
        return parse_xml(text)
    if len(text) > MAX_XML:
        raise BlockError(f"input_xml is larger than {MAX_XML} bytes")
    from workbench import sandbox

    return await sandbox.run(parse_xml, text, what="parsing the XML")


class XMLParserBlock(Block):
    """Parses XML into nested dictionaries (AutoGPT's XML parser)."""

    id = "286380af-9529-4b55-8be0-1d7c854abdb5"
    name = "XMLParserBlock"
    description = (
        "Parses XML into a dictionary: {root: ...}, a leaf as its text, an element with children as "
        "{child: ...} (repeated children as a list, attributes as @name). DTDs and entities are refused."
    )
    categories = (BlockCategory.DATA, BlockCategory.TEXT)

    class Input(BlockSchema):
        input_xml: str = Field(description="The XML text.")

    class Output(BlockSchema):
        parsed_xml: dict[str, Any] = Field(description="The parsed XML.")

    test_input = [
        {"input_xml": "<a><b>1</b><c>2</c></a>"},
        {"input_xml": '<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'},
    ]
    test_output = [
        ("parsed_xml", {"a": {"b": "1", "c": "2"}}),
        ("error", lambda message: message.startswith("input_xml uses a forbidden XML feature")),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            parsed = await parse_xml_bounded(input_data.input_xml)
        except BlockError as exc:
            yield "error", str(exc)
            return
        yield "parsed_xml", parsed


# ---- sampling ----------------------------------------------------------------------------------


class SamplingMethod(enum.StrEnum):
    """How the sampling block picks items."""

    RANDOM = "random"
    SYSTEMATIC = "systematic"
    TOP = "top"
    BOTTOM = "bottom"
    STRATIFIED = "stratified"
    WEIGHTED = "weighted"
    RESERVOIR = "reservoir"
    CLUSTER = "cluster"


def _key_of(item: Any, key: str | None, method: str) -> Any:
    if not key:
        raise BlockError(f"{method} sampling needs its key (stratify_key, weight_key or cluster_key)")
    if isinstance(item, dict):
        if key not in item:
            raise BlockError(f"an item has no {key!r} key: {item!r}"[:200])
        return item[key]
    try:
        return item[int(key)]
    except (ValueError, IndexError, TypeError):
        raise BlockError(f"key {key!r} does not select a value of item {item!r}"[:200]) from None


def sample_indices(
    data: list[Any], n: int, method: SamplingMethod, rng: random.Random, keys: dict[str, str | None]
) -> list[int]:
    """Indices of the items ``method`` picks (``n`` of them; weighted sampling may repeat)."""
    size = len(data)
    if method is SamplingMethod.RANDOM:
        return rng.sample(range(size), n)
    if method is SamplingMethod.TOP:
        return list(range(n))
    if method is SamplingMethod.BOTTOM:
        return list(range(size - n, size))
    if method is SamplingMethod.SYSTEMATIC:
        step = size // n
        start = rng.randrange(step)
        return [start + i * step for i in range(n)]
    if method is SamplingMethod.RESERVOIR:
        reservoir = list(range(n))
        for i in range(n, size):
            j = rng.randrange(i + 1)
            if j < n:
                reservoir[j] = i
        return reservoir
    if method is SamplingMethod.WEIGHTED:
        weights = []
        for item in data:
            weight = _key_of(item, keys["weight_key"], "weighted")
            if not isinstance(weight, int | float) or weight < 0:
                raise BlockError(f"weight {weight!r} is not a non-negative number")
            weights.append(weight)
        if not any(weights):
            raise BlockError("all weights are zero")
        return rng.choices(range(size), weights=weights, k=n)
    groups: dict[str, list[int]] = defaultdict(list)
    key = keys["stratify_key"] if method is SamplingMethod.STRATIFIED else keys["cluster_key"]
    for i, item in enumerate(data):
        groups[str(_key_of(item, key, method.value))].append(i)
    if method is SamplingMethod.STRATIFIED:
        picked: list[int] = []
        for members in groups.values():
            share = max(1, round(n * len(members) / size))
            picked.extend(rng.sample(members, min(share, len(members))))
        rng.shuffle(picked)
        return sorted(picked[:n])
    clusters = list(groups.values())
    rng.shuffle(clusters)
    picked = []
    for members in clusters:
        if len(picked) >= n:
            break
        picked.extend(members)
    return picked[:n]


class DataSamplingBlock(Block):
    """Samples items of a dataset: random, systematic, top, bottom, stratified, weighted, reservoir, cluster."""

    id = "4a448883-71fa-49cf-91cf-70d793bd7d87"
    name = "DataSamplingBlock"
    description = (
        "Picks sample_size items of a list (a dict counts as one item) by random, systematic, top, "
        "bottom, stratified (by stratify_key), weighted (by weight_key), reservoir or cluster (by "
        "cluster_key) sampling; random_seed makes it repeatable. With accumulate, items of several "
        "runs of this node are gathered until there are enough."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        data: dict[str, Any] | list[Any] = Field(description="The dataset: a list of items (or one dict).")
        sample_size: int = Field(default=10, ge=1, description="How many items to pick.")
        sampling_method: SamplingMethod = Field(default=SamplingMethod.RANDOM, description="How to pick.")
        accumulate: bool = Field(default=False, description="Gather items over runs until there are enough.")
        random_seed: int | None = Field(default=None, description="Seed for repeatable samples.")
        stratify_key: str | None = Field(default=None, description="Key of the strata (stratified).")
        weight_key: str | None = Field(default=None, description="Key of the weights (weighted).")
        cluster_key: str | None = Field(default=None, description="Key of the clusters (cluster).")

    class Output(BlockSchema):
        sampled_data: list[Any] = Field(description="The picked items.")
        sample_indices: list[int] = Field(description="Their positions in the dataset.")

    test_input = [
        {"data": [{"v": i} for i in range(10)], "sample_size": 3, "sampling_method": "top"},
        {"data": [{"v": i} for i in range(10)], "sample_size": 2, "sampling_method": "bottom"},
        {"data": [1, 2], "sample_size": 3},
    ]
    test_output = [
        ("sampled_data", [{"v": 0}, {"v": 1}, {"v": 2}]),
        ("sample_indices", [0, 1, 2]),
        ("sampled_data", [{"v": 8}, {"v": 9}]),
        ("sample_indices", [8, 9]),
        ("error", "sample_size 3 is larger than the dataset (2 items)"),
    ]

    MAX_ACCUMULATED_NODES = 1000

    def __init__(self) -> None:
        self._accumulated: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        items = [input_data.data] if isinstance(input_data.data, dict) else list(input_data.data)
        if input_data.accumulate:
            ctx = get_context(kwargs)
            key = (ctx.graph_execution_id, ctx.node_id)
            items = self._accumulated.pop(key, []) + items
            if len(items) < input_data.sample_size:
                self._accumulated[key] = items
                while len(self._accumulated) > self.MAX_ACCUMULATED_NODES:
                    self._accumulated.popitem(last=False)
                return
        n = input_data.sample_size
        if n > len(items):
            yield "error", f"sample_size {n} is larger than the dataset ({len(items)} items)"
            return
        rng = random.Random(input_data.random_seed)
        keys = {
            "stratify_key": input_data.stratify_key,
            "weight_key": input_data.weight_key,
            "cluster_key": input_data.cluster_key,
        }
        indices = sample_indices(items, n, input_data.sampling_method, rng, keys)
        yield "sampled_data", [items[i] for i in indices]
        yield "sample_indices", indices
