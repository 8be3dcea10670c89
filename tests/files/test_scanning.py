"""Virus scanning with a real clamd (Debian's clamav-daemon, a locally made EICAR signature): the
EICAR test file is refused, naming the signature, by every way in (the API of a real server process,
the remote and local clients, a run's file input, a block reading a data: URI), nothing of it is kept
or listed; a clean file is kept and a block reads it in a run; a process with scanning on does not
start without clamd; a clamd that goes away mid-operation makes uploads 503 and nothing is kept."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from blocks.files import AgentFileInputBlock, FileReadBlock
from blocks.knowledge import AddToKnowledgeBaseBlock
from server.app import create_app
from tests.engine.graphs import graph, link, node, out
from tests.support.clamd import EICAR, SIGNATURE, STREAM_MAX, Clamd
from tests.support.servers import ROOT, ServerProcess, free_port, start_server, stop_server
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.registry import BlockRegistry
from workbench.client import RemoteClient
from workbench.client.files import LocalFiles
from workbench.config import Settings
from workbench.errors import EXIT_CONFIG, ConfigError
from workbench.files import FileInfected, ScannerUnavailable
from workbench.files.clamd import ClamdAddress, ClamdClient, ClamdStreamTooLong, ClamdUnreachable
from workbench.services.files import FileService

CLEAN = b"quarterly numbers\nall fine\n"
RUN_TIMEOUT = 30


def blobs(folder: Path) -> list[str]:
    """Every file under a local file store's folder, relative."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def data_uri(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def scanning_server(tmp_path_factory: pytest.TempPathFactory, clamd: Clamd) -> Iterator[ServerProcess]:
    """``workbench serve`` (no login) with scanning on, through the test run's clamd."""
    server = start_server(
        tmp_path_factory.mktemp("scanning") / "home",
        "none",
        {
            "WORKBENCH_FILE_SCAN": "on",
            "WORKBENCH_CLAMAV_URL": clamd.url,
            "WORKBENCH_RATE_LIMIT": "off",
            "OPENAI_API_KEY": "sk-test-not-used",  # knowledge bases of a remote model: none is called
        },
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
async def scan_wb(
    settings: Settings, registry: BlockRegistry, clamd: Clamd, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Workbench]:
    """A durable Workbench with scanning on, its file store in a folder of its own."""
    store = tmp_path_factory.mktemp("scanned-files")
    scanning = settings.with_(file_scan=True, clamav_url=clamd.url, file_store_url=f"file://{store}")
    async with Workbench(scanning, registry=registry, resume=False) as bench:
        yield bench


def store_folder(bench: Workbench) -> Path:
    url = bench.settings.file_store_url
    assert url is not None and url.startswith("file://")
    return Path(url.removeprefix("file://"))


# ---- the client of clamd -------------------------------------------------------------------------


async def test_the_clamd_client_on_both_transports(clamd: Clamd) -> None:
    for url in (clamd.url, clamd.tcp_url):
        client = ClamdClient(ClamdAddress.parse(url), timeout=10)
        await client.ping()
        assert (await client.version()).startswith("ClamAV ")
        found = await client.instream(b"header\n" + EICAR + b"\ntrailer")
        assert found.signature is not None and found.signature.startswith(SIGNATURE)
        assert (await client.instream(CLEAN)).clean and (await client.instream(b"")).clean
        assert (await client.instream(b"x" * STREAM_MAX)).clean
        for size in (STREAM_MAX + 1, 8 * STREAM_MAX):  # clamd answers, or closes mid-stream
            with pytest.raises(ClamdStreamTooLong):
                await client.instream(b"x" * size)
    gone = ClamdClient(ClamdAddress.parse(f"tcp://127.0.0.1:{free_port()}"), timeout=5)
    with pytest.raises(ClamdUnreachable, match="cannot connect"):
        await gone.ping()


def test_the_settings() -> None:
    base = {"WORKBENCH_HOME": "/tmp/wb-settings"}
    off = Settings.from_env(base)
    assert not off.file_scan and off.clamav_url == "unix:///run/clamav/clamd.ctl"
    on = Settings.from_env({**base, "WORKBENCH_FILE_SCAN": "on", "WORKBENCH_CLAMAV_URL": "tcp://av.internal"})
    assert on.file_scan and on.clamav_url == "tcp://av.internal:3310"
    for name, value in (
        ("WORKBENCH_FILE_SCAN", "sometimes"),
        ("WORKBENCH_CLAMAV_URL", "http://av:3310"),
        ("WORKBENCH_CLAMAV_URL", "unix://relative/path"),
        ("WORKBENCH_CLAMAV_URL", "tcp://av:port"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({**base, name: value})


# ---- the API of a real server process, and the remote client -------------------------------------


def test_the_api_refuses_the_eicar_file_and_keeps_nothing(scanning_server: ServerProcess) -> None:
    folder = scanning_server.home / "files"
    with scanning_server.client() as api:
        before = api.get("/api/v1/files", params={"limit": 500}).json()["items"]
        kept = blobs(folder) if folder.exists() else []
        for body in (EICAR, b"report\n" + EICAR + b"\nend of report\n"):
            r = api.post("/api/v1/files", files={"file": ("invoice.pdf.com", body, "application/pdf")})
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "file_infected"
            assert SIGNATURE in error["message"] and "invoice.pdf.com" in error["message"]
            assert "not stored" in error["message"]
        assert api.get("/api/v1/files", params={"limit": 500}).json()["items"] == before
        assert (blobs(folder) if folder.exists() else []) == kept

        r = api.post("/api/v1/files", files={"file": ("numbers.txt", CLEAN, "text/plain")})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert doc["id"] in [f["id"] for f in api.get("/api/v1/files", params={"limit": 500}).json()["items"]]
        assert api.get(f"/api/v1/files/{doc['id']}/content").content == CLEAN
        assert blobs(folder) == sorted([*kept, f"{LOCAL_USER_ID}/{doc['id']}"])

        # Over clamd's StreamMaxLength: refused as too large for the scanner, not kept unscanned.
        r = api.post("/api/v1/files", files={"file": ("big.bin", b"x" * (STREAM_MAX + 10))})
        assert r.status_code == 413 and "StreamMaxLength" in r.json()["error"]["message"], r.text
        assert blobs(folder) == sorted([*kept, f"{LOCAL_USER_ID}/{doc['id']}"])


def test_a_knowledge_document_with_the_eicar_file_is_refused(scanning_server: ServerProcess) -> None:
    with scanning_server.client() as api:
        kb = api.post(
            "/api/v1/knowledge",
            json={"name": "scanned", "embedding_model": "text-embedding-3-small"},
        )
        assert kb.status_code == 201, kb.text
        path = f"/api/v1/knowledge/{kb.json()['id']}/documents"
        as_json = api.post(path, json={"content": "Notes\n\n" + EICAR.decode(), "title": "notes"})
        upload = api.post(path, files={"file": ("notes.md", b"# Notes\n\n" + EICAR, "text/markdown")})
        for r, name in ((as_json, "notes"), (upload, "notes.md")):
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "file_infected"
            assert SIGNATURE in r.json()["error"]["message"] and name in r.json()["error"]["message"]
        assert api.get(path).json()["total"] == 0


async def test_the_remote_client_gets_the_local_errors(
    scanning_server: ServerProcess, tmp_path: Path
) -> None:
    sample = tmp_path / "eicar.txt"
    sample.write_bytes(EICAR)
    async with RemoteClient(scanning_server.base_url) as client:
        with pytest.raises(FileInfected, match=SIGNATURE):
            await client.files.upload(sample)
        with pytest.raises(FileInfected, match=SIGNATURE):
            await client.files.upload(EICAR, name="inline.bin")
        info = await client.files.upload(CLEAN, name="numbers.txt")
        assert await client.files.download(info.ref) == CLEAN
        assert "eicar.txt" not in {f.name for f in await client.files.list()}


# ---- in process: the local client, runs and blocks, knowledge ------------------------------------


async def test_the_local_client_refuses_the_eicar_file(scan_wb: Workbench) -> None:
    files = LocalFiles(SimpleNamespace(wb=scan_wb, user_id=LOCAL_USER_ID))
    kept = blobs(store_folder(scan_wb))
    with pytest.raises(FileInfected) as refused:
        await files.upload(EICAR, name="eicar.com")
    assert refused.value.signature.startswith(SIGNATURE) and refused.value.name == "eicar.com"
    assert refused.value.http_status == 422
    assert blobs(store_folder(scan_wb)) == kept
    assert "eicar.com" not in {f.name for f in await files.list()}
    info = await files.upload(CLEAN, name="numbers.txt")
    assert await files.download(info.ref) == CLEAN


def read_file_graph() -> object:
    return graph(
        [
            node("doc", AgentFileInputBlock, name="doc"),
            node("read", FileReadBlock),
            out("o_text", "text"),
        ],
        [link("doc.result", "read.file_input"), link("read.content", "o_text.value")],
    )


async def test_a_clean_upload_is_read_by_a_block_in_a_run_and_the_eicar_file_fails_the_input(
    scan_wb: Workbench,
) -> None:
    files = FileService.of(scan_wb)
    record = await files.put(LOCAL_USER_ID, CLEAN, name="numbers.txt")
    result = await scan_wb.executions.run(read_file_graph(), {"doc": record.ref}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs["text"] == [CLEAN.decode()]

    # A file given to the run as a data: URI is stored by the file input, so scanned: refused.
    listed, _ = await files.list(LOCAL_USER_ID, limit=500)
    kept = blobs(store_folder(scan_wb))
    infected = await scan_wb.executions.run(read_file_graph(), {"doc": data_uri(EICAR)}, timeout=RUN_TIMEOUT)
    assert infected.status == "FAILED"
    assert SIGNATURE in (infected.error or "") and "not stored" in (infected.error or "")
    assert [n.status for n in infected.node_executions if n.node_id == "read"] == []  # never ran
    assert (await files.list(LOCAL_USER_ID, limit=500))[0] == listed
    assert blobs(store_folder(scan_wb)) == kept


async def test_a_block_reading_outside_content_gets_it_scanned(scan_wb: Workbench) -> None:
    reader = graph(
        [node("read", FileReadBlock, file_input=data_uri(b"before\n" + EICAR)), out("o", "text")],
        [link("read.content", "o.value")],
    )
    result = await scan_wb.executions.run(reader, {}, timeout=RUN_TIMEOUT)
    assert result.status == "FAILED" and SIGNATURE in (result.error or "")
    fine = graph(
        [node("read", FileReadBlock, file_input=data_uri(CLEAN)), out("o", "text")],
        [link("read.content", "o.value")],
    )
    assert (await scan_wb.executions.run(fine, {}, timeout=RUN_TIMEOUT)).outputs["text"] == [CLEAN.decode()]


async def test_knowledge_documents_are_scanned_before_they_are_read(scan_wb: Workbench) -> None:
    assert scan_wb.knowledge is not None
    service = scan_wb.knowledge
    kb = await service.create(LOCAL_USER_ID, "scanned notes")
    try:
        for content in (EICAR.decode(), b"%PDF-1.4\n" + EICAR):
            with pytest.raises(FileInfected, match=SIGNATURE):
                await service.add_document(kb.id, LOCAL_USER_ID, content, filename="notes.pdf")
        # The Add to Knowledge Base block: its node fails naming the signature, nothing is added.
        adder = graph(
            [node("add", AddToKnowledgeBaseBlock, knowledge_base=kb.id, content=EICAR.decode())], []
        )
        result = await scan_wb.executions.run(adder, {}, timeout=RUN_TIMEOUT)
        assert result.status == "FAILED" and SIGNATURE in (result.error or "")
        added = await service.add_document(kb.id, LOCAL_USER_ID, "# Notes\n\nThe cat sat on the mat.")
        documents, total = await service.list_documents(kb.id, LOCAL_USER_ID)
        assert total == 1 and documents[0].id == added.document.id
    finally:
        await service.delete(kb.id, LOCAL_USER_ID)


# ---- start-up and outages -------------------------------------------------------------------------


async def test_scanning_on_without_clamd_refuses_to_start(
    settings: Settings, registry: BlockRegistry
) -> None:
    nowhere = settings.with_(file_scan=True, clamav_url=f"tcp://127.0.0.1:{free_port()}")
    bench = Workbench(nowhere, registry=registry)
    with pytest.raises(ConfigError) as refused:
        await bench.start()
    message = str(refused.value)
    assert "WORKBENCH_FILE_SCAN" in message and "WORKBENCH_CLAMAV_URL" in message
    assert not bench.started and bench.files is None  # nothing else was started
    with pytest.raises(RuntimeError, match="has not been called"):
        assert bench.db is not None and bench.db.pool


def test_the_server_process_does_not_start_without_clamd(tmp_path: Path) -> None:
    missing = tmp_path / "no-clamd.sock"
    env = {
        **os.environ,
        "WORKBENCH_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
        "WORKBENCH_UI": "off",
        "WORKBENCH_FILE_SCAN": "on",
        "WORKBENCH_CLAMAV_URL": f"unix://{missing}",
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "launch.cli", "serve", "--port", str(free_port()), "--auth", "none"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    said = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == EXIT_CONFIG, said
    first = next(line for line in done.stderr.decode().splitlines() if line.startswith("error:"))
    assert "WORKBENCH_FILE_SCAN is on" in first and f"WORKBENCH_CLAMAV_URL=unix://{missing}" in first
    assert "Traceback" not in said
    assert not (tmp_path / "home" / "pgdata").exists()  # refused before the database was touched


async def test_a_scanner_gone_mid_operation_refuses_uploads_and_keeps_nothing(
    settings: Settings, registry: BlockRegistry, private_clamd: Callable[[], Clamd], tmp_path: Path
) -> None:
    clamd = private_clamd()
    bench = Workbench(
        settings.with_(home=tmp_path, file_scan=True, clamav_url=clamd.tcp_url),
        registry=registry,
        ephemeral=True,
    )
    app = create_app(workbench=bench, enable_scheduler=False)
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as api:
        first = await api.post("/api/v1/files", files={"file": ("a.txt", CLEAN)})
        assert first.status_code == 201, first.text
        kept = blobs(tmp_path / "files")
        clamd.stop()
        r = await api.post("/api/v1/files", files={"file": ("b.txt", CLEAN)})
        assert r.status_code == 503, r.text
        error: dict[str, Any] = r.json()["error"]
        assert error["code"] == "scanner_unavailable" and "not stored" in error["message"]
        assert "127.0.0.1" not in error["message"]  # the scanner's address is for the log, not users
        listed = (await api.get("/api/v1/files")).json()
        assert [f["name"] for f in listed["items"]] == ["a.txt"]
        assert blobs(tmp_path / "files") == kept
        with pytest.raises(ScannerUnavailable):
            await FileService.of(bench).put(LOCAL_USER_ID, CLEAN, name="c.txt")
        assert blobs(tmp_path / "files") == kept
