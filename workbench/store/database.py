"""The database: an asyncpg pool on the embedded PostgreSQL or on ``DATABASE_URL``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from workbench import jsonutil
from workbench.config import Settings
from workbench.errors import StoreUnavailable
from workbench.store.embedded import embedded_url, release_embedded
from workbench.store.migrate import applied_versions, discover, migrate
from workbench.telemetry import metrics

log = logging.getLogger(__name__)

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # the socket is gone or refuses connections
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    # The server shutting down, crashing, or refusing new connections while it does (SQLSTATE 57).
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A pooled connection the dying server left mid-operation ("cannot switch to state ...").
    asyncpg.exceptions.InternalClientError,
)
"""The driver's ways of saying the database is not there (gone, shutting down, starting, full)."""


@contextlib.asynccontextmanager
async def reaching_database(what: str) -> AsyncIterator[None]:
    """Turn the driver's "database not there" errors into StoreUnavailable saying ``what`` failed
    (for callers that talk to people: pages, the chat; the API maps them in ``server/errors.py``)."""
    try:
        yield
    except TimeoutError:  # an OSError, but something slow, not the database
        raise
    except UNREACHABLE as exc:
        raise StoreUnavailable(f"cannot {what}: {exc}") from exc


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("jsonb", "json"):
        await conn.set_type_codec(
            name, encoder=jsonutil.dumps_db, decoder=jsonutil.loads, schema="pg_catalog"
        )


class TimedPool(asyncpg.Pool):
    """asyncpg's pool, timing how long each acquire waits for a connection
    (``workbench_db_pool_wait_seconds``: a pool too small for the work shows here first)."""

    async def _acquire(self, timeout: float | None) -> Any:
        started = time.perf_counter()
        try:
            return await super()._acquire(timeout)
        finally:
            metrics.pool_waited(time.perf_counter() - started)


async def _release_connection(conn: asyncpg.Connection) -> None:
    """What a connection goes through on its way back to the pool: nothing beyond asyncpg's own
    rollback of an unfinished transaction. asyncpg's default reset (advisory unlock, CLOSE ALL,
    UNLISTEN, RESET ALL) costs a round trip per release, that is per query; our code keeps no session
    state on pool connections (advisory locks, LISTEN and session settings live on dedicated
    connections; settings inside transactions use SET LOCAL)."""


class Database:
    """Owns the connection pool; ``start`` connects (starting the embedded server) and migrates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self.url: str | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool; using it before :meth:`start` is an error that says so."""
        if self._pool is None:
            raise RuntimeError("Database.start() has not been called")
        return self._pool

    @property
    def embedded(self) -> bool:
        """Whether this is the embedded server (no DATABASE_URL)."""
        return self.settings.database_url is None

    async def start(self, *, run_migrations: bool = True) -> None:
        """Connect, and apply pending migrations unless told not to."""
        if self._pool is not None:
            return
        self.url = self.settings.database_url or await embedded_url(self.settings.home)
        try:
            self._pool = await TimedPool(
                self.url,
                min_size=1,
                max_size=self.settings.pool_size,
                max_queries=50_000,
                max_inactive_connection_lifetime=300.0,
                init=_init_connection,
                reset=_release_connection,
                loop=None,
                connection_class=asyncpg.Connection,
                record_class=asyncpg.Record,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL ({self.describe()}): {exc}") from exc
        if run_migrations:
            async with self._pool.acquire() as conn:
                await migrate(conn)

    async def stop(self, timeout: float | None = None) -> None:
        """Close the pool (and leave the embedded server, which stops when no process uses it).

        With ``timeout``, connections still busy after that many seconds are terminated; the
        embedded server is left whatever happened, so it never outlives its last user.
        """
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        try:
            await asyncio.wait_for(pool.close(), timeout)
        except TimeoutError:
            log.warning("closing the database pool took more than %.1f s; connections terminated", timeout)
            pool.terminate()
        finally:
            if self.embedded:
                await release_embedded(self.settings.home)

    def describe(self) -> str:
        """Where the data lives, without credentials."""
        if self.embedded:
            return f"embedded PostgreSQL in {self.settings.home / 'pgdata'}"
        url = self.settings.database_url or ""
        return url.split("@")[-1] if "@" in url else url

    async def health(self) -> dict[str, Any]:
        """Reachability, latency, server version, extensions and migration state."""
        started = time.perf_counter()
        async with self.pool.acquire() as conn:
            version = await conn.fetchval("SHOW server_version")
            extensions = {
                r["extname"]: r["extversion"]
                for r in await conn.fetch("SELECT extname, extversion FROM pg_extension")
            }
            applied = await applied_versions(conn)
        known = [m.version for m in discover()]
        return {
            "ok": True,
            "database": self.describe(),
            "server_version": version,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "extensions": extensions,
            "migrations_applied": applied,
            "migrations_pending": [v for v in known if v not in applied],
        }
