// userseg web app: the only script. Pages work without it; it draws the charts (Plotly,
// served from this server) from the JSON each page embeds beside its table.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (typeof Plotly === "undefined") return;  // no charts on this page; the tables remain
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source) return;
    var fig = JSON.parse(source.textContent);
    fig.layout.autosize = true;
    if (window.innerWidth < 600) {  // a phone: the legend below the plot, not beside it
      fig.layout.legend = {orientation: "h", y: -0.35};
    }
    Plotly.newPlot(el, fig.data, fig.layout, {displayModeBar: false, responsive: true});
  });
});
