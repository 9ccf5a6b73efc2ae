// End to end: the operations dashboard (`/dashboard`) served by `indexer run`, in headless
// Chromium, while a change stream (with invalid events, so dead letters too) flows through the
// embedded Kafka broker. What the charts and tiles show is compared with the `/status/history`
// and `/status` answers the page received (recorded on the way with `page.route`).
//
// Run: cd scripts/browser && npm ci && node --test dashboard.test.mjs
// Screenshots go to $SCREENSHOT_DIR (default: the temp directory), dashboard-*.png.

import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { indexerBin, launchChromium, startBackground, startIndexer, stopAll, waitFor } from './harness.mjs';

const STEP_MS = 60_000;
const TEST_MS = 180_000;
const TOP_PARTITIONS = 8;
const SCREENSHOTS = process.env.SCREENSHOT_DIR || os.tmpdir();

let env;
let stream;
let browser;
let page;
/** The last `/status` and `/status/history` bodies the page received, by path. */
const served = new Map();
/** Console errors and uncaught exceptions; `expected` while requests are failed on purpose. */
const problems = [];
let failingOnPurpose = false;

const isData = (url) => url.pathname === '/status' || url.pathname === '/status/history';

before(async () => {
  env = await startIndexer({ products: 500, seed: 1, runArgs: ['--canary-interval', '1s'] });
  // Changes for the charts: 200 events/s, 5 % of them invalid (dead letters).
  stream = startBackground(indexerBin, [
    'generate',
    '--brokers', env.brokers,
    '--products', '300',
    '--no-catalog',
    '--stream',
    '--rate', '200',
    '--duration', '300s',
    '--start-version', '1000000000000',
    '--invalid-ratio', '0.05',
  ]);
  let streamEnded = null;
  stream.exited.then((code) => { streamEnded = code; });
  await waitFor('3 history points with applied events and a canary found', async () => {
    if (streamEnded !== null) throw new Error(`the change stream ended (${streamEnded}): ${stream.output()}`);
    const history = await env.getJson('/status/history');
    const status = await env.getJson('/status');
    const last3 = history.points.slice(-3);
    return last3.length === 3
      && last3.every((p) => p.events_per_s.applied > 0)
      && last3.at(-1).events_per_s.dlq > 0
      && last3.at(-1).freshness_p99_ms !== null
      && last3.at(-1).live_freshness_p99_ms !== null
      && status.canary.found > 0;
  }, { timeoutMs: 120_000, intervalMs: 500 });

  browser = await launchChromium();
  page = await browser.context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.setDefaultNavigationTimeout(STEP_MS);
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push({ text: m.text(), expected: failingOnPurpose });
  });
  page.on('pageerror', (e) => problems.push({ text: e.message, expected: false }));
  // Record what the page receives, unchanged.
  await page.route(isData, async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    served.set(new URL(route.request().url()).pathname, body);
    await route.fulfill({ response, json: body });
  });
  await page.goto(`${env.baseUrl}/dashboard`);
}, { timeout: 400_000 });

after(async () => {
  await stopAll();
});

// ------------------------------------------------------------------ helpers

const fmtInt = (n) => new Intl.NumberFormat('en-US').format(n);
const byTestId = (id) => page.getByTestId(id);
const shot = (name, options = {}) => page.screenshot({ path: path.join(SCREENSHOTS, `dashboard-${name}.png`), ...options });

/** Every drawn series per chart: `{ chart: { series: points } }`, plus path sanity. */
function drawn() {
  return page.evaluate(() => {
    const out = {};
    for (const figure of document.querySelectorAll('figure[data-testid^="chart-"]')) {
      const series = {};
      for (const p of figure.querySelectorAll('path.series')) {
        const points = Number(p.dataset.points);
        const vertices = ((p.getAttribute('d') || '').match(/[ML]/g) || []).length;
        if (vertices !== points) throw new Error(`${figure.dataset.testid} ${p.dataset.series}: ${vertices} vertices, data-points ${points}`);
        series[p.dataset.series] = points;
      }
      out[figure.dataset.testid.replace('chart-', '')] = series;
    }
    return out;
  });
}

/** What each chart should draw for a `/status/history` answer (the dashboard's rules). */
function expectedSeries(history) {
  const points = history.points;
  const nonNull = (field) => points.filter((p) => p[field] !== null).length;
  const keys = [...new Set(points.flatMap((p) => Object.keys(p.lag)))];
  const last = points.at(-1).lag;
  const peak = Object.fromEntries(keys.map((k) => [k, Math.max(...points.map((p) => p.lag[k] ?? 0))]));
  keys.sort((a, b) => (last[b] ?? 0) - (last[a] ?? 0) || peak[b] - peak[a] || (a < b ? -1 : 1));
  return {
    freshness: {
      p50: nonNull('freshness_p50_ms'),
      p95: nonNull('freshness_p95_ms'),
      p99: nonNull('freshness_p99_ms'),
      live_p99: nonNull('live_freshness_p99_ms'),
    },
    events: { applied: points.length, stale: points.length, invalid: points.length, dlq: points.length },
    lag: {
      total: points.length,
      ...Object.fromEntries(keys.slice(0, TOP_PARTITIONS).map((k) => [k, points.filter((p) => k in p.lag).length])),
    },
  };
}

/** Waits until the charts show exactly the last `/status/history` the page received. */
async function expectChartsMatchServed() {
  return waitFor('the charts to draw the last /status/history the page received', async () => {
    const history = served.get('/status/history');
    if (!history || !history.points.length) return null;
    const got = await drawn();
    const expected = expectedSeries(history);
    assert.deepEqual(got, expected);
    return { history, got };
  }, { timeoutMs: STEP_MS, intervalMs: 100 });
}

async function tile(name) {
  const t = byTestId(`tile-${name}`);
  return t.evaluate((e) => ({
    value: e.querySelector('[data-role="value"]').textContent,
    detail: e.querySelector('[data-role="detail"]').textContent,
    data: e.dataset.value,
    tone: e.dataset.tone,
    breached: e.dataset.breached,
    reason: e.dataset.reason,
  }));
}

// ------------------------------------------------------------------ tests

test('the dashboard and its assets are served with their content types', { timeout: TEST_MS }, async () => {
  for (const [urlPath, type] of [
    ['/dashboard', 'text/html; charset=utf-8'],
    ['/assets/dashboard.css', 'text/css; charset=utf-8'],
    ['/assets/dashboard.js', 'text/javascript; charset=utf-8'],
  ]) {
    const response = await fetch(env.baseUrl + urlPath);
    assert.equal(response.status, 200, urlPath);
    assert.equal(response.headers.get('content-type'), type, urlPath);
    assert.ok(response.headers.get('cache-control'), `${urlPath}: Cache-Control`);
  }
  // Nothing but the page's own origin is loaded.
  const origins = await page.evaluate(() => performance.getEntriesByType('resource').map((r) => new URL(r.name).origin));
  assert.ok(origins.length > 0);
  assert.deepEqual([...new Set(origins)], [new URL(env.baseUrl).origin]);
});

test('every chart draws the points of /status/history', { timeout: TEST_MS }, async () => {
  const { got } = await expectChartsMatchServed();
  // Against an independent fetch: equal, or one point apart when a sample came in between.
  const now = await env.getJson('/status/history');
  for (const [chart, series] of Object.entries(got)) {
    for (const [name, points] of Object.entries(series)) {
      assert.ok(points >= 3, `${chart} ${name}: ${points} points`);
    }
  }
  assert.ok(Math.abs(now.points.length - got.events.applied) <= 1, `page ${got.events.applied} points, /status/history ${now.points.length}`);
  const nonNullP99 = now.points.filter((p) => p.freshness_p99_ms !== null).length;
  assert.ok(Math.abs(nonNullP99 - got.freshness.p99) <= 1, `page p99 ${got.freshness.p99} points, /status/history ${nonNullP99}`);

  // The lag chart: the total plus the top partitions, the others counted in the legend.
  const partitions = new Set(now.points.flatMap((p) => Object.keys(p.lag))).size;
  assert.ok(partitions > TOP_PARTITIONS, `${partitions} partitions`);
  assert.equal(Object.keys(got.lag).length, TOP_PARTITIONS + 1);
  assert.ok('total' in got.lag);
  assert.match(await byTestId('lag-hidden-partitions').innerText(), new RegExp(`\\+${partitions - TOP_PARTITIONS} more partitions`));

  // The SLO target is drawn on the freshness chart; the lines have a length on screen.
  const status = served.get('/status');
  const chart = byTestId('chart-freshness');
  assert.equal(await chart.locator('g.ref line').count(), 1);
  assert.match(await chart.locator('g.ref text').textContent(), /^SLO /);
  const lengths = await page.locator('path.series[data-series="applied"], path.series[data-series="p99"], path.series[data-series="total"]')
    .evaluateAll((paths) => paths.map((p) => p.getTotalLength()));
  assert.equal(lengths.length, 3);
  assert.ok(lengths.every((l) => l > 10), `path lengths ${lengths}`);
  assert.match(await chart.locator('[data-ref="slo"] .legend-value').innerText(), new RegExp(`${fmtInt(status.slo.target_ms)} ms`));
  // The live path (price and stock in place) has its own series, drawn and in the legend.
  assert.ok(got.freshness.live_p99 >= 3, `live p99: ${got.freshness.live_p99} points`);
  assert.equal(await chart.locator('.legend li', { hasText: 'live p99' }).count(), 1);

  // Axes, legends and text alternatives.
  for (const id of ['chart-freshness', 'chart-events', 'chart-lag']) {
    const figure = byTestId(id);
    assert.ok((await figure.locator('.tick-y').count()) >= 3, `${id}: y ticks`);
    assert.ok((await figure.locator('.tick-x').count()) >= 2, `${id}: x ticks`);
    assert.ok((await figure.locator('.gridline').count()) >= 3, `${id}: gridlines`);
    assert.ok((await figure.locator('.legend li').count()) >= 2, `${id}: legend`);
    const label = await figure.locator('svg.chart-svg').getAttribute('aria-label');
    assert.match(label, /Latest|Total lag now/, `${id}: text alternative`);
    assert.equal(await figure.getByRole('heading', { level: 3 }).count(), 1, `${id}: heading`);
    assert.equal(await figure.locator('[data-role="summary"]').innerText(), label.replace(/^[^.]*\. /, ''), `${id}: summary`);
  }
  assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Indexer operations');
  await shot('wide', { fullPage: true });
});

test('the tiles show the figures of /status', { timeout: TEST_MS }, async () => {
  await waitFor('the tiles to show the last /status the page received', async () => {
    const status = served.get('/status');
    const ready = await tile('ready');
    assert.equal(ready.data, String(status.ready));
    const problems = status.ingestion.problems;
    assert.equal(
      ready.value,
      !status.ready ? 'Not ready' : problems.length > 0 ? 'Degraded' : 'Ready',
    );
    if (!status.ready) assert.match(ready.detail, new RegExp(status.not_ready.reason));
    for (const p of problems) assert.match(ready.detail, new RegExp(p.reason));

    const slo = await tile('slo');
    assert.equal(slo.breached, String(status.slo.breached));
    assert.equal(slo.value, status.slo.breached ? 'Breached' : 'Met');
    assert.equal(slo.data, status.slo.p99_ms === null ? '' : String(status.slo.p99_ms));
    if (status.slo.p99_ms !== null) assert.match(slo.detail, new RegExp(`p99 ${fmtInt(status.slo.p99_ms)} ms`));
    assert.match(slo.detail, new RegExp(`objective ${fmtInt(status.slo.target_ms)} ms`));

    const docs = await tile('docs');
    assert.equal(docs.data, String(status.index.docs));
    assert.equal(docs.value, fmtInt(status.index.docs));

    const lag = await tile('lag');
    assert.equal(lag.data, String(status.kafka.total_lag));
    assert.equal(lag.value, fmtInt(status.kafka.total_lag));

    const canary = await tile('canary');
    assert.equal(canary.data, String(status.canary.last_latency_ms));
    assert.equal(canary.value, `${fmtInt(status.canary.last_latency_ms)} ms`);

    const kafka = await tile('kafka');
    assert.equal(kafka.data, String(status.kafka.connected));
    assert.equal(kafka.value, status.kafka.connected ? 'Connected' : 'Unreachable');
    assert.match(kafka.detail, new RegExp(status.kafka.brokers.replace(/\./g, '\\.')));

    // Seconds since the last commit tick in the page between refreshes.
    const commit = await tile('commit');
    const since = Math.floor((Date.now() - status.index.last_commit_ms) / 1000);
    assert.ok(Math.abs(Number(commit.data) - since) <= 7, `page says ${commit.data} s, /status ${since} s ago`);
    assert.match(commit.value, /^\d+ s$/);
    return true;
  }, { timeoutMs: STEP_MS, intervalMs: 200 });

  // The stream is healthy: serving (ingestion may report a passing problem, e.g. dead
  // letters not acknowledged yet under load: 'warn', never 'bad'), Kafka connected.
  const ready = await tile('ready');
  assert.equal(ready.data, 'true');
  assert.notEqual(ready.tone, 'bad');
  assert.equal((await tile('kafka')).tone, 'ok');
  assert.equal(await byTestId('refresh-state').getAttribute('data-state'), 'ok');
  assert.match(await byTestId('last-refresh').innerText(), /^\d\d:\d\d:\d\d$/);
});

test('the page refreshes by itself', { timeout: TEST_MS }, async () => {
  const before = await drawn();
  const refreshedAt = await byTestId('last-refresh').getAttribute('data-at');
  await page.evaluate(() => { window.__sameDocument = true; });
  await waitFor('a new history point on the charts', async () => {
    const now = await drawn();
    return now.events.applied > before.events.applied && now.lag.total > before.lag.total && now.freshness.p99 > before.freshness.p99;
  }, { timeoutMs: 45_000, intervalMs: 250 });
  assert.notEqual(await byTestId('last-refresh').getAttribute('data-at'), refreshedAt);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'refreshed in place, not reloaded');
  await expectChartsMatchServed();
});

test('hovering a chart shows the values at that time; the keyboard moves through them', { timeout: TEST_MS }, async () => {
  const figure = byTestId('chart-events');
  const plotArea = figure.locator('svg.chart-svg rect.overlay');
  // The locator's hover places the pointer where the plot is when it acts (the page above the
  // chart may have grown since a box was measured), and retries over a redraw.
  const area = await plotArea.boundingBox();
  await plotArea.hover({ position: { x: area.width - 12, y: area.height / 2 } });
  const tooltip = figure.getByTestId('chart-tooltip');
  await tooltip.waitFor();
  const text = await tooltip.innerText();
  assert.match(text, /^\d\d:\d\d:\d\d/);
  for (const label of ['applied', 'stale', 'invalid', 'dead-lettered']) assert.match(text, new RegExp(label));
  assert.match(text, /\/s/);
  const box = await figure.locator('svg.chart-svg').boundingBox();
  await shot('hover', { clip: { x: box.x - 20, y: box.y - 50, width: box.width + 40, height: box.height + 70 } });
  await page.mouse.move(0, 0);
  await tooltip.waitFor({ state: 'hidden' });

  const plot = figure.locator('[data-role="plot"]');
  await plot.focus();
  await tooltip.waitFor();
  const last = await tooltip.locator('.tooltip-time').innerText();
  await page.keyboard.press('Home');
  const first = await tooltip.locator('.tooltip-time').innerText();
  assert.notEqual(first, last);
  await page.keyboard.press('ArrowRight');
  assert.notEqual(await tooltip.locator('.tooltip-time').innerText(), first);
  await page.keyboard.press('Escape');
  await tooltip.waitFor({ state: 'hidden' });
  await plot.blur();
});

test('a failing refresh shows an error and keeps the last figures; it recovers', { timeout: TEST_MS }, async () => {
  const before = await drawn();
  const error = byTestId('error-state');
  assert.equal(await error.isVisible(), false);
  failingOnPurpose = true;
  try {
    // A server error on the history.
    const isHistory = (u) => u.pathname === '/status/history';
    const serverError = (route) => route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"boom"}' });
    await page.route(isHistory, serverError);
    await error.waitFor({ timeout: 20_000 });
    assert.match(await error.innerText(), /\/status\/history answered HTTP 500/);
    assert.equal(await byTestId('refresh-state').getAttribute('data-state'), 'error');
    await page.unroute(isHistory, serverError);
    await error.waitFor({ state: 'hidden', timeout: 20_000 });

    // The server unreachable.
    const refused = (route) => route.abort('connectionrefused');
    await page.route(isData, refused);
    await waitFor('the unreachable error', async () => /\/status\/history is unreachable/.test(await error.innerText()), { timeoutMs: 20_000 });
    assert.match(await error.innerText(), /\/status is unreachable/);
    assert.match(await error.innerText(), /Showing the figures of \d\d:\d\d:\d\d/);
    assert.equal(await page.getAttribute('body', 'data-stale'), 'true');
    const during = await drawn();
    assert.ok(during.events.applied >= before.events.applied, 'the charts keep their points');
    await shot('error', { fullPage: true });
    await page.unroute(isData, refused);
    await error.waitFor({ state: 'hidden', timeout: 20_000 });
  } finally {
    failingOnPurpose = false;
  }
  assert.equal(await byTestId('refresh-state').getAttribute('data-state'), 'ok');
  assert.equal(await page.getAttribute('body', 'data-stale'), 'false');
  await expectChartsMatchServed();
});

test('the layout fits a phone screen', { timeout: TEST_MS }, async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await waitFor('the charts to fit the narrow screen', async () => page.evaluate(() => {
      const svgs = [...document.querySelectorAll('svg.chart-svg')];
      return svgs.length === 3 && svgs.every((s) => s.getBoundingClientRect().right <= window.innerWidth)
        && document.documentElement.scrollWidth <= window.innerWidth;
    }), { timeoutMs: 20_000, intervalMs: 100 });
    await expectChartsMatchServed();
    await shot('narrow', { fullPage: true });
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
});

test('no script errors on the page', () => {
  const unexpected = problems.filter((p) => !p.expected).map((p) => p.text);
  assert.deepEqual(unexpected, []);
  // While requests were failed on purpose, only the failed loads are logged.
  for (const p of problems.filter((e) => e.expected)) assert.match(p.text, /Failed to load resource/);
});
