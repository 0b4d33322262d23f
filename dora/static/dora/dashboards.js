// Draws every chart of a dashboard page: each <div data-figure="ID"> gets the plotly figure
// stored as JSON in <script type="application/json" id="ID"> (Django's json_script).
// plotly.min.js is served from our own static files; nothing here loads anything remote.
(function () {
  "use strict";
  var CONFIG = {
    displaylogo: false,
    responsive: true,
    showLink: false,
    showEditInChartStudio: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  };

  function draw() {
    var nodes = document.querySelectorAll("[data-figure]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var source = document.getElementById(node.getAttribute("data-figure"));
      if (!source) { continue; }
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(node, figure.data, figure.layout, CONFIG);
      node.setAttribute("data-drawn", "true");
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
