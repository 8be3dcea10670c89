"""Account mails really mailed: the account mailers (workbench/services/account_mail.py) against a
real SMTP server (aiosmtpd, STARTTLS and AUTH), then a real ``workbench serve`` started with
``WORKBENCH_SMTP_URL`` pointing at it: the reset and verification mails arrive with a link to the
server's page (the token in the link's fragment), opening the page uses nothing up, and the token
works at the API route the page sends it to; without a root for links, the mails carry the token and
the route instead; an unknown address gets nothing and the same answer; a mail server that is down
changes nothing in the answer, its failure is logged without the token and retried; the SMTP password
is never logged."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from server.config import ServerConfig
from tests.notify.peers import Delivered, MailHandler, SelfSigned, free_port, self_signed, smtp_server
from tests.server.api_support import PASSWORD, api, unique_email
from tests.support.servers import ServerProcess, start_server, stop_server
from workbench.config import Settings
from workbench.notify.email import SmtpMailer
from workbench.notify.http_delivery import RetryPolicy
from workbench.notify.smtp_config import SmtpConfig
from workbench.services.account_mail import (
    AccountMail,
    Mailers,
    MailLog,
    NoMail,
    SmtpAccountMailer,
    account_mailer,
)

SMTP_USER, SMTP_PASSWORD = "mailer@example.com", "smtp-S3cret/pa:ss word"
FROM = "Agent Workbench <bot@workbench.example>"
TOKEN = "tok-Zq3_secret-0123456789abcdefghijklmnopq"
NASTY_NAME = "<script>alert('x')</script> Ada & Co"
THREE = RetryPolicy(attempts=3, backoff=2.0, multiplier=3.0, jitter=0.0)
LOGGER = "workbench.services.account_mail"


def smtp_url(port: int) -> str:
    return f"smtp://{quote(SMTP_USER, safe='')}:{quote(SMTP_PASSWORD, safe='')}@127.0.0.1:{port}"


def parse(mail: Delivered) -> EmailMessage:
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    """(text, HTML) of a multipart/alternative mail."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content().replace("\r\n", "\n"), html.get_content()


class Sleeps:
    """Stands in for ``asyncio.sleep`` between attempts: records each wait, runs ``then`` once."""

    def __init__(self, then: AbstractContextManager[object] | None = None) -> None:
        self.waits: list[float] = []
        self.then = then

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            then, self.then = self.then, None
            then.__enter__()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    """A self-signed certificate for 127.0.0.1."""
    return self_signed(tmp_path_factory.mktemp("mail-tls"))


def smtp_mailer(port: int, cert: SelfSigned, **options: object) -> SmtpAccountMailer:
    mailer = SmtpMailer(SmtpConfig.from_url(smtp_url(port)), FROM, tls_context=cert.client_context())
    return SmtpAccountMailer(mailer, api_url="https://wb.example.com/", **options)  # type: ignore[arg-type]


def reset_mail(to: str = "ada@example.com") -> AccountMail:
    return AccountMail("reset", to, "user-1", TOKEN, NASTY_NAME, timedelta(hours=1))


# ---- the mailers -----------------------------------------------------------------------------------


async def test_each_account_mail_over_starttls_with_login(cert: SelfSigned) -> None:
    with smtp_server(cert=cert, login=(SMTP_USER, SMTP_PASSWORD)) as (handler, port):
        mailer = smtp_mailer(port, cert)
        await mailer.deliver(reset_mail())
        await mailer.deliver(AccountMail("verify", "ada@example.com", "user-1", TOKEN, None))
        await mailer.deliver(AccountMail("signup_notice", "ada@example.com", "user-1", None, "Ada"))
        await mailer.drain()

    assert all(m.tls and m.login == SMTP_USER for m in handler.messages)
    assert [m.rcpt_tos for m in handler.messages] == [["ada@example.com"]] * 3
    by_event = {message["X-Workbench-Event"]: message for message in map(parse, handler.messages)}
    reset, verify, notice = (by_event[e] for e in ("password_reset", "verify_email", "signup_notice"))

    assert reset["Subject"] == "Reset your Agent Workbench password" and reset["From"] == FROM
    assert reset["To"] == "ada@example.com" and reset["X-Workbench-Event"] == "password_reset"
    text, html = bodies(reset)
    link = f"https://wb.example.com/reset-password#token={TOKEN}"
    assert f"\n{link}\n" in text and "within 60 minutes" in text
    assert f'href="{link}"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "Ada &amp; Co" in html

    assert verify["Subject"] == "Confirm your email address"
    text, html = bodies(verify)
    link = f"https://wb.example.com/verify-email#token={TOKEN}"
    assert f"\n{link}\n" in text and f'href="{link}"' in html

    assert notice["Subject"] == "Someone tried to sign up with your address"
    text, html = bodies(notice)
    assert text.startswith("Hello Ada,") and "POST https://wb.example.com/api/v1/auth/password-reset " in text


async def test_without_a_root_for_links_a_mail_names_the_token_and_its_route(cert: SelfSigned) -> None:
    with smtp_server(cert=cert, login=(SMTP_USER, SMTP_PASSWORD)) as (handler, port):
        mailer = SmtpMailer(SmtpConfig.from_url(smtp_url(port)), FROM, tls_context=cert.client_context())
        rootless = SmtpAccountMailer(mailer, api_url=None)  # listening on 0.0.0.0, no public URL
        await rootless.deliver(reset_mail())
        await rootless.deliver(AccountMail("verify", "ada@example.com", "user-1", TOKEN, None))
        await rootless.drain()
    by_event = {message["X-Workbench-Event"]: message for message in map(parse, handler.messages)}
    text, html = bodies(by_event["password_reset"])
    assert TOKEN in text and "POST /api/v1/auth/password-reset/confirm" in text and TOKEN in html
    assert "/reset-password" not in text
    text, html = bodies(by_event["verify_email"])
    assert TOKEN in text and "POST /api/v1/auth/verify-email" in text and "#token=" not in text


async def test_delivering_never_waits_on_the_mail_server(cert: SelfSigned) -> None:
    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)
        writer.close()

    server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        mailer = smtp_mailer(port, cert, retry=RetryPolicy(attempts=1))
        started = time.monotonic()
        await mailer.deliver(reset_mail())
        assert time.monotonic() - started < 0.5
        for task in list(mailer._pending):
            task.cancel()
        await mailer.drain()


async def test_a_retryable_failure_is_retried_with_backoff_then_dropped(
    cert: SelfSigned, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    mailer = smtp_mailer(free_port(), cert, retry=THREE, sleep=sleeps)  # nobody listens
    with caplog.at_level(logging.INFO):
        await mailer.deliver(reset_mail())
        await mailer.drain()

    assert sleeps.waits == [2.0, 6.0]
    dropped = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in dropped] == [
        "reset mail to user user-1 dropped after 3 attempts"
    ]
    assert TOKEN not in caplog.text and SMTP_PASSWORD not in caplog.text
    assert quote(SMTP_PASSWORD, safe="") not in caplog.text


async def test_a_stop_cuts_the_retries_short(cert: SelfSigned) -> None:
    mailer = smtp_mailer(free_port(), cert, retry=THREE)  # real waits: 2 s, then 6 s
    await mailer.deliver(reset_mail())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(mailer.drain(), 0.3)  # as Workbench.stop bounds it
    await asyncio.sleep(0)
    assert not mailer._pending


async def test_a_mail_is_sent_once_the_server_is_back(cert: SelfSigned) -> None:
    port = free_port()
    handler = MailHandler()
    server = smtp_server(cert=cert, login=(SMTP_USER, SMTP_PASSWORD), port=port, handler=handler)
    sleeps = Sleeps(then=server)  # the server comes up during the first wait
    try:
        mailer = smtp_mailer(port, cert, retry=THREE, sleep=sleeps)
        await mailer.deliver(reset_mail())
        await mailer.drain()
    finally:
        server.__exit__(None, None, None)
    assert sleeps.waits == [2.0]
    [mail] = handler.messages
    assert TOKEN in bodies(parse(mail))[0]


async def test_a_permanent_failure_is_dropped_at_once(
    cert: SelfSigned, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    with smtp_server(cert=cert, login=(SMTP_USER, SMTP_PASSWORD)) as (handler, port):
        mailer = smtp_mailer(port, cert, retry=THREE, sleep=sleeps)
        with caplog.at_level(logging.INFO):
            await mailer.deliver(reset_mail("bounce@example.com"))
            await mailer.drain()
    assert sleeps.waits == [] and handler.messages == []
    assert "reset mail to user user-1 dropped: permanent failure" in caplog.text
    assert "550" in caplog.text and TOKEN not in caplog.text


def test_the_mailer_is_chosen_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_DEV_MAIL_LOG", raising=False)
    plain = Settings(home=tmp_path)
    smtp = Settings.from_env(
        {"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_SMTP_URL": smtp_url(2525), "WORKBENCH_MAIL_FROM": FROM}
    )
    log_path = str(tmp_path / "mail.jsonl")
    assert isinstance(account_mailer(plain), NoMail)
    assert isinstance(account_mailer(plain, mail_log=log_path), MailLog)
    only_smtp = account_mailer(smtp, api_url="http://127.0.0.1:8006")
    assert isinstance(only_smtp, SmtpAccountMailer) and only_smtp.api_url == "http://127.0.0.1:8006"
    both = account_mailer(smtp, mail_log=log_path)
    assert isinstance(both, Mailers) and [type(m) for m in both.mailers] == [MailLog, SmtpAccountMailer]
    monkeypatch.setenv("WORKBENCH_DEV_MAIL_LOG", log_path)
    assert isinstance(account_mailer(plain), MailLog)


async def test_without_a_mail_server_a_warning_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    mailer = NoMail()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        await mailer.deliver(reset_mail())
        await mailer.deliver(reset_mail())
    levels = [r.levelno for r in caplog.records if r.name == LOGGER]
    assert levels == [logging.WARNING, logging.INFO]
    assert "WORKBENCH_SMTP_URL" in caplog.records[0].getMessage() and TOKEN not in caplog.text


def test_the_links_root_is_the_public_url_else_the_bind_address() -> None:
    assert ServerConfig(public_url="https://wb.example.com/").link_url == "https://wb.example.com"
    assert ServerConfig(host="127.0.0.1", port=8006).link_url == "http://127.0.0.1:8006"
    assert ServerConfig(host="::1", port=8006).link_url == "http://[::1]:8006"
    assert ServerConfig(host="0.0.0.0").link_url is None  # which address people use is unknown


# ---- a real server ---------------------------------------------------------------------------------


class MailPeer:
    """The SMTP server of ``mail_server``: STARTTLS and AUTH on a fixed port, stopped and started
    again by a test, keeping what it received."""

    def __init__(self, cert: SelfSigned) -> None:
        self.cert = cert
        self.port = free_port()
        self.handler = MailHandler()
        self._running: AbstractContextManager[object] | None = None

    def up(self) -> None:
        self._running = smtp_server(
            cert=self.cert, login=(SMTP_USER, SMTP_PASSWORD), port=self.port, handler=self.handler
        )
        self._running.__enter__()

    def down(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None

    def mails(self, to: str, event: str) -> list[EmailMessage]:
        found = [parse(m) for m in list(self.handler.messages) if to in m.rcpt_tos]
        return [m for m in found if m["X-Workbench-Event"] == event]

    def wait(self, to: str, event: str, count: int = 1, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(found := self.mails(to, event)) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} {event} mails to {to}"
            time.sleep(0.05)
        return found


@pytest.fixture(scope="module")
def peer(cert: SelfSigned) -> Iterator[MailPeer]:
    """The mail server of ``mail_server``."""
    peer = MailPeer(cert)
    peer.up()
    yield peer
    peer.down()


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory, peer: MailPeer) -> Iterator[ServerProcess]:
    """``workbench serve --auth accounts`` mailing through ``peer`` (no development mail log), at
    debug level (to check what is never logged)."""
    server = start_server(
        tmp_path_factory.mktemp("srv-mail") / "home",
        "accounts",
        {
            "WORKBENCH_RATE_LIMIT": "off",
            "WORKBENCH_SMTP_URL": smtp_url(peer.port),
            "WORKBENCH_MAIL_FROM": FROM,
            "SSL_CERT_FILE": str(peer.cert.cert),
            "WORKBENCH_DEV_MAIL_LOG": "",
        },
        log_level="debug",
    )
    yield server
    stop_server(server)


def register(server: ServerProcess, name: str = NASTY_NAME) -> str:
    email_address = unique_email("mailed")
    with api(server) as c:
        r = c.post("/auth/signup", json={"email": email_address, "password": PASSWORD, "name": name})
    assert r.status_code == 202, r.text
    return email_address


def link_and_token(message: EmailMessage) -> tuple[str, str]:
    """The page link of an account mail (the same in its text and its HTML) and the one-time token in
    the link's fragment."""
    text, html = bodies(message)
    found = re.search(r"^(http\S+#token=(\S+))$", text, re.MULTILINE)
    assert found, text
    link, token = found.group(1), found.group(2)
    assert f'href="{link}"' in html
    assert urlsplit(link).query == ""  # the token never goes to a server in the request line
    return link, token


def test_a_reset_mail_arrives_and_its_token_resets_the_password(
    mail_server: ServerProcess, peer: MailPeer
) -> None:
    address = register(mail_server)
    with api(mail_server) as c:
        started = time.monotonic()
        r = c.post("/auth/password-reset", json={"email": address})
        assert r.status_code == 202 and time.monotonic() - started < 2
        [message] = peer.wait(address, "password_reset")
        assert message["Subject"] == "Reset your Agent Workbench password"
        assert message["To"] == address and message["From"] == FROM
        html = bodies(message)[1]
        assert "&lt;script&gt;" in html and "<script>" not in html  # the name, escaped
        link, token = link_and_token(message)
        assert link == f"{mail_server.base_url}/reset-password#token={token}"
        page = httpx.get(link, timeout=10)  # what a mail scanner does: nothing is used up
        assert page.status_code == 200 and "Choose a new password" in page.text and token not in page.text

        route = f"{mail_server.base_url}/api/v1/auth/password-reset/confirm"  # where the page sends it
        r = httpx.post(route, json={"token": token, "password": "a mailed new passphrase"}, timeout=10)
        assert r.status_code == 200, r.text
        assert c.post("/auth/login", json={"email": address, "password": PASSWORD}).status_code == 401
        ok = c.post("/auth/login", json={"email": address, "password": "a mailed new passphrase"})
        assert ok.status_code == 200
    time.sleep(0.2)
    assert len(peer.mails(address, "password_reset")) == 1
    log_text = mail_server.log.read_text()
    assert token not in log_text and SMTP_PASSWORD not in log_text


def test_a_verification_mail_arrives_and_its_token_verifies(
    mail_server: ServerProcess, peer: MailPeer
) -> None:
    address = register(mail_server, "Vera")
    [at_signup] = peer.wait(address, "verify_email")
    assert at_signup["Subject"] == "Confirm your email address"
    assert bodies(at_signup)[0].startswith("Hello Vera,")
    with api(mail_server) as c:
        tokens = c.post("/auth/login", json={"email": address, "password": PASSWORD}).json()
    with api(mail_server, token=tokens["access_token"]) as c:
        r = c.post("/auth/verify-email/request")
        assert r.status_code == 202 and r.json()["message"] == "a verification token was sent"
        requested = peer.wait(address, "verify_email", 2)[-1]
        link, token = link_and_token(requested)
        assert token != link_and_token(at_signup)[1]
        assert link == f"{mail_server.base_url}/verify-email#token={token}"
        assert httpx.get(link, timeout=10).status_code == 200  # opening the page confirms nothing
        assert c.get("/auth/me").json()["email_verified"] is False
        r = httpx.post(f"{mail_server.base_url}/api/v1/auth/verify-email", json={"token": token}, timeout=10)
        assert r.status_code == 200 and r.json()["email_verified"] is True and r.json()["email"] == address
        assert c.get("/auth/me").json()["email_verified"] is True


def test_an_unknown_address_gets_no_mail_and_the_same_answer(
    mail_server: ServerProcess, peer: MailPeer
) -> None:
    known, unknown = register(mail_server), unique_email("nobody")
    with api(mail_server) as c:
        nobody = c.post("/auth/password-reset", json={"email": unknown})
        somebody = c.post("/auth/password-reset", json={"email": known})
    assert nobody.status_code == somebody.status_code == 202 and nobody.json() == somebody.json()
    peer.wait(known, "password_reset")
    time.sleep(0.3)
    assert not [m for m in peer.handler.messages if unknown in m.rcpt_tos]


def test_a_taken_address_gets_the_sign_up_notice(mail_server: ServerProcess, peer: MailPeer) -> None:
    address = register(mail_server, "Owner")
    with api(mail_server) as c:
        r = c.post("/auth/signup", json={"email": address, "password": "someone else's"})
    assert r.status_code == 202
    [notice] = peer.wait(address, "signup_notice")
    assert notice["Subject"] == "Someone tried to sign up with your address"
    text, _ = bodies(notice)
    assert text.startswith("Hello Owner,") and "Nothing changed" in text


def test_a_mail_server_that_is_down_changes_nothing_in_the_answer(
    mail_server: ServerProcess, peer: MailPeer
) -> None:
    address = register(mail_server, "Downtime")
    peer.wait(address, "verify_email")
    with api(mail_server) as c:
        before = c.post("/auth/password-reset", json={"email": unique_email("nobody")})
    peer.down()
    try:
        with api(mail_server) as c:
            started = time.monotonic()
            r = c.post("/auth/password-reset", json={"email": address})
            assert time.monotonic() - started < 2
        assert r.status_code == before.status_code == 202 and r.json() == before.json()
        deadline = time.monotonic() + 10
        while "attempt 1 failed, trying again" not in mail_server.log.read_text():
            assert time.monotonic() < deadline, mail_server.log.read_text()[-3000:]
            time.sleep(0.05)
        assert "password_reset mail not sent (retryable)" in mail_server.log.read_text()
    finally:
        peer.up()
    [message] = peer.wait(address, "password_reset")  # the retry, about 2 s later
    _, token = link_and_token(message)
    log_text = mail_server.log.read_text()
    assert token not in log_text
    assert SMTP_PASSWORD not in log_text and quote(SMTP_PASSWORD, safe="") not in log_text
