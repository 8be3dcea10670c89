"""What the deployment files may refer to: the metrics our processes export (read from the code),
the ones still to be added, the ones other exporters provide, and the environment variables the code
reads. Shared by the tests of deploy/k8s, deploy/prometheus and deploy/grafana.

The exported metrics are not a hand-kept list only: :func:`exported_samples` calls each process's real
metrics probe (``launch/executor.py``, ``launch/scheduler.py``, ``launch/notifier.py``,
``launch/dbmanager.py``, and
``launch/health.py`` for the memory every worker adds) on stand-ins for the queue, database and
scheduler, and :data:`EXPORTED` must name exactly what they return.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "workbench.json"

# ---- metrics ----------------------------------------------------------------------------------------

JOBS = (
    "workbench-api",
    "workbench-executor",
    "workbench-scheduler",
    "workbench-notifier",
    "workbench-dbmanager",
)


def _registered() -> set[str]:
    """The sample names of the metrics every process registers (``workbench.telemetry.metrics`` and
    prometheus_client's process and platform collectors)."""
    from prometheus_client import REGISTRY

    import workbench.telemetry.metrics  # noqa: F401 (registers them)

    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.update(sample.name for sample in family.samples)
            names.add(family.name)
    return names


REGISTERED = _registered()

EXPORTED: dict[str, set[str]] = {
    # metric name -> the Prometheus jobs (deploy/prometheus/prometheus.yml) whose processes export it
    "workbench_executions_running": {"workbench-executor"},
    "workbench_queue_delivered_total": {"workbench-executor"},
    "workbench_queue_acked_total": {"workbench-executor"},
    "workbench_queue_dead_lettered_total": {"workbench-executor"},
    "workbench_queue_messages_ready": {"workbench-executor"},
    "workbench_state_rows_written_total": {"workbench-executor"},
    "workbench_state_flushes_total": {"workbench-executor"},
    "workbench_scheduler_leader": {"workbench-scheduler"},
    "workbench_scheduler_jobs": {"workbench-scheduler"},
    "workbench_scheduler_leader_terms_total": {"workbench-scheduler"},
    "workbench_scheduler_fires_total": {"workbench-scheduler"},
    "workbench_scheduler_missed_total": {"workbench-scheduler"},
    "workbench_scheduler_failed_total": {"workbench-scheduler"},
    "workbench_notifier_events_total": {"workbench-notifier"},
    "workbench_notifier_notifications_total": {"workbench-notifier"},
    "workbench_notifier_duplicates_total": {"workbench-notifier"},
    "workbench_notifier_delivered_total": {"workbench-notifier"},
    "workbench_notifier_failed_total": {"workbench-notifier"},
    "workbench_notifier_retried_total": {"workbench-notifier"},
    "workbench_notifier_suppressed_total": {"workbench-notifier"},
    "workbench_notifier_swept_total": {"workbench-notifier"},
    "workbench_notifier_sending": {"workbench-notifier"},
    "workbench_notifier_delivery_seconds": {"workbench-notifier"},
    "workbench_notifier_queue_published_total": {"workbench-notifier"},
    "workbench_notifier_queue_handled_total": {"workbench-notifier"},
    "workbench_notifier_queue_retried_total": {"workbench-notifier"},
    "workbench_notifier_queue_dead_lettered_total": {"workbench-notifier"},
    "workbench_notifier_queue_messages_ready": {"workbench-notifier"},
    "workbench_notifier_deliveries": {"workbench-notifier"},
    "workbench_retention_passes_total": {"workbench-dbmanager"},
    "workbench_retention_failures_total": {"workbench-dbmanager"},
    "workbench_retention_busy_total": {"workbench-dbmanager"},
    "workbench_retention_runs_removed_total": {"workbench-dbmanager"},
    "workbench_retention_node_executions_removed_total": {"workbench-dbmanager"},
    "workbench_retention_last_pass_seconds": {"workbench-dbmanager"},
    "workbench_retention_last_pass_timestamp_seconds": {"workbench-dbmanager"},
    "workbench_db_pool_free": {"workbench-dbmanager"},
    "workbench_db_size_bytes": {"workbench-dbmanager"},
    "workbench_db_connections": {"workbench-dbmanager"},
    "workbench_db_max_connections": {"workbench-dbmanager"},
    "workbench_db_pool_size": {"workbench-api", "workbench-dbmanager"},
    "workbench_db_pool_idle": {"workbench-api"},
    "workbench_db_pool_max": {"workbench-api"},
    "workbench_websockets_open": {"workbench-api"},
    "workbench_websockets_opened_total": {"workbench-api"},
    "workbench_websockets_dropped_total": {"workbench-api"},
    **{name: set(JOBS) for name in REGISTERED},
}
"""Every metric our processes export today, and who exports it."""

TO_BE_ADDED: dict[str, set[str]] = {}
"""Metrics the alert rules need that no process exports yet (the operations issue adds them)."""

EXTERNAL: dict[str, str] = {
    "kube_pod_container_resource_limits": "kube-state-metrics (the containers' memory limits)",
    "kubelet_volume_stats_used_bytes": "the kubelet (persistent volume usage)",
    "kubelet_volume_stats_capacity_bytes": "the kubelet (persistent volume size)",
    "up": "Prometheus itself (whether a target was scraped)",
}
"""Metrics that come from other exporters than ours, with where from."""

JOB_OF_PROCESS = {
    "api": "workbench-api",
    "executor": "workbench-executor",
    "scheduler": "workbench-scheduler",
    "notifier": "workbench-notifier",
    "dbmanager": "workbench-dbmanager",
}
"""The Prometheus job of each process (its app.kubernetes.io/component label in deploy/k8s)."""

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?$")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>[^"]*)"')


def parse_sample(key: str) -> tuple[str, dict[str, str]]:
    """``'name{a="b"}'`` (a metrics probe's key) -> ``("name", {"a": "b"})``."""
    match = _SAMPLE.match(key)
    assert match, f"not a Prometheus sample name: {key!r}"
    return match["name"], {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}


class _Queue:
    """Stands in for the RabbitMQ execution queue (``RabbitQueue.health``'s shape)."""

    delivered = acked = dead_lettered = 0

    async def health(self) -> dict[str, Any]:
        from workbench.runtime.queue import PRIORITIES

        return {"ok": True, "depth": dict.fromkeys(PRIORITIES, 0)}


class _NotifyQueue:
    """Stands in for the RabbitMQ notifier queue (``RabbitNotifyQueue.health``'s shape)."""

    async def health(self) -> dict[str, Any]:
        from workbench.runtime.rabbit_notify import DLQ, QUEUE, RETRY_QUEUE

        return {"ok": True, "depth": dict.fromkeys((QUEUE, RETRY_QUEUE, DLQ), 0), "handled": 0}


class _Pool:
    """Stands in for the asyncpg pool: ``notification_deliveries`` with one pending row."""

    async def fetch(self, query: str, *args: object) -> list[tuple[str, int]]:
        return [("pending", 1)]


class _Connection:
    """Stands in for a connection of the dbmanager's pool: PostgreSQL's statistics views."""

    async def fetch(self, query: str, *args: object) -> list[dict[str, Any]]:
        return [{"state": "active", "n": 1, "oldest_xact_s": 0.0}]

    async def fetchval(self, query: str, *args: object) -> int:
        return 100


class _DbPool:
    """Stands in for the dbmanager's asyncpg pool."""

    def get_size(self) -> int:
        return 1

    def get_idle_size(self) -> int:
        return 1

    def acquire(self) -> Any:
        import contextlib

        @contextlib.asynccontextmanager
        async def connection() -> Any:
            yield _Connection()

        return connection()


async def _probe_samples() -> dict[str, dict[str, float]]:
    from launch.dbmanager import DbManagerProcess
    from launch.executor import executor_probes
    from launch.notifier import NotifierProcess
    from launch.scheduler import SchedulerProcess
    from workbench.config import Settings
    from workbench.scheduler.runtime import Scheduler
    from workbench.secrets import Keys
    from workbench.services.dbmanager import RetentionLoop
    from workbench.services.notifications.notifier import Notifier

    settings = Settings.from_env({})
    executor_wb = SimpleNamespace(
        queue=_Queue(),
        executions=SimpleNamespace(running_count=lambda: 0),
        writer=SimpleNamespace(rows_written=0, flushes=0),
        db=None,
    )
    _, executor_metrics = executor_probes(executor_wb)  # type: ignore[arg-type]

    scheduler = SchedulerProcess(settings)
    scheduler.scheduler = Scheduler(None)

    keys = Keys(credentials=base64.urlsafe_b64encode(bytes(32)), api_keys=bytes(32), jwt=bytes(32))
    notifier = Notifier(None, None, keys, None)  # type: ignore[arg-type]
    notifier.latency = [0.25]  # the quantiles appear once something was delivered
    notifier_wb = SimpleNamespace(
        notifier=notifier, notify_queue=_NotifyQueue(), db=SimpleNamespace(pool=_Pool())
    )
    notifier_process = NotifierProcess(settings, workbench=notifier_wb)  # type: ignore[arg-type]

    dbmanager = DbManagerProcess(settings)
    dbmanager.db = SimpleNamespace(pool=_DbPool())  # type: ignore[assignment]
    dbmanager.loop = RetentionLoop(None, settings.retention_interval)  # type: ignore[arg-type]

    memory = dict.fromkeys(REGISTERED, 0.0)  # every process's registered metrics (launch/health.py)
    return {
        "workbench-executor": {**(await executor_metrics()), **memory},
        "workbench-scheduler": {**(await scheduler.metrics()), **memory},
        "workbench-notifier": {**(await notifier_process.metrics()), **memory},
        "workbench-dbmanager": {**(await dbmanager.metrics()), **memory},
    }


def exported_samples() -> dict[str, dict[str, float]]:
    """Job -> the samples its process's real metrics probe returns (``'name{labels}'``: value)."""
    return asyncio.run(_probe_samples())


def exported_labels(samples: Mapping[str, Mapping[str, float]]) -> dict[tuple[str, str], set[str]]:
    """(metric, label) -> the label values the probes produced (e.g. the queues' names)."""
    out: dict[tuple[str, str], set[str]] = {}
    for job_samples in samples.values():
        for key in job_samples:
            name, labels = parse_sample(key)
            for label, value in labels.items():
                out.setdefault((name, label), set()).add(value)
    return out


DATA_LABELS = {("workbench_notifier_deliveries", "status")}
"""Labels whose values come from the data (rows in the database), not from the code."""

# ---- PromQL -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """One vector selector of an expression: its metric name and label matchers."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]
    """(label, operator, value); operator one of = != =~ !~."""


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of a PromQL expression, parsed by promql-parser (a syntax error raises)."""
    found: list[Selector] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = [(m.name, _OPS[str(m.op).rsplit(".", 1)[-1]], m.value) for m in node.matchers.matchers]
            name = node.name or next(v for label, op, v in matchers if label == "__name__" and op == "=")
            found.append(Selector(name, tuple((k, o, v) for k, o, v in matchers if k != "__name__")))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def matches(op: str, pattern: str, value: str) -> bool:
    """Whether a label matcher (``op`` ``pattern``) accepts ``value`` (regexes are anchored, as in PromQL)."""
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    hit = re.fullmatch(pattern, value) is not None
    return hit if op == "=~" else not hit


def selector_problems(
    where: str, expr: str, jobs: set[str], labels: Mapping[tuple[str, str], set[str]]
) -> Iterator[str]:
    """What is wrong with the metrics an expression reads: unknown metric names, a ``job`` matcher
    that names no job scraping a process that exports the metric, a label value the process never
    emits (a queue that does not exist)."""
    for sel in selectors(expr):
        if sel.name in EXTERNAL:
            continue
        exporters = EXPORTED.get(sel.name) or TO_BE_ADDED.get(sel.name)
        if exporters is None:
            yield f"{where}: {sel.name} is neither exported, nor to be added, nor external"
            continue
        for label, op, value in sel.matchers:
            if label == "job":
                scraped = {job for job in exporters & jobs if matches(op, value, job)}
                if not scraped:
                    yield f"{where}: {sel.name}{{job{op}{value!r}}} selects no job exporting it ({sorted(exporters)})"
            elif (
                op == "="
                and (sel.name, label) in labels
                and (sel.name, label) not in DATA_LABELS
                and value not in labels[(sel.name, label)]
            ):
                emitted = sorted(labels[(sel.name, label)])
                yield f"{where}: {sel.name}{{{label}={value!r}}}: the process emits {emitted}"


# ---- Kubernetes -------------------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a manifest file (empty ones skipped)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) of every resource the kustomization lists."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [(name, doc) for name in kustomization["resources"] for doc in load_documents(K8S / name)]


_ENV_LITERAL = re.compile(r"""["']((?:WORKBENCH|AWS)_[A-Z0-9_]+|DATABASE_URL|AMQP_URL|REDIS_URL)["']""")


def environment_names() -> set[str]:
    """Every environment variable name the code reads as a string literal (``env.get("...")``,
    ``os.environ.get("...")``, ``_int(env, "...", ...)``) in workbench/, server/ and launch/."""
    names: set[str] = set()
    for package in ("workbench", "server", "launch"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(_ENV_LITERAL.findall(path.read_text(encoding="utf-8")))
    return names
