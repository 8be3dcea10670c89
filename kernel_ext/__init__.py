"""The Jupyter side of the workbench: ``%load_ext kernel_ext`` in a notebook.

It registers the ``%wb`` magics (connect, blocks, palette, run, runs, show), rich displays of graphs
(a picture), runs and blocks, and makes the widgets importable from ``kernel_ext.widgets``: the live
run widget, the block palette and the chat widget. Nothing needs starting beforehand: the first use
starts the local platform inside the kernel, on the same data folder ``make run`` uses.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and the rich displays (called by ``%load_ext kernel_ext``)."""
    from kernel_ext.magics import WorkbenchMagics
    from kernel_ext.reprs import register_reprs

    ipython.register_magics(WorkbenchMagics)
    register_reprs(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Disconnect the client (``%unload_ext kernel_ext``)."""
    from kernel_ext import session

    session.disconnect()
