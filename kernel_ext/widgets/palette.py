"""The block palette: search blocks by name and category; the selected block's inputs and outputs.

Its display carries an HTML snapshot (the search, the matching blocks, the selected one) for exports.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from traitlets import List, Unicode

from kernel_ext.reprs import block_html
from kernel_ext.widgets.fallback import StaticFallback
from workbench.client.text import html_name, isolate
from workbench.client.types import BlockInfo

ALL = "(all categories)"
SNAPSHOT_MATCHES = 40
"""How many matching block names a static snapshot lists."""


class BlockPalette(StaticFallback, widgets.VBox):
    """A searchable block catalogue; ``matches`` are the names shown, ``selected`` the one described."""

    query = Unicode("").tag(sync=True)
    category = Unicode("").tag(sync=True)
    matches = List(Unicode()).tag(sync=True)
    selected = Unicode("").tag(sync=True)

    def __init__(self, blocks: list[BlockInfo], **kwargs: Any) -> None:
        self.catalogue = {b.name: b for b in blocks}
        categories = sorted({c for b in blocks for c in b.categories})
        self.search_box = widgets.Text(placeholder="search blocks", description="Search")
        self.category_box = widgets.Dropdown(options=[ALL, *categories], value=ALL, description="Category")
        self.block_list = widgets.Select(options=[], rows=12)
        self.detail = widgets.HTML()
        super().__init__(
            [widgets.HBox([self.search_box, self.category_box]), self.block_list, self.detail], **kwargs
        )
        self.search_box.observe(lambda c: setattr(self, "query", c["new"]), "value")
        self.category_box.observe(
            lambda c: setattr(self, "category", "" if c["new"] == ALL else c["new"]), "value"
        )
        self.block_list.observe(lambda c: setattr(self, "selected", c["new"] or ""), "value")
        self.observe(self._refilter, ["query", "category"])
        self.observe(self._describe, "selected")
        self._refilter()

    def _refilter(self, _change: Any = None) -> None:
        found = [n for n, b in sorted(self.catalogue.items()) if b.matches(self.query, self.category or None)]
        with self.hold_sync():
            self.matches = found
            self.block_list.options = found
            if self.selected not in found:
                self.selected = found[0] if found else ""
            self.block_list.value = self.selected or None

    def _describe(self, _change: Any = None) -> None:
        info = self.catalogue.get(self.selected)
        self.detail.value = block_html(info) if info else "<i>no block matches</i>"

    def search(self, query: str = "", category: str = "") -> list[str]:
        """Filter as a user typing would; the names that match."""
        self.search_box.value = query
        self.category_box.value = category or ALL
        return list(self.matches)

    def snapshot_html(self) -> str:
        """The search, the matching blocks and the selected block's pins, as static HTML."""
        search = f"search {html_name(self.query)}" if self.query else "all blocks"
        if self.category:
            search += f" in {html_name(self.category)}"
        names = ", ".join(
            f"<b>{html_name(n)}</b>" if n == self.selected else html_name(n)
            for n in self.matches[:SNAPSHOT_MATCHES]
        )
        more = (
            f" … and {len(self.matches) - SNAPSHOT_MATCHES} more"
            if len(self.matches) > SNAPSHOT_MATCHES
            else ""
        )
        info = self.catalogue.get(self.selected)
        return (
            "<div class='wb-palette' style='border:1px solid #ccd;border-radius:4px;padding:6px 10px'>"
            f"<div><b>Block palette</b> · {search}: {len(self.matches)} blocks</div>"
            f"<div style='margin:4px 0'>{names}{more}</div>"
            f"{block_html(info) if info else '<i>no block matches</i>'}</div>"
        )

    def snapshot_text(self) -> str:
        """One line: the search and how many blocks match."""
        return f"BlockPalette: {len(self.matches)} blocks match {isolate(self.query)}"
