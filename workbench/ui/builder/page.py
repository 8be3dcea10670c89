"""The Builder page (``/builder``): ``?graph=<id>`` opens one of the user's agents (``&version=<n>``
a version of it); without it, an empty canvas."""

from __future__ import annotations

import panel as pn

from workbench.ui.builder.backend import BuilderBackend
from workbench.ui.builder.view import BuilderView
from workbench.ui.context import UiContext


def _arg(name: str) -> str | None:
    values = pn.state.session_args.get(name) if pn.state.session_args else None
    if not values:
        return None
    raw = values[0]
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """The Builder for the user looking."""
    view = BuilderView(BuilderBackend(ctx.wb, ctx.user_id))
    graph_id = _arg("graph")
    version = _arg("version")

    async def start() -> None:
        await view.load_agents(graph_id)
        if graph_id:
            await view.open(graph_id, int(version) if version and version.isdigit() else None)
        else:
            view.say("Drag blocks from the palette onto the canvas, or open an agent.")

    pn.state.onload(start)
    return view
