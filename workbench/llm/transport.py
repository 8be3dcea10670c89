"""HTTP to LLM providers: one shared client per event loop, retries with backoff on 429/5xx.

Retries (tenacity) honour ``Retry-After`` (seconds or an HTTP date); without it they back off
exponentially from ``backoff`` up to ``max_backoff``, at most ``max_retries`` times. A server asking
for a longer wait than ``max_backoff`` fails at once. A stream is retried only before its first byte;
once tokens flowed, a failure is an error.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.wait import wait_base

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


class _Retryable(Exception):
    """An answer worth asking again (429, 5xx...): tenacity retries it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class WaitRetryAfter(wait_base):
    """Wait what the server asked for (``Retry-After``) when it did, else what ``otherwise`` says."""

    def __init__(self, otherwise: wait_base) -> None:
        self.otherwise = otherwise

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        asked = retry_after(exc.response) if isinstance(exc, _Retryable) else None
        return asked if asked is not None else self.otherwise(retry_state)


def _retrying(config: ProviderConfig) -> AsyncRetrying:
    """The retry policy of one call: transport errors and retryable statuses, ``max_retries`` times."""

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        why = str(exc) if isinstance(exc, _Retryable) else repr(exc)
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("LLM call to %s: %s; retry %d in %.2fs", config.provider, why, state.attempt_number, delay)

    return AsyncRetrying(
        retry=retry_if_exception_type((_Retryable, httpx.TransportError)),
        stop=stop_after_attempt(config.max_retries + 1),
        wait=WaitRetryAfter(wait_exponential(multiplier=config.backoff, max=config.max_backoff)),
        before_sleep=log_retry,
        reraise=True,
    )


def _check_retryable(config: ProviderConfig, response: httpx.Response) -> None:
    """Raise :class:`_Retryable` for an answer worth asking again; a server asking for a longer wait
    than ``max_backoff`` fails at once."""
    if response.status_code not in RETRY_STATUS:
        return
    asked = retry_after(response)
    if asked is not None and asked > config.max_backoff:
        raise LLMRateLimited(
            f"{config.provider} ({config.base_url}) asked to retry after {asked:.0f}s "
            f"(more than the {config.max_backoff:.0f}s we wait): HTTP {response.status_code}",
            status=response.status_code,
        )
    raise _Retryable(response)


async def _with_retries(
    config: ProviderConfig, attempt: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    """The answer of the first ``attempt`` that was not worth retrying, or the last one's once the
    retries are used up (the caller reports it); an unreachable server is an LLMError."""
    try:
        return await _retrying(config)(attempt)
    except _Retryable as exc:
        return exc.response
    except httpx.TransportError as exc:
        raise LLMError(f"{config.provider} ({config.base_url}) cannot be reached: {exc!r}") from exc


async def post_json(config: ProviderConfig, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to ``path`` and return the JSON answer, retrying transient failures."""
    client = _client(config)
    payload = jsonutil.dumpb(body)

    async def attempt() -> httpx.Response:
        response = await client.post(
            config.url(path), content=payload, headers=headers_for(config), timeout=config.timeout
        )
        _check_retryable(config, response)
        return response

    response = await _with_retries(config, attempt)
    if response.status_code >= 400:
        raise _fail(config, response)
    try:
        return jsonutil.loads(response.content)
    except Exception as exc:
        raise LLMError(f"{config.provider} answered non-JSON: {response.text[:200]!r}") from exc


@asynccontextmanager
async def open_stream(
    config: ProviderConfig, path: str, body: dict[str, Any]
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` and yield the streaming response once it answered 2xx (retrying before that)."""
    client = _client(config)
    payload = jsonutil.dumpb(body)

    async def attempt() -> httpx.Response:
        request = client.build_request(
            "POST", config.url(path), content=payload, headers=headers_for(config), timeout=config.timeout
        )
        response = await client.send(request, stream=True)
        if response.status_code >= 400:
            await response.aread()  # the error body, for the message
            await response.aclose()
            _check_retryable(config, response)
        return response

    response = await _with_retries(config, attempt)
    if response.status_code >= 400:
        raise _fail(config, response)
    try:
        yield response
    finally:
        await response.aclose()


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
