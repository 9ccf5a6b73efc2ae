// The operations dashboard. Plain JS, no dependencies, no build step, nothing external.
//
// Every 5 seconds it fetches `/status/history` (a point every 5 s over the last 15 minutes)
// and `/status` (the current state), fills the tiles and redraws three SVG charts drawn
// here: freshness percentiles with the SLO target, events per second by outcome, and lag per
// partition. A failed fetch keeps the last figures on screen and shows an error until the
// next successful refresh.
//
// Test hooks: every chart is a `[data-testid="chart-…"]` figure; every drawn series is a
// `path.series` with `data-series` (its key) and `data-points` (how many points it drew);
// every tile is a `[data-testid="tile-…"]` with the raw figure in `data-value`.
'use strict';

(() => {
  const REFRESH_MS = 5000;
  const FETCH_TIMEOUT_MS = 4500;
  const TOP_PARTITIONS = 8;
  const MIN_SPAN_MS = 30_000;
  const TABLE_ROWS = 12;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const byId = (id) => document.getElementById(id);
  const ui = {
    error: byId('error'),
    refreshState: document.querySelector('[data-testid="refresh-state"]'),
    lastRefresh: byId('last-refresh'),
    pause: byId('pause'),
    tiles: document.querySelector('[data-testid="tiles"]'),
  };

  // ---------------------------------------------------------------- formatting

  const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const fmtInt = (n) => intFormat.format(n);
  const pad = (n) => String(n).padStart(2, '0');

  function fmtTime(t, seconds = true) {
    const d = new Date(t);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    return seconds ? `${hm}:${pad(d.getSeconds())}` : hm;
  }

  /** Milliseconds as shown in tiles, tooltips and summaries: always in ms. */
  const fmtMs = (ms) => (ms === null || ms === undefined ? '–' : `${fmtInt(ms)} ms`);

  /** Milliseconds on an axis: ms below a second, seconds above. */
  function fmtMsAxis(ms) {
    if (ms === 0) return '0';
    if (ms < 1000) return `${fmtInt(ms)} ms`;
    const s = ms / 1000;
    return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  }

  function fmtRate(v) {
    if (v === null || v === undefined) return '–';
    if (v === 0) return '0/s';
    if (v < 10) return `${v.toFixed(1)}/s`;
    return `${fmtInt(v)}/s`;
  }

  function fmtCompact(v) {
    if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
    if (v >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
    return Number.isInteger(v) ? fmtInt(v) : String(+v.toFixed(2));
  }

  function fmtSpan(ms) {
    const s = Math.round(ms / 1000);
    if (s < 90) return `${s} s`;
    const m = Math.round(s / 60);
    return `${m} min`;
  }

  function fmtAge(seconds) {
    if (seconds < 120) return `${seconds} s`;
    if (seconds < 7200) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
    return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  }

  // ---------------------------------------------------------------- data

  async function getJson(path) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(path, {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`${path} answered HTTP ${response.status}`);
      return await response.json();
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`${path} did not answer within ${FETCH_TIMEOUT_MS / 1000} s`);
      if (e instanceof TypeError) throw new Error(`${path} is unreachable (${e.message})`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- tiles

  /** Text with break opportunities after `_`, `/` and `.` (long codes, broker lists). */
  function breakable(text) {
    const out = [];
    String(text).split(/(?<=[_/.,])/).forEach((part, i) => {
      if (i) out.push(document.createElement('wbr'));
      out.push(document.createTextNode(part));
    });
    return out;
  }

  function setTile(name, { value, detail = '', tone = 'neutral', data = '' }) {
    const tile = ui.tiles.querySelector(`[data-testid="tile-${name}"]`);
    tile.querySelector('[data-role="value"]').textContent = value;
    tile.querySelector('[data-role="detail"]').replaceChildren(...breakable(detail));
    tile.dataset.tone = tone;
    tile.dataset.value = String(data);
    return tile;
  }

  let lastStatus = null;

  function renderTiles(status, history) {
    lastStatus = status;
    const notReady = status.not_ready;
    // /ready is about serving; ingestion problems make a serving indexer "Degraded".
    const problems = (status.ingestion && status.ingestion.problems) || [];
    let readiness;
    if (!status.ready) {
      readiness = {
        value: 'Not ready',
        detail: notReady ? `${notReady.reason}: ${notReady.message}` : 'reason unknown',
        tone: 'bad',
        data: false,
      };
    } else if (problems.length > 0) {
      readiness = {
        value: 'Degraded',
        detail: `Serving; ingestion: ${problems.map((p) => `${p.reason}: ${p.message}`).join(' · ')}`,
        tone: 'warn',
        data: true,
      };
    } else {
      readiness = { value: 'Ready', detail: 'Serving and keeping up', tone: 'ok', data: true };
    }
    const ready = setTile('ready', readiness);
    ready.dataset.reason = notReady ? notReady.reason : (problems[0] ? problems[0].reason : '');

    const slo = status.slo;
    if (!slo) {
      setTile('slo', { value: 'Not set', detail: 'no freshness objective configured', data: '' });
    } else {
      const tile = setTile('slo', {
        value: slo.breached ? 'Breached' : 'Met',
        detail: `p99 ${slo.p99_ms === null ? 'n/a (no changes)' : fmtMs(slo.p99_ms)} · objective ${fmtMs(slo.target_ms)} over ${fmtSpan(slo.window_s * 1000)}`,
        tone: slo.breached ? 'bad' : 'ok',
        data: slo.p99_ms === null ? '' : slo.p99_ms,
      });
      tile.dataset.breached = String(slo.breached);
      tile.dataset.targetMs = String(slo.target_ms);
      tile.title = slo.objective;
    }

    const index = status.index || {};
    setTile('docs', {
      value: fmtInt(index.docs ?? 0),
      detail: `${fmtInt(index.segments ?? 0)} segment${index.segments === 1 ? '' : 's'}`,
      data: index.docs ?? 0,
    });

    const kafka = status.kafka || {};
    const partitions = kafka.partitions || [];
    const worst = partitions.filter((p) => p.lag !== null).sort((a, b) => b.lag - a.lag)[0];
    let trend = '';
    const points = history ? history.points : [];
    if (points.length > 12) {
      const delta = points[points.length - 1].total_lag - points[points.length - 13].total_lag;
      trend = delta === 0 ? 'flat over 1 min' : `${delta > 0 ? '↑ +' : '↓ −'}${fmtInt(Math.abs(delta))} over 1 min`;
    }
    setTile('lag', {
      value: fmtInt(kafka.total_lag ?? 0),
      detail: [
        `messages in ${partitions.length} partition${partitions.length === 1 ? '' : 's'}`,
        worst && worst.lag > 0 ? `max ${worst.topic}/${worst.partition} (${fmtInt(worst.lag)})` : '',
        trend,
      ].filter(Boolean).join(' · '),
      data: kafka.total_lag ?? 0,
    });

    renderCommitTile();

    const canary = status.canary || {};
    if (!canary.enabled) {
      setTile('canary', { value: 'Off', detail: 'enable with --canary-interval', data: '' });
    } else if (canary.last_latency_ms === null || canary.last_latency_ms === undefined) {
      setTile('canary', {
        value: 'Waiting',
        detail: `none found yet · ${fmtInt(canary.failures)} failure${canary.failures === 1 ? '' : 's'}`,
        tone: canary.failures > 0 ? 'warn' : 'neutral',
        data: '',
      });
    } else {
      setTile('canary', {
        value: fmtMs(canary.last_latency_ms),
        detail: `publish to found · ${fmtInt(canary.found)} found, ${fmtInt(canary.failures)} failed`,
        tone: canary.failures > 0 ? 'warn' : 'ok',
        data: canary.last_latency_ms,
      });
    }

    setTile('kafka', kafka.connected
      ? { value: 'Connected', detail: `${kafka.embedded ? 'embedded broker ' : ''}${kafka.brokers ?? ''}`, tone: 'ok', data: true }
      : { value: 'Unreachable', detail: kafka.error || kafka.brokers || '', tone: 'bad', data: false });
  }

  /** Seconds since the last commit, ticking between refreshes. */
  function renderCommitTile() {
    if (!lastStatus) return;
    const index = lastStatus.index || {};
    if (!index.last_commit_ms) {
      setTile('commit', { value: 'Never', detail: 'no commit yet', data: '' });
      return;
    }
    const seconds = Math.max(0, Math.floor((Date.now() - index.last_commit_ms) / 1000));
    const waiting = (lastStatus.kafka && lastStatus.kafka.total_lag) > 0;
    setTile('commit', {
      value: fmtAge(seconds),
      detail: `at ${fmtTime(index.last_commit_ms)} · took ${fmtMs(index.last_commit_duration_ms ?? 0)}`,
      tone: seconds > 60 && waiting ? 'bad' : 'neutral',
      data: seconds,
    });
  }

  // ---------------------------------------------------------------- chart models

  const FRESHNESS_SERIES = [
    { key: 'p50', field: 'freshness_p50_ms', label: 'p50', color: '#00805c', width: 2 },
    { key: 'p95', field: 'freshness_p95_ms', label: 'p95', color: '#0068a8', width: 2 },
    { key: 'p99', field: 'freshness_p99_ms', label: 'p99', color: '#7b2d8e', width: 2.5 },
    // The live path: price and stock changes shown in place, without re-indexing.
    { key: 'live_p99', field: 'live_freshness_p99_ms', label: 'live p99', color: '#c25100', width: 2, dash: '4 3' },
  ];
  const EVENT_SERIES = [
    { key: 'applied', label: 'applied', color: '#0068a8', width: 2.5 },
    { key: 'stale', label: 'stale', color: '#5f6368', width: 2 },
    { key: 'invalid', label: 'invalid', color: '#c25100', width: 2 },
    { key: 'dlq', label: 'dead-lettered', color: '#b0003a', width: 2, dash: '6 4' },
  ];
  const PARTITION_COLORS = ['#0068a8', '#c25100', '#00805c', '#7b2d8e', '#8c6a12', '#c2185b', '#2f6f2f', '#6d4c41'];
  const SLO_COLOR = '#c62828';

  const lastValue = (values) => {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  };

  function spanText(times) {
    return times.length > 1 ? `the last ${fmtSpan(times[times.length - 1] - times[0])}` : 'the first sample';
  }

  function freshnessModel(points, status, previous) {
    const times = points.map((p) => p.t);
    const series = FRESHNESS_SERIES.map((s) => ({ ...s, values: points.map((p) => p[s.field] ?? null) }));
    const target = status && status.slo ? status.slo.target_ms : previous && previous.targetMs;
    const refs = target ? [{ value: target, label: `SLO ${fmtMsAxis(target)}`, color: SLO_COLOR, dash: '7 5' }] : [];
    const p99 = series[2].values;
    let summary;
    if (!points.length) {
      summary = 'No samples yet; the first arrives within 5 seconds.';
    } else if (p99.every((v) => v === null)) {
      summary = `No change was made searchable in ${spanText(times)}, so there is no freshness to show.`;
    } else {
      let worst = 0;
      for (let i = 1; i < p99.length; i++) if ((p99[i] ?? -1) > (p99[worst] ?? -1)) worst = i;
      const latest = series.map((s) => `${s.label} ${fmtMs(lastValue(s.values))}`).join(', ');
      const over = target ? p99.filter((v) => v !== null && v > target).length : 0;
      summary = `Latest 30-second freshness: ${latest}. Highest p99 over ${spanText(times)}: ${fmtMs(p99[worst])} at ${fmtTime(times[worst])}.`;
      if (target) {
        summary += over
          ? ` p99 was above the ${fmtMs(target)} SLO target in ${over} of ${points.length} samples.`
          : ` p99 stayed below the ${fmtMs(target)} SLO target.`;
      }
    }
    return {
      times, series, refs, summary, targetMs: target,
      format: fmtMs, axisFormat: fmtMsAxis, unit: 'freshness',
      label: 'Freshness percentiles',
    };
  }

  function eventsModel(points) {
    const times = points.map((p) => p.t);
    const series = EVENT_SERIES.map((s) => ({
      ...s, values: points.map((p) => (p.events_per_s ? p.events_per_s[s.key] ?? 0 : 0)),
    }));
    let summary;
    if (!points.length) {
      summary = 'No samples yet; the first arrives within 5 seconds.';
    } else {
      const latest = series.map((s) => `${s.label} ${fmtRate(lastValue(s.values))}`).join(', ');
      const applied = series[0].values;
      const mean = applied.reduce((a, b) => a + b, 0) / applied.length;
      const peak = Math.max(...applied);
      summary = `Latest: ${latest}. Applied over ${spanText(times)}: average ${fmtRate(mean)}, peak ${fmtRate(peak)}.`;
    }
    return {
      times, series, refs: [], summary,
      format: fmtRate, axisFormat: fmtCompact, unit: 'events/s',
      label: 'Events per second by outcome',
    };
  }

  /**
   * Lag: the total plus the `TOP_PARTITIONS` partitions with the highest current lag (ties by
   * the highest lag over the period, then by name).
   */
  function lagModel(points) {
    const times = points.map((p) => p.t);
    const keys = new Set();
    for (const p of points) for (const k of Object.keys(p.lag || {})) keys.add(k);
    const last = points.length ? points[points.length - 1].lag || {} : {};
    const peak = {};
    for (const k of keys) peak[k] = Math.max(...points.map((p) => (p.lag && p.lag[k] !== undefined ? p.lag[k] : 0)));
    const ranked = [...keys].sort((a, b) => (last[b] ?? 0) - (last[a] ?? 0) || peak[b] - peak[a] || (a < b ? -1 : a > b ? 1 : 0));
    const shown = ranked.slice(0, TOP_PARTITIONS);
    const series = [
      { key: 'total', label: 'total', color: '#1c2430', width: 3, values: points.map((p) => p.total_lag ?? 0) },
      ...shown.map((k, i) => ({
        key: k,
        label: k,
        color: PARTITION_COLORS[i % PARTITION_COLORS.length],
        width: 1.75,
        dash: i >= 4 ? '5 3' : undefined,
        values: points.map((p) => (p.lag && p.lag[k] !== undefined ? p.lag[k] : null)),
      })),
    ];
    const hidden = ranked.length - shown.length;
    let summary;
    if (!points.length) {
      summary = 'No samples yet; the first arrives within 5 seconds.';
    } else {
      const total = series[0].values;
      summary = `Total lag now ${fmtInt(total[total.length - 1])} messages (${fmtInt(total[0])} at ${fmtTime(times[0])}, peak ${fmtInt(Math.max(...total))}) across ${ranked.length} partitions.`;
      if (shown.length && (last[shown[0]] ?? 0) > 0) summary += ` Most behind: ${shown[0]} with ${fmtInt(last[shown[0]])}.`;
      else summary += ' Every partition is caught up.';
      if (hidden > 0) summary += ` The ${TOP_PARTITIONS} partitions with the highest lag are drawn; ${hidden} more are counted in the total.`;
    }
    return {
      times, series, refs: [], summary, hidden,
      format: (v) => (v === null ? '–' : fmtInt(v)), axisFormat: fmtCompact, unit: 'messages',
      label: 'Consumer lag per partition',
    };
  }

  // ---------------------------------------------------------------- SVG charts

  function svg(tag, attrs, parent) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceStep(raw) {
    const exp = 10 ** Math.floor(Math.log10(raw));
    const f = raw / exp;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * exp;
  }

  function yTicks(max) {
    if (!(max > 0)) return [0, 0.25, 0.5, 0.75, 1];
    const step = niceStep(max / 4);
    const ticks = [];
    for (let v = 0; v < max + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }

  const TIME_STEPS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800].map((s) => s * 1000);

  function timeTicks(tMin, tMax, maxTicks) {
    const span = tMax - tMin;
    const step = TIME_STEPS.find((s) => span / s <= maxTicks) || TIME_STEPS[TIME_STEPS.length - 1];
    const ticks = [];
    for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) ticks.push(t);
    return { ticks, seconds: step < 60_000 };
  }

  /** One chart: its DOM, its current model and the hovered time. */
  class Chart {
    constructor(figure) {
      this.figure = figure;
      this.plot = figure.querySelector('[data-role="plot"]');
      this.legend = figure.querySelector('[data-role="legend"]');
      this.summary = figure.querySelector('[data-role="summary"]');
      this.table = figure.querySelector('[data-role="table"]');
      this.model = null;
      this.hoverIndex = null;
      this.hoverT = null;
      this.plot.tabIndex = 0;
      this.plot.setAttribute('role', 'group');
      this.plot.setAttribute('aria-describedby', this.summary.id);
      this.tooltip = document.createElement('div');
      this.tooltip.className = 'tooltip';
      this.tooltip.hidden = true;
      this.tooltip.setAttribute('role', 'status');
      this.tooltip.dataset.testid = 'chart-tooltip';
      this.plot.addEventListener('keydown', (e) => this.onKey(e));
      this.plot.addEventListener('focus', () => {
        if (this.model && this.model.times.length && this.hoverIndex === null) this.setHover(this.model.times.length - 1);
      });
      this.plot.addEventListener('blur', () => this.setHover(null));
      this.plot.addEventListener('pointermove', (e) => this.onPointer(e));
      this.plot.addEventListener('pointerleave', () => this.setHover(null));
    }

    update(model) {
      this.model = model;
      this.draw();
      this.drawLegend();
      this.summary.textContent = model.summary;
      this.drawTable();
    }

    draw() {
      const m = this.model;
      if (!m) return;
      const width = Math.max(260, Math.floor(this.plot.clientWidth || 600));
      const height = width < 520 ? 210 : 250;
      this.plot.setAttribute('aria-label', `${m.label}: chart; arrow keys read the values`);

      let max = 0;
      for (const s of m.series) for (const v of s.values) if (v !== null && v > max) max = v;
      for (const r of m.refs) max = Math.max(max, r.value * 1.12);
      const ticks = yTicks(max);
      const yMax = ticks[ticks.length - 1];
      const tickLabels = ticks.map((v) => m.axisFormat(v));
      const margin = { top: 22, right: 18, bottom: 30, left: 14 + 7 * Math.max(...tickLabels.map((l) => l.length)) };
      const iw = width - margin.left - margin.right;
      const ih = height - margin.top - margin.bottom;

      const times = m.times;
      const tMax = times.length ? times[times.length - 1] : Date.now();
      const tMin = Math.min(times.length ? times[0] : tMax, tMax - MIN_SPAN_MS);
      const x = (t) => margin.left + ((t - tMin) / (tMax - tMin)) * iw;
      const y = (v) => margin.top + ih - (v / yMax) * ih;
      this.geometry = { x, y, margin, iw, ih, width, height, tMin, tMax };

      const root = svg('svg', {
        width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
        'aria-label': `${m.label}. ${m.summary}`, class: 'chart-svg',
      });
      svg('title', {}, root).textContent = m.label;

      // Gridlines and axes.
      const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' }, root);
      ticks.forEach((v, i) => {
        svg('line', { x1: margin.left, x2: margin.left + iw, y1: y(v), y2: y(v), class: i === 0 ? 'axis' : 'gridline' }, grid);
        svg('text', { x: margin.left - 6, y: y(v), class: 'tick tick-y', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, grid)
          .textContent = tickLabels[i];
      });
      const tt = timeTicks(tMin, tMax, Math.max(2, Math.floor(iw / 78)));
      for (const t of tt.ticks) {
        const tx = x(t);
        svg('line', { x1: tx, x2: tx, y1: margin.top, y2: margin.top + ih, class: 'gridline gridline-x' }, grid);
        svg('line', { x1: tx, x2: tx, y1: margin.top + ih, y2: margin.top + ih + 4, class: 'axis' }, grid);
        // Centred under its tick; left out where it would not fit in the chart.
        const half = (tt.seconds ? 8 : 5) * 3.4;
        if (tx - half < 0 || tx + half > width) continue;
        svg('text', { x: tx, y: margin.top + ih + 18, class: 'tick tick-x', 'text-anchor': 'middle' }, grid)
          .textContent = fmtTime(t, tt.seconds);
      }
      svg('line', { x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + ih, class: 'axis' }, grid);
      svg('text', { x: margin.left, y: 12, class: 'axis-title' }, grid).textContent = m.unit;

      // Reference lines (the SLO target).
      for (const r of m.refs) {
        const g = svg('g', { class: 'ref', 'data-ref': r.label }, root);
        svg('line', {
          x1: margin.left, x2: margin.left + iw, y1: y(r.value), y2: y(r.value),
          stroke: r.color, 'stroke-dasharray': r.dash, 'stroke-width': 1.5,
        }, g);
        svg('text', { x: margin.left + iw - 4, y: y(r.value) - 5, fill: r.color, 'text-anchor': 'end', class: 'ref-label' }, g)
          .textContent = r.label;
      }

      // Series: one path each, broken where a value is missing; a dot at the last value.
      const series = svg('g', { class: 'series-group' }, root);
      for (const s of m.series) {
        let d = '';
        let drawn = 0;
        let open = false;
        s.values.forEach((v, i) => {
          if (v === null || v === undefined) {
            open = false;
            return;
          }
          const px = x(times[i]).toFixed(1);
          const py = y(v).toFixed(1);
          const isolated = !open && (i + 1 >= s.values.length || s.values[i + 1] === null || s.values[i + 1] === undefined);
          d += `${open ? 'L' : 'M'}${px},${py}${isolated ? 'h0' : ''}`;
          open = true;
          drawn += 1;
        });
        svg('path', {
          class: 'series', d: d || null, 'data-series': s.key, 'data-points': drawn,
          fill: 'none', stroke: s.color, 'stroke-width': s.width || 2, 'stroke-dasharray': s.dash,
          'stroke-linejoin': 'round', 'stroke-linecap': 'round',
        }, series);
        const lastIndex = s.values.findLastIndex((v) => v !== null && v !== undefined);
        if (lastIndex >= 0) {
          svg('circle', {
            class: 'last-marker', cx: x(times[lastIndex]), cy: y(s.values[lastIndex]), r: 3, fill: s.color,
          }, series);
        }
      }

      if (!times.length) {
        svg('text', { x: margin.left + iw / 2, y: margin.top + ih / 2, 'text-anchor': 'middle', class: 'empty' }, root)
          .textContent = 'Waiting for the first sample…';
      }

      // Hover: a guide line and a dot per series at the point nearest to the pointer.
      this.hoverLayer = svg('g', { class: 'hover', 'aria-hidden': 'true' }, root);
      // The pointer listeners are on the plot (see the constructor), which outlives every redraw:
      // on a redrawn overlay under a still pointer, no pointerleave would ever fire.
      svg('rect', {
        x: margin.left, y: margin.top, width: iw, height: ih, fill: 'transparent', class: 'overlay',
      }, root);

      this.plot.replaceChildren(root, this.tooltip);
      if (this.hoverT !== null) this.setHover(this.nearestIndex(this.hoverT));
    }

    nearestIndex(t) {
      const times = this.model.times;
      if (!times.length) return null;
      let best = 0;
      for (let i = 1; i < times.length; i++) if (Math.abs(times[i] - t) < Math.abs(times[best] - t)) best = i;
      return best;
    }

    onPointer(event) {
      if (!this.geometry || !this.model) return;
      const { margin, iw, tMin, tMax } = this.geometry;
      const rect = this.plot.querySelector('svg').getBoundingClientRect();
      const px = event.clientX - rect.left;
      const t = tMin + ((px - margin.left) / iw) * (tMax - tMin);
      this.setHover(this.nearestIndex(t));
    }

    onKey(event) {
      const n = this.model ? this.model.times.length : 0;
      if (!n) return;
      const i = this.hoverIndex ?? n - 1;
      const next = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: n - 1 }[event.key];
      if (event.key === 'Escape') {
        this.setHover(null);
        return;
      }
      if (next === undefined) return;
      event.preventDefault();
      this.setHover(Math.max(0, Math.min(n - 1, next)));
    }

    setHover(index) {
      this.hoverIndex = index;
      this.hoverT = index === null || !this.model ? null : this.model.times[index];
      if (!this.hoverLayer) return;
      this.hoverLayer.replaceChildren();
      if (index === null || !this.model || index >= this.model.times.length) {
        this.tooltip.hidden = true;
        return;
      }
      const m = this.model;
      const { x, y, margin, ih, width } = this.geometry;
      const px = x(m.times[index]);
      svg('line', { x1: px, x2: px, y1: margin.top, y2: margin.top + ih, class: 'hover-line' }, this.hoverLayer);
      const rows = [];
      for (const s of m.series) {
        const v = s.values[index];
        if (v !== null && v !== undefined) {
          svg('circle', { cx: px, cy: y(v), r: 4, fill: '#fff', stroke: s.color, 'stroke-width': 2 }, this.hoverLayer);
        }
        rows.push([s, v === undefined ? null : v]);
      }
      const tip = this.tooltip;
      tip.replaceChildren();
      const head = document.createElement('div');
      head.className = 'tooltip-time';
      head.textContent = fmtTime(m.times[index]);
      tip.appendChild(head);
      for (const [s, v] of rows) {
        const row = document.createElement('div');
        row.className = 'tooltip-row';
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = s.color;
        const label = document.createElement('span');
        label.textContent = s.label;
        const value = document.createElement('b');
        value.textContent = m.format(v);
        row.append(sw, label, value);
        tip.appendChild(row);
      }
      tip.hidden = false;
      // Right of the guide line, or left of it near the right edge.
      const tipWidth = tip.offsetWidth;
      const left = px + 12 + tipWidth > width ? Math.max(0, px - 12 - tipWidth) : px + 12;
      tip.style.left = `${left}px`;
      tip.style.top = `${margin.top}px`;
    }

    drawLegend() {
      const m = this.model;
      const items = m.series.map((s) => {
        const li = document.createElement('li');
        li.dataset.series = s.key;
        const sw = svg('svg', { width: 22, height: 10, 'aria-hidden': 'true', class: 'legend-swatch' });
        svg('line', {
          x1: 1, x2: 21, y1: 5, y2: 5, stroke: s.color, 'stroke-width': Math.min(3, (s.width || 2) + 0.5),
          'stroke-dasharray': s.dash, 'stroke-linecap': 'round',
        }, sw);
        const label = document.createElement('span');
        label.className = 'legend-label';
        label.textContent = s.label;
        const value = document.createElement('span');
        value.className = 'legend-value';
        value.dataset.role = 'last-value';
        value.textContent = m.format(lastValue(s.values));
        li.append(sw, label, value);
        return li;
      });
      for (const r of m.refs) {
        const li = document.createElement('li');
        li.dataset.ref = 'slo';
        const sw = svg('svg', { width: 22, height: 10, 'aria-hidden': 'true', class: 'legend-swatch' });
        svg('line', { x1: 1, x2: 21, y1: 5, y2: 5, stroke: r.color, 'stroke-width': 2, 'stroke-dasharray': '5 3' }, sw);
        const label = document.createElement('span');
        label.className = 'legend-label';
        label.textContent = 'SLO target';
        const value = document.createElement('span');
        value.className = 'legend-value';
        value.textContent = m.format(r.value);
        li.append(sw, label, value);
        items.push(li);
      }
      if (m.hidden > 0) {
        const li = document.createElement('li');
        li.className = 'legend-more';
        li.dataset.testid = 'lag-hidden-partitions';
        li.textContent = `+${m.hidden} more partition${m.hidden === 1 ? '' : 's'} (in the total)`;
        items.push(li);
      }
      this.legend.replaceChildren(...items);
    }

    drawTable() {
      const m = this.model;
      const table = document.createElement('table');
      const caption = document.createElement('caption');
      caption.textContent = `${m.label}, the ${Math.min(TABLE_ROWS, m.times.length)} latest samples, newest first`;
      table.appendChild(caption);
      const head = table.createTHead().insertRow();
      for (const text of ['Time', ...m.series.map((s) => s.label)]) {
        const th = document.createElement('th');
        th.scope = 'col';
        th.textContent = text;
        head.appendChild(th);
      }
      const body = table.createTBody();
      for (let i = m.times.length - 1; i >= Math.max(0, m.times.length - TABLE_ROWS); i--) {
        const row = body.insertRow();
        const th = document.createElement('th');
        th.scope = 'row';
        th.textContent = fmtTime(m.times[i]);
        row.appendChild(th);
        for (const s of m.series) row.insertCell().textContent = m.format(s.values[i] ?? null);
      }
      this.table.replaceChildren(table);
    }
  }

  const charts = {
    freshness: new Chart(document.querySelector('[data-testid="chart-freshness"]')),
    events: new Chart(document.querySelector('[data-testid="chart-events"]')),
    lag: new Chart(document.querySelector('[data-testid="chart-lag"]')),
  };

  function renderCharts(history, status) {
    const points = Array.isArray(history.points) ? history.points : [];
    charts.freshness.update(freshnessModel(points, status, charts.freshness.model));
    charts.events.update(eventsModel(points));
    charts.lag.update(lagModel(points));
  }

  // ---------------------------------------------------------------- refresh loop

  let timer = null;
  let paused = false;
  let inFlight = false;
  let lastHistory = null;
  let lastSuccess = null;

  function showError(messages) {
    if (!messages.length) {
      ui.error.hidden = true;
      ui.error.textContent = '';
      document.body.dataset.stale = 'false';
      return;
    }
    const shown = lastSuccess ? `Showing the figures of ${fmtTime(lastSuccess)}` : 'No figures yet';
    ui.error.textContent = `Refresh failed at ${fmtTime(Date.now())}: ${messages.join('; ')}. ${shown}; retrying every ${REFRESH_MS / 1000} s.`;
    ui.error.hidden = false;
    document.body.dataset.stale = 'true';
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    clearTimeout(timer);
    ui.refreshState.dataset.state = lastSuccess ? ui.refreshState.dataset.state : 'loading';
    try {
      const [history, status] = await Promise.allSettled([getJson('/status/history'), getJson('/status')]);
      const errors = [history, status].filter((r) => r.status === 'rejected').map((r) => r.reason.message);
      if (status.status === 'fulfilled') renderTiles(status.value, history.status === 'fulfilled' ? history.value : lastHistory);
      if (history.status === 'fulfilled') {
        lastHistory = history.value;
        renderCharts(history.value, status.status === 'fulfilled' ? status.value : lastStatus);
      }
      if (!errors.length) {
        lastSuccess = Date.now();
        ui.lastRefresh.textContent = fmtTime(lastSuccess);
        ui.lastRefresh.dateTime = new Date(lastSuccess).toISOString();
        ui.lastRefresh.dataset.at = String(lastSuccess);
      }
      ui.refreshState.dataset.state = errors.length ? 'error' : 'ok';
      showError(errors);
    } catch (e) {
      ui.refreshState.dataset.state = 'error';
      showError([e.message || String(e)]);
    } finally {
      inFlight = false;
      if (!paused) timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  ui.pause.addEventListener('click', () => {
    paused = !paused;
    ui.pause.setAttribute('aria-pressed', String(paused));
    ui.pause.textContent = paused ? 'Resume' : 'Pause';
    ui.refreshState.classList.toggle('paused', paused);
    if (paused) clearTimeout(timer);
    else refresh();
  });

  // Charts follow the width of their containers.
  let resizeFrame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => Object.values(charts).forEach((c) => c.draw()));
  }).observe(document.querySelector('.charts'));

  setInterval(renderCommitTile, 1000);
  refresh();
})();
