"""Real local peers for the notification tests: an HTTP receiver that answers from a script and
checks signatures, an SMTP server (aiosmtpd) with or without TLS and AUTH, and a self-signed
certificate for them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from workbench.notify.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Answer:
    """One scripted answer: status, headers, body, and a delay before it (seconds)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None
    """Whether the signature verified with the receiver's secret (None: no signature header)."""
    at: float = field(default_factory=time.time)
    """When it arrived (seconds since the epoch)."""

    def json(self) -> Any:
        """The body parsed."""
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that answers from ``script`` (then 200), records every request,
    checks each signature with ``secret``, and counts accepted connections."""

    def __init__(self, script: list[Answer] | None = None, *, secret: str = "s3cret") -> None:
        self.script = list(script or [])
        self.secret = secret
        self.requests: list[Received] = []
        self.connections = 0
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                signature = headers.get(SIGNATURE_HEADER.lower())
                ok = (
                    None
                    if signature is None
                    else verify_signature(
                        receiver.secret, headers.get(TIMESTAMP_HEADER.lower()), body, signature
                    )
                )
                receiver.requests.append(Received(self.path, headers, body, ok))
                answer = receiver.script.pop(0) if receiver.script else Answer()
                if answer.delay:
                    receiver.stopping.wait(answer.delay)  # cut short when the receiver stops
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                receiver.connections += 1
                return super().get_request()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks/T000/B000/secret-path"


@contextmanager
def receiving(script: list[Answer] | None = None, *, secret: str = "s3cret") -> Iterator[Receiver]:
    """A :class:`Receiver` serving in a thread for the ``with`` block."""
    receiver = Receiver(script, secret=secret)
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stopping.set()
        receiver.server.shutdown()
        receiver.server.server_close()


# --- TLS ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelfSigned:
    """A self-signed certificate for 127.0.0.1 and localhost, with its key, as files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """What a TLS server presents."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and checks the host name)."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed(folder: Path) -> SelfSigned:
    """Make a fresh self-signed certificate in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return SelfSigned(cert_path, key_path)


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class Delivered:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    """Whether the session was encrypted (STARTTLS or implicit TLS)."""
    login: str | None


class MailHandler:
    """aiosmtpd handler: keeps accepted messages; refuses recipients by their local part
    (``bounce@``: 550, ``later@``: 450)."""

    def __init__(self) -> None:
        self.messages: list[Delivered] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        local = address.split("@", 1)[0]
        if local == "bounce":
            return "550 5.1.1 no such mailbox"
        if local == "later":
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        implicit = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        self.messages.append(
            Delivered(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                envelope.original_content or b"",
                session.ssl is not None or implicit,
                login,
            )
        )
        return "250 OK"


def authenticator(user: str, password: str) -> Any:
    """An aiosmtpd authenticator accepting one login."""

    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


@contextmanager
def smtp_server(
    *,
    cert: SelfSigned | None = None,
    implicit_tls: bool = False,
    login: tuple[str, str] | None = None,
    port: int | None = None,
    handler: MailHandler | None = None,
) -> Iterator[tuple[MailHandler, int]]:
    """An SMTP server on 127.0.0.1 (its own thread and loop): plain, with STARTTLS (``cert``), or
    TLS throughout (``implicit_tls``); requiring ``login`` when given. ``port`` and ``handler``
    (default: a free port, a new handler) let a test stop a server and start it again."""
    handler = handler or MailHandler()
    port = port or free_port()
    options: dict[str, Any] = {}
    if login is not None:
        options.update(authenticator=authenticator(*login), auth_required=True)
    if cert is not None and implicit_tls:
        options.update(ssl_context=cert.server_context(), auth_require_tls=False)
    elif cert is not None:
        options.update(tls_context=cert.server_context(), require_starttls=login is not None)
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
