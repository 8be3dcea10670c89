"""The web Monitor (:mod:`workbench.ui.monitor`) in a notebook cell, for ``%wb monitor``.

The kernel's local client runs the platform on an event loop in a thread of its own (the client's
portal); the database pool and the event bus belong to that loop. The page is built as the web
server builds it, with two differences:

- its event feed is started on the client's loop (where the bus delivers), so live updates arrive
  from that thread, as the run widget's do;
- its stores reach the Monitor service through :class:`LoopBoundService`, which sends each call to
  the client's loop, so the filters and paging buttons (handled on the kernel's own loop) work too.

Bokeh, Panel and HoloViews load their JavaScript and styles inline (``pn.extension(inline=True)``):
the output needs no CDN, in JupyterLab or in an exported notebook. So does the Tabler icon font of
Bokeh's buttons (:func:`load_icon_font`), which Bokeh would ask a CDN for.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import panel as pn
from IPython import get_ipython
from IPython.display import publish_display_data

from workbench.client.local import LocalClient
from workbench.client.portal import Client
from workbench.errors import InputError
from workbench.ui.inline_icons import icons_script


class LoopBoundService:
    """A stand-in for a service whose coroutines must run on one event loop: awaiting a method from
    any other loop runs it there (through ``submit``) and awaits the result."""

    def __init__(self, service: Any, loop: asyncio.AbstractEventLoop, submit: Callable[[Any], Any]) -> None:
        self._service = service
        self._loop = loop
        self._submit = submit

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._service, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        async def on_its_loop(*args: Any, **kwargs: Any) -> Any:
            if asyncio.get_running_loop() is self._loop:
                return await attr(*args, **kwargs)
            return await asyncio.wrap_future(self._submit(attr(*args, **kwargs)))

        return on_its_loop


def local_client(client: Client, page: str = "Monitor") -> LocalClient:
    """The local client behind ``client``, or a clear error for a remote one (``page``: what the
    notebook was asked to show, named in the error)."""
    inner = client.inner
    if not isinstance(inner, LocalClient):
        raise InputError(
            f"the {page} shows in a notebook only on the local platform (%wb connect); "
            f"this kernel is connected to {client.where}: open that server's {page} page instead"
        )
    return inner


@dataclass(frozen=True)
class Request:
    """The execute request a kernel is running: its message id, and the id of the notebook cell it
    runs (JupyterLab names it; None from frontends that do not)."""

    message: str | None
    cell: str | None

    @classmethod
    def current(cls) -> Request:
        """The request being run (both None outside a kernel)."""
        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent() if kernel is not None else {}
        return cls(parent.get("header", {}).get("msg_id"), (parent.get("metadata") or {}).get("cellId"))


class IconFont:
    """Which output of this kernel carries the icon font (:func:`load_icon_font`)."""

    carrier: Request | None = None
    """The request whose output carries it; None until one does."""

    @classmethod
    def needed(cls, request: Request) -> bool:
        """Whether ``request``'s output must carry the font: the first of the kernel, or the cell that
        carried it run again (its old output, with the font, is being replaced)."""
        carrier = cls.carrier
        if carrier is None:
            return True
        return (
            request.cell is not None and request.cell == carrier.cell and request.message != carrier.message
        )


def load_icon_font() -> None:
    """The Tabler icon font of Bokeh's buttons, inline in the cell's output, which Bokeh would ask a
    CDN for (:mod:`workbench.ui.inline_icons`): 0.8 MB, published before Bokeh's loader.

    One copy per notebook: in the first output of the kernel that needs it; again only when the cell
    carrying it runs again, since JupyterLab then replaces that output (and Bokeh on the page stays
    patched meanwhile, so every later output draws its icons). The weak spot: if the carrying output
    is cleared or its cell deleted, the notebook's other outputs carry no font, and reopened offline
    they draw no icons (their buttons keep their names); a restarted kernel carries it anew."""
    request = Request.current()
    if not IconFont.needed(request):
        return
    # Under one mime type only (Panel's loaders add their own, which doubles the bytes): JupyterLab,
    # the classic Notebook and nbconvert's HTML all run application/javascript.
    publish_display_data({"application/javascript": icons_script()})
    IconFont.carrier = request


def load_inline() -> None:
    """Panel's, Bokeh's and HoloViews' JavaScript and styles, inline in the cell's output: set before
    the Monitor's module imports hvplot (which loads HoloViews' extension), then Panel's with the
    table's scripts; the icon font first (:func:`load_icon_font`)."""
    load_icon_font()
    import holoviews as hv

    hv.extension.inline = True
    import workbench.ui.monitor  # noqa: F401  (hvplot loads HoloViews' extension on import)

    pn.extension("tabulator", inline=True)


def monitor(client: Client) -> pn.viewable.Viewable:
    """The Monitor of the client's user, live, ready to display in a cell."""
    local = local_client(client)
    load_inline()
    from workbench.services.monitor import MonitorService
    from workbench.ui.monitor import MonitorPage
    from workbench.ui.monitor_data import DashboardStore, ExecutionsStore

    async def client_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    portal = client.portal
    service = LoopBoundService(
        MonitorService.from_workbench(local.wb), portal.call(client_loop()), portal.submit
    )
    page = MonitorPage(
        executions=ExecutionsStore(service, local.user_id),  # type: ignore[arg-type]
        dashboards=DashboardStore(service, local.user_id),  # type: ignore[arg-type]
    )
    portal.call(page.start(local.wb.bus, local.user_id))
    return page
