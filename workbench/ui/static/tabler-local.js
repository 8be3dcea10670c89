// Bokeh asks a CDN (cdn.jsdelivr.net) for the Tabler icon font and its stylesheet: point both at
// this server (workbench/ui/static/tabler), before any icon is drawn.
(function () {
  "use strict";
  var base = "/ui-static/tabler";
  var icon = window.Bokeh && window.Bokeh.Models && window.Bokeh.Models.TablerIcon;
  if (!icon) {
    return;
  }
  var view = icon.prototype.default_view;
  view._url = base;
  // Fonts declared inside a shadow root are ignored by browsers, so Bokeh declares this one globally.
  view._fonts.replace(
    '@font-face { font-family: "tabler-icons"; font-style: normal; font-weight: 400; ' +
      'src: url("' + base + '/fonts/tabler-icons.woff2") format("woff2"); }'
  );
})();
