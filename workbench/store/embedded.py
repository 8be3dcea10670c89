"""The embedded PostgreSQL (pgserver): started on demand under ``WORKBENCH_HOME``, shared by processes.

pgserver serializes initdb and start-up with an inter-process file lock and reuses a server another
process already started on the same data folder, so a notebook kernel and the server can start at the
same moment. The server listens on a Unix socket only (no TCP port to collide with), and stops when
the last process that uses it exits.

pgserver logs every command it runs at INFO (initdb, pg_ctl, socket paths...): those records reach
the console only when the process logs at DEBUG (``workbench up --log-level debug``), or when the
``pgserver`` logger is given a level of its own. Its warnings and errors always do. PostgreSQL's own
log is the file ``pgdata/log``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import psutil

from workbench.errors import StoreUnavailable

log = logging.getLogger(__name__)
DATABASE = "workbench"
HANDLES = ".handle_pids.json"  # pgserver's list of the processes using the server
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


def _start(pgdata: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver.postgres_server import PostgresServer

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import PostgresServer

        _prune_dead_handles(pgdata, PostgresServer._lock)  # users killed with -9 never left
        server.cleanup()  # this process leaves; stops the server if it was the last

        with PostgresServer._lock:  # a later start in this process registers itself anew
            PostgresServer._instances.pop(server.pgdata, None)


async def release_embedded(home: Path) -> None:
    """This process stops using the embedded server of ``home`` (the last user stops it)."""
    await asyncio.to_thread(_release, home / "pgdata")


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
