"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...), through aiobotocore.

Configured by ``WORKBENCH_FILE_STORE_URL=s3://bucket/prefix?endpoint_url=http://127.0.0.1:9000&region=
us-east-1`` (``addressing_style=path|virtual`` optional: path by default when an endpoint is given).
The keys come from botocore's usual places: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and
``AWS_SESSION_TOKEN``), a profile, or the machine's role. Errors of the store are translated into
:class:`~workbench.errors.StoreUnavailable` naming the bucket, never the keys.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from workbench.errors import ConfigError, StoreUnavailable
from workbench.files.backends.base import BlobNotFound, BlobStore, check_key

SETTING = "WORKBENCH_FILE_STORE_URL"
_OPTIONS = {"endpoint_url", "region", "region_name", "addressing_style"}
_MISSING = ("NoSuchKey", "404", "NotFound")


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where the blobs are: bucket, key prefix, and how to reach the service."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None

    @classmethod
    def from_url(cls, url: str) -> S3Location:
        """Parse ``s3://bucket/prefix?endpoint_url=...&region=...``; ConfigError naming the setting."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"{SETTING} must look like s3://bucket/prefix, got {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - _OPTIONS)
        if unknown:
            raise ConfigError(
                f"{SETTING}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_OPTIONS))}"
            )
        endpoint = query.get("endpoint_url") or None
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"{SETTING}: endpoint_url must be an http:// or https:// URL")
        style = query.get("addressing_style") or ("path" if endpoint else None)
        if style not in (None, "path", "virtual", "auto"):
            raise ConfigError(f"{SETTING}: addressing_style must be path, virtual or auto")
        prefix = parts.path.strip("/")
        return cls(
            bucket=parts.netloc,
            prefix=f"{prefix}/" if prefix else "",
            endpoint_url=endpoint,
            region=query.get("region") or query.get("region_name") or None,
            addressing_style=style,
        )


class S3BlobStore(BlobStore):
    """A bucket (under a key prefix) of blobs."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._exit: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """The store ``s3://...`` describes."""
        return cls(S3Location.from_url(url))

    def describe(self) -> str:
        """``s3://bucket/prefix`` (and the endpoint when not AWS)."""
        where = f"s3://{self.location.bucket}/{self.location.prefix}"
        return where + (f" at {self.location.endpoint_url}" if self.location.endpoint_url else "")

    async def start(self) -> None:
        """Open the client (aiobotocore is imported only when an S3 store is configured)."""
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        options: dict[str, Any] = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 3}}
        if self.location.addressing_style:
            options["s3"] = {"addressing_style": self.location.addressing_style}
        self._exit = contextlib.AsyncExitStack()
        self._client = await self._exit.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=self.location.region,
                endpoint_url=self.location.endpoint_url,
                config=AioConfig(**options),
            )
        )

    async def stop(self) -> None:
        """Close the client."""
        if self._exit is not None:
            stack, self._exit, self._client = self._exit, None, None
            await stack.aclose()

    def _key(self, key: str) -> str:
        if self._client is None:
            raise RuntimeError("the file store is not started (S3BlobStore.start() was not called)")
        return self.location.prefix + check_key(key)

    def _failed(self, what: str, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"the file store {self.describe()} failed while {what}: {_reason(exc)}")

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """PutObject."""
        full = self._key(key)
        try:
            await self._client.put_object(
                Bucket=self.location.bucket, Key=full, Body=data, ContentType=content_type
            )
        except Exception as exc:
            raise self._failed(f"storing {key}", exc) from exc

    async def get(self, key: str) -> bytes:
        """GetObject, read whole."""
        full = self._key(key)
        try:
            response = await self._client.get_object(Bucket=self.location.bucket, Key=full)
            async with response["Body"] as stream:
                return await stream.read()
        except Exception as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(f"no blob {key!r} in {self.describe()}") from None
            raise self._failed(f"reading {key}", exc) from exc

    async def delete(self, key: str) -> None:
        """DeleteObject (S3 answers the same whether the key was there or not)."""
        full = self._key(key)
        try:
            await self._client.delete_object(Bucket=self.location.bucket, Key=full)
        except Exception as exc:
            if _code(exc) in _MISSING:
                return
            raise self._failed(f"deleting {key}", exc) from exc

    async def keys(self, prefix: str) -> list[str]:
        """ListObjectsV2, every page."""
        if self._client is None:
            raise RuntimeError("the file store is not started (S3BlobStore.start() was not called)")
        base = self.location.prefix
        found: list[str] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.location.bucket, Prefix=base + prefix):
                found.extend(item["Key"][len(base) :] for item in page.get("Contents", ()))
        except Exception as exc:
            raise self._failed(f"listing {prefix}", exc) from exc
        return sorted(found)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _reason(exc: Exception) -> str:
    """What went wrong, in the service's words (botocore messages carry no secrets)."""
    code = _code(exc)
    if code:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
        return f"{code}: {message}" if message else code
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    return f"{name}: {exc}"
