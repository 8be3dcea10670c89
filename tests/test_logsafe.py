"""workbench.logsafe: every secret shape we know of is redacted from log text, the rest is kept, and
the filter redacts whole records (message, arguments, exception) for any handler and any logger."""

from __future__ import annotations

import io
import json
import logging

import pytest

from workbench.logsafe import MASK, RedactingFilter, install, redact
from workbench.logsetup import JsonFormatter

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwic2NvcGUiOiJhbGwifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
API_KEY = "wbk_3q2-Zx9yK1mN0pQ_rS7tUvWxYz012345678abcdEF"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        # uvicorn's WebSocket access line
        ('127.0.0.1:5000 - "WebSocket /ws?token=s3cr3t-value&x=1" [accepted]', "s3cr3t-value", "&x=1"),
        (f'127.0.0.1:5000 - "WebSocket /ws?api_key={API_KEY}" 403', API_KEY[4:], "/ws?api_key="),
        # httpx's request line, an OAuth callback
        (
            'HTTP Request: GET https://h/cb?code=4/0AeaYSHB&state=xyzzy "HTTP/1.1 200 OK"',
            "4/0AeaYSHB",
            "/cb?",
        ),
        ("HTTP Request: GET https://h/cb?code=4/0AeaYSHB&state=xyzzy", "xyzzy", "state="),
        (
            "GET https://generativelanguage.googleapis.com/v1/models?key=AIzaSyD-1234567",
            "AIzaSyD-1234567",
            "?key=",
        ),
        ("POST /reset?password=hunter2hunter2&lang=en", "hunter2hunter2", "lang=en"),
        ("GET /x?client_secret=abcdef123456", "abcdef123456", "/x?client_secret="),
        # headers
        (
            "Authorization: Bearer opaque-token-0123456789abcdef",
            "opaque-token-0123456789abcdef",
            "Authorization",
        ),
        ("authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "authorization="),
        ("{'authorization': 'Bearer abc', 'x-api-key': 'kkkk-1234'}", "kkkk-1234", "x-api-key"),
        ("[(b'authorization', b'Bearer abcdefgh'), (b'host', b'h')]", "abcdefgh", "(b'host', b'h')"),
        ("[(b'cookie', b'session=abc123')]", "abc123", "cookie"),
        # our API keys and tokens, wherever they are
        (f"key {API_KEY} used", API_KEY[4:], "used"),
        (f"token {JWT} expired", JWT.split(".")[1], "expired"),
        (f"refresh: {JWT}", JWT.split(".")[2], "refresh"),
        (
            "gAAAAABnK1r2xQeFq3VdYh0jzJ9x7cLZt5qY8bA2mW1nE4oP6sR3tU",
            "gAAAAABnK1r2xQeFq3VdYh0jzJ9x7cLZt5qY8bA2mW1nE4oP6sR3tU",
            "",
        ),
        # vendor keys
        ("openai sk-proj-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQrStUvWx", "openai"),
        ("anthropic sk-ant-api03-AbCdEfGhIjKlMnOpQr", "api03-AbCdEfGhIjKlMnOpQr", "anthropic"),
        ("github ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "github"),
        ("aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws"),
        # passwords in URLs (DSNs)
        (
            "connecting to postgresql://workbench:pa55w0rd@db:5432/workbench",
            "pa55w0rd",
            "postgresql://workbench:",
        ),
        ("AMQP_URL=amqp://guest:guest-secret@rabbit:5672/", "guest-secret", "@rabbit:5672/"),
        ("redis://:r3dis-pass@redis:6379/0 unreachable", "r3dis-pass", "@redis:6379/0 unreachable"),
        ("postgres://u:p%40ss@h/db", "p%40ss", "postgres://u:"),
        # name=value pairs
        (
            '{"email": "a@example.com", "password": "correct horse battery"}',
            "correct horse battery",
            "a@example.com",
        ),
        ("password=hunter2 host=db", "hunter2", "host=db"),
        ("client_secret: abcdef; next", "abcdef", "next"),
        ("WORKBENCH_SECRET_KEY=Zm9vYmFyYmF6", "Zm9vYmFyYmF6", "WORKBENCH_SECRET_KEY="),
        ("{'refresh_token': 'rt-123456'}", "rt-123456", "refresh_token"),
    ],
)
def test_secrets_are_redacted_and_the_rest_kept(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out, out
    assert MASK in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/v1/graphs 200",
        "input_tokens=12 output_tokens=40 token_type=bearer max_tokens: 100",
        "node 3f1c2e9a-0b7d-4c55-9a57-0d3f2f6c1a01 completed in 1.2 ms",
        "Basic usage of Bearer tokens",
        "https://example.com/path?page=2&limit=50",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redacting_twice_changes_nothing() -> None:
    once = redact(f"/ws?token=abc&api_key={API_KEY} postgresql://u:p@h/db")
    assert redact(once) == once


def test_the_filter_redacts_messages_arguments_and_exceptions_of_any_logger() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    install(handler)
    install(handler)  # once is enough
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    logger = logging.getLogger("uvicorn.error.test-logsafe")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning('%s - "WebSocket %s" %s', "127.0.0.1:1", "/ws?token=t0ps3cret", "[accepted]")
        try:
            raise ConnectionError("cannot reach amqp://guest:hunter22@rabbit/")
        except ConnectionError:
            logger.exception("queue down for key %s", API_KEY)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    for secret in ("t0ps3cret", "hunter22", API_KEY):
        assert secret not in text
    assert "/ws?token=[REDACTED]" in text and "ConnectionError" in text and "Traceback" in text


def test_the_json_formatter_redacts_by_itself() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "GET %s", ("https://h/?api_key=abc123",), None
    )
    record.path = "/cb?code=xyz"  # an extra field
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "GET https://h/?api_key=[REDACTED]"
    assert doc["path"] == "/cb?code=[REDACTED]"


def test_server_executor_and_scheduler_logging_redacts() -> None:
    """``workbench serve``, ``executor`` and ``scheduler`` all set up logging with this function."""
    from workbench.logsetup import configure_logging

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("info")
        (handler,) = root.handlers
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
