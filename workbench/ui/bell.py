"""The header's notification bell, live: the unread count of the session's user.

The bell itself is plain HTML in the header (``templates/header.html``): a link to the inbox, painted
with the rest of the header before any script runs. :class:`BellBadge` is a Bokeh model of no size
in the page's body whose script writes the count into that link's badge whenever
:class:`~workbench.ui.notifications_data.LiveNotifications` changes it, so the header stays HTML and
no page pays for more than one small model. When the tab comes back into view it asks for a recount
(notifications read in another tab or through the API show then).
"""

from __future__ import annotations

import asyncio
from typing import Any

import panel as pn
import param
from panel.custom import JSComponent

from workbench.services.notifications.service import NotificationService
from workbench.ui.notifications_data import LiveNotifications, close_quietly
from workbench.ui.sections import on_page


class BellBadge(JSComponent):
    """Writes ``count`` into the header's bell (``a.wb-bell``); hidden at 0 or while unknown (-1)."""

    count = param.Integer(default=-1, doc="Unread notifications (-1: not known yet).")

    _esm = """
export function render({ model }) {
  const paint = () => {
    const n = model.count;
    for (const bell of document.querySelectorAll('a.wb-bell')) {
      const badge = bell.querySelector('.wb-bell-count');
      if (badge) {
        badge.textContent = n > 99 ? '99+' : String(Math.max(n, 0));
        badge.hidden = !(n > 0);
      }
      bell.dataset.unread = String(n);
      bell.setAttribute('aria-label', n > 0 ? `Notifications: ${n} unread` : 'Notifications');
    }
  };
  paint();
  model.on('count', paint);
  const shown = () => { if (document.visibilityState === 'visible') model.send_msg({ visible: true }); };
  document.addEventListener('visibilitychange', shown);
  model.on('remove', () => document.removeEventListener('visibilitychange', shown));
}
"""

    def __init__(self, live: LiveNotifications, **params: Any) -> None:
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        params.setdefault("margin", 0)
        params.setdefault("styles", {"position": "absolute"})
        super().__init__(**params)
        self._live = live
        self._doc = pn.state.curdoc
        """The session's document: counts arrive from the feed's task, outside any callback."""
        live.param.watch(self._changed, "unread")

    def _changed(self, event: param.parameterized.Event) -> None:
        count = int(event.new)
        on_page(lambda: setattr(self, "count", count), doc=self._doc)

    def _handle_msg(self, msg: Any) -> None:
        """The tab came back into view."""
        if isinstance(msg, dict) and msg.get("visible"):
            self._live.recount_soon()


def session_bell(wb: Any, user_id: str) -> tuple[LiveNotifications, BellBadge] | None:
    """The live count of one browser session (listening at once, counted once the page is shown, closed
    with the session) and its badge; None when the server has no database (no notifications)."""
    if wb.db is None or wb.keys is None:
        return None
    live = LiveNotifications(NotificationService.of(wb), wb.bus, user_id)
    live.subscribe()  # before the page reads anything: nothing falls between
    pn.state.onload(live.start)
    pn.state.on_session_destroyed(lambda _context: asyncio.ensure_future(close_quietly(live)))
    return live, BellBadge(live)
