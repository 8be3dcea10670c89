"""Logic blocks: arithmetic, counting, comparisons, equality branches and iteration over items."""

from __future__ import annotations

import enum
import json
import math
import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema

# ---- CalculatorBlock ---------------------------------------------------------------------------


class Operation(enum.StrEnum):
    """The arithmetic operations of :class:`CalculatorBlock` (AutoGPT's values)."""

    ADD = "Add"
    SUBTRACT = "Subtract"
    MULTIPLY = "Multiply"
    DIVIDE = "Divide"
    POWER = "Power"


_OPERATIONS: dict[Operation, Callable[[float, float], Any]] = {
    Operation.ADD: operator.add,
    Operation.SUBTRACT: operator.sub,
    Operation.MULTIPLY: operator.mul,
    Operation.DIVIDE: operator.truediv,
    Operation.POWER: operator.pow,
}


def _calculate(op: Operation, a: float, b: float, round_result: bool) -> float | int:
    """``a <op> b``; +inf on a division by zero, NaN on any other failure (never raises)."""
    try:
        result = _OPERATIONS[op](a, b)
        if isinstance(result, complex):
            # A negative base to a fractional power has no real value.
            return math.nan
        return round(result) if round_result else result
    except ZeroDivisionError:
        # AutoGPT's rule: any division by zero (also 0 ** -1) gives +inf, whatever the signs.
        return math.inf
    except Exception:
        # OverflowError of a huge power, round() of inf or NaN, ...
        return math.nan


class CalculatorBlock(Block):
    """Applies an arithmetic operation to two numbers, without ever failing."""

    id = "b1ab9b19-67a6-406d-abf5-2dba76d00c79"
    name = "CalculatorBlock"
    description = (
        "Performs a mathematical operation (Add, Subtract, Multiply, Divide, Power) on two numbers. "
        "Division by zero gives +inf and any other failure NaN."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        operation: Operation = Field(description="The operation to perform.")
        a: float = Field(description="The first number (left operand).")
        b: float = Field(description="The second number (right operand).")
        round_result: bool = Field(
            default=False, description="Round the result to an integer (Python round: half to even)."
        )

    class Output(BlockSchema):
        result: float = Field(description="The result of the calculation.")

    test_input = [
        {"operation": "Add", "a": 10.0, "b": 5.0},
        {"operation": "Subtract", "a": 10, "b": 15},
        {"operation": "Multiply", "a": "3", "b": 2.5},
        {"operation": "Divide", "a": 7, "b": 2},
        {"operation": "Power", "a": 2, "b": 10},
        {"operation": "Divide", "a": 1, "b": 0},
        {"operation": "Divide", "a": -1, "b": 0},
        {"operation": "Power", "a": 10, "b": 400},
        {"operation": "Power", "a": -8, "b": 0.5},
        {"operation": "Divide", "a": 5, "b": 2, "round_result": True},
        {"operation": "Add", "a": 1.5, "b": 2, "round_result": True},
        {"operation": "Divide", "a": 1, "b": 0, "round_result": True},
    ]
    test_output = [
        ("result", 15.0),
        ("result", -5.0),
        ("result", 7.5),
        ("result", 3.5),
        ("result", 1024.0),
        ("result", math.inf),
        ("result", math.inf),
        ("result", math.isnan),
        ("result", math.isnan),
        ("result", lambda v: v == 2 and isinstance(v, int)),
        ("result", lambda v: v == 4 and isinstance(v, int)),
        ("result", math.inf),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "result", _calculate(input_data.operation, input_data.a, input_data.b, input_data.round_result)


# ---- CountItemsBlock ---------------------------------------------------------------------------


def _count(collection: Any) -> int:
    """len() of a str/list/tuple/set/dict, the number of items of another iterable, else -1."""
    if isinstance(collection, str | list | tuple | set | frozenset | dict):
        return len(collection)
    if isinstance(collection, Iterable):
        return sum(1 for _ in collection)
    return -1


class CountItemsBlock(Block):
    """Counts the items of a collection (the characters of a string), or -1 for a non-collection."""

    id = "3c9c2f42-b0c3-435f-ba35-05f7a25c772a"
    name = "CountItemsBlock"
    description = (
        "Counts the items in a collection (list, dictionary, string, ...); a value that is not a "
        "collection gives -1."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        collection: Any = Field(description="The collection to count the items of.")

    class Output(BlockSchema):
        count: int = Field(description="The number of items, or -1 when the input is not a collection.")

    test_input = [
        {"collection": [1, 2, 3, 4]},
        {"collection": "hello"},
        {"collection": {"a": 1, "b": 2}},
        {"collection": []},
        {"collection": 42},
        {"collection": range(7)},
    ]
    test_output = [
        ("count", 4),
        ("count", 5),
        ("count", 2),
        ("count", 0),
        ("count", -1),
        ("count", 7),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            count = _count(input_data.collection)
        except Exception as exc:
            yield "error", f"Cannot count the items of {type(input_data.collection).__name__}: {exc}"
            return
        yield "count", count


# ---- ConditionBlock ----------------------------------------------------------------------------


class ComparisonOperator(enum.StrEnum):
    """The comparison operators of :class:`ConditionBlock` (AutoGPT's values)."""

    EQUAL = "=="
    NOT_EQUAL = "!="
    GREATER_THAN = ">"
    LESS_THAN = "<"
    GREATER_THAN_OR_EQUAL = ">="
    LESS_THAN_OR_EQUAL = "<="


_COMPARISONS: dict[ComparisonOperator, Callable[[Any, Any], Any]] = {
    ComparisonOperator.EQUAL: operator.eq,
    ComparisonOperator.NOT_EQUAL: operator.ne,
    ComparisonOperator.GREATER_THAN: operator.gt,
    ComparisonOperator.LESS_THAN: operator.lt,
    ComparisonOperator.GREATER_THAN_OR_EQUAL: operator.ge,
    ComparisonOperator.LESS_THAN_OR_EQUAL: operator.le,
}


def _operand(value: Any) -> Any:
    """A string operand stripped, and as a float when it parses as one; other values unchanged."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            return text
    return value


def _compare(left: Any, op: ComparisonOperator, right: Any) -> bool:
    """``left <op> right``; operands that cannot be compared (``"a" > 1``) give False."""
    try:
        return bool(_COMPARISONS[op](left, right))
    except Exception:
        # Ordering incompatible types raises TypeError in Python; a condition that cannot hold is false.
        return False


class ConditionBlock(Block):
    """Compares two values and routes to ``yes_output`` or ``no_output``."""

    id = "715696a0-e1da-45c8-b209-c2fa9c3b0be6"
    name = "ConditionBlock"
    description = (
        "Compares two values with an operator (==, !=, >, <, >=, <=); numeric strings compare as numbers. "
        "Yields the result, then yes_output or no_output."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        value1: Any = Field(description="The first value (left operand); numeric strings become numbers.")
        operator: ComparisonOperator = Field(description="The comparison operator.")
        value2: Any = Field(description="The second value (right operand); numeric strings become numbers.")
        yes_value: Any = Field(
            default=None, description="Output when the condition is true; if unset, value1 is output."
        )
        no_value: Any = Field(
            default=None, description="Output when the condition is false; if unset, value2 is output."
        )

    class Output(BlockSchema):
        result: bool = Field(description="The result of the comparison.")
        yes_output: Any = Field(description="yes_value (or value1) when the condition is true.")
        no_output: Any = Field(description="no_value (or value2) when the condition is false.")

    test_input = [
        {"value1": 10, "operator": ">", "value2": 5, "yes_value": "Greater", "no_value": "Not greater"},
        {"value1": " 5 ", "operator": "<", "value2": "10"},
        {"value1": "abc ", "operator": "==", "value2": " abc"},
        {"value1": 3, "operator": "!=", "value2": 3},
        {"value1": "abc", "operator": ">", "value2": 1},
        {"value1": "2", "operator": ">=", "value2": 2, "yes_value": [1, 2]},
        {"value1": 1, "operator": "<=", "value2": 0, "no_value": {"x": 1}},
    ]
    test_output = [
        ("result", True),
        ("yes_output", "Greater"),
        ("result", True),
        ("yes_output", 5.0),
        ("result", True),
        ("yes_output", "abc"),
        ("result", False),
        ("no_output", 3),
        ("result", False),
        ("no_output", 1),
        ("result", True),
        ("yes_output", [1, 2]),
        ("result", False),
        ("no_output", {"x": 1}),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        value1 = _operand(input_data.value1)
        value2 = _operand(input_data.value2)
        result = _compare(value1, input_data.operator, value2)
        yield "result", result
        if result:
            yield "yes_output", value1 if input_data.yes_value is None else input_data.yes_value
        else:
            # AutoGPT falls back to value2 here (its field description says value1; the code rules).
            yield "no_output", value2 if input_data.no_value is None else input_data.no_value


# ---- IfInputMatchesBlock -----------------------------------------------------------------------


def _matches(left: Any, right: Any) -> bool:
    """``left == right or left is right``; an equality that raises counts as no match."""
    if left is right:
        return True
    try:
        return bool(left == right)
    except Exception:
        return False


class IfInputMatchesBlock(Block):
    """Checks whether the input equals a value and routes to ``yes_output`` or ``no_output``."""

    id = "6dbbc4b3-ca6c-42b6-b508-da52d23e13f2"
    name = "IfInputMatchesBlock"
    description = (
        "Checks whether the input equals the given value. Yields the result, then yes_value on "
        "yes_output or no_value on no_output (as given, even when unset)."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        input: Any = Field(description="The input to check.")
        value: Any = Field(description="The value to compare the input with.")
        yes_value: Any = Field(default=None, description="Output when the input matches the value.")
        no_value: Any = Field(default=None, description="Output when the input does not match the value.")

    class Output(BlockSchema):
        result: bool = Field(description="Whether the input matches the value.")
        yes_output: Any = Field(description="yes_value, when the input matches.")
        no_output: Any = Field(description="no_value, when the input does not match.")

    test_input = [
        {"input": 10, "value": 10, "yes_value": "Greater", "no_value": "Not greater"},
        {"input": 10, "value": 20, "yes_value": "Greater", "no_value": "Not greater"},
        {"input": 10, "value": "10", "yes_value": "yes", "no_value": "no"},
        {"input": [1, {"a": 2}], "value": [1, {"a": 2}], "no_value": "no"},
        {"input": 1, "value": 2, "yes_value": "yes"},
    ]
    test_output = [
        ("result", True),
        ("yes_output", "Greater"),
        ("result", False),
        ("no_output", "Not greater"),
        ("result", False),
        ("no_output", "no"),
        ("result", True),
        ("yes_output", None),
        ("result", False),
        ("no_output", None),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        if _matches(input_data.input, input_data.value):
            yield "result", True
            yield "yes_output", input_data.yes_value
        else:
            yield "result", False
            yield "no_output", input_data.no_value


# ---- StepThroughItemsBlock ---------------------------------------------------------------------

MAX_ITEMS = 10_000
"""Most items one source of :class:`StepThroughItemsBlock` may hold."""
MAX_ITEMS_STR_BYTES = 1024 * 1024
"""Largest ``items_str`` (UTF-8 bytes) :class:`StepThroughItemsBlock` parses."""


def _parse_items_str(text: str) -> list[Any] | dict[Any, Any]:
    """The JSON array or object in ``text``; ValueError when it is too large (a limit, raised)."""
    # More characters than the limit means more bytes too: no need to encode a huge string to know.
    too_large = len(text) > MAX_ITEMS_STR_BYTES or (
        len(text.encode("utf-8", "surrogatepass")) > MAX_ITEMS_STR_BYTES
    )
    if too_large:
        raise ValueError(f"items_str is too large: more than {MAX_ITEMS_STR_BYTES} bytes (1 MiB)")
    return json.loads(text)


def _check_count(source: str, items: list[Any] | dict[Any, Any]) -> None:
    if len(items) > MAX_ITEMS:
        raise ValueError(f"{source} has too many items: {len(items)} > {MAX_ITEMS}")


class StepThroughItemsBlock(Block):
    """Yields each item of a list, dictionary or JSON string, one (item, key) pair at a time."""

    id = "f66a3543-28d3-4ab5-8945-9b336371e2ce"
    name = "StepThroughItemsBlock"
    description = (
        "Iterates over a list, a dictionary or a JSON string (array or object), yielding each item "
        "and then its index or key, so downstream blocks run once per item."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        items: list = Field(default_factory=list, description="The list of items to iterate over.")
        items_object: dict = Field(
            default_factory=dict, description="The dictionary to iterate over (its values, with their keys)."
        )
        items_str: str = Field(
            default="", description="A JSON array or object to iterate over (at most 1 MiB)."
        )

    class Output(BlockSchema):
        item: Any = Field(description="The current item.")
        key: Any = Field(description="The index (list) or key (dictionary) of the current item.")

    test_input = [
        {"items": [1, 2, 3]},
        {"items_object": {"a": "x", "b": "y"}},
        {"items_str": '["p", {"q": 1}]'},
        {"items": ["l"], "items_object": {"k": "v"}, "items_str": '{"s": 7}'},
        {},
        {"items": [], "items_object": {}, "items_str": "   "},
        {"items_str": "not json"},
        {"items_str": "42"},
    ]
    test_output = [
        ("item", 1),
        ("key", 0),
        ("item", 2),
        ("key", 1),
        ("item", 3),
        ("key", 2),
        ("item", "x"),
        ("key", "a"),
        ("item", "y"),
        ("key", "b"),
        ("item", "p"),
        ("key", 0),
        ("item", {"q": 1}),
        ("key", 1),
        ("item", "l"),
        ("key", 0),
        ("item", "v"),
        ("key", "k"),
        ("item", 7),
        ("key", "s"),
        ("error", lambda m: m.startswith("items_str is not valid JSON")),
        ("error", lambda m: m.startswith("items_str must be a JSON array or object")),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        # Every source is checked before anything is yielded, so a bad source fails the node
        # without half of the items having been sent downstream.
        sources: list[list[Any] | dict[Any, Any]] = []
        if input_data.items:
            _check_count("items", input_data.items)
            sources.append(input_data.items)
        if input_data.items_object:
            _check_count("items_object", input_data.items_object)
            sources.append(input_data.items_object)
        if input_data.items_str.strip():
            try:
                parsed = _parse_items_str(input_data.items_str)
            except json.JSONDecodeError as exc:
                yield "error", f"items_str is not valid JSON: {exc}"
                return
            if not isinstance(parsed, list | dict):
                yield "error", f"items_str must be a JSON array or object, not {type(parsed).__name__}"
                return
            _check_count("items_str", parsed)
            sources.append(parsed)

        for source in sources:
            pairs = source.items() if isinstance(source, dict) else enumerate(source)
            for key, item in pairs:
                yield "item", item
                yield "key", key


# ---- SwitchBlock -------------------------------------------------------------------------------


class SwitchMatch(enum.StrEnum):
    """How :class:`SwitchBlock` compares the value with a case."""

    EQUALS = "equals"
    CONTAINS = "contains"
    REGEX = "regex"


def _case_name(case: Any) -> str:
    """The name of a case given in a list: the item itself for a string, else its JSON text."""
    if isinstance(case, str):
        return case
    try:
        return json.dumps(case, sort_keys=True)
    except (TypeError, ValueError):
        return str(case)


def _text(value: Any) -> str:
    """A string as is; anything else as its JSON text (``str()`` when it is not JSON-serializable)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def _switch_equals(value: Any, case: Any, case_sensitive: bool) -> bool:
    """Whether ``value`` equals ``case``: texts (optionally ignoring case), numbers and numeric texts
    as numbers, booleans and the texts "true"/"false"; anything else by Python equality, except that a
    boolean never equals a number."""
    if isinstance(value, str) and isinstance(case, str):
        return value == case if case_sensitive else value.casefold() == case.casefold()
    if isinstance(value, str) or isinstance(case, str):
        text, other = (value, case) if isinstance(value, str) else (case, value)
        if isinstance(other, bool):
            return text.strip().lower() == str(other).lower()
        if isinstance(other, int | float):
            number = _operand(text)
            return isinstance(number, float) and number == other
        return False
    if isinstance(value, bool) != isinstance(case, bool):
        return False
    return _matches(value, case)


def _switch_contains(value: Any, case: Any, case_sensitive: bool) -> bool:
    """Whether ``value`` contains ``case``: a substring of a text, an item of a list, a key of a
    dictionary; any other value by its JSON text."""
    if isinstance(value, list | tuple | set | frozenset):
        return any(_switch_equals(item, case, case_sensitive) for item in value)
    if isinstance(value, dict):
        return any(_switch_equals(key, case, case_sensitive) for key in value)
    haystack, needle = _text(value), _text(case)
    if not case_sensitive:
        haystack, needle = haystack.casefold(), needle.casefold()
    return needle in haystack


class SwitchBlock(Block):
    """Routes a value to the output pin of the case it matches (``cases_#_<name>``), else ``default``."""

    id = "546e6fa8-3b48-48c2-94be-8ffd74550926"
    name = "SwitchBlock"
    description = (
        "Multi-way branch. `cases` maps each case name to the value to match (a list: each item is "
        "matched and names its own case). The value (or `data`, when given) leaves on the pin "
        "`cases_#_<name>` of the first case that matches: link from `cases_#_<name>` for each case and "
        "from `default`, which fires when no case matches; `matched_case` names the case. `match`: "
        "equals (texts, numbers and numeric texts, true/false; `case_sensitive` for texts), contains "
        "(substring of a text, item of a list, key of a dictionary) or regex (Python re.search on the "
        "value's text, `.` matching newlines, run with the sandbox's time limit). Cases are tried in "
        "order; a dictionary's order is not kept once the agent is saved, so give a list when several "
        "cases can match the same value, or set `all_matches` to route to every matching case."
    )
    categories = (BlockCategory.LOGIC,)

    class Input(BlockSchema):
        value: Any = Field(description="The value to match against the cases (and to route).")
        cases: dict[str, Any] | list[Any] = Field(
            description="Case name -> value to match (or pattern, or text to find); or a list of values, "
            "each naming its own case (its text)."
        )
        match: SwitchMatch = Field(
            default=SwitchMatch.EQUALS, description="How to compare: equals, contains or regex."
        )
        case_sensitive: bool = Field(default=True, description="Whether letter case matters for texts.")
        all_matches: bool = Field(
            default=False, description="Route to every matching case instead of the first only."
        )
        data: Any = Field(
            default=None, description="What to send on the matching pin; when unset, the value itself."
        )

    class Output(BlockSchema):
        cases: dict[str, Any] = Field(
            description="The routed value under the matching case's name: link from `cases_#_<name>`."
        )
        default: Any = Field(description="The routed value, when no case matches.")
        matched_case: str = Field(description="The name of the matching case.")

    test_input = [
        {"value": "blue", "cases": {"red": "red", "blue": "blue"}},
        {"value": "green", "cases": {"red": "red", "blue": "blue"}},
        {"value": "42", "cases": {"answer": 42, "zero": 0}, "data": {"n": 42}},
        {"value": "YES", "cases": ["no", "yes"], "case_sensitive": False},
        {"value": True, "cases": {"one": 1, "true": "true"}},
        {"value": "urgent: disk full", "cases": ["low", "urgent"], "match": "contains"},
        {"value": ["a", "b"], "cases": {"has_b": "b"}, "match": "contains"},
        {"value": "Order #123", "cases": {"order": r"#\d+", "other": "."}, "match": "regex"},
        {
            "value": "Order #123",
            "cases": [r"#\d+", "Order"],
            "match": "regex",
            "all_matches": True,
        },
        {"value": "x", "cases": {"bad": "(unclosed"}, "match": "regex"},
        {"value": 7, "cases": []},
    ]
    test_output = [
        ("cases", {"blue": "blue"}),
        ("matched_case", "blue"),
        ("default", "green"),
        ("cases", {"answer": {"n": 42}}),
        ("matched_case", "answer"),
        ("cases", {"yes": "YES"}),
        ("matched_case", "yes"),
        ("cases", {"true": True}),
        ("matched_case", "true"),
        ("cases", {"urgent": "urgent: disk full"}),
        ("matched_case", "urgent"),
        ("cases", {"has_b": ["a", "b"]}),
        ("matched_case", "has_b"),
        ("cases", {"order": "Order #123"}),
        ("matched_case", "order"),
        ("cases", {r"#\d+": "Order #123", "Order": "Order #123"}),
        ("matched_case", r"#\d+"),
        ("matched_case", "Order"),
        ("error", lambda v: v.startswith("Invalid regular expression for case 'bad'")),
        ("default", 7),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        cases = input_data.cases
        named = list(cases.items()) if isinstance(cases, dict) else [(_case_name(c), c) for c in cases]
        routed = input_data.value if input_data.data is None else input_data.data
        matched: list[str] = []
        for name, case in named:
            if name in matched:
                continue
            try:
                hit = await _case_hit(input_data, name, case)
            except _CaseError as exc:
                yield "error", str(exc)
                return
            if hit:
                matched.append(name)
                if not input_data.all_matches:
                    break
        if not matched:
            yield "default", routed
            return
        yield "cases", dict.fromkeys(matched, routed)
        for name in matched:
            yield "matched_case", name


class _CaseError(Exception):
    """A case that cannot be tried (a bad or runaway regular expression); the message says which."""


async def _case_hit(input_data: SwitchBlock.Input, name: str, case: Any) -> bool:
    """Whether the value matches one case (see :class:`SwitchBlock`).

    Raises:
        _CaseError: the case's regular expression does not compile, runs too long or fails.
    """
    sensitive = input_data.case_sensitive
    if input_data.match == SwitchMatch.EQUALS:
        return _switch_equals(input_data.value, case, sensitive)
    if input_data.match == SwitchMatch.CONTAINS:
        return _switch_contains(input_data.value, case, sensitive)
    from blocks.text import RegexTimeoutError, run_regex
    from workbench import sandbox

    pattern = _text(case)
    flags = re.DOTALL | (0 if sensitive else re.IGNORECASE)
    job = {"op": "search", "pattern": pattern, "flags": flags, "text": _text(input_data.value)}
    try:
        return bool((await run_regex(job))["found"])
    except re.error as exc:
        raise _CaseError(f"Invalid regular expression for case {name!r}: {pattern!r}: {exc}") from None
    except RegexTimeoutError as exc:
        raise _CaseError(f"Regular expression for case {name!r} timed out: {exc}") from None
    except sandbox.JobFailed as exc:
        raise _CaseError(f"Regular expression for case {name!r} failed: {exc}") from None
