"""The Builder's palette: the block catalogue, searchable by name and description, by category.

Each block is an HTML item the person drags onto the canvas (the drag carries the block id under
:data:`~workbench.ui.builder.canvas.BLOCK_MIME`); hovering one shows its documentation (description,
inputs, outputs). Clicking an item adds the block too, next to the others (for keyboards and for
people who do not drag).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable

import panel as pn
import param
from panel.viewable import Viewer

from workbench.block.base import Block, BlockType
from workbench.graph import pin_types
from workbench.ui.builder.canvas import BLOCK_MIME

PALETTE_CSS = """
.wb-palette { display: flex; flex-direction: column; gap: 4px; max-height: 560px; overflow-y: auto;
  padding-right: 4px; }
.wb-block { border: 1px solid #c8d3e2; border-radius: 6px; padding: 5px 8px; background: #fff;
  cursor: grab; font-size: 12.5px; color: #1d2733; }
.wb-block:hover { border-color: #3b6fd8; background: #f3f7ff; }
.wb-block small { display: block; color: #5b6675; font-size: 11px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.wb-empty { color: #5b6675; font-size: 12.5px; }
"""

HIDDEN = {BlockType.NOTE}
"""Block types not offered (notes are not run)."""


def block_doc(block: Block) -> str:
    """A block's documentation as plain text: its description, inputs and outputs with their kinds."""
    lines = [block.name, block.description.strip() or "(no description)", "", "Inputs:"]
    for name, spec in block.input_pins.items():
        need = " (required)" if spec.required else ""
        lines.append(f"  {name}: {pin_types.describe(pin_types.kinds(spec.annotation))}{need}")
    lines.append("Outputs:")
    for name, annotation in block.output_pins.items():
        lines.append(f"  {name}: {pin_types.describe(pin_types.kinds(annotation))}")
    return "\n".join(lines)


def matching(blocks: Iterable[Block], query: str = "", category: str = "") -> list[Block]:
    """Blocks whose name or description holds every word of ``query``, in ``category`` ('' for all),
    names first, by name."""
    words = query.lower().split()
    found = []
    for block in blocks:
        if block.block_type in HIDDEN:
            continue
        if category and category not in {c.value for c in block.categories}:
            continue
        text = f"{block.name} {block.description}".lower()
        if all(word in text for word in words):
            in_name = all(word in block.name.lower() for word in words)
            found.append((not in_name, block.name.lower(), block))
    return [block for *_, block in sorted(found, key=lambda item: (item[0], item[1]))]


def palette_html(blocks: list[Block]) -> str:
    """The palette's items: draggable, with the documentation on hover."""
    if not blocks:
        return "<p class='wb-empty'>No block matches.</p>"
    items = []
    for block in blocks:
        first = block.description.strip().split("\n", 1)[0]
        items.append(
            f'<div class="wb-block" draggable="true" data-block="{html.escape(block.id)}" '
            f'title="{html.escape(block_doc(block))}" '
            f"ondragstart=\"event.dataTransfer.setData('{BLOCK_MIME}', "
            f"JSON.stringify({{block: this.dataset.block}})); event.dataTransfer.effectAllowed='copy'\">"
            f"{html.escape(block.name)}<small>{html.escape(first)}</small></div>"
        )
    return f"<div class='wb-palette'>{''.join(items)}</div>"


class Palette(Viewer):
    """Search, category filter and the block items; ``on_add(block_id)`` for the Add button."""

    query = param.String(default="")
    category = param.String(default="")

    def __init__(self, blocks: list[Block], on_add: Callable[[str], None], **params: object) -> None:
        super().__init__(**params)
        self._blocks = blocks
        self._on_add = on_add
        categories = sorted({c.value for block in blocks for c in block.categories})
        self._search = pn.widgets.TextInput(
            placeholder="Search blocks…", sizing_mode="stretch_width", css_classes=["wb-palette-search"]
        )
        self._category = pn.widgets.Select(
            options={"All categories": "", **{c.title(): c for c in categories}}, sizing_mode="stretch_width"
        )
        self._pick = pn.widgets.Select(name="", options={}, sizing_mode="stretch_width")
        self._add = pn.widgets.Button(
            name="Add to canvas", button_type="primary", sizing_mode="stretch_width"
        )
        self._items = pn.pane.HTML("", stylesheets=[PALETTE_CSS], sizing_mode="stretch_width")
        self._search.param.watch(self._filter, "value_input")
        self._category.param.watch(self._filter, "value")
        self._add.on_click(lambda _event: self._pick.value and self._on_add(self._pick.value))
        self._filter()

    def _filter(self, *_: object) -> None:
        found = matching(self._blocks, self._search.value_input or "", self._category.value or "")
        self._items.object = palette_html(found)
        self._pick.options = {block.name: block.id for block in found}

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("**Blocks** · drag one onto the canvas", margin=(0, 5)),
            self._search,
            self._category,
            self._items,
            pn.Row(self._pick, self._add, sizing_mode="stretch_width"),
            width=260,
            css_classes=["wb-palette-column"],
        )
