"""Virus scanning of what users bring in: uploaded files, files blocks take from outside, documents.

One interface, two implementations chosen by ``WORKBENCH_FILE_SCAN``:

- :class:`NoScanner` (``off``, the default): nothing is scanned;
- :class:`ClamdScanner` (``on``): every file goes through ClamAV's clamd at ``WORKBENCH_CLAMAV_URL``
  (:mod:`.clamd`). Starting it asks clamd for ``PONG``: a ConfigError naming the settings when clamd
  does not answer, so no process starts with scanning on and no scanner.

``await scanner.check(data, name)`` returns when the data is clean and raises otherwise:

- :class:`FileInfected` (a 422, code ``file_infected``): clamd found something; the message names the
  file and the signature;
- :class:`ScannerUnavailable` (a 503, code ``scanner_unavailable``): clamd cannot be reached, did not
  answer in time, or could not scan this data; nothing unscanned is ever let through;
- :class:`~workbench.files.model.FileTooLarge` (a 413): more than clamd takes in one stream (its
  ``StreamMaxLength``, which should be at least ``WORKBENCH_FILE_MAX_BYTES``).

The file service (``workbench.services.files``) is what calls it, for every way in.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from workbench.config import Settings
from workbench.errors import EXIT_CONFIG, ConfigError, InputError, WorkbenchError
from workbench.files.clamd import (
    ClamdAddress,
    ClamdClient,
    ClamdScanError,
    ClamdStreamTooLong,
    ClamdUnreachable,
)
from workbench.files.model import FileTooLarge

log = logging.getLogger(__name__)
SCAN_SETTING = "WORKBENCH_FILE_SCAN"
URL_SETTING = "WORKBENCH_CLAMAV_URL"


class FileInfected(InputError):
    """A virus scanner found something in a file: refused, never stored for use (a 422)."""

    error_code = "file_infected"

    def __init__(self, name: str, signature: str, message: str | None = None) -> None:
        self.name = name
        self.signature = signature
        shown = f"the file {name!r}" if name else "the file"
        super().__init__(
            message or f"{shown} was refused: the virus scanner found {signature} in it; it was not stored"
        )


class ScannerUnavailable(WorkbenchError):
    """Files cannot be scanned now (clamd down, slow, or failing on this file): refused, try later (503).

    The message is shown to users, so it never names the scanner's address (the log line does)."""

    http_status = 503
    error_code = "scanner_unavailable"
    exit_code = EXIT_CONFIG

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "the virus scanner is unavailable, so the file was not stored; try again later"
        )


class FileScanner(ABC):
    """Checks data before the platform keeps or uses it."""

    enabled: bool = False

    async def start(self) -> None:
        """Make sure the scanner can work (a ConfigError naming the setting otherwise)."""

    async def stop(self) -> None:
        """Release what :meth:`start` took."""

    @abstractmethod
    async def check(self, data: bytes, name: str = "") -> None:
        """Return when ``data`` is clean; FileInfected, ScannerUnavailable or FileTooLarge otherwise."""

    @abstractmethod
    def describe(self) -> str:
        """What scans, for logs and health answers (``off``, ``clamd at unix:///...``)."""


class NoScanner(FileScanner):
    """Scanning off: everything passes."""

    async def check(self, data: bytes, name: str = "") -> None:
        """Nothing to do."""

    def describe(self) -> str:
        """``off``."""
        return "off"


class ClamdScanner(FileScanner):
    """Scanning through clamd (see the module's documentation for what each outcome raises)."""

    enabled = True

    def __init__(self, client: ClamdClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> ClamdScanner:
        """The scanner ``WORKBENCH_CLAMAV_URL`` and ``WORKBENCH_CLAMAV_TIMEOUT`` describe."""
        try:
            address = ClamdAddress.parse(settings.clamav_url)
        except ValueError as exc:
            raise ConfigError(f"{URL_SETTING}: {exc}") from None
        return cls(ClamdClient(address, timeout=settings.clamav_timeout))

    def describe(self) -> str:
        """Where clamd is."""
        return f"clamd at {self.client.address}"

    async def start(self) -> None:
        """Ask clamd for PONG: a ConfigError naming the settings when it does not answer."""
        try:
            await self.client.ping()
            version = await self.client.version()
        except ClamdUnreachable as exc:
            raise ConfigError(
                f"{SCAN_SETTING} is on, but clamd does not answer at {URL_SETTING}="
                f"{self.client.address}: {exc}. Start clamd (Debian: clamav-daemon), correct "
                f"{URL_SETTING}, or set {SCAN_SETTING}=off"
            ) from None
        log.info("files are scanned by %s (%s)", self.describe(), version)

    async def check(self, data: bytes, name: str = "") -> None:
        """Scan ``data`` through clamd's INSTREAM."""
        try:
            verdict = await self.client.instream(bytes(data))
        except ClamdStreamTooLong:
            log.warning(
                "a file of %d bytes is over clamd's StreamMaxLength (%s): raise it to at least "
                "WORKBENCH_FILE_MAX_BYTES",
                len(data),
                self.client.address,
            )
            raise FileTooLarge(
                len(data),
                None,
                f"the file is too large ({len(data)} bytes) for the virus scanner: it takes less "
                "(clamd's StreamMaxLength, which the operator can raise); the file was not stored",
            ) from None
        except ClamdScanError as exc:
            log.warning(
                "clamd (%s) could not scan a file of %d bytes: %s", self.client.address, len(data), exc
            )
            raise ScannerUnavailable(
                "the virus scanner could not scan the file, so it was not stored; try again later"
            ) from None
        except ClamdUnreachable as exc:
            log.error("the virus scanner is unavailable: %s", exc)
            raise ScannerUnavailable() from None
        if verdict.signature is not None:
            log.warning("refused file %r: clamd found %s", name, verdict.signature)
            raise FileInfected(name, verdict.signature)


def open_scanner(settings: Settings) -> FileScanner:
    """The scanner ``WORKBENCH_FILE_SCAN`` asks for (not started)."""
    return ClamdScanner.from_settings(settings) if settings.file_scan else NoScanner()


async def check_scanner(settings: Settings) -> None:
    """A process's check before it starts serving: with scanning on, a ConfigError naming the
    settings unless clamd answers (the Workbench checks again when it starts)."""
    scanner = open_scanner(settings)
    await scanner.start()
    await scanner.stop()
