"""Every registered block passes its own self-test data (rule E8), and keeps AutoGPT's ids and pins."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from workbench.block.registry import default_registry
from workbench.block.selftest import run_selftest

REGISTRY = default_registry()
AUTOGPT = {
    b["id"]: b for b in json.loads((Path(__file__).parents[1] / "data" / "autogpt_blocks.json").read_text())
}


@pytest.mark.parametrize("block", list(REGISTRY), ids=lambda b: b.name)
async def test_block_selftest(block):
    assert block.test_input is not None, f"{block.name} carries no self-test data"
    assert await run_selftest(block) == []


@pytest.mark.parametrize("block", list(REGISTRY), ids=lambda b: b.name)
def test_block_metadata(block):
    uuid.UUID(block.id)
    assert block.description, f"{block.name} has no description"
    assert block.categories, f"{block.name} has no category"
    schema = block.describe()
    assert schema["input_schema"]["type"] == "object"
    assert "error" in schema["output_schema"]["properties"]


@pytest.mark.parametrize("block", [b for b in REGISTRY if b.id in AUTOGPT], ids=lambda b: b.name)
def test_autogpt_counterpart_keeps_pins(block):
    ref = AUTOGPT[block.id]
    ours_in = set(block.input_pins)
    ours_out = set(block.output_pins)
    missing_in = {p["name"] for p in ref["input"]} - ours_in
    missing_out = {p["name"] for p in ref["output"] if p["name"] != "tool_functions"} - ours_out
    assert not missing_in, f"{block.name} lacks AutoGPT input pins {missing_in}"
    assert not missing_out, f"{block.name} lacks AutoGPT output pins {missing_out}"
    assert block.static_output == bool(ref.get("static_output"))
    required_ref = {p["name"] for p in ref["input"] if p.get("required")}
    assert block.required_inputs <= required_ref | {"name"}, (
        f"{block.name} requires inputs AutoGPT does not: {block.required_inputs - required_ref}"
    )
