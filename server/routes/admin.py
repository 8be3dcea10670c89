"""/api/v1/admin/db: the database manager, for administrators (403 for everyone else, and for API
keys: an administrator's login is needed). The rules are :mod:`workbench.services.dbmanager`'s and
:mod:`workbench.services.admins`'; restoring a dump is the command line's alone (``workbench db
restore``), since it replaces the database under every process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream

from server.deps import caller, errors, workbench_of
from workbench.services.dbmanager import DatabaseManager

BACKUP_PATH = "/admin/db/backup"
"""Where dumps are downloaded (left out of response compression: a dump is compressed already)."""


def _manager(request: Request[Any, Any, Any]) -> DatabaseManager:
    return DatabaseManager.of(workbench_of(request))


class AdminDatabaseController(Controller):
    """Health, optimization, pruning and backups of the database."""

    path = "/admin/db"
    tags = ["admin"]

    @get("/health", responses=errors(503), summary="Database health (administrators)")
    async def health(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Versions and migrations; connections by state; this server process's pool (size, free);
        the database's size; tables with their table and index sizes; dead tuples and the bloat they
        are estimated to hold; the slowest statements when `pg_stat_statements` is installed (else
        why not)."""
        return await _manager(request).health(by=caller(request))

    @post("/optimize", status_code=200, responses=errors(503), summary="VACUUM (ANALYZE) (administrators)")
    async def optimize(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Vacuum and analyze every table, one at a time (reads and writes go on), and report what it
        reclaimed: sizes and dead tuples before and after. Takes as long as the tables need."""
        return await _manager(request).optimize(by=caller(request))

    @post(
        "/prune", status_code=200, responses=errors(409, 503), summary="Apply retention now (administrators)"
    )
    async def prune(
        self,
        request: Request[Any, Any, Any],
        dry_run: bool = Parameter(default=False, query="dry_run", description="Count only; remove nothing."),
    ) -> dict[str, Any]:
        """One retention pass over every user with a policy in force (the server's
        `WORKBENCH_RETENTION_*`, users' own bounds): how many runs and node executions it removed
        (or would: `dry_run`). 409 while another process is pruning."""
        report = await _manager(request).prune(by=caller(request), dry_run=dry_run)
        return report.to_dict()

    @get(
        "/backup",
        responses={
            200: ResponseSpec(
                data_container=bytes,
                media_type="application/octet-stream",
                description="A pg_dump archive in the custom format (restore with `workbench db restore`).",
                generate_examples=False,
            ),
            **errors(503),
        },
        summary="Download a backup (administrators)",
    )
    async def backup(self, request: Request[Any, Any, Any]) -> Stream:
        """The whole database as `pg_dump --format=custom` makes it, streamed as it is made. A dump
        that fails once started ends the download early (an incomplete file, which `pg_restore`
        refuses)."""
        stream = await _manager(request).backup_stream(by=caller(request))
        name = f"workbench-{datetime.now(UTC):%Y%m%d-%H%M%S}.dump"
        return Stream(
            stream,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
            },
        )
