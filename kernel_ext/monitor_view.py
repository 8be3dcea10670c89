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
Bokeh's buttons (:mod:`kernel_ext.icon_font`), which Bokeh would ask a CDN for.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

import panel as pn

from kernel_ext.icon_font import load_icon_font
from workbench.client.local import LocalClient
from workbench.client.portal import Client
from workbench.errors import InputError


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
