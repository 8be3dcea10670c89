"""Utility blocks beyond their self-tests: math limits, code extraction, XML safety, sampling."""

from __future__ import annotations

import logging
import time
from collections import Counter

import pytest

from blocks.utils import (
    DataSamplingBlock,
    ExtractCodeBlock,
    LogMessageBlock,
    MathExpressionBlock,
    XMLParserBlock,
    evaluate,
    extract_code_blocks,
    parse_xml,
)
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.errors import BlockError


async def test_log_block_logs_at_level_with_run_and_node(caplog: pytest.LogCaptureFixture) -> None:
    ctx = RunContext.for_test()
    ctx.graph_execution_id, ctx.node_id = "run-1", "node-7"
    with caplog.at_level(logging.DEBUG, logger="workbench.block.log"):
        out = await run_block_once(LogMessageBlock(), {"message": "disk low", "level": "WARNING"}, ctx)
    assert out == [("output", "disk low")]
    record = next(r for r in caplog.records if r.name == "workbench.block.log")
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "[run run-1 node node-7] disk low"


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ("2 + 3 * 4", {}, 14),
        ("(a + b) / 2", {"a": 3, "b": 4}, 3.5),
        ("max(1, x) if x > 0 else -1", {"x": 5}, 5),
        ("2 ** 10", {}, 1024),
        ("floor(7 / 2) + 7 // 2 + 7 % 2", {}, 7),
        ("hypot(3, 4)", {}, 5.0),
    ],
)
def test_math_expressions(expression: str, variables: dict, expected: float) -> None:
    assert evaluate(expression, variables) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9 ** 9 ** 9", "too large"),
        ("2 ** 100000", "too large"),
        ("(10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000)", "grows past"),
        ("1 << 100000", "too large"),
        ("open('/etc/passwd')", "function 'open' is not available"),
        ("().__class__.__bases__", "cannot evaluate"),
        ("y + 1", "unknown name 'y'"),
        ("'a' * 10", "not a number"),
        ("1e308 * 10", "not a finite number"),
        ("sqrt(-1)", "math domain error"),
    ],
)
def test_math_refuses_dangerous_or_bad_expressions(expression: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(BlockError, match=message):
        evaluate(expression, {})
    assert time.monotonic() - started < 1


async def test_math_block_reports_errors_on_the_error_pin() -> None:
    assert await run_block_once(MathExpressionBlock(), {"expression": " "}) == [
        ("error", "expression is empty")
    ]
    out = await run_block_once(MathExpressionBlock(), {"expression": "1 +" * 400 + "1"})
    assert out == [("error", "expression is longer than 1000 characters")]


LLM_ANSWER = """Here you go:

```Python
def f():
    return 1
```

Run it with:

~~~sh
python f.py
~~~

```
plain block
```
And `inline` code is not a block.
"""


async def test_extract_code_by_language_and_alias() -> None:
    out = dict(await run_block_once(ExtractCodeBlock(), {"text": LLM_ANSWER, "language": "py"}))
    assert out["code"] == "def f():\n    return 1"
    assert out["count"] == 1
    out = dict(await run_block_once(ExtractCodeBlock(), {"text": LLM_ANSWER, "language": "bash"}))
    assert out["code_blocks"] == [{"language": "bash", "code": "python f.py"}]
    everything = dict(await run_block_once(ExtractCodeBlock(), {"text": LLM_ANSWER}))
    assert [b["language"] for b in everything["code_blocks"]] == ["python", "bash", ""]
    assert everything["code"].endswith("plain block")


def test_extract_code_keeps_inner_fences_of_longer_fences() -> None:
    text = "````markdown\n```js\nx\n```\n````"
    assert extract_code_blocks(text) == [{"language": "markdown", "code": "```js\nx\n```"}]


def test_xml_to_dict_shapes() -> None:
    xml = '<feed xmlns="http://www.w3.org/2005/Atom"><entry id="1"><t>A</t></entry><entry id="2"><t>B</t></entry><note>hi <b>x</b> there</note></feed>'
    assert parse_xml(xml) == {
        "feed": {
            "entry": [{"@id": "1", "t": "A"}, {"@id": "2", "t": "B"}],
            "note": {"b": "x", "#text": "hi there"},
        }
    }


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><l>&b;</l>',
            "forbidden",
        ),
        ('<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>', "forbidden"),
        ("<a><b></a>", "not well-formed"),
        ("<a/><b/>", "not well-formed"),
        ("", "empty"),
        ("<a>" * 300 + "</a>" * 300, "deeper than 256"),
    ],
)
async def test_xml_refusals(xml: str, message: str) -> None:
    out = await run_block_once(XMLParserBlock(), {"input_xml": xml})
    assert len(out) == 1 and out[0][0] == "error" and message in out[0][1]


DATA = [{"id": i, "group": "a" if i < 60 else "b", "w": 0 if i % 2 else 1} for i in range(100)]


async def sample(**data: object) -> dict:
    return dict(await run_block_once(DataSamplingBlock(), {"data": DATA, **data}))


async def test_sampling_is_seedable() -> None:
    one = await sample(sample_size=5, random_seed=42)
    two = await sample(sample_size=5, random_seed=42)
    other = await sample(sample_size=5, random_seed=43)
    assert one == two and one != other
    assert len(set(one["sample_indices"])) == 5
    assert one["sampled_data"] == [DATA[i] for i in one["sample_indices"]]


async def test_systematic_stratified_weighted_cluster_reservoir() -> None:
    sys_ = await sample(sample_size=10, sampling_method="systematic", random_seed=1)
    steps = {b - a for a, b in zip(sys_["sample_indices"], sys_["sample_indices"][1:], strict=False)}
    assert steps == {10}
    strat = await sample(sample_size=10, sampling_method="stratified", stratify_key="group", random_seed=1)
    assert Counter(d["group"] for d in strat["sampled_data"]) == {"a": 6, "b": 4}
    weighted = await sample(sample_size=20, sampling_method="weighted", weight_key="w", random_seed=1)
    assert all(d["w"] == 1 for d in weighted["sampled_data"])
    cluster = await sample(sample_size=50, sampling_method="cluster", cluster_key="group", random_seed=3)
    assert len({d["group"] for d in cluster["sampled_data"]}) in (1, 2) and len(cluster["sampled_data"]) == 50
    reservoir = await sample(sample_size=7, sampling_method="reservoir", random_seed=5)
    assert len(set(reservoir["sample_indices"])) == 7
    with pytest.raises(BlockError, match="needs its key"):
        await sample(sample_size=3, sampling_method="stratified")


async def test_accumulate_gathers_per_run_and_node() -> None:
    block = DataSamplingBlock()
    ctx = RunContext.for_test()
    ctx.graph_execution_id, ctx.node_id = "run-a", "n1"
    other = RunContext.for_test()
    other.graph_execution_id, other.node_id = "run-b", "n1"
    data = {"sample_size": 3, "sampling_method": "top", "accumulate": True}
    assert await run_block_once(block, {**data, "data": [1, 2]}, ctx) == []
    assert await run_block_once(block, {**data, "data": [9]}, other) == []
    out = await run_block_once(block, {**data, "data": [3]}, ctx)
    assert out == [("sampled_data", [1, 2, 3]), ("sample_indices", [0, 1, 2])]
