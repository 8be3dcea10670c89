"""deploy/prometheus, checked without a Prometheus server.

* ``promtool`` (Debian's ``prometheus`` package; skipped where it is not installed): ``check rules`` on
  alerts.yaml, ``test rules`` on alerts_test.yaml (made-up series, the alerts that must and must not
  fire), ``check config`` on prometheus.yml.
* Always: PyYAML reads both files; every ``expr`` is parsed by promql-parser (a PromQL parser from
  PyPI), and every metric it reads is one our processes export (their real metrics probes, see
  catalog.py), one explicitly still to be added, or one of a named other exporter; ``job`` matchers
  name a job that scrapes a process exporting the metric, queue names are real queues.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.catalog import (
    ALERTS,
    EXPORTED,
    JOB_OF_PROCESS,
    K8S,
    PROMETHEUS_CONFIG,
    TO_BE_ADDED,
    exported_labels,
    exported_samples,
    load_documents,
    parse_sample,
    selector_problems,
    selectors,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)
RULES_TEST = Path(__file__).parent / "alerts_test.yaml"
SEED_ALERTS = {  # the seed architecture's "Alerting" list
    "WorkbenchExecutionFailureRateHigh": "Execution failures > 10% en 5 min",
    "WorkbenchAPIErrorRateHigh": "API error rate > 5% en 5 min",
    "WorkbenchQueueBacklogHigh": "Queue depth > 1000 mensajes",
    "WorkbenchMemoryHigh": "Memory usage > 90%",
    "WorkbenchDiskHigh": "Disk usage > 85%",
}


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def scrape_jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]}


@pytest.fixture(scope="module")
def samples() -> dict[str, dict[str, float]]:
    return exported_samples()


def test_the_catalog_is_what_the_processes_export(samples: dict[str, dict[str, float]]) -> None:
    """catalog.EXPORTED names exactly what the real metrics probes of the worker processes return, job
    by job (the API's own gauges, read by ``server/routes/metrics.py``, are checked there)."""
    exported: dict[str, set[str]] = {}
    for job, job_samples in samples.items():
        for key in job_samples:
            exported.setdefault(parse_sample(key)[0], set()).add(job)
    workers = {name: jobs - {"workbench-api"} for name, jobs in EXPORTED.items()}
    assert exported == {name: jobs for name, jobs in workers.items() if jobs}


def test_metrics_to_be_added_are_not_exported_yet_and_are_said_so(
    samples: dict[str, dict[str, float]],
) -> None:
    """When the operations issue adds one, this fails: move it to EXPORTED, drop its comments."""
    names = {parse_sample(key)[0] for job_samples in samples.values() for key in job_samples}
    assert set(TO_BE_ADDED) & names == set()
    if not TO_BE_ADDED:
        return
    text = ALERTS.read_text()
    header = text[text.index("NOT EXPORTED YET") : text.index("groups:")]
    for name in TO_BE_ADDED:
        assert name in header, f"{name} is not listed as not exported in alerts.yaml"
        for rule in rules():
            if any(s.name == name for s in selectors(rule["expr"])):
                assert f"NEEDS {name}" in text.split(f"alert: {rule['alert']}", 1)[1].split("alert:", 1)[0]


def test_the_rules_are_well_formed_and_include_the_seeds_five() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(set(names)) == len(names)
    assert set(SEED_ALERTS) <= set(names)
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def test_every_expression_parses_and_reads_real_metrics(samples: dict[str, dict[str, float]]) -> None:
    labels = exported_labels(samples)
    problems = [
        problem
        for rule in rules()
        for problem in selector_problems(rule["alert"], rule["expr"], set(scrape_jobs()), labels)
    ]
    assert problems == []


def test_the_problem_finder_finds_problems(samples: dict[str, dict[str, float]]) -> None:
    """An unknown metric, a job that does not export the metric, a queue that does not exist."""
    labels = exported_labels(samples)
    jobs = set(scrape_jobs())
    assert list(selector_problems("x", "workbench_queue_depth > 1", jobs, labels))
    assert list(selector_problems("x", 'workbench_scheduler_leader{job="workbench-executor"}', jobs, labels))
    assert list(
        selector_problems("x", 'workbench_queue_messages_ready{queue="execution.urgent"}', jobs, labels)
    )
    assert not list(
        selector_problems("x", 'workbench_queue_messages_ready{queue="execution.low"}', jobs, labels)
    )
    with pytest.raises(ValueError):
        selectors("sum(rate(workbench_queue_acked_total[5m])")


def test_the_scrape_config_finds_every_process() -> None:
    """One job per process; its keep rule matches the process's pods in deploy/k8s and their port."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == [ALERTS.name]
    jobs = scrape_jobs()
    assert set(jobs) == set(JOB_OF_PROCESS.values())
    deployments = [
        doc for path in K8S.glob("*.yaml") for doc in load_documents(path) if doc.get("kind") == "Deployment"
    ]
    for deployment in deployments:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        job = jobs[JOB_OF_PROCESS[labels["app.kubernetes.io/component"]]]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        (keep,) = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
        meta = {
            "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": labels["app.kubernetes.io/part-of"],
            "__meta_kubernetes_pod_label_app_kubernetes_io_component": labels["app.kubernetes.io/component"],
        }
        kept_ports = []
        for port in container["ports"]:
            meta["__meta_kubernetes_pod_container_port_number"] = str(port["containerPort"])
            value = keep.get("separator", ";").join(meta[label] for label in keep["source_labels"])
            if re.fullmatch(keep["regex"], value):
                kept_ports.append(port["containerPort"])
        command = container["command"]
        assert kept_ports == [int(command[command.index("--port") + 1])], job["job_name"]
        targets = {r.get("target_label") for r in job["relabel_configs"]}
        assert {"namespace", "pod"} <= targets, "the memory alert joins on namespace and pod"
        sd = job["kubernetes_sd_configs"]
        assert sd == [{"role": "pod", "namespaces": {"names": ["workbench"]}}]


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@needs_promtool
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = subprocess.run(
        [PROMTOOL, "test", "rules", RULES_TEST.name],
        cwd=RULES_TEST.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    assert tested == {rule["alert"] for rule in rules()}, "every alert has a unit test"


@needs_promtool
def test_promtool_checks_the_config(tmp_path: Path) -> None:
    """Debian's Prometheus is built without Kubernetes discovery, so the copy checked here finds its
    targets statically; everything else (relabelling, the rule file) is checked as written."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    token = tmp_path / "metrics-token"
    token.write_text("test-token")
    for job in config["scrape_configs"]:
        job.pop("kubernetes_sd_configs")
        job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
        if "authorization" in job:  # the Secret mounted in the cluster
            job["authorization"]["credentials_file"] = str(token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(ALERTS, tmp_path / ALERTS.name)
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout
