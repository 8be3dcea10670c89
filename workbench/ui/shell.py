"""The frame every page of the apps sits in: a header with the product name, the pages, the API docs
and the notebooks, the notification bell (the unread count, live: :mod:`workbench.ui.bell`), the
user's address and a Log out link, above the page's own content.

The header is plain HTML in the page's template (``templates/page.jinja``, extending Panel's), not a
Bokeh model: the browser paints it as soon as the HTML arrives, while Bokeh's and Panel's scripts
(loaded at the end of the body) are still starting. The login page uses the same markup
(``templates/header.html``) and stylesheet (``static/shell.css``); all are served by the UI server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
import panel as pn
import param
from bokeh.document import Document
from panel.viewable import Viewer

HERE = Path(__file__).resolve().parent
STATIC_URL = "/ui-static"
"""Where the UI server serves ``workbench/ui/static/``."""
SHELL_CSS = f"{STATIC_URL}/shell.css"

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class NavLink:
    """One entry of the header's navigation."""

    label: str
    href: str


BELL_LABEL = "Notifications"
"""The bell's name, and the ``current`` of the inbox page (the bell is then marked ``aria-current``)."""


def render_header(
    links: list[NavLink],
    current: str,
    email: str | None,
    *,
    show_user: bool,
    can_log_out: bool,
    bell: str | None = None,
) -> str:
    """The header's HTML: ``current`` is the label of the page shown (marked ``aria-current``);
    ``bell`` the inbox's address (None: no bell)."""
    return TEMPLATES.get_template("header.html").render(
        links=links,
        current=current,
        email=email,
        show_user=show_user,
        can_log_out=can_log_out,
        bell=bell,
        bell_label=BELL_LABEL,
    )


PAGE_TEMPLATE = (HERE / "templates" / "page.jinja").read_text(encoding="utf-8")
"""The served page: header, then the Bokeh roots, then the scripts (Panel extends its base with it)."""


class Shell(Viewer):
    """One page of the apps: the header (in the page template) above ``body``."""

    body = param.Parameter(doc="The page's own content: a Panel viewable.")
    current = param.String(default="", doc="Label of the page shown, as in ``links`` ('' for none).")
    links = param.List(default=[], item_type=NavLink, doc="The navigation entries, in order.")
    email = param.String(default=None, allow_None=True, doc="The user's address; None: the local user.")
    can_log_out = param.Boolean(default=True, doc="Whether a Log out link is shown (not without accounts).")
    bell = param.String(default=None, allow_None=True, doc="The inbox's address; None: no bell.")
    badge = param.Parameter(default=None, doc="What keeps the bell's count live (a viewable), or None.")

    def header(self) -> str:
        """The header's HTML."""
        return render_header(
            self.links,
            self.current,
            self.email,
            show_user=True,
            can_log_out=self.can_log_out,
            bell=self.bell,
        )

    def install(self, doc: Document) -> None:
        """Make ``doc`` (a browser session's document) render in the page template with this header."""
        doc.template = PAGE_TEMPLATE
        doc.template_variables.update(wb_header=self.header(), wb_css_url=SHELL_CSS)

    def __panel__(self) -> pn.viewable.Viewable:
        """The page's content, with the page's margins."""
        parts = [self.body] if self.badge is None else [self.badge, self.body]
        return pn.Column(*parts, sizing_mode="stretch_width", margin=(10, 20), css_classes=["wb-body"])
