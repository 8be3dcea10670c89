"""The embedded PostgreSQL (pgserver): started on demand under ``WORKBENCH_HOME``, shared by processes.

Starting and leaving are serialized by a file lock of our own, ``WORKBENCH_HOME/.pgdata.lock``
(filelock: held across processes and across threads of one process), so any number of processes can
start at the same moment on a fresh folder: one creates ``pgdata`` and runs initdb, the others wait
for it and join the server it started. (pgserver has a lock of its own, but creates ``pgdata``
before taking it, and its lock does not exclude threads of one process.) The server listens on a
Unix socket only (no TCP port to collide with), and stops when the last process that uses it exits.

A process that died without leaving (kill -9) stays in pgserver's list of users; every start and
every leave first prunes the dead from that list, so a later process adopts a server left running
by processes that are all gone, and stops it when it leaves in turn.

pgserver logs every command it runs at INFO (initdb, pg_ctl, socket paths...): those records reach
the console only when the process logs at DEBUG (``workbench up --log-level debug``), or when the
``pgserver`` logger is given a level of its own. Its warnings and errors always do. PostgreSQL's own
log is the file ``pgdata/log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock
import psutil

from workbench.errors import StoreUnavailable

log = logging.getLogger(__name__)
DATABASE = "workbench"
HANDLES = ".handle_pids.json"  # pgserver's list of the processes using the server
LOCK = ".pgdata.lock"  # next to pgdata: held while a process starts, joins or leaves the server
LOCK_TIMEOUT = 120.0
"""Seconds to wait for another process to finish starting (or stopping) the server."""
PGSERVER_LOGGER = "pgserver"


class PgserverChatter(logging.Filter):
    """Lets pgserver's INFO and DEBUG records through only when the process logs at DEBUG.

    Decided per record, so a level set after start-up (``--log-level debug``) applies; an explicit
    level on the ``pgserver`` logger itself is obeyed too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        own = logging.getLogger(PGSERVER_LOGGER).level
        if own != logging.NOTSET:
            return record.levelno >= own
        return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


def _quiet_pgserver() -> None:
    """Install :class:`PgserverChatter` on pgserver's logger (once)."""
    logger = logging.getLogger(PGSERVER_LOGGER)
    if not any(isinstance(f, PgserverChatter) for f in logger.filters):
        logger.addFilter(PgserverChatter())


_quiet_pgserver()


def _prune_dead_handles(pgdata: Path, lock: Any) -> None:
    """Forget processes that died without saying so (kill -9), so the last live one stops the server."""
    handles = pgdata / HANDLES
    if not handles.exists():
        return
    with lock:
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


_users: dict[Path, tuple[Any, int]] = {}
"""pgdata -> (pgserver handle, how many Databases of this process use it)."""
_users_lock = threading.Lock()


@contextlib.contextmanager
def _locked(pgdata: Path) -> Iterator[None]:
    """Hold the lock serializing starts, joins and leaves of the server of ``pgdata``;
    StoreUnavailable naming the lock file when it cannot be had in time."""
    lock = filelock.FileLock(pgdata.parent / LOCK, timeout=LOCK_TIMEOUT)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise StoreUnavailable(
            f"another process has been starting or stopping the embedded PostgreSQL in {pgdata} for "
            f"{LOCK_TIMEOUT:g} s (it holds {lock.lock_file}); is it stuck?"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _start(pgdata: Path) -> str:
    with warnings.catch_warnings(), _locked(pgdata):
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import PostgresServer

        pgdata.mkdir(exist_ok=True)  # pgserver would create it outside any lock (FileExistsError)
        _prune_dead_handles(pgdata, PostgresServer._lock)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    with _users_lock:
        _, count = _users.get(pgdata, (server, 0))
        _users[pgdata] = (server, count + 1)
    return server.get_uri()


def _release(pgdata: Path) -> None:
    with _users_lock:
        entry = _users.get(pgdata)
        if entry is None:
            return
        server, count = entry
        if count > 1:
            _users[pgdata] = (server, count - 1)
            return
        del _users[pgdata]
    # This process is done with the server: it stops unless another process (a notebook kernel, a
    # server) still uses it. Done here rather than at exit, because servers killed by a signal
    # (uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown) never run atexit handlers.
    with warnings.catch_warnings(), _locked(pgdata):
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import PostgresServer

        _prune_dead_handles(pgdata, PostgresServer._lock)  # users killed with -9 never left
        server.cleanup()  # this process leaves; stops the server if it was the last

        with PostgresServer._lock:  # a later start in this process registers itself anew
            PostgresServer._instances.pop(server.pgdata, None)


async def release_embedded(home: Path) -> None:
    """This process stops using the embedded server of ``home`` (the last user stops it)."""
    await asyncio.to_thread(_release, home / "pgdata")


def release_all_embedded() -> None:
    """This process leaves every embedded server it uses, at once (a stop out of time: the last user
    stops the server). Blocking; safe from any thread, and a no-op for servers already left."""
    with _users_lock:
        used = list(_users)
    for pgdata in used:
        with _users_lock:
            if pgdata in _users:
                _users[pgdata] = (_users[pgdata][0], 1)  # every Database of this process leaves
        try:
            _release(pgdata)
        except Exception:
            log.exception("leaving the embedded PostgreSQL in %s failed", pgdata)


async def embedded_url(home: Path) -> str:
    """Start (or join) the embedded server for ``home`` and return the URL of its workbench database."""
    home.mkdir(parents=True, exist_ok=True)
    pgdata = home / "pgdata"
    try:
        admin_url = await asyncio.to_thread(_start, pgdata)
    except Exception as exc:
        log_path = pgdata / "log"
        detail = log_path.read_text()[-2000:] if log_path.exists() else ""
        raise StoreUnavailable(f"cannot start the embedded PostgreSQL in {pgdata}: {exc}\n{detail}") from exc
    await _ensure_database(admin_url)
    return admin_url.replace("/postgres?", f"/{DATABASE}?", 1)


async def _ensure_database(admin_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another process created it at the same moment
    finally:
        await conn.close()
