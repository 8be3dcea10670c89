"""Backups with ``pg_dump`` (custom format, ``-Fc``) and restores with ``pg_restore``.

* A backup is written to ``FILE.partial`` and renamed to ``FILE`` once ``pg_dump`` succeeded, so a
  file under the asked name is always a whole dump. Progress is measured in table bytes: ``pg_dump
  --verbose`` says which table it dumps, and each finished table counts with its size on disk.
* The API streams a dump as it is made (:class:`DumpStream`): nothing touches the server's disk.
  A failure before the first bytes is an error answer; a failure later cuts the download short,
  which ``pg_restore`` refuses (the archive's end is missing).
* A restore goes into an empty database only; a database that holds anything is refused, saying
  what it holds, unless forced (then ``--clean --if-exists`` replaces what the dump contains). It runs
  in one transaction (``--single-transaction --exit-on-error``): it happens whole or not at all.
  Owners and privileges are not restored (``--no-owner --no-privileges``: the objects belong to
  the role restoring them), nor the comment on an extension (it needs the extension's owner).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import logsafe
from workbench.errors import ConflictError, InputError, StoreError
from workbench.services.dbmanager.tools import Connection, Tool

CHUNK = 256 * 1024
_DUMPING = re.compile(r'dumping contents of table "?([^"]+)"?')
_RESTORE_STEP = re.compile(r"^pg_restore: (creating|processing data for|executing|dropping) ")


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a backup or restore is: ``done`` of ``total`` units (table bytes for a backup, archive
    entries for a restore), on ``step``; ``written``: bytes of the dump so far (backups)."""

    step: str
    done: int
    total: int
    written: int = 0


ProgressCallback = Callable[[Progress], None]


def _clean(lines: deque[str]) -> str:
    """The program's last messages, one line, with any secret redacted."""
    return logsafe.redact(" | ".join(line.strip() for line in lines if line.strip()))


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    while True:
        raw = await stream.readline()
        if not raw:
            return
        yield raw.decode("utf-8", "replace").rstrip("\n")


async def dump_to_file(
    tool: Tool,
    conn: Connection,
    path: Path,
    sizes: dict[str, int],
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Dump the database into ``path`` (custom format); ``sizes``: bytes of each table
    (``schema.name``) for the progress. StoreError with pg_dump's own message when it fails."""
    partial = path.with_name(path.name + ".partial")
    total = sum(sizes.values()) or 1
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *conn.argv(tool, "--format=custom", f"--file={partial}", "--verbose", "--no-password"),
        env=conn.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    messages: deque[str] = deque(maxlen=8)
    done, current = 0, None

    def report(step: str) -> None:
        if progress is not None:
            written = partial.stat().st_size if partial.exists() else 0
            progress(Progress(step, min(done, total), total, written))

    try:
        async for line in _lines(proc.stderr):
            found = _DUMPING.search(line)
            if found:
                if current is not None:
                    done += sizes.get(current, 0)
                current = found.group(1)
                report(current)
            elif "error" in line.lower() or "warning" in line.lower():
                messages.append(line)
        code = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        partial.unlink(missing_ok=True)
        raise
    if code != 0:
        partial.unlink(missing_ok=True)
        raise StoreError(f"pg_dump failed (exit {code}): {_clean(messages) or 'no message'}")
    done = total
    report("done")
    os.replace(partial, path)
    return {
        "file": str(path),
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - started, 3),
        "pg_dump": f"{tool.path} (PostgreSQL {tool.major}, {tool.source})",
    }


class DumpStream:
    """A dump streamed as ``pg_dump`` makes it: ``await start()`` (errors before the first bytes
    raise there), then iterate the chunks. Closing the iteration early kills ``pg_dump``."""

    def __init__(self, tool: Tool, conn: Connection) -> None:
        self.tool = tool
        self.conn = conn
        self._proc: asyncio.subprocess.Process | None = None
        self._first = b""
        self._messages: deque[str] = deque(maxlen=8)
        self._stderr: asyncio.Task[None] | None = None
        self.bytes = 0

    async def start(self) -> DumpStream:
        """Start pg_dump and wait for its first bytes; StoreError if it fails before them."""
        self._proc = await asyncio.create_subprocess_exec(
            *self.conn.argv(self.tool, "--format=custom", "--no-password"),
            env=self.conn.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._stderr = asyncio.get_running_loop().create_task(self._collect(self._proc.stderr))
        self._first = await self._proc.stdout.read(CHUNK)
        if not self._first:
            code = await self._proc.wait()
            await self._stderr
            raise StoreError(f"pg_dump failed (exit {code}): {_clean(self._messages) or 'no output'}")
        return self

    async def _collect(self, stream: asyncio.StreamReader) -> None:
        async for line in _lines(stream):
            self._messages.append(line)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            chunk = self._first
            while chunk:
                self.bytes += len(chunk)
                yield chunk
                chunk = await self._proc.stdout.read(CHUNK)
            code = await self._proc.wait()
            if self._stderr is not None:
                await self._stderr
            if code != 0:  # the download is cut short: the client sees an incomplete transfer
                raise StoreError(f"pg_dump failed (exit {code}): {_clean(self._messages)}")
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop pg_dump if it still runs."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._stderr is not None and not self._stderr.done():
            self._stderr.cancel()


async def archive_entries(tool: Tool, path: Path) -> list[str]:
    """The table of contents of a custom-format archive (``pg_restore --list``), comments left out;
    InputError when ``path`` is not such an archive."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    proc = await asyncio.create_subprocess_exec(
        tool.path,
        "--list",
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise InputError(
            f"{path}: not a pg_dump archive in the custom format (pg_restore says: "
            f"{message[-1] if message else 'nothing'})"
        )
    return [line for line in out.decode("utf-8", "replace").splitlines() if line and not line.startswith(";")]


def describe_contents(contents: dict[str, Any]) -> str:
    """What a database holds, in words (for the refusal of a restore)."""
    relations = ", ".join(f"{n} {kind}" for kind, n in sorted(contents["relations"].items()))
    tables = ", ".join(
        f"{t['table']} ({t['rows']} row{'' if t['rows'] == 1 else 's'})"
        for t in contents["largest_tables"]
        if t["rows"]
    )
    version = contents.get("schema_version")
    schema = f"; Agent Workbench schema at migration {version:04d}" if version else ""
    return f"{relations}{schema}; about {contents['rows']} rows in all" + (
        f", most in {tables}" if tables else ""
    )


async def restore_file(
    tool: Tool,
    conn: Connection,
    path: Path,
    contents: dict[str, Any],
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Restore the archive ``path`` into the database ``conn`` names, whose ``contents``
    (:func:`workbench.store.maintenance.contents`) say whether it is empty. ConflictError when it is
    not and ``force`` is off; StoreError with pg_restore's message when the restore fails (nothing
    of it stays: it runs in one transaction)."""
    entries = await archive_entries(tool, path)
    if not contents["empty"] and not force:
        raise ConflictError(
            f"database {conn.database or '(default)'} is not empty: it holds {describe_contents(contents)}. "
            "Restore into an empty database, or replace what the dump contains with --force"
        )
    wanted = [line for line in entries if "COMMENT - EXTENSION" not in line]
    total = len(wanted) or 1
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
        listing.write("\n".join(wanted) + "\n")
    options = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
    options += ["--verbose", "--no-password", f"--use-list={listing.name}"]
    if force:
        options += ["--clean", "--if-exists"]
    try:
        proc = await asyncio.create_subprocess_exec(
            *conn.argv(tool, *options, str(path)),
            env=conn.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        messages: deque[str] = deque(maxlen=8)
        done = 0
        try:
            async for line in _lines(proc.stderr):
                if _RESTORE_STEP.match(line):
                    done += 1
                    if progress is not None:
                        progress(Progress(line.split(": ", 1)[1], min(done, total), total))
                elif line.strip():
                    messages.append(line)
            code = await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
    finally:
        os.unlink(listing.name)
    if code != 0:
        raise StoreError(
            f"pg_restore failed (exit {code}); the database is as it was: {_clean(messages) or 'no message'}"
        )
    if progress is not None:
        progress(Progress("done", total, total))
    return {
        "file": str(path),
        "entries": len(wanted),
        "replaced": force and not contents["empty"],
        "seconds": round(time.perf_counter() - started, 3),
        "pg_restore": f"{tool.path} (PostgreSQL {tool.major}, {tool.source})",
    }
