"""An HTML table (``workbench.ui.tables.html_table``) whose row buttons report their clicks to Python.

The table stays one HTML string, as elsewhere in the apps; a few lines of JavaScript (sent inline
with the component, nothing loaded from outside) turn a click on a ``<button data-action data-id>``
into a message to :meth:`ActionTable._handle_msg`, which calls ``on_action(action, id)``. What comes
from the browser is untrusted: the page acts only on ids it listed itself, through the services,
which check the user.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import param
from panel.custom import JSComponent

from workbench.ui.tables import TABLE_CSS

ACTION_CSS = """
button.wb-action { font: inherit; font-size: 0.85rem; padding: 0.15rem 0.7rem; border-radius: 4px;
  border: 1px solid #9ca3af; background: #ffffff; color: #1f2937; cursor: pointer; }
button.wb-action:hover { background: #f3f4f6; }
button.wb-action-danger { border-color: #b91c1c; color: #991b1b; }
button.wb-action-danger:hover { background: #fef2f2; }
.wb-muted { color: #4b5563; }
code.wb-code { font-size: 0.85rem; background: #f3f4f6; padding: 0.05rem 0.3rem; border-radius: 3px; }
"""
"""Row buttons and the cells' small print."""


def action_button(action: str, ident: str, label: str, *, danger: bool = False, title: str = "") -> str:
    """A row button's HTML: a click calls ``on_action(action, ident)``."""
    kind = " wb-action-danger" if danger else ""
    hint = f' title="{html.escape(title)}"' if title else ""
    return (
        f'<button type="button" class="wb-action{kind}" data-action="{html.escape(action)}" '
        f'data-id="{html.escape(ident)}"{hint}>{html.escape(label)}</button>'
    )


class ActionTable(JSComponent):
    """An HTML table whose row buttons (:func:`action_button`) call back into Python."""

    html = param.String(default="", doc="The table's HTML (cells are HTML: escape what users wrote).")

    _esm = """
export function render({ model, el }) {
  const draw = () => { el.innerHTML = model.html; };
  draw();
  model.on('html', draw);
  el.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (button) model.send_msg({ action: button.dataset.action, id: button.dataset.id });
  });
}
"""

    def __init__(self, on_action: Callable[[str, str], None] | None = None, **params: Any) -> None:
        params.setdefault("stylesheets", [TABLE_CSS, ACTION_CSS])
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(**params)
        self._on_action = on_action

    def _handle_msg(self, msg: Any) -> None:
        """A button was clicked in the browser."""
        if self._on_action is None or not isinstance(msg, dict):
            return
        action, ident = msg.get("action"), msg.get("id")
        if isinstance(action, str) and isinstance(ident, str):
            self._on_action(action, ident)
