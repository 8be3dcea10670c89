"""A small asyncio client of clamd, ClamAV's scanning daemon: ``PING``, ``VERSION`` and ``INSTREAM``.

The protocol is clamd's documented one (``man clamd``): a command is ``z<NAME>\\0`` on a fresh
connection, one command per connection. ``INSTREAM`` sends the data as chunks, each prefixed by its
length (4 bytes, big-endian), then a zero-length chunk; clamd answers one line::

    stream: OK
    stream: Eicar-Test-Signature FOUND
    INSTREAM size limit exceeded. ERROR        (more than clamd's StreamMaxLength)
    <reason> ERROR                             (clamd could not scan)

Why our own: the clients on PyPI are blocking (``clamd``, ``pyclamd``, ``clamav-client``) or speak TCP
only (``aioclamd``: Debian's clamd listens on a Unix socket by default) and do not tell clamd closing
the stream at its size limit from a connection failure. This one reaches clamd at ``tcp://host:port``
or ``unix:///path``, bounds every call in time, and raises :class:`ClamdUnreachable`,
:class:`ClamdStreamTooLong` or :class:`ClamdScanError`; the file scanner (:mod:`.scanning`) turns them
into the platform's errors.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 3310
CHUNK = 64 * 1024
"""Bytes per INSTREAM chunk (clamd takes chunks of any size up to StreamMaxLength)."""
MAX_REPLY = 64 * 1024
"""clamd's answers are one short line: more than this is not clamd."""
SIZE_LIMIT_REPLY = "INSTREAM size limit exceeded"


class ClamdError(Exception):
    """clamd could not give a verdict (the subclasses say why)."""


class ClamdUnreachable(ClamdError):
    """No connection to clamd, or it did not answer in time, or it answered something else."""


class ClamdStreamTooLong(ClamdError):
    """The data is longer than clamd's ``StreamMaxLength``."""


class ClamdScanError(ClamdError):
    """clamd answered ERROR for this data (it could not scan it)."""


class _StreamCut(ClamdUnreachable):
    """clamd closed the connection while data was being sent, and no answer could be read."""


@dataclass(frozen=True, slots=True)
class ClamdAddress:
    """Where clamd listens: a Unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, url: str) -> ClamdAddress:
        """``unix:///run/clamav/clamd.ctl`` or ``tcp://host[:3310]``; ValueError saying what is wrong."""
        parts = urlsplit(url.strip())
        if parts.scheme == "unix":
            path = unquote(parts.netloc + parts.path) if parts.netloc else unquote(parts.path)
            if not path.startswith("/"):
                raise ValueError(
                    f"a unix:// address needs an absolute socket path (unix:///path), got {url!r}"
                )
            return cls(path=path)
        if parts.scheme == "tcp":
            try:
                port = parts.port or DEFAULT_PORT
            except ValueError:
                raise ValueError(f"the port of {url!r} is not a port number") from None
            if not parts.hostname:
                raise ValueError(f"a tcp:// address needs a host (tcp://host:3310), got {url!r}")
            return cls(host=parts.hostname, port=port)
        raise ValueError(f"clamd's address must start with unix:// or tcp://, got {url!r}")

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix://{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What clamd found: nothing (``signature`` None), or the name of what it found."""

    signature: str | None

    @property
    def clean(self) -> bool:
        """Nothing was found."""
        return self.signature is None


class ClamdClient:
    """Talks to one clamd; each call opens its own connection (clamd serves one command each).

    ``timeout`` bounds a whole call (connecting, sending, clamd's scan, its answer);
    ``connect_timeout`` bounds connecting alone, so a clamd that is gone is noticed at once.
    """

    def __init__(self, address: ClamdAddress, *, timeout: float = 60.0, connect_timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)

    async def ping(self) -> None:
        """Ask clamd for ``PONG``; :class:`ClamdUnreachable` otherwise."""
        reply = await self._call(b"zPING\0", None)
        if reply != "PONG":
            raise ClamdUnreachable(f"{self.address} answered {reply[:80]!r} to PING, not PONG")

    async def version(self) -> str:
        """clamd's version line (``ClamAV 1.4.6/27000/...``)."""
        return await self._call(b"zVERSION\0", None)

    async def instream(self, data: bytes) -> Verdict:
        """Scan ``data``; its verdict, or one of the :class:`ClamdError` subclasses."""
        try:
            reply = await self._call(b"zINSTREAM\0", data)
        except _StreamCut as cut:
            # clamd closes a stream early when it passes StreamMaxLength; the answer saying so may
            # be lost with the connection. A clamd that still answers PING was alive: the limit.
            await self.ping()
            raise ClamdStreamTooLong(f"{SIZE_LIMIT_REPLY} (clamd closed the stream: {cut})") from None
        if reply.startswith(SIZE_LIMIT_REPLY):
            raise ClamdStreamTooLong(reply)
        if reply.endswith("ERROR"):
            raise ClamdScanError(reply.removesuffix("ERROR").strip().removeprefix("stream:").strip())
        body = reply.removeprefix("stream:").strip()
        if body == "OK":
            return Verdict(None)
        if body.endswith(" FOUND") and len(body) > len(" FOUND"):
            return Verdict(body.removesuffix(" FOUND").strip())
        raise ClamdUnreachable(f"{self.address} answered {reply[:80]!r} to INSTREAM")

    async def _call(self, command: bytes, data: bytes | None) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._connect()
                try:
                    return await self._exchange(reader, writer, command, data)
                finally:
                    writer.close()
                    try:
                        await writer.wait_closed()
                    except OSError:
                        pass
        except TimeoutError:
            raise ClamdUnreachable(f"{self.address} did not answer within {self.timeout:g} s") from None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self.connect_timeout):
                if self.address.path is not None:
                    return await asyncio.open_unix_connection(self.address.path, limit=MAX_REPLY)
                return await asyncio.open_connection(self.address.host, self.address.port, limit=MAX_REPLY)
        except TimeoutError:
            raise ClamdUnreachable(
                f"cannot connect to {self.address} within {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise ClamdUnreachable(f"cannot connect to {self.address}: {exc.strerror or exc}") from None

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: bytes, data: bytes | None
    ) -> str:
        cut: OSError | None = None
        try:
            writer.write(command)
            if data is not None:
                view = memoryview(data)
                for start in range(0, len(view), CHUNK):
                    piece = view[start : start + CHUNK]
                    writer.write(struct.pack(">I", len(piece)))
                    writer.write(piece)
                    await writer.drain()
                writer.write(struct.pack(">I", 0))
            await writer.drain()
        except (ConnectionResetError, BrokenPipeError) as exc:
            cut = exc  # clamd stopped reading: its answer, if it sent one first, may still be read
        except OSError as exc:
            raise ClamdUnreachable(f"sending to {self.address} failed: {exc.strerror or exc}") from None
        try:
            return await self._reply(reader)
        except ClamdUnreachable as exc:
            if cut is not None:
                raise _StreamCut(str(exc)) from None
            raise

    async def _reply(self, reader: asyncio.StreamReader) -> str:
        try:
            raw = await reader.readuntil(b"\0")
        except asyncio.IncompleteReadError as exc:
            raw = exc.partial  # closed without the terminator: take what came
        except asyncio.LimitOverrunError:
            raise ClamdUnreachable(f"{self.address} sent an answer longer than {MAX_REPLY} bytes") from None
        except OSError as exc:
            raise ClamdUnreachable(f"reading from {self.address} failed: {exc.strerror or exc}") from None
        text = raw.rstrip(b"\0").decode("utf-8", "replace").strip()
        if not text:
            raise ClamdUnreachable(f"{self.address} closed the connection without an answer")
        return text
