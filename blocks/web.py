"""Web blocks: send an HTTP request (optionally with a host-scoped credential), extract the readable
content of a web page (ourselves, or through Jina Reader).

Requests go through :func:`workbench.net.safe_client`: private, loopback, link-local (cloud metadata)
and similar addresses are refused unless the configuration allows them, on every redirect too; bodies
are capped at ``WORKBENCH_HTTP_MAX_BYTES`` and requests at ``WORKBENCH_HTTP_TIMEOUT``.

``SendAuthenticatedWebRequestBlock`` adds the headers of an ``http`` credential of type
``host_scoped`` (:mod:`workbench.net.hostscope`) to the request, only when the URL's host is the
credential's: it refuses any other URL, and a redirect to another host (or from https to http) goes
without them.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from pydantic import Field

from blocks import _jina
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, CredentialsError

if TYPE_CHECKING:  # httpx, selectolax and workbench.net are imported when a block runs
    from workbench.net import HttpResult
    from workbench.net.hostscope import HostScope

HTTP_PROVIDER = "http"
"""The provider of host-scoped credentials (AutoGPT's)."""

MAX_JSON_BODY = 10 * 1024 * 1024
"""A string body longer than this is not parsed as JSON but sent as it is (AutoGPT's rule)."""


class HttpMethod(enum.StrEnum):
    """Methods of the web request block."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    PATCH = "PATCH"
    OPTIONS = "OPTIONS"
    HEAD = "HEAD"


def _decode_data_uri(uri: str, index: int) -> tuple[str, bytes]:
    """``(media type, bytes)`` of a ``data:`` URI; BlockError naming the file's place otherwise."""
    if not uri.startswith("data:") or "," not in uri:
        raise BlockError(
            f"files[{index}]: only data: URIs (data:<type>;base64,<data>) can be sent, got {uri[:40]!r}"
        )
    header, _, payload = uri[5:].partition(",")
    parts = header.split(";")
    media_type = parts[0] or "application/octet-stream"
    if "base64" in parts[1:]:
        try:
            return media_type, base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BlockError(f"files[{index}]: the data: URI is not valid base64") from exc
    return media_type, unquote_to_bytes(payload)


def _parse_body(result: HttpResult) -> Any:
    """JSON when the server says so (None for 204 or an empty body), else the text."""
    if result.status_code == 204:
        return None
    if result.content_type.startswith("application/json"):
        if not result.content.strip():
            return None
        try:
            return json.loads(result.content)
        except ValueError:
            return result.text
    return result.text


def _canned(status: int, content_type: str, body: bytes, url: str) -> HttpResult:
    """A response made up by a self-test."""
    import httpx

    from workbench.net import HttpResult

    return HttpResult(status, httpx.Headers({"content-type": content_type}), body, url)


def _selftest_answer(url: str, options: dict[str, Any]) -> HttpResult:
    """The canned answers of SendWebRequestBlock's self-test."""
    if url.endswith("/items"):
        body = json.dumps({"id": 1, **options["json"]}).encode()
        return _canned(201, "application/json", body, url)
    if url.endswith("/items/9"):
        return _canned(404, "text/plain", b"no item 9", url)
    return _canned(503, "application/json; charset=utf-8", b'{"message":"down"}', url)


class SendWebRequestBlock(Block):
    """Makes an HTTP request and outputs the answer on ``response``, ``client_error`` or ``server_error``."""

    id = "6595ae1f-b924-42cb-9a41-551a0611c4b4"
    name = "SendWebRequestBlock"
    description = (
        "Sends an HTTP request (JSON or form body, optional files) and outputs the response: parsed "
        "JSON when the server says application/json, else text. 2xx answers go to `response`, 4xx to "
        "`client_error`, others to `server_error`. Private and local addresses are refused unless "
        "the server configuration allows them. Requests with effects carry an `Idempotency-Key` "
        "header, the same when the node runs again after a crash, so a server that honours it "
        "applies the request once."
    )
    categories = (BlockCategory.OUTPUT,)

    class Input(BlockSchema):
        url: str = Field(description="The URL to send the request to (http or https).")
        method: HttpMethod = Field(default=HttpMethod.POST, description="The HTTP method.")
        headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
        json_format: bool = Field(
            default=True, title="JSON format", description="Send the body as JSON (else as form data)."
        )
        body: Any = Field(
            default=None,
            description="The body: an object, or a string (sent as JSON when it parses as JSON).",
        )
        files_name: str = Field(default="file", description="Form field name of the files.")
        files: list[str] = Field(
            default_factory=list, description="Files to upload as multipart form data, as data: URIs."
        )

    class Output(BlockSchema):
        response: Any = Field(description="The body of a 2xx response.")
        client_error: Any = Field(description="The body of a 4xx response.")
        server_error: Any = Field(description="The body of any other response (5xx, 1xx, 3xx).")

    test_input = [
        {"url": "https://api.example.com/items", "method": "POST", "body": {"name": "pen"}},
        {"url": "https://api.example.com/items/9", "method": "GET"},
        {"url": "https://api.example.com/boom", "method": "GET"},
        {"url": "https://api.example.com/up", "json_format": True, "files": ["data:text/plain,hi"]},
    ]
    test_output = [
        ("response", {"id": 1, "name": "pen"}),
        ("client_error", "no item 9"),
        ("server_error", {"message": "down"}),
        ("error", "json_format must be false to upload files (files go as multipart form data)"),
    ]
    test_mock = {"_fetch": lambda context, method, url, **options: _selftest_answer(url, options)}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        async for pin, value in self._send(get_context(kwargs), input_data):
            yield pin, value

    async def _send(
        self,
        context: RunContext,
        input_data: Input,
        hop_headers: Callable[[str], Mapping[str, str]] | None = None,
    ) -> BlockOutput:
        """Build the request from the inputs, send it (``hop_headers``: see ``SafeClient.request``) and
        yield the answer on the pin of its status class."""
        body = input_data.body
        json_format = input_data.json_format
        if isinstance(body, str):
            if len(body) <= MAX_JSON_BODY:
                try:
                    body = json.loads(body)
                except ValueError:
                    json_format = False
            else:
                json_format = False
        if input_data.files and json_format:
            yield "error", "json_format must be false to upload files (files go as multipart form data)"
            return
        options: dict[str, Any] = {"headers": input_data.headers}
        if hop_headers is not None:
            options["hop_headers"] = hop_headers
        if input_data.files:
            files = []
            for i, uri in enumerate(input_data.files):
                media_type, data = _decode_data_uri(uri, i)
                files.append((input_data.files_name, (f"file{i}", data, media_type)))
            options["files"] = files
        if body is not None:
            if json_format:
                options["json"] = body
            elif isinstance(body, dict):
                options["data"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
            else:
                options["content"] = body if isinstance(body, str | bytes) else json.dumps(body)
        result = await self._fetch(context, str(input_data.method), input_data.url, **options)
        parsed = _parse_body(result)
        if 200 <= result.status_code < 300:
            yield "response", parsed
        elif 400 <= result.status_code < 500:
            yield "client_error", parsed
        else:
            yield "server_error", parsed

    async def _fetch(self, context: RunContext, method: str, url: str, **options: Any) -> HttpResult:
        """Send the request through the guarded client (the self-test replaces this), with the node
        execution's idempotency key on a POST, PUT, PATCH or DELETE unless ``headers`` names one."""
        from workbench.net import safe_client

        async with safe_client(context.settings) as http:
            return await http.request(method, url, idempotency_key=context.idempotency_key, **options)


# ---- host-scoped credentials ---------------------------------------------------------------------

_TEST_CREDENTIAL = {"id": "01234567-89ab-cdef-0123-456789abcdef", "provider": "http", "type": "host_scoped"}
_TEST_SECRET = {
    "host": "api.example.com",
    "headers": {"Authorization": "Bearer test-token", "X-API-Key": "test-api-key"},
}


def _test_scope() -> HostScope:
    """The scope of AutoGPT's test credential (its self-test)."""
    from workbench.net.hostscope import HostScope

    return HostScope.from_secret(_TEST_SECRET, _TEST_CREDENTIAL["id"])


def _authenticated_answer(url: str, options: dict[str, Any]) -> HttpResult:
    """The canned answers of SendAuthenticatedWebRequestBlock's self-test: 200 when the credential's
    headers arrive (the caller's own headers win over them), 401 otherwise."""
    sent = {**options["hop_headers"](url), **options["headers"]}
    if sent.get("Authorization") == "Bearer test-token" and sent.get("X-API-Key") == "test-api-key":
        return _canned(200, "application/json", b'{"success": true, "data": "test"}', url)
    return _canned(401, "application/json", b'{"error": "unauthorized"}', url)


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _scope_of(cred: Any) -> HostScope:
    """The host scope of a vault credential; CredentialsError when its secret is not one."""
    from workbench.errors import InputError
    from workbench.net.hostscope import HostScope

    try:
        return HostScope.from_secret(cred.secret, cred.meta.id)
    except InputError as exc:
        raise CredentialsError(
            f"credential {cred.meta.id} is not a valid host-scoped credential: {exc}"
        ) from None


class SendAuthenticatedWebRequestBlock(SendWebRequestBlock):
    """SendWebRequestBlock with the headers of a host-scoped credential, sent to its host only."""

    id = "fff86bcd-e001-4bad-a7f6-2eae4720c8dc"
    name = "SendAuthenticatedWebRequestBlock"
    description = (
        "Sends an HTTP request like SendWebRequestBlock, adding the secret headers (API key, token) of "
        "a host-scoped 'http' credential. The headers go only to the credential's host (a redirect "
        "elsewhere goes without them); a URL on another host is refused. Headers given in `headers` "
        "win over the credential's."
    )

    class Input(SendWebRequestBlock.Input):
        credentials: Any = Field(
            default=None,
            description="The 'http' host-scoped credential ({id, provider, type} or an id); empty: "
            "your 'http' credential whose host covers the URL.",
        )

    test_input = [
        {
            "url": "https://api.example.com/data",
            "method": "GET",
            "headers": {"User-Agent": "test-agent"},
            "credentials": _TEST_CREDENTIAL,
        },
        {
            "url": "https://api.example.com/data",
            "method": "POST",
            "headers": {"Authorization": "Bearer user-override-token"},
            "credentials": _TEST_CREDENTIAL,
        },
    ]
    test_output = [
        ("response", {"success": True, "data": "test"}),
        ("client_error", {"error": "unauthorized"}),
    ]
    test_mock = {
        "_scope": lambda context, credentials, url: _test_scope(),
        "_fetch": lambda context, method, url, **options: _authenticated_answer(url, options),
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        context = get_context(kwargs)
        scope = await self._scope(context, input_data.credentials, input_data.url)
        if not scope.covers(input_data.url):
            raise CredentialsError(
                f"credential {scope.credential_id} is for the host {scope.pattern!r}, not for "
                f"{_host_of(input_data.url)!r}: its headers are sent nowhere else; choose a credential "
                "for that host"
            )
        async for pin, value in self._send(context, input_data, scope.hop_headers(input_data.url)):
            yield pin, value

    async def _scope(self, context: RunContext, credentials: Any, url: str) -> HostScope:
        """The scope of the credential the node names (or the execution chose); without one, of the
        user's 'http' credential that covers ``url`` (the narrowest, when several do)."""
        chosen = credentials.get("id") if isinstance(credentials, dict) else credentials
        chosen = chosen or context.credentials.get("credentials")
        if chosen:
            return _scope_of(await context.get_credential(HTTP_PROVIDER, str(chosen)))
        vault = context.services.vault if context.services is not None else None
        if vault is None:
            raise CredentialsError("no credentials vault in this run; cannot get 'http' credentials")
        covering = []
        for meta in await vault.list(context.user_id, HTTP_PROVIDER):
            try:
                scope = _scope_of(await vault.resolve(context.user_id, meta.id))
            except CredentialsError:
                continue  # not a host-scoped secret: it covers nothing
            if scope.covers(url):
                covering.append(scope)
        if not covering:
            raise CredentialsError(
                f"no 'http' credential covers the host {_host_of(url)!r}: add a host-scoped credential "
                "for it (provider 'http', type host_scoped, secret {host, headers})"
            )
        covering.sort(key=lambda s: s.specificity(), reverse=True)
        if len(covering) > 1 and covering[0].specificity() == covering[1].specificity():
            ids = ", ".join(s.credential_id for s in covering)
            raise CredentialsError(
                f"several 'http' credentials cover {_host_of(url)!r} ({ids}); choose one in the node's "
                "'credentials' input"
            )
        return covering[0]


# ---- content extraction --------------------------------------------------------------------------

_NOISE = "script, style, noscript, template, svg, canvas, iframe, object, embed, head"
_CHROME = "nav, header, footer, aside, form, [role=navigation], [role=banner], [role=contentinfo], [hidden]"
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6"}


@dataclass(frozen=True, slots=True)
class PageContent:
    """What :func:`extract_content` finds in a page."""

    title: str
    text: str
    links: list[dict[str, str]]


def _clean_lines(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def extract_content(html: str, base_url: str = "") -> PageContent:
    """The title, readable text and links (absolute http(s) URLs, first occurrence) of an HTML page.

    Scripts, styles and page chrome (navigation, header, footer, asides, forms) are dropped; the text
    comes from ``<article>`` or ``<main>`` when the page has one, else from the whole body.
    """
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    if not title:
        og = tree.css_first('meta[property="og:title"]')
        title = (og.attributes.get("content") or "").strip() if og is not None else ""
    base_node = tree.css_first("base[href]")
    base = urljoin(base_url, base_node.attributes.get("href") or "") if base_node is not None else base_url
    links: list[dict[str, str]] = []
    seen: set[str] = set()
    for anchor in tree.css("a[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        url = urljoin(base, href).split("#", 1)[0]
        if urlsplit(url).scheme not in ("http", "https") or url in seen:
            continue
        seen.add(url)
        links.append({"text": " ".join(anchor.text().split()), "url": url})
    for node in tree.css(_NOISE):
        node.decompose()
    root = tree.css_first("article") or tree.css_first("main") or tree.body or tree.root
    if root is None:
        return PageContent(title, "", links)
    for node in root.css(_CHROME):
        node.decompose()
    for node in root.css(",".join(sorted(_BLOCK_TAGS))):
        node.insert_after("\n")
    if not title:
        heading = root.css_first("h1")
        title = " ".join(heading.text().split()) if heading is not None else ""
    return PageContent(title, _clean_lines(root.text(separator="")), links)


_WIKI = "https://en.wikipedia.org/wiki/Artificial_intelligence"


def _test_reader(credentials: Any) -> Any:
    """The self-test's reader: Jina's when the node names a credential, else none (our extraction)."""
    return "jina" if credentials else None


class ExtractWebsiteContentBlock(Block):
    """Fetches a web page and outputs its readable text, title and links (or the raw page)."""

    id = "436c3984-57fd-4b85-8e9a-459b356883bd"
    name = "ExtractWebsiteContentBlock"
    description = (
        "Fetches a web page and outputs its readable text, its title and its links. With a 'jina' "
        "credential (or the server's Jina Reader) the page is read by Jina Reader (Markdown, pages "
        "that need a browser too); without, here (scripts, navigation, headers and footers removed). "
        "With raw_content, the page as it was served."
    )
    categories = (BlockCategory.SEARCH,)
    max_retries = 2
    retry_backoff = 2.0

    class Input(BlockSchema):
        credentials: Any = Field(
            default=None,
            description="A 'jina' credential for Jina Reader ({id, provider} or an id); empty: yours if "
            "you have one, else the server's reader, else the page is read here.",
        )
        url: str = Field(description="The page to read (http or https).")
        raw_content: bool = Field(
            default=False,
            title="Raw Content",
            description="Output the page as served instead of its readable text (never through Jina).",
        )

    class Output(BlockSchema):
        content: str = Field(
            description="The readable text of the page (Markdown through Jina, or the raw page)."
        )
        title: str = Field(description="The page title.")
        links: list[dict[str, str]] = Field(description="Links of the page: [{text, url}], absolute URLs.")

    test_input = [
        {"url": "https://example.com/post"},
        {"url": "https://example.com/post", "raw_content": True},
        {"url": _WIKI, "credentials": {"id": "01234567-89ab-cdef-0123-456789abcdef", "provider": "jina"}},
    ]
    _PAGE = (
        "<html><head><title>A post</title><script>var x=1</script></head><body><nav><a href='/'>Home</a>"
        "</nav><article><h1>Hello</h1><p>First  paragraph.</p><p>See <a href='/more#top'>more</a>.</p>"
        "</article><footer>(c) me</footer></body></html>"
    )
    _LINKS = [
        {"text": "Home", "url": "https://example.com/"},
        {"text": "more", "url": "https://example.com/more"},
    ]
    test_output = [
        ("content", "Hello\nFirst paragraph.\nSee more."),
        ("title", "A post"),
        ("links", _LINKS),
        ("content", _PAGE),
        ("title", "A post"),
        ("links", _LINKS),
        ("content", "scraped content"),
        ("title", "Artificial intelligence - Wikipedia"),
        ("links", []),
    ]
    test_mock = {
        "_fetch": lambda context, url: _canned(
            200, "text/html", ExtractWebsiteContentBlock._PAGE.encode(), url
        ),
        "_jina_reader": lambda context, credentials: _test_reader(credentials),
        "_read_with_jina": lambda reader, url: _jina.ReadPage(
            "Artificial intelligence - Wikipedia", "scraped content"
        ),
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        context = get_context(kwargs)
        if not input_data.raw_content:
            reader = await self._jina_reader(context, input_data.credentials)
            if reader is not None:
                page = await self._read_with_jina(reader, input_data.url)
                yield "content", page.content
                yield "title", page.title
                yield "links", page.links
                return
        result = await self._fetch(context, input_data.url)
        if result.status_code >= 400:
            yield "error", f"{input_data.url} answered HTTP {result.status_code}"
            return
        html = result.text
        page = extract_content(html, result.url)
        yield "content", html if input_data.raw_content else page.text
        yield "title", page.title
        yield "links", page.links

    async def _jina_reader(self, context: RunContext, credentials: Any) -> Any:
        """How to reach Jina Reader for this run (the ``jina`` credential the node names, else the
        user's only one, else the operator's ``WORKBENCH_JINA_READER_URL``, keyless), or None: the page
        is then read here."""
        found = await _jina.chosen_credential(context, credentials, (_jina.PROVIDER,))
        if found is not None:
            return _jina.access(context, found[1], reader=True)
        if context.settings.jina_reader_url:
            return _jina.access(context, None, reader=True)
        return None

    async def _read_with_jina(self, reader: Any, url: str) -> _jina.ReadPage:
        """The page through Jina Reader (the self-test replaces this)."""
        return await _jina.read(reader, url)

    async def _fetch(self, context: RunContext, url: str) -> HttpResult:
        """GET the page through the guarded client (the self-test replaces this)."""
        from workbench.net import safe_client

        async with safe_client(context.settings) as http:
            return await http.request(
                "GET", url, headers={"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}
            )
