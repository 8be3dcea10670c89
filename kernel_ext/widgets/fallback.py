"""What a widget leaves behind where there is no live kernel: a static HTML snapshot of its state.

A widget's output in a notebook is only a reference to a model in the kernel
(``application/vnd.jupyter.widget-view+json``). A notebook saved without widget state, exported with
``jupyter nbconvert --to html`` or viewed on a site that does not run widgets shows nothing for it.
Widgets with this mixin put a ``text/html`` snapshot of their state (and a one-line ``text/plain``)
in the same display; live frontends still prefer the widget.

A widget displayed with IPython's ``display`` (or as a cell's value) gets a display id: when its state
has settled (a run ended, a reply arrived) :meth:`StaticFallback.refresh_displays` replaces the
snapshot there with the current one, so an export shows the final state, not the first. The update
is sent as part of the request the kernel is busy with *now* (a run started in one cell often ends
during a later one, and a frontend such as nbclient only listens to the running cell).
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from html import escape
from typing import Any


class StaticFallback:
    """Mixin for an ipywidgets widget: the display carries an HTML snapshot next to the widget view."""

    def snapshot_html(self) -> str:
        """The widget's current state as self-contained HTML (inline styles only). By default its
        one-line text; each widget shows more."""
        return f"<pre>{escape(self.snapshot_text())}</pre>"

    def snapshot_text(self) -> str:
        """The widget's current state in one line of plain text."""
        return type(self).__name__

    def _display_ids(self) -> list[str]:
        ids: list[str] | None = self.__dict__.get("_wb_display_ids")
        if ids is None:
            ids = self.__dict__.setdefault("_wb_display_ids", [])
        return ids

    def mimebundle(self) -> dict[str, Any]:
        """The display data: the widget view (while the widget is open), HTML snapshot, plain text."""
        data: dict[str, Any] = {}
        if getattr(self, "comm", None) is not None:
            import ipywidgets

            data.update(ipywidgets.Widget._repr_mimebundle_(self) or {})
        data["text/html"] = self.snapshot_html()
        data["text/plain"] = self.snapshot_text()
        return data

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self.mimebundle()

    def _ipython_display_(self) -> None:
        """Display with a display id, so the snapshot can be brought up to date later."""
        from IPython.display import display

        display_id = uuid.uuid4().hex
        with _lock:
            self._display_ids().append(display_id)
        display(self.mimebundle(), raw=True, display_id=display_id)

    def refresh_displays(self) -> None:
        """Replace the snapshot in every place this widget was displayed with the current state."""
        with _lock:
            ids = list(self._display_ids())
        if not ids:
            return
        from IPython.display import update_display

        bundle = self.mimebundle()

        def publish() -> None:
            for display_id in ids:
                update_display(bundle, raw=True, display_id=display_id)

        # An empty context: ipykernel then takes the parent header of the latest request, not the one
        # of the cell whose context this thread inherited when the run was started.
        contextvars.Context().run(publish)


_lock = threading.Lock()
