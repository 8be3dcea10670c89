"""A real clamd for the virus scanning tests (a pytest plugin, loaded by tests/conftest.py).

Debian's clamav-daemon (``make test`` installs it) with a signature database made here: signature
downloads (freshclam) are not available, and the tests need one signature only, EICAR's, as a body
signature (``.ndb``), so it is found wherever the test file sits in what is scanned. Each clamd
listens on a Unix socket and a loopback TCP port of its own, in a fresh folder, with a small
``StreamMaxLength`` (1 MB) so that the size limit is quick to reach.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
"""The EICAR test file: harmless, and found by every virus scanner by agreement."""
SIGNATURE = "Eicar-Test-Signature"
STREAM_MAX = 1024 * 1024
"""The clamds' StreamMaxLength."""
START_TIMEOUT = 60.0


@dataclass
class Clamd:
    """A running clamd."""

    folder: Path
    process: subprocess.Popen[bytes]
    tcp_port: int

    @property
    def socket_path(self) -> Path:
        """Its Unix socket."""
        return self.folder / "clamd.sock"

    @property
    def url(self) -> str:
        """``WORKBENCH_CLAMAV_URL`` of its Unix socket."""
        return f"unix://{self.socket_path}"

    @property
    def tcp_url(self) -> str:
        """``WORKBENCH_CLAMAV_URL`` of its TCP port."""
        return f"tcp://127.0.0.1:{self.tcp_port}"

    @property
    def log(self) -> str:
        """What it wrote to its log."""
        path = self.folder / "clamd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop it (SIGTERM, then for sure)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def clamd_binary() -> str:
    """Where clamd is; the test fails saying how to install it when it is not there."""
    found = shutil.which("clamd") or next(
        (p for p in ("/usr/sbin/clamd", "/usr/local/sbin/clamd") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail(
            "the virus scanning tests need clamd: `make browser` installs it "
            "(apt-get install --no-install-recommends clamav-daemon clamav)"
        )
    return found


def write_database(folder: Path) -> None:
    """A signature database of one signature: EICAR's body, under its usual name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eicar.ndb").write_text(f"{SIGNATURE}:0:*:{EICAR.hex()}\n")


def start_clamd() -> Clamd:
    """Start a clamd in a fresh folder (short: a Unix socket path has at most 107 bytes) and wait
    until it answers PING."""
    folder = Path(tempfile.mkdtemp(prefix="wb-clamd-"))
    write_database(folder / "db")
    port = free_port()
    conf = folder / "clamd.conf"
    conf.write_text(
        "\n".join(
            [
                f"LocalSocket {folder / 'clamd.sock'}",
                f"TCPSocket {port}",
                "TCPAddr 127.0.0.1",
                f"DatabaseDirectory {folder / 'db'}",
                f"LogFile {folder / 'clamd.log'}",
                "Foreground yes",
                f"StreamMaxLength {STREAM_MAX // 1024}K",
                "SelfCheck 3600",
                "",
            ]
        )
    )
    out = open(folder / "stdout.log", "wb")  # noqa: SIM115 (the process keeps it)
    process = subprocess.Popen([clamd_binary(), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    out.close()
    clamd = Clamd(folder, process, port)
    deadline = time.monotonic() + START_TIMEOUT
    while not _pongs(clamd.socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            clamd.stop()
            said = (folder / "stdout.log").read_text(errors="replace")
            pytest.fail(f"clamd did not start (exit {process.returncode}):\n{said}\n{clamd.log}")
        time.sleep(0.05)
    return clamd


def _pongs(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(path))
            s.sendall(b"zPING\0")
            return s.recv(16).startswith(b"PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def clamd() -> Iterator[Clamd]:
    """One clamd for the test run."""
    server = start_clamd()
    yield server
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def private_clamd() -> Iterator[Callable[[], Clamd]]:
    """Starts clamds of the test's own (to stop one mid-test); all stopped at its end."""
    started: list[Clamd] = []

    def start() -> Clamd:
        started.append(start_clamd())
        return started[-1]

    yield start
    for server in started:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
