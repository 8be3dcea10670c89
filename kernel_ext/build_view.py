"""The visual Builder in a notebook cell (``%wb build [GRAPH]``), bound to a ``Graph`` in the kernel.

The cell shows the web Builder's view (:class:`workbench.ui.builder.view.BuilderView`) for the local
client's user. Edits go both ways:

- on the canvas -> Python: after each edit, the bound ``Graph`` object holds what the canvas shows
  (its fields are the editor's, so ``g.nodes`` is the canvas's node list);
- Python -> canvas: a change made to the object in Python (``g.nodes.append(...)``, ``builder.add(...)``
  on a ``GraphBuilder``, a new default) shows on the canvas within :data:`WATCH_MS`, once the cell that
  made it has finished (the kernel runs one thing at a time).

The platform's services run on the client's event loop (a thread of its own); the Builder's buttons
run on the kernel's, and call them through :class:`~kernel_ext.chat_view.StreamingService`.
"""

from __future__ import annotations

import hashlib

import panel as pn

from kernel_ext.chat_view import StreamingService, _running_loop, load_inline
from kernel_ext.monitor_view import local_client
from workbench.client.base import GraphRef
from workbench.client.portal import Client
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph
from workbench.ui.builder.backend import BuilderBackend
from workbench.ui.builder.editor import Editor
from workbench.ui.builder.view import BuilderView

WATCH_MS = 500
"""How often the cell looks for changes made to the bound graph in Python."""
FIELDS = tuple(Graph.model_fields)


def _fingerprint(graph: Graph) -> bytes:
    return hashlib.blake2b(graph.model_dump_json().encode(), digest_size=16).digest()


class GraphBinding:
    """Keeps one ``Graph`` object and an editor's graph the same, both ways."""

    def __init__(self, target: Graph, editor: Editor) -> None:
        self.target = target
        self.editor = editor
        self._seen = b""
        editor.listeners.append(lambda _editor: self.write())
        self.write()

    def write(self) -> None:
        """Make the object hold the editor's graph (sharing its lists: edits in either show in both)."""
        for name in FIELDS:
            object.__setattr__(self.target, name, getattr(self.editor.graph, name))
        self._seen = _fingerprint(self.target)

    def check(self) -> bool:
        """Redraw the canvas if the object was changed in Python; whether it was."""
        current = _fingerprint(self.target)
        if current == self._seen:
            return False
        self._seen = current
        self.editor.replace(self.target.model_copy(deep=True))
        return True


class NotebookBuilder(BuilderView):
    """The Builder bound to a kernel ``Graph``: :attr:`graph` is that object."""

    binding: GraphBinding

    @property
    def graph(self) -> Graph:
        """The bound graph (what the canvas shows)."""
        return self.binding.target

    def refresh(self) -> bool:
        """Show changes made to the bound graph in Python now (it happens by itself within
        :data:`WATCH_MS` once the running cell ends); whether there were any."""
        return self.binding.check()


def build(client: Client, graph: GraphRef | None = None) -> NotebookBuilder:
    """The Builder of the client's user in a cell, editing ``graph``: a ``Graph`` or ``GraphBuilder``
    in the kernel (edited in place), a stored graph's id (loaded into a new ``Graph``), or None (a new
    empty agent)."""
    local = local_client(client, "Builder")
    portal = client.portal
    backend = StreamingService(
        BuilderBackend(local.wb, local.user_id), portal.call(_running_loop()), portal.submit
    )
    if isinstance(graph, GraphBuilder):
        target = graph.graph
    elif isinstance(graph, Graph):
        target = graph
    elif isinstance(graph, str):
        target = portal.call(BuilderBackend(local.wb, local.user_id).load(graph))
    else:
        target = Graph(name="Untitled agent")
    editor = Editor(local.wb.registry, target.model_copy(deep=True))
    load_inline()
    view = NotebookBuilder(backend, editor)  # type: ignore[arg-type]  (the backend, on the client's loop)
    view.binding = GraphBinding(target, editor)
    if isinstance(graph, str):
        editor.saved_revision = editor.revision
    portal.call(view.load_agents(target.id))
    pn.state.add_periodic_callback(view.binding.check, period=WATCH_MS)
    return view


__all__ = ["GraphBinding", "NotebookBuilder", "build"]
