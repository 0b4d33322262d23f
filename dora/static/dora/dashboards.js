// Draws every chart of a dashboard page: each <div data-figure="ID"> gets the plotly figure
// stored as JSON in <script type="application/json" id="ID"> (Django's json_script).
// plotly.min.js is served from our own static files; nothing here loads anything remote.
(function () {
  "use strict";
  var CONFIG = {
    displaylogo: false,
    // Not plotly's `responsive`: on a window resize it re-sizes the height from the div too,
    // which collapsed a 260 px chart into its 220 px min-height and clipped its axis. Each
    // card is watched below and only the chart's width follows it.
    responsive: false,
    showLink: false,
    showEditInChartStudio: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  };

  // A chart follows its card: each card is watched (a window resize, or the grid re-flowing
  // to a column more or less) and its chart given the card's width, at most once per
  // animation frame; its height stays the figure's own.
  var pending = [];
  var scheduled = false;

  function resizeLater(node) {
    if (pending.indexOf(node) < 0) { pending.push(node); }
    if (scheduled) { return; }
    scheduled = true;
    window.requestAnimationFrame(function () {
      scheduled = false;
      var nodes = pending;
      pending = [];
      for (var i = 0; i < nodes.length; i++) {
        if (nodes[i].classList.contains("js-plotly-plot")) {
          window.Plotly.relayout(nodes[i], { width: nodes[i].clientWidth });
        }
      }
    });
  }

  function watch(node) {
    var card = node.parentElement || node;
    if (!window.ResizeObserver) { return; }
    var lastWidth = card.clientWidth;
    new window.ResizeObserver(function () {
      // Only a change of width redraws: the chart's own height change must not loop.
      if (card.clientWidth === lastWidth) { return; }
      lastWidth = card.clientWidth;
      resizeLater(node);
    }).observe(card);
  }

  function draw() {
    var nodes = document.querySelectorAll("[data-figure]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var source = document.getElementById(node.getAttribute("data-figure"));
      if (!source) { continue; }
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(node, figure.data, figure.layout, CONFIG);
      node.setAttribute("data-drawn", "true");
      watch(node);
    }
  }

  // <a data-print>: the browser's print dialog (a listener here: the Content-Security-Policy
  // runs no inline onclick).
  function printLinks() {
    var links = document.querySelectorAll("[data-print]");
    for (var i = 0; i < links.length; i++) {
      links[i].addEventListener("click", function (event) {
        event.preventDefault();
        window.print();
      });
    }
  }

  function ready() {
    printLinks();
    draw();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
