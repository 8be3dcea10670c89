"""Mail through a real local SMTP server (aiosmtpd): STARTTLS with AUTH, implicit TLS, plain."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from email.message import EmailMessage
from urllib.parse import quote

import pytest

from tests.notify.peers import SelfSigned, free_port, smtp_server
from workbench.notify.channel import Target
from workbench.notify.email import SmtpMailer, build_message, recipient_address
from workbench.notify.message import Notification, password_reset, run_failed
from workbench.notify.report import PermanentDelivery, RetryableDelivery
from workbench.notify.smtp_config import SmtpConfig

USER, PASSWORD = "mailer@example.com", "p@ss:w/rd secret"
FROM = "Agent Workbench <bot@workbench.example>"
RESET_LINK = "https://workbench.example/reset?token=tok-123"


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def url(port: int, *, login: bool = True, scheme: str = "smtp", query: str = "") -> str:
    auth = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@" if login else ""
    return f"{scheme}://{auth}127.0.0.1:{port}{query}"


def mailer(smtp_url: str, cert: SelfSigned | None = None) -> SmtpMailer:
    return SmtpMailer(
        SmtpConfig.from_url(smtp_url), FROM, tls_context=cert.client_context() if cert else None
    )


def failing_run() -> Notification:
    return run_failed(
        agent_name="<b>Evil</b> & Co",
        run_id="run-42",
        node="fetch <page>",
        error="ValueError: <script>alert('x')</script>",
        run_url="https://workbench.example/monitor/run?id=run-42",
    )


async def test_password_reset_over_starttls_with_login(cert: SelfSigned) -> None:
    with smtp_server(cert=cert, login=(USER, PASSWORD)) as (handler, port):
        report = await mailer(url(port), cert).send(
            Target("ada@example.com"), password_reset(link=RESET_LINK)
        )

    assert report.delivered, report.error
    assert [a.status for a in report.attempts] == [250]
    [mail] = handler.messages
    assert mail.tls and mail.login == USER  # the password went only over TLS, percent-decoded
    assert mail.rcpt_tos == ["ada@example.com"] and mail.mail_from == "bot@workbench.example"
    message = parse(mail.content)
    assert message["Subject"] == "Reset your Agent Workbench password"
    assert message["From"] == FROM and message["To"] == "ada@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Workbench-Event"] == "password_reset"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert RESET_LINK in text.get_content()
    assert f'href="{RESET_LINK}"' in html.get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # TLS throughout
async def test_run_failed_mail_escapes_user_content_in_html(cert: SelfSigned) -> None:
    with smtp_server(cert=cert, implicit_tls=True, login=(USER, PASSWORD)) as (handler, port):
        report = await mailer(url(port, scheme="smtps"), cert).send(Target("ops@example.com"), failing_run())

    assert report.delivered, report.error
    [mail] = handler.messages
    assert mail.tls
    message = parse(mail.content)
    assert message["Subject"] == "Run of <b>Evil</b> & Co failed"  # a subject is plain text
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Failing node: fetch <page>" in text
    assert "ValueError: <script>alert('x')</script>" in text
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in html
    assert "fetch &lt;page&gt;" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>" not in html and "<b>Evil" not in html


async def test_plain_server_without_login() -> None:
    with smtp_server() as (handler, port):
        report = await mailer(url(port, login=False)).send(Target("Ops <ops@example.com>"), failing_run())

    assert report.delivered, report.error
    [mail] = handler.messages
    assert not mail.tls and mail.login is None and mail.rcpt_tos == ["ops@example.com"]
    assert parse(mail.content)["To"] == "Ops <ops@example.com>"


async def test_without_login_starttls_is_used_when_offered(cert: SelfSigned) -> None:
    with smtp_server(cert=cert) as (handler, port):
        report = await mailer(url(port, login=False), cert).send(Target("ops@example.com"), failing_run())

    assert report.delivered, report.error
    assert handler.messages[0].tls


async def test_starttls_off_sends_in_clear(cert: SelfSigned) -> None:
    with smtp_server(cert=cert) as (handler, port):
        report = await mailer(url(port, login=False, query="?starttls=off")).send(
            Target("ops@example.com"), failing_run()
        )

    assert report.delivered, report.error
    assert not handler.messages[0].tls


async def test_credentials_never_go_in_clear_to_a_server_without_starttls() -> None:
    with smtp_server() as (handler, port):
        report = await mailer(url(port)).send(Target("ada@example.com"), failing_run())

    assert not report.delivered and not report.retryable
    assert "STARTTLS" in (report.error or "")
    assert handler.messages == []


async def test_wrong_password_is_permanent(cert: SelfSigned, caplog: pytest.LogCaptureFixture) -> None:
    bad = f"smtp://{quote(USER, safe='')}:{quote('wrong-password', safe='')}@127.0.0.1"
    with smtp_server(cert=cert, login=(USER, PASSWORD)) as (handler, port), caplog.at_level(logging.DEBUG):
        report = await mailer(f"{bad}:{port}", cert).send(Target("ada@example.com"), failing_run())

    assert not report.delivered and not report.retryable
    [attempt] = report.attempts
    assert attempt.status == 535 and "login refused" in (attempt.error or "")
    assert handler.messages == []
    with pytest.raises(PermanentDelivery) as raised:
        report.raise_for_failure()
    assert raised.value.report is report
    everything = caplog.text + repr(report) + str(report.to_dict())
    assert "wrong-password" not in everything and "wrong%2Dpassword" not in everything


async def test_server_down_is_retryable() -> None:
    report = await mailer(url(free_port(), login=False)).send(Target("ada@example.com"), failing_run())

    assert not report.delivered and report.retryable
    assert "cannot reach the server" in (report.error or "")
    with pytest.raises(RetryableDelivery):
        report.raise_for_failure()


async def test_a_silent_server_times_out_retryably() -> None:
    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        report = await mailer(url(port, login=False, query="?timeout=0.2")).send(
            Target("ada@example.com"), failing_run()
        )
    assert not report.delivered and report.retryable
    assert "timed out" in (report.error or "")
    assert report.attempts[0].duration < 2


@pytest.mark.parametrize(
    ("recipient", "retryable", "code"), [("bounce@example.com", False, 550), ("later@example.com", True, 450)]
)
async def test_refused_recipients_by_reply_code(recipient: str, retryable: bool, code: int) -> None:
    with smtp_server() as (handler, port):
        report = await mailer(url(port, login=False)).send(Target(recipient), failing_run())

    assert not report.delivered and report.retryable is retryable
    assert report.attempts[0].status == code and "recipient refused" in (report.error or "")
    assert handler.messages == []


async def test_an_invalid_recipient_is_refused_before_connecting() -> None:
    report = await mailer(url(free_port(), login=False)).send(
        Target("a@b.example, c@d.example"), failing_run()
    )
    assert not report.delivered and not report.retryable and report.attempts == ()
    assert report.error == "the recipient is not one email address"


def test_recipient_address() -> None:
    assert recipient_address("Ada <ada@example.com>") == "ada@example.com"
    assert recipient_address("ada@example.com") == "ada@example.com"
    for bad in ("", "ada", "ada@", "a@b.example, c@d.example", "ada@example.com\r\nBcc: x@y.example"):
        assert recipient_address(bad) is None, bad


def test_a_message_without_html_is_text_only() -> None:
    from workbench.notify.message import custom

    message = build_message(
        custom(title="Hi\r\nBcc: x@y.example", text="plain"), to="a@b.example", mail_from=FROM
    )
    assert message.get_content_type() == "text/plain"
    assert message["Subject"] == "Hi Bcc: x@y.example"  # one line: no header injection
    assert message["Bcc"] is None
