"""Metrics, traces and log lines of real ``workbench serve`` processes: ``/metrics`` in Prometheus'
format with requests by route and runs by status, who may read it; spans of a request, its run and
its nodes exported over OTLP/HTTP to a receiver started here; JSON log lines naming the run and node
they were written for, in a rotating file."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.server.api_support import api, create_graph, hello_graph, signup
from tests.support.servers import ServerProcess, start_server, stop_server


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: decodes every export into spans."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.service_names: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    for attribute in resource_spans.resource.attributes:
                        if attribute.key == "service.name":
                            receiver.service_names.add(attribute.value.string_value)
                    for scope in resource_spans.scope_spans:
                        receiver.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def by_name(self, prefix: str) -> list[Any]:
        return [s for s in self.spans if s.name.startswith(prefix)]


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_metrics_count_requests_by_route_and_runs_by_status(local_server: ServerProcess) -> None:
    with api(local_server) as client:
        graph = create_graph(client, hello_graph())
        for name in ("Ada", "Bob"):
            r = client.post(
                f"/graphs/{graph['id']}/execute", params={"wait": 10}, json={"inputs": {"name": name}}
            )
            assert r.status_code == 200 and r.json()["status"] == "COMPLETED"
        assert client.get("/graphs/not-a-uuid").status_code in (400, 404)
    r = httpx.get(local_server.base_url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    (route,) = {
        key.split('route="', 1)[1].split('"', 1)[0]
        for key in got
        if key.startswith('workbench_http_requests_total{method="POST",route="/api/v1/graphs/{graph_id')
        and key.split('route="', 1)[1].split('"', 1)[0].endswith("}/execute")
    }
    assert route.startswith("/api/v1/graphs/{graph_id") and route.endswith("}/execute")
    execute = f'workbench_http_requests_total{{method="POST",route="{route}",status="200"}}'
    assert got[execute] >= 2
    assert got[f'workbench_http_request_duration_seconds_count{{method="POST",route="{route}"}}'] >= 2
    assert not any("Ada" in key or graph["id"] + "/" in key for key in got)  # templates, not paths
    completed = f'workbench_executions_finished_total{{agent="{graph["id"]}",status="COMPLETED"}}'
    assert got[completed] == 2
    assert any(k.startswith("workbench_node_duration_seconds_count{block=") for k in got)
    assert got["process_resident_memory_bytes"] > 1e6 and got["process_cpu_seconds_total"] > 0
    assert got["workbench_db_pool_size"] >= 1 and "workbench_websockets_open" in got
    assert got["workbench_db_pool_wait_seconds_count"] > 0  # every acquire is timed
    assert "# TYPE workbench_http_requests_total counter" in r.text


def test_metrics_need_the_token_on_a_server_with_accounts(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", "accounts", {"WORKBENCH_METRICS_TOKEN": "scrape-me-123"})
    try:
        url = server.base_url + "/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        user = signup(server, "metrics")
        assert httpx.get(url, headers={"Authorization": f"Bearer {user.access_token}"}).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer scrape-me-123"})
        assert ok.status_code == 200 and "workbench_http_requests_total" in ok.text
        # Prometheus names the pod's address: the token, not the Host, guards this path
        foreign = httpx.get(url, headers={"Authorization": "Bearer scrape-me-123", "Host": "10.1.2.3:8006"})
        assert foreign.status_code == 200
        assert (
            httpx.get(server.base_url + "/api/v1/health", headers={"Host": "10.1.2.3:8006"}).status_code
            == 403
        )
        user.close()
    finally:
        stop_server(server)
    plain = start_server(tmp_path / "home2", "accounts")
    try:
        r = httpx.get(plain.base_url + "/metrics")
        assert r.status_code == 403 and "WORKBENCH_METRICS_TOKEN" in r.text
    finally:
        stop_server(plain)


def test_a_request_its_run_and_its_nodes_are_traced(otlp: OtlpReceiver, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "workbench.log"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "workbench-test-api",
        "WORKBENCH_LOG_FILE": str(log_file),
    }
    server = start_server(tmp_path / "home", "none", env, log_level="info")
    try:
        with api(server) as client:
            doc = hello_graph()
            next(n for n in doc["nodes"] if n["id"] == "greet")["input_default"]["format"] = (
                "Hello, {{ name.x.y }}!"
            )
            graph = create_graph(client, doc)
            r = client.post(
                f"/graphs/{graph['id']}/execute", params={"wait": 10}, json={"inputs": {"name": "Ada"}}
            )
            assert r.status_code == 200 and r.json()["status"] == "FAILED"
            run_id = r.json()["id"]
        deadline = time.monotonic() + 15
        while not (otlp.by_name("execution ") and otlp.by_name("POST /api/v1/graphs")):
            assert time.monotonic() < deadline, [s.name for s in otlp.spans]
            time.sleep(0.1)
    finally:
        stop_server(server)
    assert otlp.service_names == {"workbench-test-api"}
    (request,) = [s for s in otlp.by_name("POST /api/v1/graphs/{graph_id") if s.name.endswith("/execute")]
    attributes = {a.key: a.value for a in request.attributes}
    assert attributes["http.response.status_code"].int_value == 200
    (execution,) = otlp.by_name("execution ")
    run_attributes = {a.key: a.value.string_value for a in execution.attributes}
    assert (
        run_attributes["workbench.execution_id"] == run_id and run_attributes["workbench.status"] == "FAILED"
    )
    nodes = [s for s in otlp.by_name("node ") if s.trace_id == execution.trace_id]
    assert nodes and all(s.parent_span_id == execution.span_id for s in nodes)
    failed = [
        s
        for s in nodes
        if {a.key: a.value.string_value for a in s.attributes}.get("workbench.node_id") == "greet"
    ]
    assert len(failed) == 1
    # the log lines: JSON in the rotating file, the failing node's line names the run and the node
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("path", "").endswith("/execute") and line.get("request_id") for line in lines)
    about_run = [line for line in lines if line.get("execution_id") == run_id]
    assert about_run, lines[-20:]
