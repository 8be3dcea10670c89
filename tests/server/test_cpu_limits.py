"""One hostile input must not freeze the server: a real ``workbench serve`` runs graphs with a
template that loops for hours, expressions that build gigabytes, an XML document with millions of
siblings, and reads a kilobyte PDF whose pages would take minutes; meanwhile every health check
answers within a second, and each run fails with the node's error naming the limit it hit."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.knowledge.pdfs import page_tree_bomb
from tests.server.api_support import OUTPUT_BLOCK, TEMPLATE_BLOCK, api, create_graph
from tests.support.servers import ServerProcess, start_server, stop_server

MATH_BLOCK = "c7d9e1f3-2a4b-4c6d-8e0f-1a3b5c7d9e2f"
XML_BLOCK = "286380af-9529-4b55-8be0-1d7c854abdb5"
EXTRACT_BLOCK = "3146e4fe-2cdd-4f29-bd12-0c9d5bb4deb0"
TIME_LIMIT = "took longer than 2 s (limit WORKBENCH_SANDBOX_TIMEOUT)"
HEALTH_BOUND = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own, with a 2 s sandbox time limit (and room for a big XML body)."""
    proc = start_server(
        tmp_path_factory.mktemp("srv-cpu") / "home",
        "none",
        {
            "WORKBENCH_RATE_LIMIT": "off",
            "WORKBENCH_SANDBOX_TIMEOUT": "2",
            "WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT": "2",
            "WORKBENCH_MAX_BODY_SIZE": "20000000",
            # An embeddings endpoint that is never called: the PDF fails before anything is embedded.
            "WORKBENCH_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        },
    )
    yield proc
    sandbox_processes = [
        p for p in psutil.Process(proc.process.pid).children(recursive=True) if _is_multiprocessing(p)
    ]
    stop_server(proc)
    _, alive = psutil.wait_procs(sandbox_processes, timeout=10)
    assert sandbox_processes, "the server started no sandbox process"
    assert not alive, f"sandbox processes outlived the server: {alive}"


def _is_multiprocessing(process: psutil.Process) -> bool:
    """A fork server, resource tracker or pool worker (they share the fork server's command line)."""
    try:
        return "multiprocessing" in " ".join(process.cmdline())
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with api(server) as c:
        c.timeout = httpx.Timeout(60)
        yield c


class HealthProbe:
    """Asks ``GET /api/v1/health`` again and again from a thread, timing each answer."""

    def __init__(self, server: ServerProcess) -> None:
        self.url = server.base_url + "/api/v1/health"
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while True:  # at least once, however short the run
                started = time.monotonic()
                try:
                    status = http.get(self.url).status_code
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                else:
                    self.latencies.append(time.monotonic() - started)
                    if status != 200:
                        self.failures.append(f"health answered {status}")
                if self._stop.wait(0.05):
                    return

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def check(self, min_probes: int) -> None:
        assert not self.failures, self.failures
        assert len(self.latencies) >= min_probes, f"only {len(self.latencies)} health checks answered"
        slowest = max(self.latencies)
        assert slowest < HEALTH_BOUND, f"a health check took {slowest:.2f} s while the hostile node ran"


def single_node_graph(block_id: str, inputs: dict[str, Any], out_pin: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": "hostile",
        "nodes": [
            {"id": "work", "block_id": block_id, "input_default": inputs},
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "result"}},
        ],
        "links": [{"source_id": "work", "source_name": out_pin, "sink_id": "out", "sink_name": "value"}],
    }


def run_while_probing(server: ServerProcess, client: httpx.Client, doc: dict[str, Any]) -> dict[str, Any]:
    """Run the graph (waiting for its end) while probing health; the finished execution."""
    graph = create_graph(client, doc)
    with HealthProbe(server) as probe:
        started = time.monotonic()
        r = client.post(f"/graphs/{graph['id']}/execute", params={"wait": 60}, json={"inputs": {}})
        elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    probe.check(min_probes=3 if elapsed > 1 else 1)
    body = r.json()
    assert body["status"] == "FAILED", body
    assert body["error_node_id"] == "work"
    node = next(n for n in body["node_executions"] if n["node_id"] == "work")
    assert node["status"] == "FAILED"
    return {"error": body["error"], "node_error": node["error"], "elapsed": elapsed}


def test_a_template_that_loops_for_hours(server: ServerProcess, client: httpx.Client) -> None:
    loops = "{% for a in x %}{% for b in x %}{% for c in x %}{% endfor %}{% endfor %}{% endfor %}"
    doc = single_node_graph(TEMPLATE_BLOCK, {"values": {"x": list(range(3000))}, "format": loops}, "output")
    result = run_while_probing(server, client, doc)
    assert result["node_error"] == f"Template stopped: Rendering the template {TIME_LIMIT}"
    assert "work" in result["error"] and TIME_LIMIT in result["error"]
    assert result["elapsed"] < 15


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'a' * 10**8", "\"'a' * 10**8\" would build a text or list longer than 100,000 items"),
        (
            "'a'.ljust(10**10)",
            "Evaluating the expression needed more than 512 MB of memory (limit WORKBENCH_SANDBOX_MEMORY_MB)",
        ),
    ],
)
def test_an_expression_that_builds_gigabytes(
    server: ServerProcess, client: httpx.Client, expression: str, message: str
) -> None:
    doc = single_node_graph(MATH_BLOCK, {"expression": expression}, "result")
    result = run_while_probing(server, client, doc)
    assert result["node_error"] == message


def test_an_xml_document_with_millions_of_siblings(server: ServerProcess, client: httpx.Client) -> None:
    xml = "<r>" + "<i/>" * 2_000_000 + "</r>"
    doc = single_node_graph(XML_BLOCK, {"input_xml": xml}, "parsed_xml")
    result = run_while_probing(server, client, doc)
    assert result["node_error"] == f"Parsing the XML {TIME_LIMIT}"


def test_a_kilobyte_pdf_that_would_take_minutes(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    r = client.post("/knowledge", json={"name": "papers", "embedding_model": "text-embedding-3-small"})
    assert r.status_code == 201, r.text
    kb = r.json()["id"]
    pdf = page_tree_bomb(depth=3)  # 1,000 pages that are all the same page
    assert len(pdf) < 2_000
    with HealthProbe(server) as probe:
        r = client.post(f"/knowledge/{kb}/documents", files={"file": ("bomb.pdf", pdf, "application/pdf")})
    probe.check(min_probes=3)
    assert r.status_code == 422, r.text
    details = {d["key"]: d["message"] for d in r.json()["error"]["details"]}
    assert details == {
        "content": "Reading the PDF took longer than 2 s (limit WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT)"
    }


def test_a_pattern_that_backtracks_for_ever_fails_its_node(
    server: ServerProcess, client: httpx.Client
) -> None:
    """The text-extraction block: a regular expression timing out is an error, not "no match"."""
    doc = single_node_graph(
        EXTRACT_BLOCK, {"text": "a" * 40 + "!", "pattern": "(a+)+$", "find_all": True}, "positive"
    )
    # The only link leaves `positive`: with the old "no match" answer the run would have COMPLETED.
    result = run_while_probing(server, client, doc)
    assert "timed out" in result["node_error"] and "WORKBENCH_SANDBOX_TIMEOUT" in result["node_error"]


def test_the_server_still_works_afterwards(client: httpx.Client) -> None:
    doc = single_node_graph(
        TEMPLATE_BLOCK,
        {"values": {"n": [1, 2]}, "format": "{% for i in n %}{{ i * 2 }}{% endfor %}"},
        "output",
    )
    graph = create_graph(client, doc)
    r = client.post(f"/graphs/{graph['id']}/execute", params={"wait": 30}, json={"inputs": {}})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["outputs"]) == ("COMPLETED", {"result": ["24"]})
