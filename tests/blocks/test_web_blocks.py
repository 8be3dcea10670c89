"""The SSRF guard (workbench.net) and the web blocks against a real local HTTP server."""

from __future__ import annotations

import gzip
import ipaddress
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from blocks.web import ExtractWebsiteContentBlock, SendWebRequestBlock, extract_content
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.config import Settings
from workbench.net import (
    BlockedAddress,
    HttpError,
    HttpPolicy,
    RequestTimeout,
    ResponseTooLarge,
    TooManyRedirects,
    address_kind,
    safe_client,
)

LOOPBACK = HttpPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), timeout=5.0)

PAGE = """<!doctype html><html><head><title> Local  page </title><style>p{}</style></head>
<body><header>Site header</header><nav><a href="/">Home</a></nav>
<main><h1>Welcome</h1><p>Some <b>bold</b> text.</p><script>alert(1)</script>
<ul><li>one</li><li>two</li></ul><a href="sub/page.html#x">Sub page</a> <a href="mailto:a@b.c">mail</a>
<a href="https://other.example/">Other</a></main><footer>Footer text</footer></body></html>"""


class Recorder:
    """What the local server saw."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


def _handler(rec: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: bytes, ctype: str = "text/plain", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            path = self.path.split("?")[0]
            port = self.server.server_address[1]
            if path == "/echo":
                data = {
                    "method": self.command,
                    "body": body.decode(),
                    "ctype": self.headers.get("Content-Type"),
                }
                self._reply(200, json.dumps(data).encode(), "application/json")
            elif path == "/page":
                self._reply(200, PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/missing":
                self._reply(404, b'{"error": "nope"}', "application/json")
            elif path == "/broken":
                self._reply(502, b"bad gateway")
            elif path == "/empty":
                self._reply(204, b"")
            elif path == "/big":
                self._reply(200, b"x" * 5000)
            elif path == "/gzip-bomb":
                self._reply(200, gzip.compress(b"0" * 2_000_000), Content_Encoding="gzip")
            elif path == "/slow":
                time.sleep(3)
                self._reply(200, b"late")
            elif path.startswith("/redirect-to/"):
                target = self.path[len("/redirect-to/") :].replace("PORT", str(port))
                self._reply(302, b"", Location=target)
            elif path == "/loop":
                self._reply(302, b"", Location="/loop")
            elif path == "/see-other":
                self._reply(303, b"", Location="/echo")
            elif path == "/host":
                self._reply(200, self.headers.get("Host", "").encode())
            else:
                self._reply(404, b"unknown")

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", rec
    srv.shutdown()
    srv.server_close()


def loopback_context(**changes: Any) -> RunContext:
    """A run context whose settings allow loopback (as a local deployment would configure)."""
    settings = Settings.from_env({"WORKBENCH_HTTP_ALLOW": "127.0.0.0/8", "WORKBENCH_HTTP_TIMEOUT": "5"})
    return RunContext.for_test(settings.with_(**changes))


# ---- the guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "unique-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback (embedded in ::ffff:7f00:1)"),
        ("64:ff9b::a9fe:a9fe", "link-local (embedded in 64:ff9b::a9fe:a9fe)"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/host",
        "http://localhost:{port}/host",
        "http://2130706433:{port}/host",  # 127.0.0.1 written as one number
        "http://[::ffff:127.0.0.1]:{port}/host",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]:{port}/",
        "http://0.0.0.0:{port}/",
        "http://[fd00::1]/",
    ],
)
async def test_default_policy_refuses_internal_addresses(server: tuple[str, Recorder], url: str) -> None:
    base, rec = server
    port = base.rsplit(":", 1)[1]
    before = len(rec.requests)
    async with safe_client(Settings.from_env({})) as http:
        with pytest.raises(BlockedAddress, match="refused to connect"):
            await http.request("GET", url.format(port=port))
    assert len(rec.requests) == before, "the request must not reach the server"


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://127.0.0.2:PORT/host",
        "http://[::1]:PORT/host",
        "http://10.0.0.1/admin",
    ],
)
async def test_redirects_are_checked_at_every_hop(server: tuple[str, Recorder], target: str) -> None:
    """Only 127.0.0.1 itself is allowed: the first hop passes, the redirect to anything internal does not."""
    base, rec = server
    policy = HttpPolicy(allow_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout=5.0)
    async with safe_client(policy) as http:
        with pytest.raises(BlockedAddress):
            await http.request("GET", f"{base}/redirect-to/{target}")
    assert rec.requests[-1]["path"].startswith("/redirect-to/")


async def test_redirect_to_another_scheme_is_refused(server: tuple[str, Recorder]) -> None:
    base, _ = server
    async with safe_client(LOOPBACK) as http:
        with pytest.raises(HttpError, match="only http and https"):
            await http.request("GET", f"{base}/redirect-to/file:///etc/passwd")


async def test_allowed_redirects_are_followed_with_method_rules(server: tuple[str, Recorder]) -> None:
    base, _ = server
    async with safe_client(LOOPBACK) as http:
        result = await http.request("GET", f"{base}/redirect-to/{base}/host")
        assert result.status_code == 200 and result.url == f"{base}/host"
        result = await http.request("POST", f"{base}/see-other", json={"a": 1})
        assert result.json()["method"] == "GET"  # 303 turns POST into GET
        with pytest.raises(TooManyRedirects):
            await http.request("GET", f"{base}/loop")


async def test_connects_to_the_checked_address_and_keeps_the_host_header(
    server: tuple[str, Recorder],
) -> None:
    """The name is resolved once (here by a resolver the test controls), every answer is checked, and
    the socket goes to that address while the Host header keeps the name."""
    base, _ = server
    port = base.rsplit(":", 1)[1]
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return {"service.test": ["127.0.0.1"], "mixed.test": ["93.184.216.34", "127.0.0.1"]}[host]

    async with safe_client(LOOPBACK, resolver=resolver) as http:
        result = await http.request("GET", f"http://service.test:{port}/host")
        assert result.text == f"service.test:{port}"
    async with safe_client(HttpPolicy(), resolver=resolver) as http:
        # The refusal names the host as given, never the address it resolved to (finding 13).
        for host in ("service.test", "mixed.test"):
            with pytest.raises(BlockedAddress, match=rf"{host}: the name resolves to a loopback") as refused:
                await http.request("GET", f"http://{host}:{port}/host")
            assert "127.0.0.1" not in str(refused.value)
    assert calls == ["service.test", "service.test", "mixed.test"]


async def test_allow_hosts_by_name_and_allow_private(server: tuple[str, Recorder]) -> None:
    base, _ = server
    port = base.rsplit(":", 1)[1]
    by_name = Settings.from_env({"WORKBENCH_HTTP_ALLOW": "localhost"})
    async with safe_client(by_name) as http:
        assert (await http.request("GET", f"http://localhost:{port}/host")).status_code == 200
        with pytest.raises(BlockedAddress):
            await http.request("GET", f"http://127.0.0.1:{port}/host")
    everything = Settings.from_env({"WORKBENCH_HTTP_ALLOW_PRIVATE": "1"})
    async with safe_client(everything) as http:
        assert (await http.request("GET", f"http://127.0.0.1:{port}/host")).status_code == 200


async def test_size_limit_stops_reading(server: tuple[str, Recorder]) -> None:
    base, _ = server
    small = HttpPolicy(allow_private=True, max_bytes=1000, timeout=5.0)
    async with safe_client(small) as http:
        with pytest.raises(ResponseTooLarge, match="5000 bytes; the limit is 1000"):
            await http.request("GET", f"{base}/big")
    # a 2 KB gzip body that inflates to 2 MB is stopped while it is being decoded
    async with safe_client(HttpPolicy(allow_private=True, max_bytes=100_000, timeout=5.0)) as http:
        with pytest.raises(ResponseTooLarge, match="more than 100000 bytes"):
            await http.request("GET", f"{base}/gzip-bomb")


async def test_time_limit(server: tuple[str, Recorder]) -> None:
    base, _ = server
    async with safe_client(HttpPolicy(allow_private=True, timeout=0.5)) as http:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await http.request("GET", f"{base}/slow")
        assert time.monotonic() - started < 2


# ---- SendWebRequestBlock -----------------------------------------------------------------------


async def test_web_request_block_json_form_and_status_routing(server: tuple[str, Recorder]) -> None:
    base, rec = server
    block, ctx = SendWebRequestBlock(), loopback_context()
    out = await run_block_once(block, {"url": f"{base}/echo", "body": {"a": 1}, "headers": {"X-T": "1"}}, ctx)
    assert out == [("response", {"method": "POST", "body": '{"a":1}', "ctype": "application/json"})]
    assert rec.requests[-1]["headers"]["X-T"] == "1"
    out = await run_block_once(
        block, {"url": f"{base}/echo", "json_format": False, "body": {"a": "b c"}}, ctx
    )
    assert out[0][1]["body"] == "a=b+c"
    out = await run_block_once(block, {"url": f"{base}/echo", "body": "not json"}, ctx)
    assert out[0][1]["body"] == "not json"  # AutoGPT: an unparsable string body goes as it is
    assert await run_block_once(block, {"url": f"{base}/missing", "method": "GET"}, ctx) == [
        ("client_error", {"error": "nope"})
    ]
    assert await run_block_once(block, {"url": f"{base}/broken", "method": "GET"}, ctx) == [
        ("server_error", "bad gateway")
    ]
    assert await run_block_once(block, {"url": f"{base}/empty", "method": "DELETE"}, ctx) == [
        ("response", None)
    ]


async def test_web_request_block_uploads_files(server: tuple[str, Recorder]) -> None:
    base, rec = server
    data = {
        "url": f"{base}/echo",
        "json_format": False,
        "files_name": "doc",
        "files": ["data:text/plain;base64,aGVsbG8="],
    }
    out = await run_block_once(SendWebRequestBlock(), data, loopback_context())
    assert out[0][1]["ctype"].startswith("multipart/form-data")
    body = rec.requests[-1]["body"]
    assert b'name="doc"' in body and b"hello" in body


async def test_web_request_block_refuses_internal_addresses_by_default(server: tuple[str, Recorder]) -> None:
    base, _ = server
    with pytest.raises(BlockedAddress):
        await run_block_once(
            SendWebRequestBlock(), {"url": f"{base}/echo"}, RunContext.for_test(Settings.from_env({}))
        )


# ---- ExtractWebsiteContentBlock ----------------------------------------------------------------


def test_extract_content_keeps_the_readable_part() -> None:
    page = extract_content(PAGE, "http://site.test/dir/index.html")
    assert page.title == "Local page"
    assert page.text == "Welcome\nSome bold text.\n\none\ntwo\nSub page mail\nOther"
    assert page.links == [
        {"text": "Home", "url": "http://site.test/"},
        {"text": "Sub page", "url": "http://site.test/dir/sub/page.html"},
        {"text": "Other", "url": "https://other.example/"},
    ]


async def test_extract_block_over_http(server: tuple[str, Recorder]) -> None:
    base, _ = server
    out = dict(
        await run_block_once(ExtractWebsiteContentBlock(), {"url": f"{base}/page"}, loopback_context())
    )
    assert out["title"] == "Local page"
    assert "Footer" not in out["content"] and "alert" not in out["content"]
    assert {"text": "Sub page", "url": f"{base}/sub/page.html"} in out["links"]
    raw = dict(
        await run_block_once(
            ExtractWebsiteContentBlock(), {"url": f"{base}/page", "raw_content": True}, loopback_context()
        )
    )
    assert raw["content"] == PAGE
    missing = await run_block_once(
        ExtractWebsiteContentBlock(), {"url": f"{base}/nothing"}, loopback_context()
    )
    assert missing == [("error", f"{base}/nothing answered HTTP 404")]
