"""``%wb``: connect, list blocks, open the palette, run a saved graph, show runs, chat with an agent.

    %wb connect                              # local: the platform in this kernel (the default)
    %wb connect http://host:8006 --api-key wbk_...
    %wb blocks [SEARCH] [--category TEXT]
    %wb palette
    %wb graphs [SEARCH]
    %wb run GRAPH [name=value ...] [--wait]  # GRAPH: a stored graph's id or name, or a variable
    %wb runs [GRAPH] [-n 10]
    %wb show EXECUTION_ID
    %wb monitor                              # the live Monitor (runs table, dashboards) in the cell
    %wb chat GRAPH [--message IN] [--reply OUT] [--history IN] [--new]  # the web Chat, in the cell
    %wb build [GRAPH]                        # the visual Builder, editing GRAPH (a variable: in place)

``name=value`` takes the value as JSON when it parses as JSON, otherwise as text. ``%wb run``
returns the live run widget at once (add ``--wait`` to return when the run has ended). ``%wb chat``
opens the agent's latest conversation (``--new``: a new one); ``--message``, ``--reply`` and
``--history`` name its pins when they are not ``message``, ``reply`` and ``history``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from kernel_ext import session
from kernel_ext.reprs import BlockTable, GraphTable, RunTable
from workbench.client.base import GraphRef
from workbench.errors import WorkbenchError
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"%wb {self.prog.split()[-1]}: {message}\n{self.format_usage()}")


def _parsers() -> dict[str, argparse.ArgumentParser]:
    p: dict[str, argparse.ArgumentParser] = {}
    p["connect"] = _Parser(prog="%wb connect", add_help=False)
    p["connect"].add_argument("url", nargs="?", default=None, help="server URL, or 'local'")
    p["connect"].add_argument("--api-key", default=None)
    p["connect"].add_argument("--home", default=None)
    p["connect"].add_argument("--scheduler", action="store_true")
    p["blocks"] = _Parser(prog="%wb blocks", add_help=False)
    p["blocks"].add_argument("search", nargs="?", default=None)
    p["blocks"].add_argument("--category", default=None)
    p["palette"] = _Parser(prog="%wb palette", add_help=False)
    p["graphs"] = _Parser(prog="%wb graphs", add_help=False)
    p["graphs"].add_argument("search", nargs="?", default=None)
    p["run"] = _Parser(prog="%wb run", add_help=False)
    p["run"].add_argument("graph")
    p["run"].add_argument("inputs", nargs="*", help="name=value")
    p["run"].add_argument("--wait", action="store_true")
    p["runs"] = _Parser(prog="%wb runs", add_help=False)
    p["runs"].add_argument("graph", nargs="?", default=None)
    p["runs"].add_argument("-n", type=int, default=10)
    p["show"] = _Parser(prog="%wb show", add_help=False)
    p["show"].add_argument("execution_id")
    p["monitor"] = _Parser(prog="%wb monitor", add_help=False)
    p["chat"] = _Parser(prog="%wb chat", add_help=False)
    p["chat"].add_argument("graph")
    p["chat"].add_argument("--message", default=None, metavar="INPUT", help="the input taking the message")
    p["chat"].add_argument("--reply", default=None, metavar="OUTPUT", help="the output giving the reply")
    p["chat"].add_argument("--history", default=None, metavar="INPUT", help="the input taking the history")
    p["chat"].add_argument("--new", action="store_true", help="start a new conversation")
    p["build"] = _Parser(prog="%wb build", add_help=False)
    p["build"].add_argument("graph", nargs="?", default=None)
    return p


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; a value that parses as JSON is taken as JSON, else as text."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"%wb run: inputs are name=value, got {pair!r}")
        try:
            inputs[name] = json.loads(raw)
        except ValueError:
            inputs[name] = raw
    return inputs


@magics_class
class WorkbenchMagics(Magics):
    """The ``%wb`` line magic (see the module documentation)."""

    parsers = _parsers()

    @line_magic
    def wb(self, line: str) -> Any:
        """Workbench commands: connect, blocks, palette, graphs, run, runs, show, monitor, chat, build."""
        try:
            words = shlex.split(line)
        except ValueError as exc:  # an unclosed quote
            raise UsageError(f"%wb: cannot read the line: {exc}") from None
        commands = ", ".join(self.parsers)
        if not words:
            raise UsageError(f"%wb needs a command: {commands}\n{__doc__ or ''}")
        if words[0] not in self.parsers:
            close = difflib.get_close_matches(words[0], list(self.parsers), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(
                f"%wb: unknown command {words[0]!r}{hint}; the commands are: {commands}\n{__doc__ or ''}"
            )
        args = self.parsers[words[0]].parse_args(words[1:])
        try:
            return getattr(self, f"_{words[0]}")(args)
        except WorkbenchError as exc:
            raise UsageError(f"%wb {words[0]}: {exc}") from None

    def _connect(self, args: argparse.Namespace) -> Any:
        url = None if args.url in (None, "local") else args.url
        return session.use(url, api_key=args.api_key, home=args.home, scheduler=args.scheduler)

    def _blocks(self, args: argparse.Namespace) -> BlockTable:
        return BlockTable(session.current().blocks(args.search, args.category))

    def _palette(self, args: argparse.Namespace) -> Any:
        from kernel_ext.widgets import BlockPalette

        return BlockPalette(session.current().blocks())

    def _graphs(self, args: argparse.Namespace) -> GraphTable:
        return GraphTable(session.current().graphs(args.search))

    def _resolve(self, ref: str, command: str = "run") -> GraphRef:
        """A variable holding a graph or builder, a stored graph id, or a stored graph's exact name
        (``command``: the one to name in the error)."""
        value = self.shell.user_ns.get(ref) if self.shell is not None else None
        if isinstance(value, Graph | GraphBuilder):
            return value
        client = session.current()
        found = [g for g in client.graphs() if ref in (g.id, g.name)]
        if not found:
            names = ", ".join(repr(g.name) for g in client.graphs()[:20]) or "none stored yet"
            raise UsageError(
                f"%wb {command}: no graph {ref!r}: give a variable holding a Graph or GraphBuilder, "
                f"or a stored graph's id or name (stored: {names})"
            )
        return found[0].id

    @staticmethod
    def _name_of(graph: GraphRef) -> str:
        """The graph's own name ('' for a stored id: the widget looks it up)."""
        if isinstance(graph, GraphBuilder):
            return graph.graph.name
        if isinstance(graph, Graph):
            return graph.name
        return ""

    def _run(self, args: argparse.Namespace) -> Any:
        from kernel_ext.widgets import RunWidget

        graph = self._resolve(args.graph)
        handle = session.current().start(graph, parse_inputs(args.inputs))
        widget = RunWidget(handle, title=self._name_of(graph))
        if args.wait:
            handle.result()
        return widget

    def _runs(self, args: argparse.Namespace) -> RunTable:
        graph_id = None
        if args.graph:
            ref = self._resolve(args.graph, "runs")
            graph_id = (
                ref if isinstance(ref, str) else (ref.build() if isinstance(ref, GraphBuilder) else ref).id
            )
        return RunTable(session.current().executions(graph_id, limit=args.n))

    def _show(self, args: argparse.Namespace) -> Any:
        return session.current().execution(args.execution_id)

    def _monitor(self, args: argparse.Namespace) -> Any:
        from kernel_ext.monitor_view import monitor

        return monitor(session.current())

    def _chat(self, args: argparse.Namespace) -> Any:
        from kernel_ext.chat_view import chat, local_client

        client = session.current()
        local_client(client, "Chat")  # a remote connection is refused before the graph is looked up there
        return chat(
            client,
            self._resolve(args.graph, "chat"),
            message=args.message,
            reply=args.reply,
            history=args.history,
            new=args.new,
        )

    def _build(self, args: argparse.Namespace) -> Any:
        from kernel_ext.build_view import build
        from kernel_ext.monitor_view import local_client

        client = session.current()
        local_client(client, "Builder")
        return build(client, self._resolve(args.graph, "build") if args.graph else None)
