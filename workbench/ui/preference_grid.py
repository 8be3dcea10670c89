"""Which events go on which channels, as one grid of checkboxes (a custom component: one Bokeh model
for the 35 boxes, not 35 widgets).

``value`` is the ``events`` part of the preferences document (event -> channels); ticking a box in the
browser sends the whole new mapping back. Each box is labelled "<event>: <channel>" for assistive
technology (and tests).
"""

from __future__ import annotations

from typing import Any

import param
from panel.custom import JSComponent

GRID_CSS = """
table.wb-grid { border-collapse: collapse; font-size: 0.95rem; }
.wb-grid th, .wb-grid td { padding: 0.35rem 0.7rem; border-bottom: 1px solid #d1d5db; }
.wb-grid thead th { background: #f3f4f6; color: #374151; font-weight: 600; text-align: center; }
.wb-grid thead th:first-child, .wb-grid tbody th { text-align: left; }
.wb-grid tbody th { font-weight: 600; color: #111827; }
.wb-grid tbody th small { display: block; font-weight: 400; color: #4b5563; font-size: 0.85rem; }
.wb-grid td { text-align: center; }
.wb-grid input { width: 1.05rem; height: 1.05rem; cursor: pointer; accent-color: #1d4ed8; }
.wb-grid tbody tr:hover { background: #f9fafb; }
"""


class PreferenceGrid(JSComponent):
    """Events (rows) by channels (columns), ticked where an event goes on a channel."""

    value = param.Dict(default={}, doc="Event -> the channels it goes on (every event listed).")
    events = param.List(default=[], doc="The rows: [event, label, explanation].")
    channels = param.List(default=[], doc="The columns: [channel, label].")

    _esm = """
export function render({ model, el }) {
  const sync = () => {
    const value = model.value || {};
    for (const box of el.querySelectorAll('input[data-event]')) {
      box.checked = (value[box.dataset.event] || []).includes(box.dataset.channel);
    }
  };
  const draw = () => {
    const table = document.createElement('table');
    table.className = 'wb-grid';
    const head = table.createTHead().insertRow();
    const corner = document.createElement('th');
    corner.scope = 'col';
    corner.textContent = 'Event';
    head.appendChild(corner);
    for (const [, label] of model.channels) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = label;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const [event, label, help] of model.events) {
      const row = body.insertRow();
      row.dataset.event = event;
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = label;
      if (help) {
        const small = document.createElement('small');
        small.textContent = help;
        th.appendChild(small);
      }
      row.appendChild(th);
      for (const [channel, channelLabel] of model.channels) {
        const box = document.createElement('input');
        box.type = 'checkbox';
        box.dataset.event = event;
        box.dataset.channel = channel;
        box.setAttribute('aria-label', `${label}: ${channelLabel}`);
        row.insertCell().appendChild(box);
      }
    }
    el.replaceChildren(table);
    sync();
  };
  el.addEventListener('change', (e) => {
    const box = e.target.closest('input[data-event]');
    if (!box) return;
    const order = model.channels.map(([channel]) => channel);
    const value = {};
    for (const [event] of model.events) {
      value[event] = order.filter((channel) =>
        el.querySelector(`input[data-event="${event}"][data-channel="${channel}"]`).checked);
    }
    model.value = value;
  });
  draw();
  model.on('value', sync);
  model.on(['events', 'channels'], draw);
}
"""

    def __init__(self, **params: Any) -> None:
        params.setdefault("stylesheets", [GRID_CSS])
        super().__init__(**params)
