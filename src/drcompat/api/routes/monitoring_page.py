# ruff: noqa: E501  (the page is one HTML string; its script lines are not Python)
"""The monitoring page: one self-contained HTML file (inline script, inline SVG charts, no CDN).

It holds no data and needs no cookie: its script takes the API token from the URL fragment
(``#token=...``, which browsers never send to the server, so it stays out of access logs), keeps
it in ``sessionStorage`` and reads ``monitoringOverview`` with it. Every value reaches the page as
text nodes, never as markup.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Monitoring</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2933;background:#f7f9fb}
h1{font-size:20px;margin:0 0 4px} .sub{color:#52606d;margin:0 0 16px;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
.card{background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:12px}
.card h2{font-size:14px;margin:0 0 8px} .empty{color:#9aa5b1;font-size:12px}
svg text{font-size:10px;fill:#52606d} #error{color:#b42318;font-weight:600}
</style></head>
<body>
<h1 id="title">Deployment __DEPLOYMENT__</h1>
<p class="sub" id="subtitle">Loading monitoring data&hellip;</p>
<p id="error"></p>
<div class="grid">
<section class="card"><h2>Requests over time</h2><div id="requests"></div></section>
<section class="card"><h2>Median response time (ms)</h2><div id="latency"></div></section>
<section class="card"><h2>Feature drift vs. feature impact</h2><div id="drift"></div></section>
<section class="card"><h2>Predictions vs. training baseline</h2><div id="predictions"></div></section>
<section class="card"><h2 id="accuracy-title">Accuracy over time</h2><div id="accuracy"></div></section>
</div>
<script>
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg", W = 440, H = 220, L = 44, B = 36, T = 10, R = 12;
  var deployment = "__DEPLOYMENT__";
  var hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("drcToken", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  var token = sessionStorage.getItem("drcToken");
  function el(name, attrs, parent, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function frame(id, label) {
    var svg = el("svg", {width: "100%", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label});
    el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#9aa5b1"}, svg);
    el("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#9aa5b1"}, svg);
    document.getElementById(id).appendChild(svg);
    return svg;
  }
  function empty(id, text) {
    var p = document.createElement("p"); p.className = "empty"; p.textContent = text;
    document.getElementById(id).appendChild(p);
  }
  function fmt(v) { return v === null || v === undefined ? "-" : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)); }
  function axisY(svg, max) {
    [0, 0.5, 1].forEach(function (f) {
      var y = H - B - f * (H - B - T);
      el("text", {x: L - 4, y: y + 3, "text-anchor": "end"}, svg, fmt(max * f));
    });
  }
  function series(id, points, kind, color) {
    var values = points.map(function (p) { return p.value; });
    var present = values.filter(function (v) { return v !== null && v !== undefined; });
    if (!present.length || (kind === "bars" && !present.some(function (v) { return v > 0; }))) {
      return empty(id, "No data in this period.");
    }
    var svg = frame(id, id), max = Math.max.apply(null, present) || 1, n = points.length;
    var step = (W - L - R) / Math.max(n, 1);
    axisY(svg, max);
    var path = "";
    points.forEach(function (p, i) {
      var x = L + i * step, v = p.value;
      if (i % Math.ceil(n / 6) === 0) {
        el("text", {x: x + step / 2, y: H - B + 14, "text-anchor": "middle"}, svg, p.start.slice(11, 16) || p.start.slice(5, 10));
      }
      if (v === null || v === undefined) return;
      var y = H - B - (v / max) * (H - B - T);
      if (kind === "bars") {
        el("rect", {x: x + 1, y: y, width: Math.max(step - 2, 1), height: H - B - y, fill: color, "data-value": v}, svg);
      } else {
        path += (path ? " L" : "M") + (x + step / 2).toFixed(1) + " " + y.toFixed(1);
        el("circle", {cx: x + step / 2, cy: y, r: 3, fill: color, "data-value": v}, svg);
      }
    });
    if (path) el("path", {d: path, fill: "none", stroke: color, "stroke-width": 2}, svg);
  }
  function drift(rows) {
    var scored = rows.filter(function (d) { return d.driftScore !== null; });
    if (!scored.length) return empty("drift", "No drift scores: no scored rows in this period.");
    var svg = frame("drift", "drift"), maxY = Math.max(0.3, Math.max.apply(null, scored.map(function (d) { return d.driftScore; })));
    axisY(svg, maxY);
    el("text", {x: (W + L) / 2, y: H - 4, "text-anchor": "middle"}, svg, "feature impact");
    el("line", {x1: L, x2: W - R, y1: H - B - 0.15 / maxY * (H - B - T), y2: H - B - 0.15 / maxY * (H - B - T), stroke: "#f0b429", "stroke-dasharray": "4 3"}, svg);
    scored.forEach(function (d) {
      var x = L + (d.featureImpact || 0) * (W - L - R - 40), y = H - B - d.driftScore / maxY * (H - B - T);
      var color = d.driftScore >= 0.15 ? "#d64545" : "#2f80ed";
      el("circle", {cx: x, cy: y, r: 5, fill: color, "class": "feature", "data-name": d.name, "data-drift": d.driftScore}, svg);
      el("text", {x: x + 7, y: y + 3}, svg, d.name);
    });
  }
  function predictions(p) {
    if (!p.actual.some(function (v) { return v > 0; })) return empty("predictions", "No predictions in this period.");
    var svg = frame("predictions", "predictions"), n = p.labels.length;
    var max = Math.max.apply(null, p.actual.concat(p.baseline)) || 1, step = (W - L - R) / n;
    axisY(svg, max);
    p.labels.forEach(function (label, i) {
      var x = L + i * step, hb = p.baseline[i] / max * (H - B - T), ha = p.actual[i] / max * (H - B - T);
      el("rect", {x: x + 2, y: H - B - hb, width: step / 2 - 2, height: hb, fill: "#9aa5b1", "class": "baseline"}, svg);
      el("rect", {x: x + step / 2, y: H - B - ha, width: step / 2 - 2, height: ha, fill: "#2f80ed", "class": "actual"}, svg);
      el("text", {x: x + step / 2, y: H - B + 14, "text-anchor": "middle"}, svg, label.length > 9 ? label.slice(0, 8) + "~" : label);
    });
    el("text", {x: W - R, y: T + 8, "text-anchor": "end"}, svg, "grey: training, blue: this period");
  }
  function show(data) {
    document.getElementById("title").textContent = (data.label || "Deployment") + " \\u2014 monitoring";
    document.getElementById("subtitle").textContent = "Deployment " + data.deploymentId + ", model " + data.modelId +
      " (" + data.targetType + "), " + data.period.start + " to " + data.period.end;
    series("requests", data.requests, "bars", "#2f80ed");
    series("latency", data.latency, "line", "#7b61ff");
    drift(data.drift);
    predictions(data.predictions);
    document.getElementById("accuracy-title").textContent = "Accuracy over time (" + data.accuracy.metric + ")";
    series("accuracy", data.accuracy.buckets.map(function (b) { return {start: b.period.start, value: b.value}; }), "line", "#27ab83");
    document.body.setAttribute("data-loaded", "true");
  }
  if (!token) {
    document.getElementById("error").textContent = "Open this page as /deployments/<id>/monitoring#token=<API key>.";
    return;
  }
  var end = new Date(); end.setUTCMinutes(0, 0, 0); end = new Date(end.getTime() + 3600e3);
  var start = new Date(end.getTime() - 24 * 3600e3);
  // relative, so a stage path in front (API Gateway /Prod/...) is kept
  var url = "../../api/v2/deployments/" + encodeURIComponent(deployment) + "/monitoringOverview/?bucketSize=PT1H&start=" +
    encodeURIComponent(start.toISOString()) + "&end=" + encodeURIComponent(end.toISOString());
  fetch(url, {headers: {Authorization: "Bearer " + token}}).then(function (r) {
    return r.json().then(function (body) { if (!r.ok) throw new Error(body.message || r.status); return body; });
  }).then(show).catch(function (e) {
    document.getElementById("error").textContent = "Could not load monitoring data: " + e.message;
  });
})();
</script>
</body></html>
"""
