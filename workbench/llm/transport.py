"""HTTP to LLM providers: one shared client per event loop, retries with backoff on 429/5xx.

Retries honour ``Retry-After`` (seconds or an HTTP date). A stream is retried only before its first
byte; once tokens flowed, a failure is an error.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from workbench import jsonutil
from workbench.llm.config import ProviderConfig
from workbench.llm.errors import LLMError, LLMRateLimited
from workbench.net.client import GuardedTransport
from workbench.net.policy import HttpPolicy

log = logging.getLogger("workbench.llm")

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
"""Statuses worth retrying (529 is Anthropic's "overloaded")."""

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[HttpPolicy | None, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def _client(config: ProviderConfig) -> httpx.AsyncClient:
    """An HTTP client shared by the calls of one event loop under one outbound policy (connection
    reuse); a user-chosen base URL goes through the SSRF guard of :mod:`workbench.net`."""
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, {})
    client = clients.get(config.policy)
    if client is None or client.is_closed:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        if config.policy is None:
            client = httpx.AsyncClient(limits=limits)
        else:
            client = httpx.AsyncClient(transport=GuardedTransport(config.policy), trust_env=False)
        clients[config.policy] = client
    return client


def headers_for(config: ProviderConfig) -> dict[str, str]:
    """Authentication and content headers for the provider's protocol."""
    headers = {"content-type": "application/json", **config.headers}
    if config.api == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
        if config.api_key:
            headers["x-api-key"] = config.api_key
    elif config.api_key:
        headers["authorization"] = f"Bearer {config.api_key}"
    return headers


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` / ``retry-after-ms``), or None."""
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def error_text(response: httpx.Response, body: bytes | None = None) -> str:
    """The provider's own error message, from its JSON error body when there is one."""
    raw = body if body is not None else response.content
    try:
        data = jsonutil.loads(raw)
    except Exception:
        return raw[:300].decode(errors="replace").strip() or response.reason_phrase
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(err, str):
        return err
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return raw[:300].decode(errors="replace")


def _fail(config: ProviderConfig, response: httpx.Response, body: bytes | None = None) -> LLMError:
    status = response.status_code
    text = error_text(response, body)
    where = f"{config.provider} ({config.base_url})"
    if status in (401, 403):
        return LLMError(
            f"{where} refused the API key (HTTP {status}: {text}); check the credential's api_key",
            status=status,
        )
    if status in RETRY_STATUS:
        return LLMRateLimited(
            f"{where} still answered HTTP {status} after {config.max_retries} retries: {text}", status=status
        )
    return LLMError(f"{where} answered HTTP {status}: {text}", status=status)


async def _wait(config: ProviderConfig, attempt: int, response: httpx.Response | None, why: str) -> None:
    """Sleep before retry ``attempt`` (0-based), or raise when the server asks for too long a wait."""
    delay = config.backoff * (2**attempt)
    asked = retry_after(response) if response is not None else None
    if asked is not None:
        if asked > config.max_backoff:
            raise LLMRateLimited(
                f"{config.provider} ({config.base_url}) asked to retry after {asked:.0f}s "
                f"(more than the {config.max_backoff:.0f}s we wait): {why}",
                status=response.status_code if response is not None else None,
            )
        delay = asked
    delay = min(delay, config.max_backoff)
    log.info("LLM call to %s: %s; retry %d in %.2fs", config.provider, why, attempt + 1, delay)
    await asyncio.sleep(delay)


async def post_json(config: ProviderConfig, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to ``path`` and return the JSON answer, retrying transient failures."""
    client = _client(config)
    payload = jsonutil.dumpb(body)
    attempt = 0
    while True:
        try:
            response = await client.post(
                config.url(path), content=payload, headers=headers_for(config), timeout=config.timeout
            )
        except httpx.TransportError as exc:
            if attempt >= config.max_retries:
                raise LLMError(f"{config.provider} ({config.base_url}) cannot be reached: {exc!r}") from exc
            await _wait(config, attempt, None, repr(exc))
            attempt += 1
            continue
        if response.status_code < 400:
            try:
                return jsonutil.loads(response.content)
            except Exception as exc:
                raise LLMError(f"{config.provider} answered non-JSON: {response.text[:200]!r}") from exc
        if response.status_code in RETRY_STATUS and attempt < config.max_retries:
            await _wait(config, attempt, response, f"HTTP {response.status_code}")
            attempt += 1
            continue
        raise _fail(config, response)


@asynccontextmanager
async def open_stream(
    config: ProviderConfig, path: str, body: dict[str, Any]
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` and yield the streaming response once it answered 2xx (retrying before that)."""
    client = _client(config)
    payload = jsonutil.dumpb(body)
    attempt = 0
    while True:
        request = client.build_request(
            "POST", config.url(path), content=payload, headers=headers_for(config), timeout=config.timeout
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            if attempt >= config.max_retries:
                raise LLMError(f"{config.provider} ({config.base_url}) cannot be reached: {exc!r}") from exc
            await _wait(config, attempt, None, repr(exc))
            attempt += 1
            continue
        if response.status_code >= 400:
            body_bytes = await response.aread()
            await response.aclose()
            if response.status_code in RETRY_STATUS and attempt < config.max_retries:
                await _wait(config, attempt, response, f"HTTP {response.status_code}")
                attempt += 1
                continue
            raise _fail(config, response, body_bytes)
        try:
            yield response
        finally:
            await response.aclose()
        return


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str | None, str]]:
    """``(event name, data)`` of each server-sent event of a response."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)
