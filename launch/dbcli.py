"""``workbench db ...`` (migrate, health, backup, restore, optimize, prune), ``workbench admin ...``
(grant, revoke, list) and ``workbench dbmanager``: their parsers and commands.

Like :mod:`launch.cli`, this module imports only the standard library at its top; each command
imports what it needs. The commands talk to the database directly (a pool, no Workbench: nothing
is resumed, no queue is joined); the rules are :mod:`workbench.services.dbmanager`'s. Progress bars
(rich) are drawn on stderr when it is a terminal; otherwise one line says what was done.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import EXIT_CONFIG, EXIT_OK, ConfigError

if TYPE_CHECKING:
    from workbench.services.dbmanager import DatabaseManager
    from workbench.store.database import Database


def _print_json(doc: Any) -> None:
    from workbench import jsonutil

    sys.stdout.write(jsonutil.dumps(doc) + "\n")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


@contextlib.asynccontextmanager
async def _database(*, migrate: bool = False) -> AsyncIterator[Database]:
    from workbench.config import Settings
    from workbench.store.database import Database

    db = Database(Settings.from_env())
    await db.start(run_migrations=migrate)
    try:
        yield db
    finally:
        await db.stop()


@contextlib.asynccontextmanager
async def _manager(*, current_schema: bool = False) -> AsyncIterator[DatabaseManager]:
    """The manager of the configured database; with ``current_schema``, ConfigError unless every
    migration is applied (the command needs this version's tables)."""
    from workbench.services.dbmanager import DatabaseManager

    async with _database() as db:
        if current_schema:
            pending = (await db.health())["migrations_pending"]
            if pending:
                raise ConfigError(
                    f"the database's schema is behind this version (migrations {pending} pending): "
                    "run `workbench db migrate` first"
                )
        yield DatabaseManager(db)


@contextlib.contextmanager
def _bar(what: str) -> Iterator[Callable[[str, int, int, str], None]]:
    """A progress bar on stderr (only on a terminal): yields ``update(step, done, total, extra)``."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}", markup=False),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task(what, total=None, step="")

    def update(step: str, done: int, total: int, extra: str = "") -> None:
        shown = step if len(step) <= 48 else "…" + step[-47:]
        progress.update(task, completed=done, total=total, step=f"{shown} {extra}".strip())

    with progress:
        yield update


# ---- db ------------------------------------------------------------------------------------------


async def cmd_db_migrate(args: argparse.Namespace) -> int:
    async with _database(migrate=True) as db:
        health = await db.health()
    if args.json:
        _print_json(health)
    else:
        print(f"database ready: {health['database']} (migrations {health['migrations_applied']})")
    return EXIT_OK


def _print_health(h: dict[str, Any]) -> None:
    print(f"database:     {h['database']}")
    print(f"server:       PostgreSQL {h['server_version']} ({h['latency_ms']} ms to answer)")
    print(f"size:         {_size(h['size_bytes'])} in {h['table_count']} tables")
    pending = h["migrations_pending"]
    print(
        f"migrations:   {len(h['migrations_applied'])} applied" + (f", PENDING {pending}" if pending else "")
    )
    print(f"extensions:   {', '.join(f'{k} {v}' for k, v in h['extensions'].items())}")
    c = h["connections"]
    states = ", ".join(f"{n} {state}" for state, n in c["by_state"].items()) or "none"
    print(
        f"connections:  {c['this_database']} to this database ({states}); {c['server_total']} of "
        f"{c['max_connections']} on the server; oldest transaction {c['oldest_transaction_seconds']} s"
    )
    p = h["pool"]
    print(
        f"pool:         {p['size']} open, {p['free']} free (min {p['min']}, max {p['max']}; this command's)"
    )
    b = h["bloat"]
    print(
        f"dead tuples:  {b['dead_tuples']} (of {b['live_tuples']} live), about {_size(b['estimated_bytes'])} "
        "of tables (estimated)"
    )
    retention = h["retention"]
    policy = ", ".join(f"{k} {v}" for k, v in retention.items() if v is not None) or "off (everything kept)"
    print(f"retention:    {policy}")
    print("\nlargest tables:                    table     indexes     total   live rows   dead rows")
    for t in h["tables"][:10]:
        print(
            f"  {t['schema'] + '.' + t['name']:<30} {_size(t['table_bytes']):>9}  {_size(t['index_bytes']):>9}  "
            f"{_size(t['total_bytes']):>9}  {t['live_tuples']:>10}  {t['dead_tuples']:>10}"
        )
    slow = h["slow_queries"]
    if not slow["available"]:
        print(f"\nslowest queries: unknown ({slow['reason']})")
    else:
        print("\nslowest queries (mean ms, calls):")
        for q in slow["queries"]:
            text = " ".join(q["query"].split())
            print(f"  {q['mean_ms']:>10.2f}  {q['calls']:>8}  {text[:90]}")


async def cmd_db_health(args: argparse.Namespace) -> int:
    async with _manager() as manager:
        health = await manager.health()
    if args.json:
        _print_json(health)
    else:
        _print_health(health)
    return EXIT_OK if not health["migrations_pending"] else EXIT_CONFIG


async def cmd_db_backup(args: argparse.Namespace) -> int:
    path = Path(args.file).expanduser()
    if path.is_dir():
        from workbench.errors import InputError

        raise InputError(f"{path} is a folder: name the backup file (e.g. {path / 'workbench.dump'})")
    async with _manager() as manager:
        with _bar("backup") as update:
            done = await manager.backup(
                path, progress=lambda p: update(p.step, p.done, p.total, f"({_size(p.written)} written)")
            )
    if args.json:
        _print_json(done)
    else:
        print(f"backup written: {done['file']} ({_size(done['bytes'])} in {done['seconds']:.1f} s)")
    return EXIT_OK


async def cmd_db_restore(args: argparse.Namespace) -> int:
    path = Path(args.file).expanduser()
    async with _manager() as manager:
        with _bar("restore") as update:
            done = await manager.restore(
                path, force=args.force, progress=lambda p: update(p.step, p.done, p.total)
            )
    if args.json:
        _print_json(done)
        return EXIT_OK
    how = "replacing what the dump contains" if done["replaced"] else "into an empty database"
    print(f"restored {done['file']} into {done['database']} ({how}, {done['seconds']:.1f} s)")
    if done["migrations_pending"]:
        print(
            f"the dump is of an older version: run `workbench db migrate` (pending {done['migrations_pending']})",
            file=sys.stderr,
        )
    return EXIT_OK


async def cmd_db_optimize(args: argparse.Namespace) -> int:
    async with _manager() as manager:
        with _bar("VACUUM (ANALYZE)") as update:
            report = await manager.optimize(progress=lambda table, i, n: update(table, i, n))
    if args.json:
        _print_json(report)
        return EXIT_OK
    reclaimed = report["reclaimed_bytes"]
    print(
        f"vacuumed and analyzed {len(report['tables'])} tables in {report['seconds']:.1f} s: "
        f"{report['dead_tuples_removed']} dead tuples removed; database "
        f"{_size(report['database_bytes_before'])} -> {_size(report['database_bytes_after'])} "
        + (f"({_size(reclaimed)} returned to the system)" if reclaimed > 0 else "(the freed space is reused)")
    )
    for t in report["tables"]:
        if t["dead_tuples_before"] or t["reclaimed_bytes"] > 0:
            print(
                f"  {t['table']:<32} dead {t['dead_tuples_before']:>8} -> {t['dead_tuples_after']:<8} "
                f"{_size(t['total_bytes_before']):>9} -> {_size(t['total_bytes_after'])}"
            )
    return EXIT_OK


async def cmd_db_prune(args: argparse.Namespace) -> int:
    async with _manager(current_schema=True) as manager:
        report = await manager.prune(dry_run=args.dry_run)
    if args.json:
        _print_json(report.to_dict())
        return EXIT_OK
    if not report.users:
        print(
            "retention is off: no server policy (WORKBENCH_RETENTION_DAYS, WORKBENCH_RETENTION_PER_AGENT) and no user set one"
        )
        return EXIT_OK
    verb = "would remove" if report.dry_run else "removed"
    print(
        f"{verb} {report.runs} runs and {report.node_executions} node executions "
        f"({report.users} users with a policy; {report.kept} runs left because they are still going on "
        f"or held; {report.seconds:.1f} s)"
    )
    return EXIT_OK


# ---- admin ---------------------------------------------------------------------------------------


async def cmd_admin(args: argparse.Namespace) -> int:
    from workbench.services.admins import AdminService
    from workbench.store.accounts import AccountRepository

    async with _database() as db:
        service = AdminService(AccountRepository(db.pool))
        if args.admin_command == "grant":
            user = await service.grant(args.email)
        elif args.admin_command == "revoke":
            user = await service.revoke(args.email)
        left = await service.list()
    if args.admin_command == "list":
        if args.json:
            _print_json([u.to_dict() for u in left])
        elif not left:
            print("no administrator with an account (the local no-login mode's user always is one)")
        for u in left if not args.json else []:
            print(f"{u.email}  {u.id}{'' if u.is_active else '  (deactivated)'}")
        return EXIT_OK
    if args.json:
        _print_json(user.to_dict())
        return EXIT_OK
    print(f"{user.email} is {'an administrator now' if user.is_admin else 'no administrator any more'}")
    if not left:
        print("no account is an administrator now: `workbench admin grant EMAIL` makes one", file=sys.stderr)
    return EXIT_OK


# ---- dbmanager -----------------------------------------------------------------------------------


def cmd_dbmanager(args: argparse.Namespace) -> int:
    from launch.dbmanager import run_dbmanager

    return run_dbmanager(args.host, args.port, args.log_level)


# ---- parsers -------------------------------------------------------------------------------------


def add_parsers(sub: Any, worker_parser: Callable[..., None]) -> None:
    """Add ``db``, ``admin`` and ``dbmanager`` to the ``workbench`` command's subparsers."""
    p = sub.add_parser("db", help="database commands: migrate, health, backup, restore, optimize, prune")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    d = dbsub.add_parser("migrate", help="create or upgrade the schema")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_db_migrate)
    d = dbsub.add_parser(
        "health",
        help="reachability, versions, migrations, connections, pool, sizes, dead tuples, slowest queries",
    )
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_db_health)
    d = dbsub.add_parser("backup", help="dump the database into FILE (pg_dump, custom format)")
    d.add_argument("file", help="the dump to write (replaced if it exists, once the dump succeeded)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_db_backup)
    d = dbsub.add_parser(
        "restore",
        help="restore a dump into the database: refused unless it is empty (or --force)",
        description="Restore a `workbench db backup` file (pg_restore, in one transaction). The "
        "database must be empty; with --force, what the dump contains is replaced (--clean). Stop the "
        "other processes using the database first.",
    )
    d.add_argument("file")
    d.add_argument("--force", action="store_true", help="restore over a database that is not empty")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_db_restore)
    d = dbsub.add_parser("optimize", help="VACUUM (ANALYZE) every table and report what it reclaimed")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_db_optimize)
    d = dbsub.add_parser("prune", help="apply retention now: remove runs older or beyond the policy")
    d.add_argument("--dry-run", action="store_true", help="count what would be removed; remove nothing")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=cmd_db_prune)

    p = sub.add_parser("admin", help="administrators: grant, revoke, list (who may use /api/v1/admin)")
    asub = p.add_subparsers(dest="admin_command", required=True)
    for name, text in (
        ("grant", "make the account with this address an administrator"),
        ("revoke", "the account with this address is no administrator any more"),
    ):
        a = asub.add_parser(name, help=text)
        a.add_argument("email")
        a.add_argument("--json", action="store_true")
        a.set_defaults(handler=cmd_admin)
    a = asub.add_parser("list", help="the accounts that are administrators")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=cmd_admin)

    worker_parser(
        sub,
        "dbmanager",
        "prune by the retention policy in the background, with /health and /metrics",
        8005,
        cmd_dbmanager,
    )
