"""No block's CPU work on users' data runs unbounded on the event loop: templates, expressions, XML,
code extraction and text replacement either stay provably cheap in-process or run in the sandbox
pool, and a node that hits a limit fails with a message naming the limit (and its setting)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import workbench.sandbox
from blocks.ai import render_prompt
from blocks.io import AgentOutputBlock
from blocks.text import FillTextTemplateBlock, TextReplaceBlock
from blocks.utils import ExtractCodeBlock, MathExpressionBlock, XMLParserBlock, is_numeric, parse_xml
from tests.support.loop import LoopWatch
from workbench import sandbox
from workbench.block.selftest import run_block_once
from workbench.errors import LimitExceeded
from workbench.templating import is_plain_substitution

TIME_LIMIT = "took longer than 1 s (limit WORKBENCH_SANDBOX_TIMEOUT)"
NESTED_LOOPS = "{% for a in x %}{% for b in x %}{% for c in x %}{% endfor %}{% endfor %}{% endfor %}"
RANGE_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def limits() -> Iterator[None]:
    """A 1 s time limit and 128 MB of memory per job, on a warm pool (its start is not timed)."""
    before = sandbox.limits()
    sandbox.configure(sandbox.Limits(timeout=1, document_timeout=1, memory_mb=128, workers=2))
    sandbox.run_sync(abs, -1, what="warming up the pool")
    yield
    sandbox.configure(before)


@pytest.fixture
def no_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any use of the pool fails the test: what runs must run in-process."""

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("this work should not need the sandbox pool")

    monkeypatch.setattr(workbench.sandbox, "run", refuse)


async def run(block_cls: type, data: dict[str, Any]) -> list[tuple[str, Any]]:
    return await run_block_once(block_cls(), data)


async def while_ticking(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    """(result of ``work``, seconds it took, longest pause of the event loop meanwhile)."""
    async with LoopWatch(interval=0.02) as watch:
        result = await work()
    return result, watch.elapsed, watch.longest_pause


# ---- templates -----------------------------------------------------------------------------------


async def test_template_nested_loops_fail_on_the_time_limit_and_the_loop_runs_on(limits: None) -> None:
    out, elapsed, pause = await while_ticking(
        lambda: run(FillTextTemplateBlock, {"values": {"x": list(range(3000))}, "format": NESTED_LOOPS})
    )
    assert out == [("error", f"Template stopped: Rendering the template {TIME_LIMIT}")]
    assert elapsed < 3
    assert pause < 0.3, "the event loop was blocked while the template ran"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (RANGE_LOOPS, "the template's loops count more than 1,000,000 numbers with range()"),
        ("{{ 9 ** 999999 }}", "9 ** 999999 in the template would exceed 100,000 bits"),
        ("{{ (2 ** 90000) ** 2 }}", "a 90,001-bit number ** 2 in the template would exceed 100,000 bits"),
        ("{{ (2 ** 90000) * (2 ** 90000) }}", "a product in the template would exceed 100,000 bits"),
        ("{{ 'a' * 10 ** 8 }}", "repeating a value 100,000,000 times in the template would exceed"),
        ("{{ ['a'] * 10 ** 8 }}", "repeating a value 100,000,000 times in the template would exceed"),
        (
            "{% for i in range(1000) %}{% for j in range(200) %}0123456789{% endfor %}{% endfor %}",
            "the rendered text exceeds 1,000,000 characters",
        ),
        ("{{ 'a' | center(400000000) }}", "Rendering the template needed more than 128 MB of memory"),
    ],
)
async def test_template_limits_fail_the_node_with_the_limit(
    limits: None, template: str, message: str
) -> None:
    started = time.monotonic()
    out = await run(FillTextTemplateBlock, {"values": {}, "format": template})
    assert len(out) == 1
    assert out[0][0] == "error"
    assert out[0][1].startswith("Template stopped: ")
    assert message in out[0][1]
    assert time.monotonic() - started < 1


async def test_plain_substitution_renders_in_process(no_pool: None) -> None:
    data = {
        "values": {"user": {"name": "Ada"}, "items": ["x", "y"]},
        "format": "{{ user.name }}: {{ items[1] | upper }}",
    }
    assert await run(FillTextTemplateBlock, data) == [("output", "Ada: Y")]


@pytest.mark.parametrize(
    ("template", "plain"),
    [
        ("Hello {{ name }}!", True),
        ("{{ a.b[0]['c'] }} {{- d -}}", True),
        ("{{ name | upper | default('x') }}", True),
        ("{{ name | center(100) }}", False),
        ("{{ items | join(sep) }}", False),
        ("{{ a ~ b }}", False),
        ("{{ 9 ** 9 }}", False),
        ("{{ f() }}", False),
        ("{% if a %}{{ a }}{% endif %}", False),
        ("{# c #}{{ a }}", False),
        ("{{ '}}' }}", False),
    ],
)
def test_what_counts_as_plain_substitution(template: str, plain: bool) -> None:
    assert is_plain_substitution(template) is plain


async def test_output_block_format_is_bounded(limits: None) -> None:
    out = await run(AgentOutputBlock, {"value": 1, "name": "o", "format": RANGE_LOOPS})
    assert out[0][0] == "output"
    assert out[0][1].startswith("Error: the template's loops count more than 1,000,000 numbers")


async def test_prompt_templates_are_bounded_and_name_the_pin(limits: None) -> None:
    with pytest.raises(
        LimitExceeded, match=r"^pin 'sys_prompt': Rendering the template took longer than 1 s"
    ):
        await render_prompt(NESTED_LOOPS, {"x": list(range(3000))}, "sys_prompt")
    with pytest.raises(LimitExceeded, match=r"^pin 'prompt': the template's loops count more than"):
        await render_prompt(RANGE_LOOPS, {"x": 1}, "prompt")
    assert await render_prompt("Hi {{ n }}", {"n": "Ada"}, "prompt") == "Hi Ada"


# ---- math ----------------------------------------------------------------------------------------


async def test_math_string_repetition_is_refused(limits: None) -> None:
    started = time.monotonic()
    out = await run(MathExpressionBlock, {"expression": "'a' * 10**8"})
    assert out == [("error", "\"'a' * 10**8\" would build a text or list longer than 100,000 items")]
    assert time.monotonic() - started < 1


async def test_math_method_calls_run_in_the_pool_within_its_memory(limits: None) -> None:
    out = await run(MathExpressionBlock, {"expression": "'a'.ljust(10**9)"})
    assert out == [
        (
            "error",
            "Evaluating the expression needed more than 128 MB of memory (limit WORKBENCH_SANDBOX_MEMORY_MB)",
        )
    ]
    out = await run(MathExpressionBlock, {"expression": "'%0999999999d' % 1"})
    assert out == [("error", "text formatting with % is not available")]


async def test_rounding_to_absurd_digit_counts_is_refused(no_pool: None) -> None:
    # round(5, -10**9) would compute 10 ** 10**9 first.
    started = time.monotonic()
    out = await run(MathExpressionBlock, {"expression": "round(5, -10**9)"})
    assert out == [("error", "round() to -1000000000 digits is out of range")]
    assert time.monotonic() - started < 1
    assert await run(MathExpressionBlock, {"expression": "round(2.567, 2)"}) == [("result", 2.57)]


async def test_numeric_expressions_stay_in_process(no_pool: None) -> None:
    assert is_numeric("2 * (x + 1) ** 2 / sqrt(y) if x > 0 else -round(y, 2)")
    assert not is_numeric("'a' * 3")
    assert not is_numeric("x.real")
    assert await run(MathExpressionBlock, {"expression": "2 * (x + 1) ** 2", "variables": {"x": 2}}) == [
        ("result", 18)
    ]


# ---- XML -----------------------------------------------------------------------------------------


def test_xml_repeated_siblings_are_collected_in_linear_time() -> None:
    xml = "<r>" + "<i>x</i>" * 100_000 + "</r>"
    started = time.monotonic()
    parsed = parse_xml(xml)
    assert time.monotonic() - started < 5  # the quadratic version needs minutes
    assert len(parsed["r"]["i"]) == 100_000


async def test_a_huge_xml_document_fails_on_the_time_limit_without_blocking(limits: None) -> None:
    xml = "<r>" + "<i/>" * 2_000_000 + "</r>"
    out, elapsed, pause = await while_ticking(lambda: run(XMLParserBlock, {"input_xml": xml}))
    assert out == [("error", f"Parsing the XML {TIME_LIMIT}")]
    assert elapsed < 4
    assert pause < 0.3, "the event loop was blocked while the XML was parsed"


async def test_a_large_xml_document_parses_in_the_pool(limits: None) -> None:
    xml = "<r>" + "<i a='1'>x</i>" * 20_000 + "</r>"
    out = await run(XMLParserBlock, {"input_xml": xml})
    assert out[0][0] == "parsed_xml"
    assert out[0][1]["r"]["i"][-1] == {"@a": "1", "#text": "x"}


# ---- code extraction and replacing ---------------------------------------------------------------


async def test_code_extraction_of_unclosed_fences_fails_on_the_time_limit(limits: None) -> None:
    # Every fence length opens a block that never closes: the pattern rescans the text for each.
    text = "".join("`" * k + "\n" for k in range(3, 1400))
    out, _, pause = await while_ticking(lambda: run(ExtractCodeBlock, {"text": text}))
    assert out == [("error", f"Extracting the code blocks {TIME_LIMIT}")]
    assert pause < 0.3


async def test_text_replace_refuses_to_explode() -> None:
    out = await run(TextReplaceBlock, {"text": "a" * 1_000_000, "old": "a", "new": "b" * 1000})
    assert out == [("error", "The replaced text would have 1,000,000,000 characters; at most 10,000,000")]
    out = await run(TextReplaceBlock, {"text": "x" * 10, "old": "", "new": "y" * 2_000_000})
    assert out[0][0] == "error"
    assert await run(TextReplaceBlock, {"text": "aXa", "old": "X", "new": "YY"}) == [("output", "aYYa")]
