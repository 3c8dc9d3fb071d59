// Draw each report chart from the JSON beside its canvas (the page's tables hold the same numbers).
// A click on a bar or point opens the lead list filtered to exactly those leads.
(function () {
  "use strict";
  if (!window.Chart) {
    return; // no chart library: the tables are the report
  }
  var COLOURS = ["#2f6fdb", "#e07b39", "#3a9d6a", "#b04ac7", "#d4a21c", "#2aa4b8", "#c8435a", "#6d7a8c",
                 "#8fb3ee", "#f2b48a", "#93d1b0", "#d9a2e6"];
  var PREVIOUS = "rgba(90, 100, 115, 0.45)";

  function dataset(series, index, kind) {
    var colour = COLOURS[index % COLOURS.length];
    var item = {label: series.label, data: series.data, links: series.links, backgroundColor: colour,
                borderColor: colour};
    if (kind === "line") {
      item.type = "line";
      item.borderColor = PREVIOUS;
      item.backgroundColor = PREVIOUS;
      item.borderDash = [6, 4];
      item.borderWidth = 2;
      item.pointRadius = 0;
      item.pointHitRadius = 6;
      item.order = -1; // drawn over the bars
    }
    return item;
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    var spec = JSON.parse(source.textContent);
    var datasets = spec.datasets.map(function (series, index) { return dataset(series, index, "bar"); });
    if (spec.line) {
      datasets.push(dataset(spec.line, 0, "line"));
    }
    if (spec.horizontal) {
      canvas.parentNode.style.height = Math.max(160, 34 * spec.labels.length + 60) + "px";
    }
    var valueAxis = {stacked: !!spec.stacked, beginAtZero: true};
    var labelAxis = {stacked: !!spec.stacked, ticks: {autoSkip: true, maxRotation: 0}};
    new window.Chart(canvas, {
      type: "bar",
      data: {labels: spec.labels, datasets: datasets},
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        interaction: {mode: "nearest", intersect: true},
        scales: spec.horizontal ? {x: valueAxis, y: labelAxis} : {x: labelAxis, y: valueAxis},
        plugins: {legend: {display: datasets.length > 1, position: "bottom"}},
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) {
            return;
          }
          var link = datasets[elements[0].datasetIndex].links[elements[0].index];
          if (link) {
            window.location.assign(link);
          }
        }
      }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart]"), draw);
})();
