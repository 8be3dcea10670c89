"""Plain HTML tables for the pages that list things (Home's agents and runs, the Monitor's runs).

A table here is one HTML string in one ``pn.pane.HTML``: changing it sends one property to the
browser, which replaces the table's markup, instead of a data source of columns re-laid out by a
Tabulator. That matters where tables change while runs go on: with twenty Monitors open, the
browser re-drawing Tabulators was what slowed the API down (they share the machine), not the server.
Cells are HTML already: escape whatever comes from users before building them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

TABLE_CSS = """
table.wb-table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
.wb-table th, .wb-table td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid #d1d5db; }
.wb-table th { color: #374151; font-weight: 600; background: #f3f4f6; position: sticky; top: 0; }
.wb-table tbody tr:hover { background: #f9fafb; }
.wb-table td.wb-num { text-align: right; font-variant-numeric: tabular-nums; }
.wb-table th, .wb-table td { white-space: nowrap; }
.wb-table td.wb-wrap { white-space: normal; width: 100%; min-width: 16rem; overflow-wrap: anywhere; color: #7f1d1d; }
.wb-table a { color: #1d4ed8; }
.wb-empty { color: #374151; }
.wb-status { font-weight: 600; }
.wb-status-COMPLETED { color: #166534; }
.wb-status-FAILED { color: #991b1b; }
.wb-status-CANCELLED { color: #6b21a8; }
.wb-status-REVIEW { color: #92400e; }
.wb-status-RUNNING, .wb-status-QUEUED, .wb-status-INCOMPLETE { color: #1e40af; }
.wb-links a { color: #1d4ed8; }
ul.wb-links { margin: 0; padding-left: 1.25rem; }
.wb-links li { margin: 0.3rem 0; }
"""
"""The tables' style (readable contrast on white; statuses in the colors of the Monitor's charts)."""


def status_badge(status: str) -> str:
    """A run's status as a table shows it (lower case, colored by its class)."""
    clean = html.escape(status)
    return f'<span class="wb-status wb-status-{clean}">{clean.lower()}</span>'


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    empty: str,
    *,
    fields: Sequence[str] | None = None,
    classes: dict[str, str] | None = None,
    row_ids: Sequence[str] | None = None,
) -> str:
    """An HTML table of ``rows`` (cells are HTML), or ``empty`` as a sentence when there are none.

    ``fields`` names each column (``data-field`` on its cells, for tests and scripts), ``classes``
    gives a column (by field) a CSS class, and ``row_ids`` sets each row's ``data-id``.
    """
    if not rows:
        return f'<p class="wb-empty">{html.escape(empty)}</p>'
    names = list(fields) if fields is not None else [""] * len(headers)
    extra = classes or {}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        ident = f' data-id="{html.escape(row_ids[i])}"' if row_ids is not None else ""
        cells = "".join(
            f"<td{_cell_attrs(name, extra.get(name))}>{cell}</td>"
            for name, cell in zip(names, row, strict=True)
        )
        body.append(f'<tr class="wb-row"{ident}>{cells}</tr>')
    return f'<table class="wb-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _cell_attrs(field: str, css_class: str | None) -> str:
    attrs = f' data-field="{html.escape(field)}"' if field else ""
    return attrs + (f' class="{css_class}"' if css_class else "")
