"""The ``workbench`` command: run and validate graph files, list blocks, manage the database.

Exit codes: 0 success; 1 the run failed or was cancelled; 2 bad input (arguments, graph file, inputs);
3 configuration or database unavailable; 4 an internal error (a bug: please report it).

Start-up is kept short: this module imports only the standard library, ``workbench.errors``,
``workbench.logsafe`` and :mod:`launch.dbcli` (as light); each command imports what it needs (``--help`` and ``--version`` nothing more,
``validate`` the graph model and the block registry, not the platform; tests/test_cli.py checks it).

It lives in ``launch``, the composition root: the one package that imports every layer (the core,
``server``); the process commands (serve, up, executor, scheduler, notifier) start :mod:`launch.serve`,
:mod:`launch.executor`, :mod:`launch.scheduler` and :mod:`launch.notifier`. ``python -m launch.cli`` runs it too.
The database commands (``db``, ``admin``, ``dbmanager``) live in :mod:`launch.dbcli`.
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
from collections.abc import Callable, Sequence
from typing import Any

from launch import dbcli
from workbench import __version__, logsafe
from workbench.errors import (
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


async def cmd_reviews(args: argparse.Namespace) -> int:
    from workbench.app import Workbench
    from workbench.auth import LOCAL_USER_ID

    async with Workbench(resume=False, role="cli") as wb:
        status = None if args.all else "WAITING"
        items, total = await wb.reviews.list(LOCAL_USER_ID, status=status, limit=args.limit)
    if args.json:
        _print_json({"total": total, "reviews": [r.to_dict() for r in items]})
    elif not items:
        print("no reviews waiting" if status else "no reviews")
    else:
        for r in items:
            due = f"  {r.default_decision} at {r.expires_at:%Y-%m-%d %H:%M:%S}" if r.expires_at else ""
            print(f"{r.id}  {r.status:<9}  run {r.root_execution_id}  {r.agent}: {r.name}{due}")
    return EXIT_OK


async def cmd_review(args: argparse.Namespace) -> int:
    import asyncio

    from workbench.app import Workbench
    from workbench.auth import LOCAL_USER_ID
    from workbench.services.reviews import UNCHANGED

    data: Any = UNCHANGED
    if args.data is not None:
        try:
            data = json.loads(args.data)
        except ValueError as exc:
            raise UserError(f"--data must be JSON: {exc}") from None
    decision = "approve" if args.approve else "reject" if args.reject else None
    if decision is None and (args.data is not None or args.message is not None):
        raise UserError("--data and --message go with --approve or --reject")
    async with Workbench(resume=False, role="cli") as wb:
        if decision is None:
            rec = await wb.reviews.get(args.review_id, LOCAL_USER_ID)
        else:
            rec = await wb.reviews.decide(
                args.review_id, LOCAL_USER_ID, decision, data=data, message=args.message, via="cli"
            )
            if wb.queue is not None and wb.queue.in_process:
                # The run goes on in this process (no RabbitMQ): stay until it ends or pauses again.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + args.timeout
                while loop.time() < deadline:
                    run = await wb.executions.get(rec.root_execution_id, LOCAL_USER_ID)
                    if run.status.is_final or run.status == "REVIEW":
                        break
                    await asyncio.sleep(0.1)
        run_status = (await wb.executions.get(rec.root_execution_id, LOCAL_USER_ID)).status
    if args.json:
        _print_json({**rec.to_dict(), "run_status": str(run_status)})
        return EXIT_OK
    print(f"review {rec.id}: {rec.status}  ({rec.agent}: {rec.name})")
    print(f"data: {_show(rec.reviewed_data if rec.status == 'APPROVED' else rec.data)}")
    if rec.message:
        print(f"message: {rec.message}")
    print(f"run {rec.root_execution_id}: {run_status}")
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


def _trigger_doc(trigger: Any, root: str, secret: str | None = None) -> dict[str, Any]:
    """A trigger as ``GET /api/v1/triggers/{id}`` shows it (with its secret when just issued)."""
    from workbench.services.triggers import hook_path

    path = hook_path(trigger.id)
    doc = {
        "id": trigger.id,
        "graph_id": trigger.graph_id,
        "graph_version": trigger.graph_version,
        "name": trigger.name,
        "auth_mode": trigger.auth_mode,
        "input_mapping": trigger.input_mapping,
        "enabled": trigger.is_enabled,
        "rate_limit_per_minute": trigger.rate_limit_per_minute,
        "path": path,
        "url": root + path,
        "fire_count": trigger.fire_count,
        "last_fired_at": trigger.last_fired_at,
        "last_execution_id": trigger.last_execution_id,
        "created_at": trigger.created_at,
    }
    return {**doc, "secret": secret} if secret is not None else doc


def _mapping(items: Sequence[str] | None) -> dict[str, str] | None:
    """``--map INPUT=PATH`` options as an input mapping (None when there are none)."""
    mapping: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name:
            raise UserError(f"--map expects INPUT=PATH (e.g. who=sender.login), got {item!r}")
        mapping[name] = path
    return mapping or None


async def cmd_triggers(args: argparse.Namespace) -> int:
    from workbench.app import Workbench
    from workbench.auth import LOCAL_USER_ID
    from workbench.services.triggers import TriggerService

    root = (args.url or os.environ.get("WORKBENCH_PUBLIC_URL") or "http://127.0.0.1:8006").rstrip("/")
    action = args.triggers_command
    if action == "create":
        fields = {
            "graph_id": args.graph_id,
            "name": args.name,
            "auth_mode": args.auth,
            "input_mapping": _mapping(args.map),
            "rate_limit_per_minute": args.rate,
            "graph_version": args.version,
            "enabled": not args.disabled,
        }
    async with Workbench(resume=False, role="cli") as wb:
        service = TriggerService.of(wb)
        if action == "list":
            found, total = await service.list(LOCAL_USER_ID, graph_id=args.graph, limit=args.limit)
        elif action == "create":
            issued = await service.create(LOCAL_USER_ID, fields)
        elif action == "rotate":
            issued = await service.rotate_secret(args.trigger_id, LOCAL_USER_ID)
        else:
            await service.delete(args.trigger_id, LOCAL_USER_ID)
    if action == "list":
        if args.json:
            _print_json({"total": total, "triggers": [_trigger_doc(t, root) for t in found]})
            return EXIT_OK
        for t in found:
            last = f"{t.last_fired_at:%Y-%m-%d %H:%M:%S}" if t.last_fired_at else "never"
            state = "" if t.is_enabled else "  (disabled)"
            print(
                f"{t.id}  {t.auth_mode:<6}  {t.rate_limit_per_minute:>5}/min  calls {t.fire_count}  "
                f"last {last}  graph {t.graph_id}  {t.name}{state}"
            )
            print(f"    {_trigger_doc(t, root)['url']}")
        if not found:
            print("no triggers")
        return EXIT_OK
    if action == "delete":
        if args.json:
            _print_json({"deleted": args.trigger_id})
        else:
            print(f"trigger {args.trigger_id} deleted: its URL answers 404 from now on")
        return EXIT_OK
    doc = _trigger_doc(issued.trigger, root, issued.secret)
    if args.json:
        _print_json(doc)
        return EXIT_OK
    what = "made" if action == "create" else "has a new secret (the old one is refused from now on)"
    print(f"trigger {doc['id']} {what}")
    print(f"url:    {doc['url']}")
    print(f"auth:   {doc['auth_mode']}")
    print(f"secret: {issued.secret}")
    print("save the secret now: it is not shown again", file=sys.stderr)
    return EXIT_OK


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


def cmd_notifier(args: argparse.Namespace) -> int:
    from launch.notifier import run_notifier

    return run_notifier(args.host, args.port, args.log_level)


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


def _worker_parser(sub: Any, name: str, text: str, port: int, handler: Callable[..., int]) -> None:
    """The parser of a worker process (executor, scheduler, notifier, dbmanager): where its
    /health and /metrics listen, and its log level."""
    p = sub.add_parser(name, help=text)
    p.add_argument("--host", default="127.0.0.1", help="address of the health/metrics endpoint")
    p.add_argument(
        "--port", type=int, default=port, help=f"port of the health/metrics endpoint (default {port})"
    )
    _log_level_option(p)
    p.set_defaults(handler=handler)


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

    # db (migrate, health, backup, restore, optimize, prune), admin and dbmanager: launch/dbcli.py
    dbcli.add_parsers(sub, _worker_parser)

    p = sub.add_parser("graphs", help="list stored graphs")
    p.add_argument("--search")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_graphs)

    p = sub.add_parser("executions", help="list stored executions")
    p.add_argument(
        "--status",
        type=lambda s: "REVIEW" if s.upper() == "WAITING" else s.upper(),
        choices=["QUEUED", "RUNNING", "REVIEW", "COMPLETED", "FAILED", "CANCELLED"],
        help="REVIEW (or WAITING): waiting for a person's review",
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_executions)

    p = sub.add_parser("reviews", help="list the human reviews waiting for you")
    p.add_argument("--all", action="store_true", help="every review, answered ones too")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_reviews)

    p = sub.add_parser("review", help="show a human review, or answer it (--approve / --reject)")
    p.add_argument("review_id")
    verdict = p.add_mutually_exclusive_group()
    verdict.add_argument("--approve", action="store_true", help="approve the data (or --data instead)")
    verdict.add_argument("--reject", action="store_true", help="reject the data")
    p.add_argument("--message", "-m", help="a message passed on to the agent")
    p.add_argument("--data", help="with --approve: the data to pass on instead (JSON)")
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="without RabbitMQ the run goes on in this command: seconds to wait for it (default 60)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_review)

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

    p = sub.add_parser(
        "triggers",
        help="webhook triggers of your agents (the local user's): list, create, rotate, delete",
        description="Webhook URLs that start an agent when another system calls them "
        "(POST /api/v1/hooks/<id> on a running server). A secret is shown once, when the trigger is "
        "made or its secret rotated.",
    )
    tsub = p.add_subparsers(dest="triggers_command", required=True)
    url_help = "the server's root in the URLs shown (default WORKBENCH_PUBLIC_URL, else 127.0.0.1:8006)"
    t = tsub.add_parser("list", help="your triggers, newest first (never their secrets)")
    t.add_argument("--graph", metavar="GRAPH_ID", help="only the triggers of this agent")
    t.add_argument("--limit", type=int, default=50)
    t.add_argument("--url", help=url_help)
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_triggers)
    t = tsub.add_parser("create", help="a trigger for an agent; prints its URL and secret (once)")
    t.add_argument("graph_id")
    t.add_argument("--name", default="")
    t.add_argument(
        "--auth",
        choices=["hmac", "github", "bearer"],
        default="hmac",
        help="hmac: X-Workbench-Signature with a timestamp (default); github: GitHub's "
        "X-Hub-Signature-256; bearer: Authorization: Bearer <secret>",
    )
    t.add_argument(
        "--map",
        action="append",
        metavar="INPUT=PATH",
        help="an input taken from the payload (a dotted path or a JSON pointer), e.g. who=sender.login",
    )
    t.add_argument("--rate", type=int, default=None, help="calls a minute at most (default 60)")
    t.add_argument("--version", type=int, default=None, help="a fixed version (default: the active one)")
    t.add_argument("--disabled", action="store_true", help="make it disabled (calls refused until enabled)")
    t.add_argument("--url", help=url_help)
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_triggers)
    for name, text in (
        ("rotate", "a new secret (printed once); the old one is refused at once"),
        ("delete", "delete a trigger: its URL answers 404 from now on"),
    ):
        t = tsub.add_parser(name, help=text)
        t.add_argument("trigger_id")
        t.add_argument("--url", help=url_help)
        t.add_argument("--json", action="store_true")
        t.set_defaults(handler=cmd_triggers)

    _worker_parser(
        sub, "executor", "take executions from RabbitMQ (AMQP_URL) and run them", 8002, cmd_executor
    )

    _worker_parser(
        sub,
        "scheduler",
        "fire schedules on time (one leader at a time; start more as standbys)",
        8003,
        cmd_scheduler,
    )
    _worker_parser(
        sub,
        "notifier",
        "send notifications: mail, webhooks, Slack, Discord, the in-app inbox (any number)",
        8007,
        cmd_notifier,
    )

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
