"""The Tabler icon font of Bokeh's buttons, carried by the notebook itself (``%wb monitor``,
``%wb chat``): Bokeh would ask a CDN for it. The script is built by :mod:`workbench.ui.inline_icons`
(0.8 MB); one output per notebook carries it (:func:`load_icon_font`)."""

from __future__ import annotations

from dataclasses import dataclass

from IPython import get_ipython
from IPython.display import publish_display_data

from workbench.ui.inline_icons import icons_script


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
