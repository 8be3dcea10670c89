"""Notebook widgets (ipywidgets): the live run widget, the block palette, the chat widget."""

from __future__ import annotations

from kernel_ext.widgets.chat import ChatWidget
from kernel_ext.widgets.palette import BlockPalette
from kernel_ext.widgets.run import RunWidget

__all__ = ["BlockPalette", "ChatWidget", "RunWidget"]
