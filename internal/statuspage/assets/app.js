// authwatch status page: refreshes the page from the JSON API without
// reloading it, applies the overview's filters on change, and draws the flow page's charts with
// uPlot. Values are only ever set with textContent and attributes; parts
// of the page that change shape are replaced by the same parts of the
// server-rendered page, fetched in the background.
(function () {
  'use strict';
  var body = document.body;
  var page = body.dataset.page;
  var every = Number(body.dataset.refreshMs) || 15000;
  var statusEl = document.getElementById('refresh-status');
  var statusText = statusEl ? statusEl.textContent : '';
  document.documentElement.classList.add('js');

  // Formatting, as the server does it.
  function rel(iso) {
    if (!iso) return 'never';
    var s = (Date.now() - Date.parse(iso)) / 1000, future = s < 0, out;
    s = Math.abs(s);
    if (s < 60) out = Math.floor(s) + ' s';
    else if (s < 3600) out = Math.floor(s / 60) + ' min';
    else if (s < 172800) out = Math.floor(s / 3600) + ' h';
    else out = Math.floor(s / 86400) + ' d';
    return future ? 'in ' + out : out + ' ago';
  }
  function clock(iso) {
    return iso ? iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC') : '–';
  }
  function pct(r) {
    if (r === null || r === undefined) return '–';
    if (r === 1) return '100 %';
    return (Math.floor(r * 1000) / 10).toFixed(1) + ' %';
  }
  function dur(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 10) return ms.toFixed(1) + ' ms';
    if (ms < 1000) return ms.toFixed(0) + ' ms';
    if (ms < 10000) return (ms / 1000).toFixed(2) + ' s';
    return (ms / 1000).toFixed(1) + ' s';
  }
  // decimalsFor is how many decimals tell apart two values incr apart
  // (uPlot's increments: 1, 2, 2.5 or 5 times a power of ten).
  function decimalsFor(incr) {
    if (!(incr > 0) || !isFinite(incr)) return 1;
    for (var d = 0; d < 12; d++) {
      var scaled = incr * Math.pow(10, d);
      if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * scaled) return d;
    }
    return 12;
  }
  // durTick is a duration on an axis whose ticks are incr ms apart: in the
  // unit dur() would use, with the decimals incr needs, so that adjacent
  // labels never read the same ("1.00 s", "1.00 s").
  function durTick(ms, incr) {
    if (ms === null || ms === undefined) return '';
    if (Math.abs(ms) < 1000) return ms.toFixed(decimalsFor(incr)) + ' ms';
    return (ms / 1000).toFixed(decimalsFor(incr / 1000)) + ' s';
  }
  function spark(vals) {
    if (!vals || !vals.length) return '';
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    return vals.map(function (v, i) {
      var x = vals.length > 1 ? i * 100 / (vals.length - 1) : 50;
      var y = hi > lo ? 22 - (v - lo) / (hi - lo) * 20 : 12;
      return x.toFixed(1) + ',' + y.toFixed(1);
    }).join(' ');
  }

  function field(root, name) { return root.querySelector('[data-f="' + name + '"]'); }
  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
  function setTime(el, iso) {
    if (!el) return;
    el.setAttribute('datetime', iso || '');
    setText(el, rel(iso));
  }
  function updateTimes(root) {
    (root || document).querySelectorAll('time[data-rel]').forEach(function (t) {
      setText(t, rel(t.getAttribute('datetime')));
    });
  }
  function updated(iso) {
    var t = document.getElementById('updated');
    if (t) { t.setAttribute('datetime', iso); setText(t, clock(iso)); }
  }
  function status(err) {
    if (!statusEl) return;
    statusEl.classList.toggle('error', !!err);
    setText(statusEl, err ? 'refresh failed (' + err.message + '); retrying' : statusText);
  }

  function getJSON(url) {
    // no-cache: revalidated with the ETag, a 304 when nothing changed.
    return fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-cache' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      });
  }

  // swap replaces the elements with these ids by their current rendering,
  // keeping which <details> the reader opened or closed.
  function swap(ids) {
    return fetch(location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin', cache: 'no-cache' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var opened = {}, closed = {};
        document.querySelectorAll('details[id]').forEach(function (d) { (d.open ? opened : closed)[d.id] = true; });
        ids.forEach(function (id) {
          var cur = document.getElementById(id), next = doc.getElementById(id);
          if (cur && next) cur.replaceWith(document.adoptNode(next));
        });
        document.querySelectorAll('details[id]').forEach(function (d) {
          if (opened[d.id]) d.open = true;
          else if (closed[d.id]) d.open = false;
        });
        var last = doc.body.dataset.lastRun;
        if (last) body.dataset.lastRun = last;
        updateTimes();
      });
  }

  // updateFlow sets a flow's values in a row of the overview or the head
  // of its page.
  function updateFlow(el, f) {
    el.dataset.state = f.state;
    setText(field(el, 'state'), f.state);
    setText(field(el, 'reason'), f.reason || '');
    setText(field(el, 'summary'), f.summary || '');
    var why = el.querySelector('.why-block') || el.querySelector('.why');
    if (why) why.hidden = !f.reason;
    setText(field(el, 'pass24'), pct(f.pass_rate_24h));
    setText(field(el, 'pass7'), pct(f.pass_rate_7d));
    setText(field(el, 'lat'), dur(f.last_duration_ms));
    setText(field(el, 'runs'), f.runs_24h + ' / ' + f.runs_7d);
    setTime(field(el, 'last'), f.last_run);
    setTime(field(el, 'since'), f.since);
    var sp = field(el, 'spark');
    if (sp) sp.setAttribute('points', spark(f.latency_ms));
  }

  // The overview's data-api is this page of flows in the API (the same
  // filters and cursor).
  function refreshOverview() {
    return getJSON(body.dataset.api).then(function (data) {
      var rows = {};
      var n = 0;
      document.querySelectorAll('li.flow').forEach(function (li) { rows[li.dataset.flow] = li; n++; });
      var same = data.flows.length === n && data.flows.every(function (f) {
        return rows[f.name] && rows[f.name].dataset.state === f.state;
      });
      updated(data.generated_at);
      var banner = document.getElementById('store-banner');
      var unwritable = !!(data.state_store && !data.state_store.writable);
      if (banner && banner.hidden === unwritable) return swap(['store-banner', 'content', 'nav']);
      if (!same) return swap(['content', 'nav']); // flows or states changed: order and groups too
      data.flows.forEach(function (f) { updateFlow(rows[f.name], f); });
      var all = 0;
      Object.keys(data.counts).forEach(function (k) {
        all += data.counts[k];
        setText(document.querySelector('[data-count="' + k + '"]'), String(data.counts[k]));
      });
      setText(document.querySelector('[data-count="all"]'), String(all));
    });
  }

  function refreshFlow() {
    return getJSON(body.dataset.api).then(function (data) {
      updated(data.generated_at);
      drawCharts(data.trends);
      var head = document.getElementById('flow-head');
      if (String(data.flow.last_run_id || '') !== (body.dataset.lastRun || '')) {
        return swap(['store-banner', 'flow-head', 'incidents', 'latest', 'timeline', 'runs', 'nav']);
      }
      if (head) updateFlow(head, data.flow);
    });
  }

  var lastIncidents = null;
  function refreshIncidents() {
    return getJSON(body.dataset.api).then(function (data) {
      updated(data.generated_at);
      var key = JSON.stringify([data.open, data.recent, data.notifiers, data.failing_without_incident]);
      var changed = lastIncidents !== null && key !== lastIncidents;
      lastIncidents = key;
      if (changed) return swap(['store-banner', 'content', 'nav']);
      updateTimes();
    });
  }

  // Charts (flow page).
  var charts = {};
  var palette = ['#0969da', '#8250df', '#bf8700', '#1a7f37', '#cf222e', '#6e7781'];

  // The time axis is in UTC, like every time on the page. Its labels are
  // measured and thinned so that no two touch ("13:4913:50"), and one
  // point (or runs within a second) gets an hour on each side instead of
  // uPlot's default of years.
  var axisFont = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  var labelGap = 12; // px between two labels of the time axis
  var measure = document.createElement('canvas').getContext('2d');
  function textWidth(s) {
    measure.font = axisFont;
    return measure.measureText(s).width;
  }
  function utc(t) { return new Date(t * 1000).toISOString(); } // 2026-03-02T13:45:00.000Z
  function tickLine(t, incr) {
    var iso = utc(t);
    if (incr >= 28 * 86400) return iso.slice(0, 7);
    if (incr >= 86400) return iso.slice(5, 10);
    if (incr >= 60) return iso.slice(11, 16);
    return iso.slice(11, 19);
  }
  // tickContext is the second line: the date (or the year, for daily
  // ticks), on the first label and where it changes.
  function tickContext(t, incr) { return incr >= 86400 ? utc(t).slice(0, 4) : utc(t).slice(0, 10); }
  function timeValues(u, splits, axisIdx, space, incr) {
    var xs = splits.map(function (t) { return u.valToPos(t, 'x'); });
    var widths = {};
    function width(s) { return widths[s] !== undefined ? widths[s] : (widths[s] = textWidth(s)); }
    // Every step-th label, the smallest step at which none touches.
    for (var step = 1; ; step++) {
      var out = [], right = [-Infinity, -Infinity], ctx = null, fits = true;
      for (var i = 0; i < splits.length; i++) {
        if (i % step) { out.push(''); continue; }
        var lines = [tickLine(splits[i], incr)], c = tickContext(splits[i], incr);
        if (c !== ctx) lines.push(c);
        ctx = c;
        for (var l = 0; l < lines.length; l++) {
          var half = width(lines[l]) / 2;
          if (xs[i] - half < right[l] + labelGap) fits = false;
          right[l] = xs[i] + half;
        }
        out.push(lines.join('\n'));
      }
      if (fits || step >= splits.length) return out;
    }
  }
  // timeRange: uPlot widens a single time to 1000 days; an hour on each
  // side is what a reader expects. The data's own span decides (sorted).
  function timeRange(u, min, max) {
    var xs = u.data[0];
    if (xs && xs.length && xs[xs.length - 1] - xs[0] < 1) return [xs[0] - 3600, xs[xs.length - 1] + 3600];
    return [min, max];
  }
  function timeSpace() { return textWidth('00:00') + labelGap; }

  // publishAxis notes on the chart's element what its axes show (the time
  // axis in data-x-axis, the value axis in data-y-axis): the canvas has no
  // text to inspect.
  function publishAxis(el, u) {
    var yAx = u.axes[1], ySplits = yAx._splits || [], yValues = yAx._values || [], yTicks = [];
    ySplits.forEach(function (v, i) {
      if (yValues[i] !== undefined && yValues[i] !== null && yValues[i] !== '') yTicks.push({ v: v, label: String(yValues[i]) });
    });
    el.dataset.yAxis = JSON.stringify({ min: u.scales.y.min, max: u.scales.y.max, ticks: yTicks });
    var ax = u.axes[0], splits = ax._splits || [], values = ax._values || [], ticks = [];
    splits.forEach(function (t, i) {
      if (values[i]) ticks.push({ t: t, x: u.valToPos(t, 'x'), label: String(values[i]) });
    });
    el.dataset.xAxis = JSON.stringify({ min: u.scales.x.min, max: u.scales.x.max, width: u.over.clientWidth,
      font: axisFont, ticks: ticks });
  }

  function chart(id, data, series, fmt) {
    var el = document.getElementById(id);
    if (!el || typeof uPlot === 'undefined' || !data[0].length) return;
    var width = Math.max(el.clientWidth, 200);
    var c = charts[id];
    if (c && c.series.length === series.length + 1) {
      c.setData(data);
      return;
    }
    if (c) c.destroy();
    el.textContent = '';
    var opts = {
      width: width, height: 160,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'); },
      scales: { x: { time: true, range: timeRange } },
      series: [{ value: function (u, v) { return v === null || v === undefined ? '–' : clock(utc(v)); } }].concat(series),
      axes: [
        { stroke: getComputedStyle(body).color, font: axisFont, space: timeSpace, values: timeValues },
        {
          stroke: getComputedStyle(body).color,
          // fmt(value, increment between ticks): the labels take the
          // decimals the increment needs, so that none repeats.
          values: function (u, vals, axisIdx, space, incr) { return vals.map(function (v) { return fmt(v, incr); }); },
          size: function (u, values) { // room for the longest label
            var n = values ? Math.max.apply(null, values.map(function (v) { return String(v).length; })) : 4;
            return 16 + n * 7;
          },
        },
      ],
      legend: { live: true },
      hooks: { draw: [function (u) { publishAxis(el, u); }] },
    };
    charts[id] = new uPlot(opts, data, el);
  }

  function seconds(t) { return Date.parse(t) / 1000; }

  function measureChart(id, trends, name, unit, div) {
    var sets = trends.measurements.filter(function (m) { return m.name === name && m.points.length; });
    if (!sets.length) return;
    var tables = sets.map(function (m) {
      return [m.points.map(function (p) { return seconds(p.t); }), m.points.map(function (p) { return p.v / div; })];
    });
    var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var series = sets.map(function (m, i) {
      return { label: m.scope || name, stroke: palette[i % palette.length], width: 1.5, spanGaps: true,
        value: function (u, v) { return v === null || v === undefined ? '–' : v.toFixed(1) + ' ' + unit; } };
    });
    chart(id, data, series, function (v, incr) { return v === null ? '' : v.toFixed(decimalsFor(incr)) + ' ' + unit; });
  }

  function drawCharts(trends) {
    if (!trends) return;
    var lat = trends.latency || [];
    var orDash = function (u, v) { return v === null || v === undefined ? '–' : dur(v); };
    var data = [
      lat.map(function (p) { return seconds(p.t); }),
      lat.map(function (p) { return p.hour ? null : p.ms; }),
      lat.map(function (p) { return p.ok ? null : p.ms; }),
    ];
    var series = [
      { label: 'latency', stroke: palette[0], width: 1.5, spanGaps: true, value: orDash },
      { label: 'failed', stroke: '#cf222e', paths: function () { return null; }, points: { show: true, size: 6, fill: '#cf222e' },
        value: orDash },
    ];
    // Hours whose runs are not all kept whole (history tiers): p95 and p50
    // of each hour, from the roll-ups' histograms.
    if (lat.some(function (p) { return p.hour; })) {
      data.push(lat.map(function (p) { return p.hour ? p.ms : null; }), lat.map(function (p) { return p.hour ? p.p50_ms : null; }));
      series.push({ label: 'p95 per hour', stroke: palette[1], width: 1.5, spanGaps: true, value: orDash },
        { label: 'p50 per hour', stroke: palette[2], width: 1, dash: [4, 3], spanGaps: true, value: orDash });
    }
    var el = document.getElementById('chart-latency');
    if (el) el.dataset.points = JSON.stringify({ runs: data[1].filter(function (v) { return v !== null; }).length,
      hours: lat.filter(function (p) { return p.hour; }).length });
    chart('chart-latency', data, series, durTick);
    measureChart('chart-token', trends, 'token_lifetime_seconds', 'min', 60);
    measureChart('chart-tls', trends, 'tls_cert_expiry_seconds', 'd', 86400);
  }

  var resizeTimer;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(charts).forEach(function (id) {
        var el = document.getElementById(id);
        if (el) charts[id].setSize({ width: Math.max(el.clientWidth, 200), height: 160 });
      });
    }, 150);
  });

  // Label filter and grouping: apply on change.
  document.addEventListener('change', function (e) {
    var form = e.target.closest && e.target.closest('#filters');
    if (form) form.submit();
  });

  var refreshers = { overview: refreshOverview, flow: refreshFlow, incidents: refreshIncidents };
  var refresh = refreshers[page];
  if (!refresh) return;
  var timer;
  function tick() {
    clearTimeout(timer);
    if (document.hidden) return; // resumed by visibilitychange
    refresh().then(function () { status(null); }, function (err) { status(err); })
      .then(function () { timer = setTimeout(tick, every); });
  }
  document.addEventListener('visibilitychange', function () { if (!document.hidden) tick(); });
  if (page === 'flow' || page === 'incidents') tick(); // charts and the baseline come from the API
  else timer = setTimeout(tick, every);
})();
