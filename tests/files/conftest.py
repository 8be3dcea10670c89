"""Fixtures of the file store tests: an S3 lookalike (moto's server on 127.0.0.1) and its buckets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.servers import free_port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port (our real aiobotocore client talks to it)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test keys in the standard variables (moto accepts any)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3_url(s3_endpoint: str, s3_keys: None) -> str:
    """``WORKBENCH_FILE_STORE_URL`` of a fresh bucket (with a key prefix) on the lookalike."""
    import boto3  # moto's own dependency: only the test makes buckets

    bucket = f"wb-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/team-a/files?endpoint_url={s3_endpoint}&region=us-east-1"
