"""The file blocks in graphs: an agent file input kept in the store, stored again (the same file), read
back in lines; files fetched from a URL (the outbound guard applies); on a durable workbench, an
ephemeral one (JSON sidecars) and an ephemeral one on an S3 bucket."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web

from blocks.files import AgentFileInputBlock, FileReadBlock, FileStoreBlock
from tests.engine.graphs import graph, link, node, out
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.context import RunContext
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.errors import BlockError
from workbench.files import Media, parse_ref, read_media, store_media
from workbench.services.files import FileService

TEXT = "first line\nsecond line\nthird line"
RUN_TIMEOUT = 30


@pytest.fixture
async def s3_bench(settings: Settings, registry: BlockRegistry, s3_url: str) -> AsyncIterator[Workbench]:
    """An ephemeral workbench whose file store is an S3 bucket (moto's server)."""
    async with Workbench(settings.with_(file_store_url=s3_url), registry=registry, ephemeral=True) as bench:
        yield bench


@pytest.fixture(params=["durable", "ephemeral", "s3"])
def bench(request: pytest.FixtureRequest) -> Workbench:
    """Each kind of file store a run can have."""
    return request.getfixturevalue({"durable": "wb", "ephemeral": "ewb", "s3": "s3_bench"}[request.param])


@pytest.fixture
def allow_loopback(bench: Workbench) -> Iterator[None]:
    """Blocks of ``bench`` may reach 127.0.0.1 for one test (WORKBENCH_HTTP_ALLOW=127.0.0.0/8)."""
    before = bench.executions.settings
    bench.executions.settings = before.with_(http_allow=("127.0.0.0/8",))
    yield
    bench.executions.settings = before


@pytest.fixture
async def web_files() -> AsyncIterator[str]:
    """A local web server with a text file and a missing one."""

    async def report(_: web.Request) -> web.Response:
        return web.Response(body=b"alpha,beta\ngamma,delta", content_type="text/csv")

    app = web.Application()
    app.router.add_get("/data/report.csv", report)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def store_and_read() -> object:
    return graph(
        [
            node("doc", AgentFileInputBlock, name="doc"),
            node("keep", FileStoreBlock),
            node("read", FileReadBlock, delimiter="\n"),
            out("o_ref", "ref"),
            out("o_lines", "lines"),
        ],
        [
            link("doc.result", "keep.file_in"),
            link("keep.file_out", "read.file_input"),
            link("keep.file_out", "o_ref.value"),
            link("read.content", "o_lines.value"),
        ],
    )


async def test_a_file_input_is_kept_and_read_back(bench: Workbench) -> None:
    uri = "data:text/plain;base64," + base64.b64encode(TEXT.encode()).decode()
    result = await bench.executions.run(store_and_read(), {"doc": uri}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs["lines"] == [TEXT]
    (ref,) = result.outputs["ref"]
    assert ref.startswith("workspace://")
    files = FileService.of(bench)
    record, data = await files.read(parse_ref(ref), LOCAL_USER_ID)
    assert data == TEXT.encode() and record.content_type == "text/plain"
    assert record.graph_execution_id == result.execution_id
    items, _ = await files.list(LOCAL_USER_ID, limit=500)
    assert sum(r.sha256 == record.sha256 for r in items) >= 1
    # The stored file goes in again by reference: the same file, not a copy.
    again = await bench.executions.run(store_and_read(), {"doc": ref}, timeout=RUN_TIMEOUT)
    assert again.outputs["ref"] == [ref] and again.outputs["lines"] == [TEXT]


async def test_another_users_reference_is_not_found(bench: Workbench) -> None:
    mine = await FileService.of(bench).put(LOCAL_USER_ID, b"secret", name="s.txt")
    stranger = RunContext.for_test(bench.settings, services=bench.block_services)
    stranger.user_id = "00000000-0000-0000-0000-0000000000ff"
    for call in (read_media(stranger, mine.ref), store_media(stranger, mine.ref)):
        with pytest.raises(BlockError, match="not one of your files") as refused:
            await call
        assert "secret" not in str(refused.value)
    assert (
        await read_media(RunContext.for_test(bench.settings, services=bench.block_services), mine.ref)
    ).data == (b"secret")


@pytest.mark.usefixtures("allow_loopback")
async def test_a_url_is_downloaded_into_the_store(bench: Workbench, web_files: str) -> None:
    g = graph(
        [
            node("keep", FileStoreBlock, file_in=f"{web_files}/data/report.csv"),
            node("read", FileReadBlock, delimiter="\n", skip_rows=1),
            out("o_ref", "ref"),
            out("o_rows", "rows"),
        ],
        [
            link("keep.file_out", "read.file_input"),
            link("keep.file_out", "o_ref.value"),
            link("read.content", "o_rows.value"),
        ],
    )
    result = await bench.executions.run(g, {}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs["rows"] == ["gamma,delta"]
    record = await FileService.of(bench).get(parse_ref(result.outputs["ref"][0]), LOCAL_USER_ID)
    assert (record.name, record.content_type, record.size) == ("report.csv", "text/csv", 22)

    missing = graph([node("keep", FileStoreBlock, file_in=f"{web_files}/nothing.png")])
    failed = await bench.executions.run(missing, {}, timeout=RUN_TIMEOUT)
    assert failed.status == "FAILED" and "HTTP 404" in (failed.error or "")


async def test_private_addresses_are_refused_by_default(ewb: Workbench, web_files: str) -> None:
    g = graph([node("keep", FileStoreBlock, file_in=f"{web_files}/data/report.csv")])
    result = await ewb.executions.run(g, {}, timeout=RUN_TIMEOUT)
    assert result.status == "FAILED" and "refused" in (result.error or "").lower()


async def test_media_functions_decode_and_explain(ewb: Workbench) -> None:
    from workbench.block.context import BlockServices

    ctx = RunContext.for_test(ewb.settings, services=ewb.block_services)
    ref = await store_media(ctx, b"GIF89a....", name="a/b/anim.gif")
    media = await read_media(ctx, ref)
    assert media == Media(b"GIF89a....", "anim.gif", "image/gif")
    assert (await read_media(ctx, "data:,caf%C3%A9")).text() == "café"
    assert (await read_media(ctx, media.data_uri())).data == b"GIF89a...."
    for bad, said in (
        ("data:image/png;base64,@@@", "not valid base64"),
        ("/etc/passwd", "local paths are not read"),
        ("workspace://nonsense", "no file"),
        (42, "got int"),
    ):
        with pytest.raises(BlockError, match=said):
            await read_media(ctx, bad)
    bare = RunContext.for_test(ewb.settings, services=BlockServices())
    with pytest.raises(BlockError, match="'files' service is not available"):
        await store_media(bare, b"x")
    small = FileService(ewb.files.blobs, ewb.files.index, max_bytes=4)  # type: ignore[union-attr]
    tight = RunContext.for_test(ewb.settings, services=BlockServices(named={"files": small}))
    with pytest.raises(BlockError, match="WORKBENCH_FILE_MAX_BYTES"):
        await store_media(tight, b"12345")
