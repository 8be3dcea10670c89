"""The web vendor blocks' real client code against local lookalikes, with credentials from the vault:
SendAuthenticatedWebRequestBlock (host-scoped headers), SearchTheWebBlock (Jina Search or SearXNG)
and ExtractWebsiteContentBlock's Jina Reader mode."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar, Request, Response, route

from blocks.search import SearchTheWebBlock
from blocks.web import ExtractWebsiteContentBlock, SendAuthenticatedWebRequestBlock
from tests.support.jina_server import JinaServer, jina_error
from tests.support.lookalike import LookalikeServer, json_response, read_json
from tests.support.searxng_server import SearxngServer
from workbench.app import Workbench
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.errors import BlockError, CredentialsError, InputError, RetryableError
from workbench.net import BlockedAddress
from workbench.net.hostscope import HostScope
from workbench.ui.credential_forms import BY_ID

SECRET = "Bearer s3cret-token-1234"
API_KEY = "k3y-5678"
JINA_KEY = "jina_test_key"


@dataclass
class EchoServer(LookalikeServer):
    """``/data`` answers 200 with the method and body it got, ``/denied`` 401, ``/redirect?to=<url>``
    302 to that URL; every request (its headers) is recorded."""

    def app(self) -> Litestar:
        @route("/{rest:path}", http_method=["GET", "POST", "PUT"])
        async def handle(request: Request) -> Response:
            body = await read_json(request)
            self.record(request, body)
            path = request.url.path
            if path == "/redirect":
                return Response(b"", status_code=302, headers={"location": request.query_params["to"]})
            if path == "/denied":
                return json_response({"error": "who are you?"}, 401)
            return json_response({"method": request.method, "body": body})

        return Litestar([handle], debug=False)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def jina() -> Iterator[JinaServer]:
    server = JinaServer(keys={JINA_KEY})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def searxng() -> Iterator[SearxngServer]:
    server = SearxngServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_servers(request: pytest.FixtureRequest) -> None:
    for name in ("echo", "jina", "searxng"):
        if name in request.fixturenames:
            server = request.getfixturevalue(name)
            server.reset()
    if "jina" in request.fixturenames:
        request.getfixturevalue("jina").keyless = False
    if "searxng" in request.fixturenames:
        request.getfixturevalue("searxng").formats = {"html", "json"}


class Env:
    """A fresh user with a vault, and contexts to run blocks in."""

    def __init__(self, wb: Workbench, user_id: str) -> None:
        self.wb, self.user_id = wb, user_id

    async def add(self, provider: str, type: str, secret: dict[str, Any]) -> str:
        assert self.wb.credentials is not None
        return (await self.wb.credentials.create(self.user_id, provider, type, secret)).id

    def context(self, loopback: bool = True, **settings: Any) -> RunContext:
        base = self.wb.settings.with_(
            http_allow=("127.0.0.1", "localhost") if loopback else (),
            http_allow_private=False,
            jina_search_url=None,
            jina_reader_url=None,
            searxng_url=None,
        )
        ctx = RunContext.for_test(base.with_(**settings), services=self.wb.block_services)
        ctx.user_id = self.user_id
        return ctx

    async def run(self, block: Any, data: dict[str, Any], **settings: Any) -> dict[str, Any]:
        return dict(await run_block_once(block, data, self.context(**settings)))


@pytest.fixture(scope="module")
async def user_id(wb: Workbench) -> str:
    assert wb.accounts is not None
    user = await wb.accounts.signup(f"web-{uuid.uuid4().hex[:10]}@example.com", "correct horse battery")
    return user.id


@pytest.fixture
async def env(wb: Workbench, user_id: str) -> Env:
    """The module's user, with no credentials yet."""
    assert wb.credentials is not None
    for cred in await wb.credentials.list(user_id):
        await wb.credentials.delete(user_id, cred.id)
    return Env(wb, user_id)


# ---- host scopes and the vault --------------------------------------------------------------------


def test_host_patterns_cover_their_hosts_only() -> None:
    def scope(host: str) -> HostScope:
        return HostScope.from_secret({"host": host, "headers": {"Authorization": SECRET}})

    exact = scope("https://API.example.com/v1")  # a pasted URL is reduced to its host
    assert exact.pattern == "api.example.com"
    assert exact.covers("https://api.example.com/x") and exact.covers("http://api.example.com:8080/")
    assert not exact.covers("https://api.example.com.evil.net/")
    assert not exact.covers("https://evil.net/?https://api.example.com")
    wildcard = scope("*.example.com")
    assert wildcard.covers("https://example.com/") and wildcard.covers("https://a.b.example.com/")
    assert not wildcard.covers("https://badexample.com/")
    ported = scope("127.0.0.1:8443")
    assert ported.covers("https://127.0.0.1:8443/") and not ported.covers("https://127.0.0.1/")
    assert scope("[::1]").covers("http://[::1]:99/")
    for bad in ("*", "*.com", "a b", "x..y", "h:70000", ""):
        with pytest.raises(InputError, match="host"):
            scope(bad)
    for headers in ({}, {"Bad Name": "x"}, {"X-Key": "a\r\nInjected: 1"}, {"Host": "evil"}):
        with pytest.raises(InputError, match="headers"):
            HostScope.from_secret({"host": "api.example.com", "headers": headers})
    assert SECRET not in repr(exact) and "Authorization" in repr(exact)


def test_hop_headers_never_follow_a_redirect_elsewhere_or_to_plain_http() -> None:
    scope = HostScope.from_secret({"host": "*.example.com", "headers": {"X-Key": "v"}})
    hops = scope.hop_headers("https://api.example.com/start")
    assert hops("https://cdn.example.com/next") == {"X-Key": "v"}
    assert hops("https://other.net/next") == {}
    assert hops("http://api.example.com/next") == {}  # https -> http: not in clear text
    assert scope.hop_headers("http://api.example.com/")("http://api.example.com/b") == {"X-Key": "v"}


async def test_the_vault_stores_host_scoped_secrets_and_refuses_bad_ones(env: Env) -> None:
    form = BY_ID["http_host_scoped"]
    secret = form.secret(
        {
            "host": "*.Example.com",
            "header_name": "Authorization",
            "header_value": SECRET,
            "header2_name": "X-Api-Key",
        }
        | {"header2_value": API_KEY}
    )
    assert secret == {"host": "*.example.com", "headers": {"Authorization": SECRET, "X-Api-Key": API_KEY}}
    cred_id = await env.add("http", "host_scoped", secret)
    assert env.wb.credentials is not None
    stored = await env.wb.credentials.resolve(env.user_id, cred_id)
    assert stored.secret == secret and stored.meta.type == "host_scoped"
    for bad in (
        {"host": "*", "headers": {"A": "b"}},
        {"host": "a.com"},
        {"host": "a.com", "headers": {"A": "1\n2"}},
    ):
        with pytest.raises(InputError):
            await env.add("http", "host_scoped", bad)
    with pytest.raises(InputError, match="Header value"):
        form.secret({"host": "a.com", "header_name": "A", "header_value": "x", "header2_name": "B"})
    assert BY_ID["searxng"].secret({"base_url": " http://searx.lan:8080 "}) == {
        "base_url": "http://searx.lan:8080"
    }
    with pytest.raises(InputError, match="reader_url"):
        BY_ID["jina"].secret({"api_key": "k", "reader_url": "r.jina.ai"})


# ---- SendAuthenticatedWebRequestBlock ------------------------------------------------------------


async def _http_credential(env: Env, host: str) -> dict[str, str]:
    cred_id = await env.add(
        "http", "host_scoped", {"host": host, "headers": {"Authorization": SECRET, "X-API-Key": API_KEY}}
    )
    return {"id": cred_id, "provider": "http", "type": "host_scoped"}


async def test_credential_headers_go_with_the_request_and_the_callers_win(env: Env, echo: EchoServer) -> None:
    cred = await _http_credential(env, "127.0.0.1")
    out = await env.run(
        SendAuthenticatedWebRequestBlock(),
        {
            "url": f"{echo.url}/data",
            "method": "POST",
            "body": {"n": 1},
            "headers": {"User-Agent": "t"},
            "credentials": cred,
        },
    )
    assert out == {"response": {"method": "POST", "body": {"n": 1}}}
    sent = echo.requests[-1].headers
    assert (sent["authorization"], sent["x-api-key"], sent["user-agent"]) == (SECRET, API_KEY, "t")
    assert sent["content-type"] == "application/json" and sent.get("idempotency-key")

    await env.run(
        SendAuthenticatedWebRequestBlock(),
        {
            "url": f"{echo.url}/data",
            "method": "GET",
            "headers": {"authorization": "Bearer mine"},
            "credentials": cred,
        },
    )
    sent = echo.requests[-1].headers
    assert sent["authorization"] == "Bearer mine" and sent["x-api-key"] == API_KEY

    out = await env.run(
        SendAuthenticatedWebRequestBlock(), {"url": f"{echo.url}/denied", "credentials": cred}
    )
    assert out == {"client_error": {"error": "who are you?"}}


async def test_a_redirect_to_another_host_carries_no_secret_header(
    env: Env, echo: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    cred = await _http_credential(env, "127.0.0.1")
    port = echo.url.rsplit(":", 1)[1]
    elsewhere = f"http://localhost:{port}/data"  # the same server under another host name
    caplog.set_level(logging.DEBUG)
    out = await env.run(
        SendAuthenticatedWebRequestBlock(),
        {"url": f"{echo.url}/redirect?to={elsewhere}", "method": "GET", "credentials": cred},
    )
    assert out == {"response": {"method": "GET", "body": None}}
    first, second = echo.requests[-2:]
    assert first.path == "/redirect" and first.headers["authorization"] == SECRET
    assert second.path == "/data" and second.headers["host"] == f"localhost:{port}"
    assert "authorization" not in second.headers and "x-api-key" not in second.headers

    same_host = f"{echo.url}/data"
    await env.run(
        SendAuthenticatedWebRequestBlock(),
        {"url": f"{echo.url}/redirect?to={same_host}", "method": "GET", "credentials": cred},
    )
    assert echo.requests[-1].headers["x-api-key"] == API_KEY  # still the credential's host
    assert SECRET not in caplog.text and API_KEY not in caplog.text


async def test_a_url_on_another_host_is_refused_and_nothing_is_sent(env: Env, echo: EchoServer) -> None:
    cred = await _http_credential(env, "api.example.com")
    with pytest.raises(CredentialsError, match=r"api\.example\.com") as info:
        await env.run(SendAuthenticatedWebRequestBlock(), {"url": f"{echo.url}/data", "credentials": cred})
    assert "127.0.0.1" in str(info.value) and SECRET not in str(info.value) and API_KEY not in str(info.value)
    assert echo.requests == []


async def test_without_a_chosen_credential_the_one_covering_the_host_is_used(
    env: Env, echo: EchoServer
) -> None:
    block = SendAuthenticatedWebRequestBlock()
    with pytest.raises(CredentialsError, match="no 'http' credential covers"):
        await env.run(block, {"url": f"{echo.url}/data", "method": "GET"})
    await env.add("http", "host_scoped", {"host": "*.example.com", "headers": {"X-API-Key": "not-this-one"}})
    await env.add("http", "host_scoped", {"host": "127.0.0.1", "headers": {"X-API-Key": API_KEY}})
    await env.run(block, {"url": f"{echo.url}/data", "method": "GET"})
    assert echo.requests[-1].headers["x-api-key"] == API_KEY


async def test_private_addresses_are_refused_by_default(env: Env, echo: EchoServer) -> None:
    cred = await _http_credential(env, "127.0.0.1")
    with pytest.raises(BlockedAddress):
        await env.run(
            SendAuthenticatedWebRequestBlock(),
            {"url": f"{echo.url}/data", "credentials": cred},
            loopback=False,
        )
    assert echo.requests == []


# ---- SearchTheWebBlock ---------------------------------------------------------------------------

CATS = [
    {
        "title": "Cats",
        "url": "https://cats.example/",
        "description": "All about cats",
        "content": "# Cats\nMeow.",
    },
    {"title": "More cats", "url": "https://more.example/cats", "description": "", "content": "Purr."},
]
CATS_TEXT = (
    "[1] Title: Cats\n[1] URL Source: https://cats.example/\n[1] Description: All about cats\n"
    "[1] Markdown Content:\n# Cats\nMeow.\n\n"
    "[2] Title: More cats\n[2] URL Source: https://more.example/cats\n[2] Markdown Content:\nPurr.\n"
)


async def _jina_credential(env: Env, jina: JinaServer, key: str = JINA_KEY) -> dict[str, str]:
    cred_id = await env.add(
        "jina", "api_key", {"api_key": key, "base_url": jina.search_url, "reader_url": jina.reader_url}
    )
    return {"id": cred_id, "provider": "jina", "type": "api_key"}


async def test_jina_search_sends_the_key_and_the_query_and_renders_the_results(
    env: Env, jina: JinaServer
) -> None:
    jina.add_results("cats & dogs?", CATS)
    cred = await _jina_credential(env, jina)
    out = await env.run(SearchTheWebBlock(), {"query": "cats & dogs?", "credentials": cred})
    assert out == {"results": CATS_TEXT}
    sent = jina.requests[-1]
    assert sent.path == "/s" and sent.headers["authorization"] == f"Bearer {JINA_KEY}"
    assert sent.headers["accept"] == "application/json"


async def test_jina_errors_map_to_ours_without_the_key(env: Env, jina: JinaServer) -> None:
    jina.add_results("cats", CATS)
    block = SearchTheWebBlock()
    cred = await _jina_credential(env, jina, key="jina_wrong_key")
    with pytest.raises(CredentialsError, match="401") as info:
        await env.run(block, {"query": "cats", "credentials": cred})
    assert "jina_wrong_key" not in str(info.value) and "'jina' credential" in str(info.value)
    good = await _jina_credential(env, jina)
    jina.fail_next(jina_error(429, "Too many requests", retry_after=2))
    with pytest.raises(RetryableError, match=r"rate limit.*retry after 2"):
        await env.run(block, {"query": "cats", "credentials": good})
    jina.fail_next(jina_error(503, "upstream down"))
    with pytest.raises(RetryableError, match="503"):
        await env.run(block, {"query": "cats", "credentials": good})
    jina.fail_next(jina_error(402, "Account balance not enough to run this query, please recharge."))
    with pytest.raises(BlockError, match=r"402.*recharge") as info:
        await env.run(block, {"query": "cats", "credentials": good})
    assert not isinstance(info.value, RetryableError | CredentialsError)
    with pytest.raises(BlockError, match="No search results"):
        await env.run(block, {"query": "nothing at all", "credentials": good})


async def test_searxng_credential_queries_the_json_api(env: Env, searxng: SearxngServer) -> None:
    searxng.add_results(
        "cats",
        [{"url": f"https://r{i}.example/", "title": f"R{i}", "content": f" snippet\n {i} "} for i in range(8)]
        + [
            {
                "url": "https://late.example/",
                "title": "Late",
                "content": "x",
                "publishedDate": "2024-05-01T00:00:00",
            }
        ],
    )
    cred_id = await env.add("searxng", "api_key", {"base_url": searxng.url})
    out = await env.run(SearchTheWebBlock(), {"query": "cats", "credentials": cred_id})  # a bare id
    expected = "\n\n".join(
        f"[{i + 1}] Title: R{i}\n[{i + 1}] URL Source: https://r{i}.example/\n[{i + 1}] Description: snippet {i}"
        for i in range(5)
    )
    assert out == {"results": expected + "\n"}
    sent = searxng.requests[-1]
    assert sent.path == "/search" and sent.body == {"q": "cats", "format": "json"}
    assert "authorization" not in sent.headers

    searxng.formats = {"html"}
    with pytest.raises(BlockError, match=r"search\.formats"):
        await env.run(SearchTheWebBlock(), {"query": "cats", "credentials": cred_id})
    searxng.formats = {"html", "json"}
    searxng.fail_next(jina_error(429, "Too Many Requests"))
    with pytest.raises(RetryableError, match="rate limit"):
        await env.run(SearchTheWebBlock(), {"query": "cats", "credentials": cred_id})
    searxng.unresponsive = [["google", "timeout"]]
    try:
        with pytest.raises(RetryableError, match="google"):
            await env.run(SearchTheWebBlock(), {"query": "unknown", "credentials": cred_id})
    finally:
        searxng.unresponsive = []


async def test_which_search_engine_answers(env: Env, jina: JinaServer, searxng: SearxngServer) -> None:
    block = SearchTheWebBlock()
    with pytest.raises(CredentialsError, match="WORKBENCH_SEARXNG_URL"):
        await env.run(block, {"query": "cats"})
    searxng.add_results("cats", [{"url": "https://s.example/", "title": "From SearXNG", "content": "s"}])
    jina.add_results("cats", CATS)
    # The operator's instance is trusted: reached without WORKBENCH_HTTP_ALLOW.
    out = await env.run(block, {"query": "cats"}, loopback=False, searxng_url=searxng.url)
    assert out["results"].startswith("[1] Title: From SearXNG")
    # The user's own credential wins over the operator's instance.
    await _jina_credential(env, jina)
    out = await env.run(block, {"query": "cats"}, searxng_url=searxng.url)
    assert out == {"results": CATS_TEXT}


async def test_a_users_search_url_goes_through_the_ssrf_guard(env: Env, searxng: SearxngServer) -> None:
    cred_id = await env.add("searxng", "api_key", {"base_url": searxng.url})
    with pytest.raises(BlockedAddress):
        await env.run(SearchTheWebBlock(), {"query": "cats", "credentials": cred_id}, loopback=False)
    assert searxng.requests == []
    github_id = await env.add("github", "api_key", {"api_key": "ghp_x"})
    with pytest.raises(CredentialsError, match="'jina' or 'searxng'"):
        await env.run(SearchTheWebBlock(), {"query": "cats", "credentials": github_id})


# ---- ExtractWebsiteContentBlock through Jina Reader ----------------------------------------------


async def test_jina_reader_reads_the_page_with_the_key(env: Env, jina: JinaServer, echo: EchoServer) -> None:
    page = "https://news.example/story?id=7"
    jina.add_page(
        page, "A story", "# A story\n\nIt happened.", {"Home": "https://news.example/", "Mail": "mailto:x@y"}
    )
    cred = await _jina_credential(env, jina)
    out = await env.run(ExtractWebsiteContentBlock(), {"url": page + "#comments", "credentials": cred})
    assert out == {
        "content": "# A story\n\nIt happened.",
        "title": "A story",
        "links": [{"text": "Home", "url": "https://news.example/"}],
    }
    assert jina.targets[-1] == page
    sent = jina.requests[-1].headers
    assert sent["authorization"] == f"Bearer {JINA_KEY}" and sent["x-with-links-summary"] == "true"

    # The user's only jina credential is used without being named; raw_content never goes to Jina.
    assert (await env.run(ExtractWebsiteContentBlock(), {"url": page}))["title"] == "A story"
    before = len(jina.requests)
    raw = await env.run(ExtractWebsiteContentBlock(), {"url": f"{echo.url}/data", "raw_content": True})
    assert raw["content"] == '{"method":"GET","body":null}' and len(jina.requests) == before

    jina.fail_next(jina_error(500, "boom"))
    with pytest.raises(RetryableError, match="500"):
        await env.run(ExtractWebsiteContentBlock(), {"url": page, "credentials": cred})
    bad = await _jina_credential(env, jina, key="jina_revoked")
    with pytest.raises(CredentialsError, match="401"):
        await env.run(ExtractWebsiteContentBlock(), {"url": page, "credentials": bad})
    with pytest.raises(BlockError, match="not an http"):
        await env.run(ExtractWebsiteContentBlock(), {"url": "file:///etc/passwd", "credentials": cred})


async def test_the_operators_reader_or_our_own_extraction(
    env: Env, jina: JinaServer, echo: EchoServer
) -> None:
    page = "https://docs.example/"
    jina.add_page(page, "Docs", "Read me.")
    jina.keyless = True  # a self-hosted reader
    out = await env.run(
        ExtractWebsiteContentBlock(), {"url": page}, loopback=False, jina_reader_url=jina.reader_url
    )
    assert out["content"] == "Read me." and "authorization" not in jina.requests[-1].headers
    jina.keyless = False
    with pytest.raises(CredentialsError, match="wants an API key"):
        await env.run(ExtractWebsiteContentBlock(), {"url": page}, jina_reader_url=jina.reader_url)
    # No Jina anywhere: the page is fetched and read here.
    before = len(jina.requests)
    out = await env.run(ExtractWebsiteContentBlock(), {"url": f"{echo.url}/data"})
    assert out["content"] == '{"method":"GET","body":null}' and len(jina.requests) == before
