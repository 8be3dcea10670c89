"""A local HTTP endpoint for effect tests: records the ``Idempotency-Key`` of every request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records the method and ``Idempotency-Key`` of every request, and answers 200 with JSON.

    With ``hold_first``, the first request is held unanswered until :attr:`release` is set (its
    sender is killed meanwhile); :attr:`first_arrived` is set when it comes.
    """

    def __init__(self, *, hold_first: bool = False) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.requests.append((self.command, self.headers.get("Idempotency-Key")))
                if len(receiver.requests) == 1:
                    receiver.first_arrived.set()
                    if hold_first:
                        receiver.release.wait(60)
                        return  # the sender is gone: nothing to answer
                body = json.dumps({"applied": True}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    @property
    def keys(self) -> list[str | None]:
        """The ``Idempotency-Key`` of each request, in arrival order (None: none sent)."""
        return [key for _, key in self.requests]


@contextmanager
def receiving(*, hold_first: bool = False) -> Iterator[Receiver]:
    """A :class:`Receiver` serving in a thread while the block runs."""
    rec = Receiver(hold_first=hold_first)
    thread = threading.Thread(target=rec.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        rec.server.shutdown()
        rec.server.server_close()
