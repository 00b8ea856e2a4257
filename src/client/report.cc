#include "client/report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace zbuild::client {

namespace {

// The page: styles, a placeholder for the data, and the script that draws it. The data goes
// into a <script type="application/json"> with every '<' escaped, so no task name can end it.
const char* const kHead = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>zbuild report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
#errors { display: none; color: #b00020; background: #fde7ea; padding: 8px; }
#chart { overflow-x: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; }
td, th { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg text.label { text-anchor: end; }
svg text.tick { text-anchor: middle; fill: #777; }
svg line.grid { stroke: #eee; }
svg rect.stripe { fill: #f7f7f7; }
svg rect.bar { fill: #4a90d9; stroke: #2f6aa3; stroke-width: 0.5; }
svg rect.bar.cached { fill: #9e9e9e; stroke: #777; }
svg rect.bar.failed { fill: #d9534f; stroke: #a02622; }
svg rect.bar.critical { fill: #f08c00; stroke: #b35900; stroke-width: 1.5; }
svg rect.step { fill: #fff; opacity: 0.45; pointer-events: none; }
svg line.wait { stroke: #b0b0b0; stroke-width: 1; stroke-dasharray: 2 2; }
svg polyline.critline { fill: none; stroke: #b35900; stroke-width: 1.5; stroke-dasharray: 4 2; pointer-events: none; }
svg g.task:hover rect.bar { stroke: #000; stroke-width: 1.5; }
</style>
</head>
<body data-status="loading">
<h1 id="title">zbuild build report</h1>
<div id="subtitle"></div>
<pre id="errors"></pre>
<script>
window.onerror = function (msg, src, line, col) {
  var e = document.getElementById('errors');
  e.textContent += String(msg) + ' (line ' + line + ':' + col + ')\n';
  e.style.display = 'block';
  document.body.setAttribute('data-status', 'error');
  document.title = 'zbuild report: error';
};
</script>
<h2>Timeline</h2>
<div class="legend">
<span><i style="background:#4a90d9"></i>ran on a worker slot</span>
<span><i style="background:#f08c00"></i>critical path</span>
<span><i style="background:#d9534f"></i>failed</span>
<span><i style="background:#9e9e9e"></i>cache hit</span>
<span><i style="background:#fff;border:1px solid #999"></i>light part: fetching inputs / uploading outputs</span>
<span>dashed: waiting for a worker</span>
</div>
<div id="chart"></div>
<h2>Schedule</h2>
<table id="schedule"></table>
<h2>Critical path</h2>
<table id="critical"><tr><th>#</th><th>task</th><th>worker</th><th>start</th><th>time</th></tr></table>
<h2>Metrics</h2>
<table id="metrics"></table>
<script type="application/json" id="data">)HTML";

const char* const kTail = R"HTML(</script>
<script>
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function secs(us) { return (us / 1e6).toFixed(3) + ' s'; }
  function niceStep(raw) {
    var steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
    for (var i = 0; i < steps.length; i++) if (steps[i] >= raw) return steps[i];
    return 7200;
  }
  function row(table, cells, numeric) {
    var tr = document.createElement('tr');
    cells.forEach(function (c, k) {
      var td = document.createElement('td');
      td.textContent = String(c);
      if (numeric && k > 0) td.className = 'num';
      tr.appendChild(td);
    });
    table.appendChild(tr);
  }
  function fmt(v) { return typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v; }

  var tasks = data.tasks || [];
  var rows = (data.rows || []).slice().sort(function (a, b) { return a.row - b.row; });
  var lane = {};
  var labels = rows.map(function (r, k) {
    lane[r.row] = k;
    return r.slot >= 0 ? r.worker + ' slot ' + r.slot : r.worker;
  });
  var hasCached = tasks.some(function (t) { return t.state === 'cached'; });
  var cacheLane = hasCached ? labels.push('cache hits') - 1 : -1;
  var tmax = 1;
  tasks.forEach(function (t) { tmax = Math.max(tmax, t.end_us, t.start_us, t.ready_us); });

  var left = 190, width = 1000, top = 26;
  var rowH = labels.length > 36 ? Math.max(5, Math.floor(792 / labels.length)) : 22;
  var height = top + Math.max(1, labels.length) * rowH + 8;
  var svg = el('svg', {id: 'gantt', width: left + width + 24, height: height,
                       viewBox: '0 0 ' + (left + width + 24) + ' ' + height}, document.getElementById('chart'));
  function x(us) { return left + (us / tmax) * width; }
  labels.forEach(function (name, k) {
    if (k % 2) el('rect', {'class': 'stripe', x: 0, y: top + k * rowH, width: left + width + 24, height: rowH}, svg);
    if (rowH >= 9) el('text', {'class': 'label', x: left - 6, y: top + k * rowH + rowH * 0.72}, svg).textContent = name;
  });
  var step = niceStep(tmax / 1e6 / 10);
  for (var s = 0; s * 1e6 <= tmax * 1.0001; s += step) {
    var gx = x(s * 1e6);
    el('line', {'class': 'grid', x1: gx, x2: gx, y1: top - 4, y2: height - 4}, svg);
    el('text', {'class': 'tick', x: gx, y: top - 8}, svg).textContent = +s.toFixed(3) + ' s';
  }

  var bars = 0;
  var critical = [];
  tasks.forEach(function (t, i) {
    var k, x0, x1;
    if (t.row >= 1 && lane[t.row] !== undefined) { k = lane[t.row]; x0 = t.start_us; x1 = t.end_us; }
    else if (t.state === 'cached') { k = cacheLane; x0 = t.end_us; x1 = t.end_us; }
    else return;
    var y = top + k * rowH + 1, h = Math.max(2, rowH - 2);
    var g = el('g', {'class': 'task'}, svg);
    if (t.row >= 1 && t.ready_us > 0 && t.ready_us < t.start_us) {
      el('line', {'class': 'wait', x1: x(t.ready_us), x2: x(t.start_us), y1: y + h / 2, y2: y + h / 2}, g);
    }
    var w = Math.max(1.5, x(x1) - x(x0));
    el('rect', {'class': 'bar ' + t.state + (t.critical ? ' critical' : ''), x: x(x0), y: y, width: w, height: h,
                'data-index': i}, g);
    var fw = Math.min(w, t.fetch_ms * 1000 / tmax * width), uw = Math.min(w - fw, t.upload_ms * 1000 / tmax * width);
    if (t.row >= 1 && fw >= 1) el('rect', {'class': 'step fetch', x: x(x0), y: y, width: fw, height: h}, g);
    if (t.row >= 1 && uw >= 1) el('rect', {'class': 'step upload', x: x(x0) + w - uw, y: y, width: uw, height: h}, g);
    el('title', {}, g).textContent = t.id + '\n' + t.state + (t.worker ? ' on ' + t.worker + ' slot ' + t.slot : '') +
        '\nready ' + secs(t.ready_us) + ', start ' + secs(t.start_us) + ', end ' + secs(t.end_us) +
        '\nfetch ' + t.fetch_ms + ' ms, run ' + t.run_ms + ' ms, upload ' + t.upload_ms + ' ms' +
        (t.attempts > 1 ? '\nattempts ' + t.attempts : '') + (t.critical ? '\non the critical path' : '');
    if (t.critical && t.row >= 1) critical.push({t: t, y: y + h / 2});
    bars++;
  });
  critical.sort(function (a, b) { return a.t.start_us - b.t.start_us; });
  if (critical.length > 1) {
    var pts = [];
    critical.forEach(function (c) { pts.push(x(c.t.start_us) + ',' + c.y, x(c.t.end_us) + ',' + c.y); });
    el('polyline', {'class': 'critline', points: pts.join(' ')}, svg);
  }

  var ct = document.getElementById('critical');
  critical.forEach(function (c, k) {
    row(ct, [k + 1, c.t.id, c.t.worker + ' slot ' + c.t.slot, secs(c.t.start_us), secs(c.t.end_us - c.t.start_us)], true);
  });
  var sum = data.summary || {};
  var st = document.getElementById('schedule');
  [['makespan (first task ready to last finished)', secs((sum.makespan_ms || 0) * 1000)],
   ['lower bound max(critical path, work / slots)', secs((sum.lower_bound_ms || 0) * 1000)],
   ['critical path', secs((sum.critical_path_ms || 0) * 1000)],
   ['total work on workers', secs((sum.total_work_ms || 0) * 1000)],
   ['slots', data.slots || 0],
   ['efficiency (lower bound / makespan)', ((sum.efficiency || 0) * 100).toFixed(1) + ' %'],
   ['time tasks waited for a worker (sum)', secs((sum.wait_for_worker_ms || 0) * 1000)]].forEach(function (r) {
    row(st, r, true);
  });
  var mt = document.getElementById('metrics');
  Object.keys(data.metrics || {}).forEach(function (k) { row(mt, [k, fmt(data.metrics[k])], true); });

  var name = data.name || 'build';
  document.getElementById('title').textContent = 'zbuild build report: ' + name;
  document.getElementById('subtitle').textContent = tasks.length + ' tasks, ' + bars + ' drawn, ' +
      rows.length + ' worker slots, makespan ' + secs((sum.makespan_ms || 0) * 1000) + ', efficiency ' +
      ((sum.efficiency || 0) * 100).toFixed(1) + ' %';
  document.body.setAttribute('data-bars', String(bars));
  if (document.body.getAttribute('data-status') !== 'error') {
    document.body.setAttribute('data-status', 'ok');
    document.title = 'zbuild report: ok';
  }
})();
</script>
</body>
</html>
)HTML";

// JSON for an inline <script>: '<' only occurs inside strings, where \u003c means the same.
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

}  // namespace

Result<std::string> render_report(const std::string& trace_json) {
  auto doc = nlohmann::json::parse(trace_json, nullptr, false);
  if (doc.is_discarded()) return make_error("not JSON");
  if (!doc.is_object() || !doc.contains("zbuild") || !doc["zbuild"].is_object()) {
    return make_error("no \"zbuild\" section: not a trace written by `zbuild submit --trace`");
  }
  const auto& z = doc["zbuild"];
  if (!z.contains("version") || z["version"] != 1) return make_error("unsupported zbuild trace version");
  if (!z.contains("tasks") || !z["tasks"].is_array()) return make_error("no task list in the zbuild section");
  std::string data = script_safe(z.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return std::string(kHead) + data + kTail;
}

int run_report(const std::string& trace_path, const std::string& out_path) {
  auto text = read_file(trace_path);
  if (!text.ok()) {
    std::fprintf(stderr, "zbuild report: %s\n", text.error().message.c_str());
    return 1;
  }
  auto html = render_report(text.value());
  if (!html.ok()) {
    std::fprintf(stderr, "zbuild report: %s: %s\n", trace_path.c_str(), html.error().message.c_str());
    return 1;
  }
  auto w = write_file_atomic(out_path, html.value());
  if (!w.ok()) {
    std::fprintf(stderr, "zbuild report: %s\n", w.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace zbuild::client
