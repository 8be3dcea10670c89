"""The Tabler icon font of Bokeh's buttons, carried inside a notebook output.

BokehJS draws an icon (``TablerIcon``: the ``icon`` of a Panel button) as a ``<span class="ti ti-NAME">``
in the icon's shadow root, styled by the Tabler stylesheet it links there from a CDN
(``TablerIconView._url``: cdn.jsdelivr.net) and drawn with the font of a global ``@font-face``
(``TablerIconView._fonts``), from the same CDN. The web server
points both at its own copy (``static/tabler-local.js``); a notebook output has no server to ask, so
:func:`icons_script` builds a script that carries everything itself, from ``static/tabler``:

- the font, as a ``data:`` URL in the global ``@font-face`` Bokeh declares (``TablerIconView._fonts``);
- instead of the 213 kB stylesheet in every icon, a table of icon names to code points (from that
  stylesheet) and, in each icon's own style sheet, the two rules that icon needs.

The script patches the ``Bokeh`` on the page when there is one, and any ``Bokeh`` set later (the
``window.Bokeh`` property becomes an accessor that patches what is assigned), so it may run before
Bokeh's own loader (as the notebook publishes it), or after it, as long as it runs before the first
icon is drawn. Size: 796 kB, of which 676 kB the font (506 kB of woff2, in base64) and 118 kB the
table of 5,247 icons.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path

TABLER = Path(__file__).parent / "static" / "tabler"
"""Tabler Icons' stylesheet and woff2 font, as the npm package ``@tabler/icons-webfont`` ships them."""

ICON_RULE = re.compile(r'\.ti-([a-z0-9-]+):before\{content:"\\([0-9a-f]+)"\}')
"""One icon's rule in the stylesheet: its name and the hex code point of its glyph."""
BASE_RULE = re.compile(r"(?<![\w-])\.ti\{[^}]*\}")
"""The rule every icon's ``<span class="ti">`` needs: the font family and how glyphs are drawn."""
VERSION = re.compile(r"Tabler Icons ([\d.]+)")

SCRIPT = """\
// Tabler Icons %(version)s (MIT License, %(copyright)s): the icon font of this output's buttons,
// carried here so that BokehJS asks no CDN for it (workbench/ui/inline_icons.py).
(function (root) {
  "use strict";
  var FONT = %(font)s;
  var BASE = %(base)s;
  var CODES = %(codes)s;
  var FACE = '@font-face { font-family: "tabler-icons"; font-style: normal; font-weight: 400; ' +
    'src: url("' + FONT + '") format("woff2"); }';

  function patch(bokeh) {
    var model = bokeh && bokeh.Models && bokeh.Models.TablerIcon;
    if (!model) {
      return;
    }
    var view = model.prototype.default_view;
    if (view.__workbench_inline_icons) {
      return;
    }
    view.__workbench_inline_icons = true;
    // Fonts declared inside a shadow root are ignored by browsers, so Bokeh declares this one globally.
    view._fonts.replace(FACE);
    // Never the CDN, even if the stylesheet link below were installed after all.
    view._url = "data:text/css,";
    var stylesheets = view.prototype.stylesheets;
    view.prototype.stylesheets = function () {
      var linked = this._tabler;
      return stylesheets.call(this).filter(function (sheet) { return sheet !== linked; });
    };
    var render = view.prototype.render;
    view.prototype.render = function () {
      render.call(this);
      var name = this.model.icon_name;
      var code = CODES.hasOwnProperty(name) ? CODES[name] : null;
      this._style.append(BASE + (code ? ".ti-" + name + ':before { content: "\\\\' + code + '"; }' : ""));
    };
  }

  var current = root.Bokeh;
  patch(current);
  if (current && current.versions) {
    current.versions.forEach(patch);
  }
  var own = Object.getOwnPropertyDescriptor(root, "Bokeh");
  if (!own || own.configurable) {
    Object.defineProperty(root, "Bokeh", {
      configurable: true,
      enumerable: true,
      get: function () { return current; },
      set: function (bokeh) { current = bokeh; patch(bokeh); },
    });
  }
})(window);
"""


@functools.cache
def icons_script() -> str:
    """A script that makes BokehJS draw Tabler icons from the font and table it carries, asking
    nothing of any other address; to run in the page before the first icon is drawn."""
    css = (TABLER / "tabler-icons.min.css").read_text(encoding="utf-8")
    codes = dict(ICON_RULE.findall(css))
    base = BASE_RULE.search(css)
    version = VERSION.search(css)
    if not codes or base is None or version is None:
        raise RuntimeError(f"{TABLER / 'tabler-icons.min.css'} is not Tabler Icons' stylesheet")
    license_text = (TABLER / "LICENSE").read_text(encoding="utf-8")
    copyright_line = next(line for line in license_text.splitlines() if line.startswith("Copyright"))
    font = base64.b64encode((TABLER / "fonts" / "tabler-icons.woff2").read_bytes()).decode("ascii")
    return SCRIPT % {
        "version": version.group(1),
        "copyright": copyright_line,
        "font": json.dumps(f"data:font/woff2;base64,{font}"),
        "base": json.dumps(base.group(0)),
        "codes": json.dumps(codes, separators=(",", ":")),
    }
