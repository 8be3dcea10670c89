"""Files picked in the web apps' forms (an agent's file input in the Builder's Run form) go through the
file service, so they are virus-scanned (a real clamd with the EICAR signature): the EICAR file is
refused under its field, naming the signature, and nothing is kept; a clean file becomes the field's
``workspace://`` reference. In Python, and in a real browser picking the files."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import panel as pn
import pytest

from blocks.files import AgentFileInputBlock
from tests.support.browser import TIMEOUT
from tests.support.clamd import EICAR, SIGNATURE, Clamd
from tests.support.servers import free_port
from tests.ui.conftest import Browser
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.registry import BlockRegistry, default_registry
from workbench.config import Settings
from workbench.engine.plan import Plan
from workbench.files import FileInfected, LocalBlobStore, SidecarIndex, is_ref
from workbench.files.scanning import ClamdScanner
from workbench.graph.model import Graph, Node
from workbench.services.files import FileService
from workbench.ui.builder.backend import BuilderBackend
from workbench.ui.schema_form import SchemaForm

CLEAN = b"name,amount\nAda,12\n"


def file_agent_schema() -> dict[str, Any]:
    """The Run form's schema of an agent with one file input."""
    graph = Graph(
        name="file agent",
        nodes=[Node(id="n1", block_id=AgentFileInputBlock.id, input_default={"name": "report"})],
    )
    return Plan(graph, default_registry(), 60.0).input_schema()


@pytest.fixture
async def scanning(
    settings: Settings, registry: BlockRegistry, clamd: Clamd, tmp_path: Path
) -> AsyncIterator[Workbench]:
    """An ephemeral Workbench scanning through the test run's clamd, files in the test's folder."""
    config = settings.with_(home=tmp_path, file_scan=True, clamav_url=clamd.url)
    async with Workbench(config, registry=registry, ephemeral=True) as bench:
        yield bench


def stored(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


async def test_a_picked_file_is_uploaded_through_the_scanning_file_service(
    scanning: Workbench, tmp_path: Path
) -> None:
    backend = BuilderBackend(scanning, LOCAL_USER_ID)
    changes: list[tuple[str, Any]] = []
    form = SchemaForm(
        file_agent_schema(), on_change=lambda f, v: changes.append((f, v)), upload=backend.upload
    )
    assert form.fields["report"].kind == "file" and form.__panel__().uploads

    assert await form.attach("report", EICAR, name="eicar.com") is None
    assert SIGNATURE in form.errors["report"] and "eicar.com" in form.errors["report"]
    assert form.values == {} and changes == [] and stored(tmp_path / "files") == []

    ref = await form.attach("report", CLEAN, name="amounts.csv", content_type="text/csv")
    assert ref is not None and is_ref(ref)
    assert form.values == {"report": ref} and changes == [("report", ref)] and form.errors == {}
    assert form.__panel__().files["report"]["text"] == ref

    # What the browser's picker sends: the file in base64, uploaded in the background.
    view = form.__panel__()
    view._handle_msg({"field": "report", "upload": {"name": "e.txt", "type": "", "data": _b64(EICAR)}})
    await _settled(form)
    assert SIGNATURE in form.errors["report"] and form.values == {"report": ref}
    view.max_upload = 10
    view._handle_msg({"field": "report", "upload": {"name": "big.txt", "data": _b64(CLEAN)}})
    assert "larger than 10 bytes" in form.errors["report"]
    with pytest.raises(FileInfected):
        await backend.upload("direct.bin", EICAR)


def test_without_an_upload_callback_a_file_field_is_text() -> None:
    form = SchemaForm(file_agent_schema())
    assert form.fields["report"].kind == "file" and not form.__panel__().uploads
    form.enter("report", "workspace://6f0d7c8e-2a51-4c3b-9a7e-5d8b1e4f2c90")
    assert form.values == {"report": "workspace://6f0d7c8e-2a51-4c3b-9a7e-5d8b1e4f2c90"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _settled(form: SchemaForm) -> None:
    while form._uploading:
        await asyncio.gather(*form._uploading)


class Page:
    """A page with an agent's Run form whose files go to a scanning file service."""

    def __init__(self, folder: Path, clamd_url: str) -> None:
        self.folder = folder
        self.clamd_url = clamd_url
        self.form: SchemaForm | None = None

    async def upload(self, name: str, data: bytes, content_type: str) -> str:
        # Made on the page's own loop (Panel serves it in a thread of its own).
        settings = Settings.from_env(
            {"WORKBENCH_HOME": str(self.folder), "WORKBENCH_CLAMAV_URL": self.clamd_url}
        )
        blobs = LocalBlobStore(self.folder / "files")
        files = FileService(
            blobs, SidecarIndex(blobs), max_bytes=1_000_000, scanner=ClamdScanner.from_settings(settings)
        )
        await files.start()
        record = await files.put(LOCAL_USER_ID, data, name=name, content_type=content_type)
        return record.ref

    def create(self) -> Any:
        self.form = SchemaForm(file_agent_schema(), title="Inputs", upload=self.upload)
        return pn.Column(self.form, width=460)


@pytest.fixture
def served(tmp_path: Path, clamd: Clamd) -> Iterator[tuple[str, Page]]:
    port = free_port()
    page = Page(tmp_path, clamd.url)
    server = pn.serve(
        {"/": page.create},
        port=port,
        address="127.0.0.1",
        allow_websocket_origin=[f"127.0.0.1:{port}"],
        show=False,
        threaded=True,
        title="Run form",
    )
    try:
        yield f"http://127.0.0.1:{port}/", page
    finally:
        server.stop()


async def test_a_person_picks_the_eicar_file_then_a_clean_one(
    served: tuple[str, Page], browser: Browser, tmp_path: Path
) -> None:
    url, served_page = served
    context = await browser.context()
    page = await browser.page(context)
    await page.goto(url)
    picker = page.get_by_label("Upload a file for Report")
    await picker.wait_for(timeout=TIMEOUT)

    await picker.set_input_files(files=[{"name": "eicar.com", "mimeType": "text/plain", "buffer": EICAR}])
    error = page.locator(".wb-field-error[data-field=report] .wb-error")
    await error.wait_for(timeout=TIMEOUT)
    assert SIGNATURE in await error.inner_text()
    await browser.shot(page, "file-upload-refused")
    assert stored(tmp_path / "files") == []

    await picker.set_input_files(files=[{"name": "amounts.csv", "mimeType": "text/csv", "buffer": CLEAN}])
    await error.wait_for(state="hidden", timeout=TIMEOUT)
    field = page.get_by_label("Report", exact=True)
    for _ in range(200):  # the reference arrives once the file is stored
        ref = await field.input_value()
        if ref.startswith("workspace://"):
            break
        await page.wait_for_timeout(100)
    assert ref.startswith("workspace://")
    assert (
        "Uploaded amounts.csv"
        in await page.locator(".wb-field[data-field=report] .wb-file-note").inner_text()
    )
    await browser.shot(page, "file-upload-accepted")
    assert served_page.form is not None and served_page.form.values == {"report": ref}
    assert len([p for p in stored(tmp_path / "files") if p.suffix != ".json"]) == 1
    await context.close()
