"""The ``workbench`` command: run and validate graph files, list blocks, manage the database.

Exit codes: 0 success; 1 the run failed or was cancelled; 2 bad input (arguments, graph file, inputs);
3 configuration or database unavailable; 4 an internal error (a bug: please report it).

Start-up is kept short: this module imports only the standard library, ``workbench.errors`` and
``workbench.logsafe``; each command imports what it needs (``--help`` and ``--version`` nothing more,
``validate`` the graph model and the block registry, not the platform; tests/test_cli.py checks it).

It lives in ``launch``, the composition root: the one package that imports every layer (the core,
``server``); the process commands (serve, up, executor, scheduler) start :mod:`launch.serve`,
:mod:`launch.executor` and :mod:`launch.scheduler`. ``python -m launch.cli`` runs it too.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import sys
import traceback
import types
from collections.abc import Sequence
from typing import Any

from workbench import __version__, logsafe
from workbench.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USER,
    GraphValidationError,
    UserError,
    WorkbenchError,
)


def parse_input(item: str) -> tuple[str, Any]:
    """``name=value``: the value is JSON when it parses as JSON, otherwise the plain string."""
    name, sep, raw = item.partition("=")
    if not sep or not name:
        raise UserError(f"--input expects name=value, got {item!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def _print_json(doc: Any) -> None:
    from workbench import jsonutil

    sys.stdout.write(jsonutil.dumps(doc) + "\n")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    from workbench import jsonutil

    return jsonutil.dumps(value)


# ---- commands ----------------------------------------------------------------------------------


async def cmd_run(args: argparse.Namespace) -> int:
    from workbench.app import Workbench
    from workbench.graph.autogpt import load_graph_file

    graph = load_graph_file(args.file)
    inputs = dict(parse_input(i) for i in args.input or [])
    async with Workbench(ephemeral=args.ephemeral, role="cli") as wb:
        # What start-up made lives until exit: out of the collector's way, the run's pauses are shorter.
        gc.freeze()
        execution_id = await wb.executions.submit(graph, inputs, ephemeral=args.ephemeral)
        try:
            result = await wb.executions.wait(execution_id, timeout=args.timeout)
        except TimeoutError:
            await wb.executions.cancel(execution_id)
            result = await wb.executions.get(execution_id)
            result.error = f"timed out after {args.timeout:g}s (cancelled)"
    if args.json:
        _print_json(result.to_json())
    else:
        for name, values in result.outputs.items():
            for value in values:
                print(f"{name}: {_show(value)}")
        took = result.duration or 0.0
        print(f"execution {result.execution_id} {result.status} in {took * 1000:.1f} ms", file=sys.stderr)
    if not result.ok:
        if not args.json:
            print(f"error: {result.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    # The graph model and the block registry only: no database, no services, no event loop.
    from workbench.block.registry import default_registry
    from workbench.graph.autogpt import load_graph_file
    from workbench.graph.validate import validate_graph

    try:
        graph = load_graph_file(args.file)
        problems = validate_graph(graph, default_registry(), lambda graph_id, version: None)
    except GraphValidationError as exc:
        problems = exc.problems
    if args.json:
        _print_json({"valid": not problems, "problems": [p.to_dict() for p in problems]})
    elif problems:
        print(f"{args.file}: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
    else:
        print(f"{args.file}: valid")
    return EXIT_USER if problems else EXIT_OK


def cmd_blocks(args: argparse.Namespace) -> int:
    from workbench.block.registry import default_registry

    blocks = sorted(default_registry(), key=lambda b: b.name.lower())
    if args.category:
        wanted = args.category.upper()
        blocks = [b for b in blocks if any(str(c) == wanted for c in b.categories)]
    if args.json:
        _print_json([b.describe() for b in blocks])
        return EXIT_OK
    rows = [(b.name, ",".join(str(c) for c in b.categories), b.id, b.description) for b in blocks]
    widths = [max(len(r[i]) for r in [("NAME", "CATEGORIES", "ID", ""), *rows]) for i in range(3)]
    print(f"{'NAME':<{widths[0]}}  {'CATEGORIES':<{widths[1]}}  {'ID':<{widths[2]}}  DESCRIPTION")
    for name, cats, block_id, desc in rows:
        first = desc.splitlines()[0] if desc else ""
        print(f"{name:<{widths[0]}}  {cats:<{widths[1]}}  {block_id:<{widths[2]}}  {first[:80]}")
    print(f"{len(rows)} blocks", file=sys.stderr)
    return EXIT_OK


async def cmd_db(args: argparse.Namespace) -> int:
    from workbench.config import Settings
    from workbench.store.database import Database

    db = Database(Settings.from_env())
    await db.start(run_migrations=args.db_command == "migrate")
    try:
        health = await db.health()
    finally:
        await db.stop()
    if args.db_command == "migrate":
        print(f"database ready: {health['database']} (migrations {health['migrations_applied']})")
        return EXIT_OK
    if args.json:
        _print_json(health)
    else:
        for key, value in health.items():
            print(f"{key}: {_show(value)}")
    return EXIT_OK if not health["migrations_pending"] else EXIT_CONFIG


async def cmd_graphs(args: argparse.Namespace) -> int:
    from workbench.app import Workbench
    from workbench.auth import LOCAL_USER_ID

    async with Workbench(resume=False, role="cli") as wb:
        graphs, total = await wb.graphs.list(LOCAL_USER_ID, search=args.search, limit=args.limit)
    if args.json:
        _print_json({"total": total, "graphs": [g.to_dict() for g in graphs]})
    else:
        for g in graphs:
            print(f"{g.id}  v{g.version}  {g.node_count:>3} nodes  {g.name}")
    return EXIT_OK


async def cmd_executions(args: argparse.Namespace) -> int:
    from workbench.app import Workbench
    from workbench.auth import LOCAL_USER_ID

    async with Workbench(resume=False, role="cli") as wb:
        records, total = await wb.executions.list(LOCAL_USER_ID, status=args.status, limit=args.limit)
    if args.json:
        _print_json({"total": total, "executions": [r.to_dict(with_nodes=False) for r in records]})
    else:
        for r in records:
            print(
                f"{r.id}  {r.status:<9}  {r.created_at:%Y-%m-%d %H:%M:%S}  graph {r.graph_id} v{r.graph_version}"
            )
    return EXIT_OK


async def cmd_resume(args: argparse.Namespace) -> int:
    from workbench.app import Workbench

    async with Workbench(resume=False, role="cli") as wb:
        ids = await wb.executions.resume_interrupted()
        results = [await wb.executions.wait(i, timeout=args.timeout) for i in ids]
    if args.json:
        _print_json([r.to_json() for r in results])
    else:
        for r in results:
            print(f"execution {r.execution_id} resumed: {r.status}")
        if not results:
            print("no interrupted executions")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def cmd_mcp(args: argparse.Namespace) -> int:
    from workbench.app import Workbench
    from workbench.auth import LOCAL_PRINCIPAL
    from workbench.mcp.stdio import claim_stdout, serve_stdio

    serving = not (args.list or args.enable or args.disable or args.default)
    protocol_out = claim_stdout() if serving else None
    async with Workbench(role="cli") as wb:
        tools = wb.agent_tools
        for value, graph_id in ((True, args.enable), (False, args.disable), (None, args.default)):
            if graph_id:
                tool = await tools.set_served(graph_id, LOCAL_PRINCIPAL, value)
                print(f"{graph_id}: {'served as ' + tool.name if tool else 'not served'}", file=sys.stderr)
        if args.enable or args.disable or args.default:
            return EXIT_OK
        if args.list:
            listed = await tools.list(LOCAL_PRINCIPAL)
            if args.json:
                _print_json([t.to_dict() for t in listed])
            else:
                for t in listed:
                    inputs = ", ".join(t.input_schema.get("properties") or {}) or "no inputs"
                    print(f"{t.name}  ({inputs})  graph {t.graph_id} v{t.version}")
            return EXIT_OK
        assert protocol_out is not None
        await serve_stdio(wb, LOCAL_PRINCIPAL, protocol_out)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from launch.serve import run
    from server.config import ServerConfig

    config = ServerConfig.from_env(host=args.host, port=args.port, auth=args.auth)
    run(config, log_level=args.log_level, ui=not args.no_ui)
    return EXIT_OK


def cmd_executor(args: argparse.Namespace) -> int:
    from launch.executor import run_executor

    run_executor(args.host, args.port, args.log_level)
    return EXIT_OK


def cmd_scheduler(args: argparse.Namespace) -> int:
    from launch.scheduler import run_scheduler

    return run_scheduler(args.host, args.port, args.log_level)


# ---- parser ------------------------------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _log_level_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default="info",
        help="least important log lines shown (default info)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``workbench`` command."""
    parser = argparse.ArgumentParser(
        prog="workbench", description="Agent Workbench: run agent graphs of blocks."
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a graph file and print its outputs")
    p.add_argument("file", help="graph file (AutoGPT export format)")
    p.add_argument(
        "--input", "-i", action="append", metavar="NAME=VALUE", help="a graph input (JSON or text)"
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object: execution_id, status, outputs, error"
    )
    p.add_argument("--ephemeral", action="store_true", help="run without storing anything (no database)")
    p.add_argument("--timeout", type=float, default=None, help="cancel the run after this many seconds")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("validate", help="check a graph file and list every located problem")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("blocks", help="list the available blocks")
    p.add_argument("--json", action="store_true", help="the catalogue with ids, categories and schemas")
    p.add_argument("--category", help="only blocks of this category (e.g. TEXT)")
    p.set_defaults(handler=cmd_blocks)

    p = sub.add_parser("db", help="database commands")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("migrate", help="create or upgrade the schema").set_defaults(handler=cmd_db)
    h = dbsub.add_parser("health", help="reachability, versions, extensions and migrations")
    h.add_argument("--json", action="store_true")
    h.set_defaults(handler=cmd_db, json=False)

    p = sub.add_parser("graphs", help="list stored graphs")
    p.add_argument("--search")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_graphs)

    p = sub.add_parser("executions", help="list stored executions")
    p.add_argument("--status", choices=["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_executions)

    for name, text in (
        ("serve", "serve the REST API and WebSocket"),
        ("up", "everything in one process: API, WebSocket and executor on the embedded database"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=8006, help="port (default 8006)")
        p.add_argument(
            "--auth",
            choices=["none", "accounts"],
            default=None,
            help="none: one local user, loopback only (default); accounts: tokens or API keys required",
        )
        p.add_argument(
            "--no-ui", action="store_true", help="do not serve the web apps (WORKBENCH_UI_PORT, default 8010)"
        )
        _log_level_option(p)
        p.set_defaults(handler=cmd_serve)

    p = sub.add_parser(
        "mcp",
        help="serve your agents as MCP tools over stdio (for desktop clients), on this data folder",
        description="Serve the local user's agents as MCP tools on stdin/stdout (logs go to stderr). "
        "With --list, print the tools instead; with --enable/--disable/--default, change which "
        "agents are tools (every agent is one unless disabled).",
    )
    p.add_argument("--list", action="store_true", help="print the tools and exit")
    p.add_argument("--json", action="store_true", help="with --list: as JSON")
    p.add_argument("--enable", metavar="GRAPH_ID", help="serve this agent as a tool")
    p.add_argument("--disable", metavar="GRAPH_ID", help="stop serving this agent as a tool")
    p.add_argument("--default", metavar="GRAPH_ID", help="this agent follows the default (served)")
    p.set_defaults(handler=cmd_mcp)

    p = sub.add_parser("executor", help="take executions from RabbitMQ (AMQP_URL) and run them")
    p.add_argument("--host", default="127.0.0.1", help="address of the health/metrics endpoint")
    p.add_argument(
        "--port", type=int, default=8002, help="port of the health/metrics endpoint (default 8002)"
    )
    _log_level_option(p)
    p.set_defaults(handler=cmd_executor)

    p = sub.add_parser(
        "scheduler", help="fire schedules on time (one leader at a time; start more as standbys)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address of the health endpoint")
    p.add_argument("--port", type=int, default=8003, help="port of the health endpoint (default 8003)")
    _log_level_option(p)
    p.set_defaults(handler=cmd_scheduler)

    p = sub.add_parser("resume", help="resume executions interrupted by a crash and wait for them")
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_resume)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script."""
    root = logging.getLogger()
    if not root.handlers:  # the process's own handler (servers replace it with their JSON one)
        logging.basicConfig(
            level=os.environ.get("WORKBENCH_LOG_LEVEL", "WARNING").upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        logsafe.install(*root.handlers)  # no secret in any log line
    args = build_parser().parse_args(argv)
    try:
        outcome = args.handler(args)
        if isinstance(outcome, types.CoroutineType):  # an async command: asyncio is imported only then
            import asyncio

            code = asyncio.run(outcome)
        else:
            code = outcome
    except WorkbenchError as exc:  # the table on the exception classes says which exit code
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. piped into `head`): not an error of ours.
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except Exception as exc:
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("WORKBENCH_DEBUG"):
            traceback.print_exc()
        return EXIT_INTERNAL
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
