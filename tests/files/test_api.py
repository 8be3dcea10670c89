"""/api/v1/files: over HTTP on a real ``--auth accounts`` server (each user sees only their own files,
scopes, download headers, the remote client), and in process on an ephemeral app with a small limit
(413s, declared or streamed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from tests.server.api_support import User, api
from tests.support.servers import ServerProcess
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.registry import BlockRegistry
from workbench.client import Client, RemoteClient
from workbench.client.files import LocalFiles
from workbench.config import Settings
from workbench.errors import NotFoundError

LOCAL = "http://127.0.0.1"
LIMIT = 1000


def test_each_user_sees_only_their_own_files(alice: User, bob: User) -> None:
    r = alice.client.post(
        "/files", files={"file": ("notes/../report Q1.txt", "Ünïcode notes\n".encode(), "text/plain")}
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["name"] == "report Q1.txt" and doc["content_type"] == "text/plain"
    assert doc["ref"] == f"workspace://{doc['id']}" and doc["size"] == len("Ünïcode notes\n".encode())
    assert alice.client.get(f"/files/{doc['id']}").json() == doc
    assert doc["id"] in [f["id"] for f in alice.client.get("/files").json()["items"]]

    content = alice.client.get(f"/files/{doc['id']}/content")
    assert content.status_code == 200 and content.content == "Ünïcode notes\n".encode()
    assert content.headers["content-disposition"].startswith('attachment; filename="report Q1.txt"')
    assert content.headers["x-content-type-options"] == "nosniff"

    for r in (
        bob.client.get(f"/files/{doc['id']}"),
        bob.client.get(f"/files/{doc['id']}/content"),
        bob.client.delete(f"/files/{doc['id']}"),
        bob.client.get(f"/files/{uuid.uuid4()}"),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
    assert doc["id"] not in [f["id"] for f in bob.client.get("/files").json()["items"]]
    malformed = bob.client.get("/files/not-an-id/content")  # as on every route: 400 naming the id
    assert malformed.status_code == 400 and malformed.json()["error"]["details"][0]["key"] == "file_id"

    assert alice.client.delete(f"/files/{doc['id']}").status_code == 204
    assert alice.client.get(f"/files/{doc['id']}").status_code == 404


def test_scopes_and_bad_uploads(alice: User, accounts_server: ServerProcess) -> None:
    reader, _ = alice.key("files:read", name="reader")
    with api(accounts_server, api_key=reader) as c:
        assert c.get("/files").status_code == 200
        r = c.post("/files", files={"file": ("a.txt", b"a")})
        assert r.status_code == 403 and "files:write" in r.json()["error"]["message"]
    r = alice.client.post("/files", data={"name": "no file here"}, files={"other": ("a.txt", b"a")})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["key"] == "file"
    r = alice.client.post("/files", json={"file": "inline"})
    assert r.status_code == 415


async def test_the_remote_client_uploads_lists_downloads_deletes(
    alice: User, accounts_server: ServerProcess, tmp_path: Path
) -> None:
    key, _ = alice.key("files:read", "files:write", "blocks:read", name="files client")
    picture = tmp_path / "pic.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    async with RemoteClient(accounts_server.base_url, api_key=key) as client:
        uploaded = await client.files.upload(picture)
        assert (uploaded.name, uploaded.content_type, uploaded.size) == ("pic.png", "image/png", 16)
        named = await client.files.upload(b"col\n1\n", name="table.csv", content_type="text/csv")
        assert await client.files.download(named.ref) == b"col\n1\n"
        assert (await client.files.get(named.id)).content_type == "text/csv"
        assert {uploaded.id, named.id} <= {f.id for f in await client.files.list()}
        await client.files.delete(uploaded.ref)
        with pytest.raises(NotFoundError):
            await client.files.get(uploaded.id)
    blocking = Client(RemoteClient(accounts_server.base_url, api_key=key)).open()
    try:
        assert blocking.files.download(named.id) == b"col\n1\n"
        blocking.files.delete(named.id)
        assert named.id not in {f.id for f in blocking.files.list()}
    finally:
        blocking.close()


async def test_the_local_client_uses_the_same_service(wb: Workbench) -> None:
    files = LocalFiles(SimpleNamespace(wb=wb, user_id=LOCAL_USER_ID))
    info = await files.upload(b"hello", name="hi.txt")
    assert info.ref.startswith("workspace://") and await files.download(info.ref) == b"hello"
    assert info.id in {f.id for f in await files.list()}
    await files.delete(info.id)
    with pytest.raises(NotFoundError):
        await files.download(info.id)


@pytest.fixture
async def small_app(
    settings: Settings, registry: BlockRegistry, tmp_path: Path
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The API in process, ephemeral (records in sidecars, in a folder of its own), with a 1000-byte
    file limit."""
    wb = Workbench(settings.with_(home=tmp_path, file_max_bytes=LIMIT), registry=registry, ephemeral=True)
    app = create_app(workbench=wb, enable_scheduler=False)
    async with AsyncTestClient(app, base_url=LOCAL) as client:
        yield client


def test_a_streamed_upload_is_refused_once_too_much_has_arrived(
    settings: Settings, registry: BlockRegistry, tmp_path: Path
) -> None:
    """No Content-Length (chunked): the body is counted as it arrives (the sync test client can
    stream a body; the async one cannot)."""
    from litestar.testing import TestClient

    body, kind = _multipart(b"x" * 300_000)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 16_384):
            yield body[i : i + 16_384]

    wb = Workbench(settings.with_(home=tmp_path, file_max_bytes=LIMIT), registry=registry, ephemeral=True)
    with TestClient(create_app(workbench=wb, enable_scheduler=False), base_url=LOCAL) as client:
        r = client.post("/api/v1/files", content=chunks(), headers={"Content-Type": kind})
        assert r.status_code == 413, r.text
        assert "WORKBENCH_FILE_MAX_BYTES" in r.json()["error"]["message"]  # ours, not Litestar's limit
        assert "content-length" not in {k.lower() for k in r.request.headers}
        small, kind = _multipart(b"tiny")
        r = client.post(
            "/api/v1/files", content=iter([small[:10], small[10:]]), headers={"Content-Type": kind}
        )
        assert r.status_code == 201 and r.json()["size"] == 4


def _multipart(data: bytes, boundary: str = "wbtestboundary") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def test_files_over_the_limit_are_413(small_app: AsyncTestClient[Any]) -> None:
    ok = await small_app.post("/api/v1/files", files={"file": ("ok.bin", b"x" * LIMIT)})
    assert ok.status_code == 201 and ok.json()["size"] == LIMIT
    # Just over: the form is read, the service refuses it.
    r = await small_app.post("/api/v1/files", files={"file": ("big.bin", b"x" * (LIMIT + 1))})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert "WORKBENCH_FILE_MAX_BYTES" in r.json()["error"]["message"]
    # Far over, and saying so: refused before the body is read.
    r = await small_app.post("/api/v1/files", files={"file": ("big.bin", b"x" * 300_000)})
    assert r.status_code == 413 and "WORKBENCH_FILE_MAX_BYTES" in r.json()["error"]["message"]
    listed = (await small_app.get("/api/v1/files")).json()
    assert [f["size"] for f in listed["items"]] == [LIMIT]


async def test_a_large_file_passes_the_general_body_limit(
    settings: Settings, registry: BlockRegistry, tmp_path: Path
) -> None:
    """Uploads follow the file limit (here 6 MB), not the API's general 5 MB body limit."""
    wb = Workbench(settings.with_(home=tmp_path, file_max_bytes=6_000_000), registry=registry, ephemeral=True)
    app = create_app(workbench=wb, enable_scheduler=False)
    data = bytes(range(256)) * (5_500_000 // 256)
    async with AsyncTestClient(app, base_url=LOCAL) as client:
        r = await client.post("/api/v1/files", files={"file": ("big.bin", data)})
        assert r.status_code == 201, r.text
        got = await client.get(f"/api/v1/files/{r.json()['id']}/content")
        assert got.content == data
        big_json = await client.post(
            "/api/v1/graphs", content=b"x" * 5_100_000, headers={"Content-Type": "application/json"}
        )
        assert big_json.status_code == 413  # other routes keep the general limit
        assert (await client.delete(f"/api/v1/files/{r.json()['id']}")).status_code == 204
