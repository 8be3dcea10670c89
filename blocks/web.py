"""Web blocks: send an HTTP request, extract the readable content of a web page.

Both go through :func:`workbench.net.safe_client`: private, loopback, link-local (cloud metadata) and
similar addresses are refused unless the configuration allows them, on every redirect too; bodies
are capped at ``WORKBENCH_HTTP_MAX_BYTES`` and requests at ``WORKBENCH_HTTP_TIMEOUT``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError

if TYPE_CHECKING:  # httpx, selectolax and workbench.net are imported when a block runs
    from workbench.net import HttpResult

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
        result = await self._fetch(get_context(kwargs), str(input_data.method), input_data.url, **options)
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


class ExtractWebsiteContentBlock(Block):
    """Fetches a web page and outputs its readable text, title and links (or the raw page)."""

    id = "436c3984-57fd-4b85-8e9a-459b356883bd"
    name = "ExtractWebsiteContentBlock"
    description = (
        "Fetches a web page and outputs its readable text (scripts, navigation, headers and footers "
        "removed), its title and its links; with raw_content, the page as it was served."
    )
    categories = (BlockCategory.SEARCH,)

    class Input(BlockSchema):
        url: str = Field(description="The page to read (http or https).")
        raw_content: bool = Field(
            default=False, description="Output the page as served instead of its readable text."
        )

    class Output(BlockSchema):
        content: str = Field(description="The readable text of the page (or the raw page).")
        title: str = Field(description="The page title.")
        links: list[dict[str, str]] = Field(description="Links of the page: [{text, url}], absolute URLs.")

    test_input = [
        {"url": "https://example.com/post"},
        {"url": "https://example.com/post", "raw_content": True},
    ]
    _PAGE = (
        "<html><head><title>A post</title><script>var x=1</script></head><body><nav><a href='/'>Home</a>"
        "</nav><article><h1>Hello</h1><p>First  paragraph.</p><p>See <a href='/more#top'>more</a>.</p>"
        "</article><footer>(c) me</footer></body></html>"
    )
    test_output = [
        ("content", "Hello\nFirst paragraph.\nSee more."),
        ("title", "A post"),
        (
            "links",
            [
                {"text": "Home", "url": "https://example.com/"},
                {"text": "more", "url": "https://example.com/more"},
            ],
        ),
        ("content", _PAGE),
        ("title", "A post"),
        (
            "links",
            [
                {"text": "Home", "url": "https://example.com/"},
                {"text": "more", "url": "https://example.com/more"},
            ],
        ),
    ]
    test_mock = {
        "_fetch": lambda context, url: _canned(
            200, "text/html", ExtractWebsiteContentBlock._PAGE.encode(), url
        )
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        result = await self._fetch(get_context(kwargs), input_data.url)
        if result.status_code >= 400:
            yield "error", f"{input_data.url} answered HTTP {result.status_code}"
            return
        html = result.text
        page = extract_content(html, result.url)
        yield "content", html if input_data.raw_content else page.text
        yield "title", page.title
        yield "links", page.links

    async def _fetch(self, context: RunContext, url: str) -> HttpResult:
        """GET the page through the guarded client (the self-test replaces this)."""
        from workbench.net import safe_client

        async with safe_client(context.settings) as http:
            return await http.request(
                "GET", url, headers={"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"}
            )
