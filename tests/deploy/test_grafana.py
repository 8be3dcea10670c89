"""deploy/grafana/workbench.json, checked without Grafana: a dashboard Grafana imports (the fields it
needs, unique panel ids, a layout on its 24-column grid without overlaps, every query on the
dashboard's Prometheus variable), whose queries are valid PromQL (promql-parser, once Grafana's
variables are replaced as Grafana would) reading metrics our processes export (catalog.py)."""

from __future__ import annotations

import json
from itertools import combinations
from typing import Any

import pytest

from tests.deploy.catalog import (
    DASHBOARD,
    JOB_OF_PROCESS,
    TO_BE_ADDED,
    exported_labels,
    exported_samples,
    selector_problems,
    selectors,
)

VARIABLES = {"$__rate_interval": "1m", "$namespace": "workbench"}
"""What Grafana puts in place of the variables the queries use."""
MUST_SHOW = {  # what the dashboard is for
    "workbench_queue_messages_ready": "queue depth",
    "workbench_executions_running": "executions running",
    "workbench_queue_dead_lettered_total": "dead-lettered",
    "workbench_scheduler_leader": "scheduler leader",
    "workbench_scheduler_fires_total": "scheduler fires",
    "workbench_scheduler_missed_total": "scheduler missed",
    "workbench_notifier_delivered_total": "notifier deliveries",
    "workbench_notifier_delivery_seconds": "notifier latency",
    "process_resident_memory_bytes": "memory",
}

DASH: dict[str, Any] = json.loads(DASHBOARD.read_text())
PANELS = [p for p in DASH["panels"] if p["type"] != "row"]


def queries() -> list[tuple[str, str]]:
    """(panel title, expression with Grafana's variables replaced) of every target."""
    out = []
    for panel in PANELS:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: a variable the test does not know in {expr}"
            out.append((panel["title"], expr))
    return out


def test_the_dashboard_has_what_grafana_needs() -> None:
    assert DASH["uid"] and DASH["title"] and isinstance(DASH["schemaVersion"], int)
    variables = {v["name"]: v for v in DASH["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["type"] == "query"
    ids = [p["id"] for p in DASH["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in PANELS:
        assert panel["type"] in {"timeseries", "stat"}, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what it shows"


def test_the_panels_tile_the_grid() -> None:
    boxes = [(p["title"], p["gridPos"]) for p in DASH["panels"]]
    for title, g in boxes:
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0 and g["y"] >= 0, title
    for (a, g), (b, h) in combinations(boxes, 2):
        apart = (
            g["x"] + g["w"] <= h["x"]
            or h["x"] + h["w"] <= g["x"]
            or g["y"] + g["h"] <= h["y"]
            or h["y"] + h["h"] <= g["y"]
        )
        assert apart, f"{a} overlaps {b}"


@pytest.mark.parametrize(("title", "expr"), queries())
def test_each_query_parses_and_reads_real_metrics(title: str, expr: str) -> None:
    labels = exported_labels(exported_samples())
    assert list(selector_problems(title, expr, set(JOB_OF_PROCESS.values()), labels)) == []


def test_the_dashboard_shows_what_it_is_for() -> None:
    shown = {s.name for _, expr in queries() for s in selectors(expr)}
    missing = {name: what for name, what in MUST_SHOW.items() if name not in shown}
    assert missing == {}
    assert shown & set(TO_BE_ADDED) == set(), "the dashboard shows only what is exported today"
