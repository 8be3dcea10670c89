"""What the vendor lookalike servers share: a Litestar app served by uvicorn in a thread on a free port
of 127.0.0.1 (:class:`Served`, for any ASGI app), a record of the requests it received, scripted
failures, and tiny media files.
"""

from __future__ import annotations

import io
import math
import struct
import threading
import wave
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
import uvicorn
from litestar import Litestar, Request, Response


def tiny_png(width: int = 1, height: int = 1, rgb: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    """A valid PNG of one color."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def tiny_wav(seconds: float = 0.05, rate: int = 8000, pitch: float = 440.0) -> bytes:
    """A valid mono 16-bit WAV file: a short sine tone."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


@dataclass(slots=True)
class Served:
    """An ASGI app served by uvicorn in a background thread on a free port of 127.0.0.1."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str
    """``http://127.0.0.1:<port>``."""

    @classmethod
    def start(cls, app: Any, name: str) -> Served:
        """Serve ``app`` in a thread called ``name``; returns once the port is bound."""
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=name, daemon=True)
        thread.start()
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError(f"{name} did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        return cls(server, thread, f"http://127.0.0.1:{port}")

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ServedApp:
    """The lifecycle of a lookalike that builds its app in :meth:`app`: :meth:`start`, :meth:`stop`,
    :attr:`url`."""

    _served: Served | None = None

    def app(self) -> Litestar:
        """The Litestar application (subclasses)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started, else ``""``."""
        return self._served.url if self._served is not None else ""

    def start(self) -> Self:
        """Serve in a background thread; returns once the port is bound."""
        self._served = Served.start(self.app(), type(self).__name__)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._served is not None:
            self._served.stop()


@dataclass(slots=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    """The JSON body, the form fields of a multipart body (files as ``(name, size)``), or None."""


@dataclass(slots=True)
class Failure:
    """A scripted error answer."""

    status: int
    body: dict[str, Any]
    retry_after: float | None = None
    match: str = ""
    """Only requests whose ``METHOD path`` contains this take it ("" matches all)."""


@dataclass
class LookalikeServer(ServedApp):
    """Base of the lookalikes: lifecycle, request log and scripted failures. Subclasses build :meth:`app`."""

    requests: list[Recorded] = field(default_factory=list)
    _failures: deque[Failure] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, failure: Failure, times: int = 1) -> None:
        """The next ``times`` matching requests get ``failure``'s answer."""
        with self._lock:
            self._failures.extend([failure] * times)

    def reset(self) -> None:
        """Forget scripted failures and recorded requests."""
        with self._lock:
            self._failures.clear()
            self.requests.clear()

    def record(self, request: Request, body: Any) -> None:
        """Keep the request for assertions."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(request.method, request.url.path, headers, body))

    def scripted_failure(self, request: Request) -> Response | None:
        """The answer of the first scripted failure this request matches (consumed), or None."""
        line = f"{request.method} {request.url.path}"
        with self._lock:
            for failure in self._failures:
                if failure.match in line:
                    self._failures.remove(failure)
                    break
            else:
                return None
        headers = {"retry-after": f"{failure.retry_after:g}"} if failure.retry_after is not None else None
        return json_response(failure.body, failure.status, headers=headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


async def read_json(request: Request) -> Any:
    """The request's JSON body, or None when it is not JSON."""
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
