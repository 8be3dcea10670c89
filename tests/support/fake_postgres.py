"""A socket that speaks enough of the PostgreSQL wire protocol (v3) to see what a client sends.

It refuses TLS and GSS encryption (``N``), records each startup message's parameters, asks for a
cleartext password (``AuthenticationCleartextPassword``), records the ``PasswordMessage`` and then
refuses the login (``28P01``), as a real server with a wrong password would. Every byte received is
kept too, so a test can check that a secret never crossed the socket in any form.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104
PROTOCOL_3 = 196608


@dataclass
class Login:
    """One login attempt: the startup parameters and the password sent (None: none was sent)."""

    params: dict[str, str]
    password: str | None = None


@dataclass
class FakePostgres:
    """The recording server; :func:`fake_postgres` runs one."""

    host: str = "127.0.0.1"
    port: int = 0
    logins: list[Login] = field(default_factory=list)
    tls_requests: int = 0
    received: bytearray = field(default_factory=bytearray)

    async def _read(self, reader: asyncio.StreamReader, n: int) -> bytes:
        data = await reader.readexactly(n)
        self.received += data
        return data

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection."""
        try:
            while True:
                (length,) = struct.unpack("!i", await self._read(reader, 4))
                body = await self._read(reader, length - 4)
                (code,) = struct.unpack("!i", body[:4])
                if code in (SSL_REQUEST, GSS_REQUEST):
                    self.tls_requests += 1
                    writer.write(b"N")  # no encryption here: the client may go on in plain text
                    await writer.drain()
                    continue
                if code != PROTOCOL_3:
                    return
                items = body[4:].split(b"\x00")
                params = {
                    items[i].decode(): items[i + 1].decode() for i in range(0, len(items) - 1, 2) if items[i]
                }
                login = Login(params)
                self.logins.append(login)
                writer.write(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
                await writer.drain()
                kind = await self._read(reader, 1)
                (length,) = struct.unpack("!i", await self._read(reader, 4))
                payload = await self._read(reader, length - 4)
                if kind == b"p":
                    login.password = payload.rstrip(b"\x00").decode(errors="replace")
                fields = b"".join(
                    key + value.encode() + b"\x00"
                    for key, value in (
                        (b"S", "FATAL"),
                        (b"V", "FATAL"),
                        (b"C", "28P01"),
                        (b"M", f'password authentication failed for user "{params.get("user", "")}"'),
                    )
                )
                message = fields + b"\x00"
                writer.write(b"E" + struct.pack("!i", len(message) + 4) + message)
                await writer.drain()
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@contextmanager
def fake_postgres() -> Iterator[FakePostgres]:
    """Run a :class:`FakePostgres` on 127.0.0.1 (a free port) in a background thread."""
    fake = FakePostgres()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server: asyncio.base_events.Server | None = None

    async def start() -> None:
        nonlocal server
        server = await asyncio.start_server(fake.handle, fake.host, 0)
        fake.port = server.sockets[0].getsockname()[1]
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="fake-postgres", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the fake PostgreSQL server did not start")
    try:
        yield fake
    finally:

        async def stop() -> None:
            assert server is not None
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
