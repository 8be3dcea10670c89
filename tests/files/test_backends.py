"""One contract for both blob stores (a local folder, an S3 bucket on moto's server) and for the file
service on each of them without a database (records in JSON sidecars next to the blobs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.errors import ConfigError, NotFoundError
from workbench.files import (
    BlobNotFound,
    BlobStore,
    FileTooLarge,
    LocalBlobStore,
    S3BlobStore,
    open_blob_store,
)
from workbench.files.backends import S3Location
from workbench.services.files import FileService

ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())


@pytest.fixture(params=["local", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    """A started blob store of each kind."""
    if request.param == "local":
        store: BlobStore = open_blob_store(None, tmp_path)
    else:
        store = open_blob_store(request.getfixturevalue("s3_url"), tmp_path)
    await store.start()
    yield store
    await store.stop()


async def test_blobs_round_trip_list_and_delete(blobs: BlobStore) -> None:
    payload = bytes(range(256)) * 40
    await blobs.put("u1/a", payload, "application/octet-stream")
    await blobs.put("u1/b.json", b"{}", "application/json")
    await blobs.put("u2/c", b"other")
    assert await blobs.get("u1/a") == payload
    assert await blobs.keys("u1/") == ["u1/a", "u1/b.json"]
    await blobs.put("u1/a", b"replaced")
    assert await blobs.get("u1/a") == b"replaced"
    await blobs.delete("u1/a")
    await blobs.delete("u1/a")  # twice: nothing happens
    with pytest.raises(BlobNotFound):
        await blobs.get("u1/a")
    assert await blobs.keys("u1/") == ["u1/b.json"]
    for bad in ("../escape", "/etc/passwd", "u1/../../x", "u1//x", ""):
        with pytest.raises(ValueError):
            await blobs.put(bad, b"x")


async def test_the_service_without_a_database_keeps_records_beside_the_blobs(blobs: BlobStore) -> None:
    from workbench.files import SidecarIndex

    files = await FileService(blobs, SidecarIndex(blobs), max_bytes=1000).start()
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    picture = await files.put(ALICE, png, name="../../holiday/pic<1>.png", content_type="")
    note = await files.put(ALICE, b"plain words", name="", content_type="text/markdown; charset=utf-8")
    assert (picture.name, picture.content_type, picture.size) == ("pic_1_.png", "image/png", len(png))
    assert (note.name, note.content_type) == ("file.md", "text/markdown")
    assert picture.ref == f"workspace://{picture.id}" and picture.storage_key == f"{ALICE}/{picture.id}"
    record, data = await files.read(picture.id, ALICE)
    assert record == picture and data == png
    items, total = await files.list(ALICE)
    assert total == 2 and {r.id for r in items} == {picture.id, note.id}
    assert items[0].created_at >= items[1].created_at

    # Another user's file is not found, exactly as an unknown id is.
    for call in (files.get(picture.id, BOB), files.read(picture.id, BOB), files.delete(picture.id, BOB)):
        with pytest.raises(NotFoundError):
            await call
    assert await files.list(BOB) == ([], 0)
    with pytest.raises(NotFoundError):
        await files.get("not-a-uuid", ALICE)

    with pytest.raises(FileTooLarge) as too_large:
        await files.put(ALICE, b"x" * 1001)
    assert too_large.value.http_status == 413 and "1001 bytes" in str(too_large.value)

    await files.delete(picture.id, ALICE)
    with pytest.raises(NotFoundError):
        await files.get(picture.id, ALICE)
    assert await blobs.keys(f"{ALICE}/") == [f"{ALICE}/{note.id}", f"{ALICE}/{note.id}.json"]
    await files.stop()


async def test_the_store_comes_from_one_setting(tmp_path: Path) -> None:
    assert isinstance(open_blob_store(None, tmp_path), LocalBlobStore)
    assert open_blob_store(None, tmp_path).describe() == str(tmp_path / "files")
    assert open_blob_store(f"file://{tmp_path}/elsewhere", tmp_path).describe() == str(tmp_path / "elsewhere")
    s3 = open_blob_store("s3://bucket/a/b?endpoint_url=http://127.0.0.1:9000&region=eu-west-1", tmp_path)
    assert isinstance(s3, S3BlobStore)
    assert s3.location == S3Location("bucket", "a/b/", "http://127.0.0.1:9000", "eu-west-1", "path")
    assert (
        S3Location.from_url("s3://bucket").prefix == ""
        and S3Location.from_url("s3://b").addressing_style is None
    )
    for bad in ("ftp://x/y", "s3://", "s3://b?colour=red", "file://relative", "s3://b?endpoint_url=ftp://x"):
        with pytest.raises(ConfigError, match="WORKBENCH_FILE_STORE_URL"):
            open_blob_store(bad, tmp_path)
    with pytest.raises(ConfigError, match="WORKBENCH_FILE_STORE_URL"):
        Settings.from_env({"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_FILE_STORE_URL": "gs://bucket"})
    settings = Settings.from_env({"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_FILE_MAX_BYTES": "1234"})
    assert (settings.file_max_bytes, settings.file_store_url) == (1234, None)


async def test_an_unstarted_store_says_so(tmp_path: Path) -> None:
    for store in (LocalBlobStore(tmp_path), S3BlobStore.from_url("s3://b")):
        with pytest.raises(RuntimeError, match="not started"):
            await store.get("a/b")


async def test_s3_failures_name_the_bucket_never_the_keys(
    s3_endpoint: str, s3_keys: None, tmp_path: Path
) -> None:
    from workbench.errors import StoreUnavailable

    store = open_blob_store(
        f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}?endpoint_url={s3_endpoint}", tmp_path
    )
    await store.start()
    try:
        with pytest.raises(StoreUnavailable, match="no-such-bucket") as failed:
            await store.put("u/x", b"x")
        assert "NoSuchBucket" in str(failed.value) and "testing-secret" not in str(failed.value)
    finally:
        await store.stop()
