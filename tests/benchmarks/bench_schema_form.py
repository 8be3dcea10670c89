"""What a node's form costs to build each time the node is selected. Prints JSON.

A 30-field schema (every kind of field: texts, long texts, numbers, booleans, enums, Optional
values, lists, dicts, ``Any``, credentials, advanced fields) with values for half of them, then the
largest input schema of the block catalogue. Each is built ``--runs`` times after a warm-up:

  build_ms   SchemaForm(...) (reading the schema, describing the fields)
  render_ms  the form's Bokeh model made into a document, as the server does when it is shown
  total_ms   both

Each figure is the median over the runs (p90 beside it). Target: total under ~50 ms for 30 fields.
``panel_widgets_ms`` is the same 30 fields as plain Panel TextInputs in a Column, for comparison:
the reason the form is one browser component instead of a widget per field.

Usage: python tests/benchmarks/bench_schema_form.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import panel as pn
from bokeh.document import Document

from workbench.block.registry import default_registry
from workbench.ui.schema_form import CredentialChoice, SchemaForm

KINDS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "string", "format": "long-text"},
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    {"type": "number", "exclusiveMinimum": 0},
    {"type": "boolean", "default": False},
    {"enum": ["a", "b", "c"], "type": "string"},
    {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
    {"type": "array", "items": {"type": "string"}},
    {"type": "object", "additionalProperties": True},
    {},
]


def thirty_fields() -> tuple[dict[str, Any], dict[str, Any]]:
    """A 30-field schema and values for every other field."""
    props: dict[str, Any] = {}
    for i in range(29):
        prop = dict(KINDS[i % len(KINDS)])
        prop.update(title=f"Field {i}", description=f"What field {i} is for, in a sentence or two.")
        if i % 7 == 6:
            prop["advanced"] = True
        props[f"field_{i}"] = prop
    props["credentials"] = {"title": "Credentials", "description": "The credential to use."}
    samples = {"string": "text", "integer": 5, "number": 1.5, "boolean": True, "array": ["x", "y"]}
    values = {}
    for i, (name, prop) in enumerate(props.items()):
        if i % 2 == 0 and prop.get("type") in samples:
            values[name] = samples[prop["type"]]
    schema = {"type": "object", "properties": props, "required": ["field_0", "field_2"]}
    return schema, values


def measure(schema: dict[str, Any], values: dict[str, Any], runs: int) -> dict[str, float]:
    """Median and p90 of building and rendering one form."""
    vault = [CredentialChoice(id=f"c{i}", provider="openai", title=f"Key {i}") for i in range(3)]
    builds, renders = [], []
    for _ in range(runs + 1):
        start = time.perf_counter()
        form = SchemaForm(schema, values, credentials=vault, on_change=lambda _f, _v: None)
        built = time.perf_counter()
        form.__panel__().get_root(Document())
        builds.append((built - start) * 1000)
        renders.append((time.perf_counter() - built) * 1000)
    builds, renders = builds[1:], renders[1:]
    totals = sorted(b + r for b, r in zip(builds, renders, strict=True))
    return {
        "build_ms": round(statistics.median(builds), 2),
        "render_ms": round(statistics.median(renders), 2),
        "total_ms": round(statistics.median(totals), 2),
        "total_p90_ms": round(totals[int(len(totals) * 0.9) - 1], 2),
    }


def panel_widgets(runs: int) -> float:
    """30 plain Panel TextInputs with help, built and rendered (the median, in ms)."""
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        column = pn.Column(*[pn.widgets.TextInput(name=f"Field {i}", description="help") for i in range(30)])
        column.get_root(Document())
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times[1:]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    schema, values = thirty_fields()
    registry = default_registry()
    largest = max(registry, key=lambda b: len(b.input_schema().get("properties", {})))
    big = largest.input_schema()
    report = {
        "thirty_fields": measure(schema, values, args.runs),
        "largest_block": {
            "block": largest.name,
            "fields": len(big.get("properties", {})),
            **measure(big, {}, args.runs),
        },
        "panel_widgets_ms": panel_widgets(max(3, args.runs // 5)),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
