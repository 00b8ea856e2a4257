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
