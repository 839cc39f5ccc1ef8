// Report charts: each <canvas data-chart="<id>"> is drawn from the JSON block with that id (no inline script:
// the CSP allows scripts from this origin only). The table after each chart holds the same figures as text.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var COLOURS = ["#0b4f8a", "#b35900", "#2e7d32", "#6a1b9a"];      // dark enough to read against white
  var UNITS = {cases: "cases", hours: "hours", percent: "%", score: "of 5", answers: "answers"};
  Chart.defaults.color = "#1b1b1b";
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) { return; }
    var spec = JSON.parse(source.textContent);
    var horizontal = Boolean(spec.horizontal);
    if (horizontal) {      // a bar per agent: give each one room
      canvas.parentNode.style.height = Math.max(12, spec.labels.length * 2.2 + 4) + "rem";
    }
    var valueAxis = {beginAtZero: true, title: {display: true, text: UNITS[spec.unit] || spec.unit}};
    if (spec.max !== undefined) { valueAxis.max = spec.max; }
    new Chart(canvas, {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (series, i) {
          return {label: series.label, data: series.data, backgroundColor: COLOURS[i % COLOURS.length],
                  borderColor: COLOURS[i % COLOURS.length], borderWidth: spec.type === "line" ? 2 : 0,
                  pointRadius: spec.type === "line" ? 2 : 0};
        })
      },
      options: {
        animation: false,                  // figures, not a show; also honours reduced motion
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        scales: horizontal ? {x: valueAxis} : {y: valueAxis},
        plugins: {legend: {display: spec.series.length > 1, position: "bottom"}}
      }
    });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);
})();
