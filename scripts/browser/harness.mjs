// Test harness of the browser tests: an `indexer run` on the embedded Kafka broker with a
// generated catalog, headless Chromium, and a way to stop everything.
//
// Environment:
//   INDEXER_BIN      the indexer binary (default target/debug/indexer, relative to the repo root)
//   CHROMIUM_BIN     the browser (default /usr/bin/chromium)
//   KCAT_BIN         kcat (default kcat)
//   BROWSER_DEBUG=1  print the indexer's log lines as they come

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const indexerBin = path.resolve(repoRoot, process.env.INDEXER_BIN || 'target/debug/indexer');
export const chromiumBin = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const kcatBin = process.env.KCAT_BIN || 'kcat';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const debug = process.env.BROWSER_DEBUG === '1';

// Everything to undo when the process ends, whatever the way.
const cleanups = new Set();
const children = new Set();
let exitHooked = false;

function hookExit() {
  if (exitHooked) return;
  exitHooked = true;
  // `exit` handlers must be synchronous: kill the children for sure.
  process.on('exit', () => {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, async () => {
      await stopAll();
      process.exit(130);
    });
  }
}

/** Stops every indexer and browser this harness started. */
export async function stopAll() {
  const pending = [...cleanups];
  cleanups.clear();
  await Promise.allSettled(pending.map((f) => f()));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` (async, returns a truthy value when done) until it succeeds or the deadline
 * passes; the last error or value is in the failure message.
 */
export async function waitFor(what, check, { timeoutMs = 60_000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

/** Runs a command to completion; rejects on a non-zero exit or the timeout. */
export function run(command, args, { input, timeoutMs = 180_000, cwd = repoRoot } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: timed out after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`${command}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${stdout}${stderr}`));
    });
    child.stdin.end(input ?? '');
  });
}

/**
 * Starts a long-running command (e.g. `indexer generate --stream`) in the background; it is
 * killed when the process ends at the latest.
 *
 * Returns `{ exited: Promise<code or signal>, output(), stop() }`; `stop()` sends SIGTERM,
 * then SIGKILL after 5 s, and resolves once the command is gone.
 */
export function startBackground(command, args, { cwd = repoRoot } = {}) {
  hookExit();
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const keep = (d) => {
    output = (output + d).slice(-20_000);
    if (debug) process.stdout.write(`[${path.basename(command)}] ${d}`);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let code = null;
  const exited = new Promise((resolve) => {
    child.on('error', (e) => { code = e.message; children.delete(child); resolve(code); });
    child.on('exit', (c, signal) => { code = c ?? signal; children.delete(child); resolve(code); });
  });
  const stop = async () => {
    cleanups.delete(stop);
    if (code === null) {
      child.kill('SIGTERM');
      if (await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]) === false) {
        child.kill('SIGKILL');
        await exited;
      }
    }
  };
  cleanups.add(stop);
  return { exited, output: () => output, stop };
}

/**
 * Starts `indexer run` on a temporary data directory with the embedded broker, publishes the
 * catalog with `indexer generate`, and waits until it is all searchable. `runArgs` are added
 * to `indexer run` (e.g. `['--canary-interval', '1s']`).
 *
 * Returns `{ baseUrl, brokers, getJson(path), produce(topic, key, event), stop() }`.
 */
export async function startIndexer({ products = 500, seed = 1, stores = 0, runArgs = [], startTimeoutMs = 60_000, ingestTimeoutMs = 180_000 } = {}) {
  hookExit();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'indexer-browser-'));
  const child = spawn(indexerBin, [
    'run',
    '--data-dir', dataDir,
    '--listen', '127.0.0.1:0',
    '--commit-interval-ms', '200',
    ...runArgs,
  ], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  children.add(child);

  const log = [];
  const remember = (line) => {
    log.push(line);
    if (log.length > 200) log.shift();
    if (debug) console.log(`[indexer] ${line}`);
  };
  readline.createInterface({ input: child.stderr }).on('line', remember);

  let exited = null;
  const exitedPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = code ?? signal;
      children.delete(child);
      resolve(exited);
    });
    child.on('error', (e) => {
      exited = e.message;
      children.delete(child);
      resolve(exited);
    });
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    cleanups.delete(stop);
    if (exited === null) {
      child.kill('SIGTERM');
      const gone = await Promise.race([exitedPromise, sleep(15_000).then(() => false)]);
      if (gone === false) {
        child.kill('SIGKILL');
        await exitedPromise;
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  cleanups.add(stop);

  try {
    const { baseUrl, brokers } = await new Promise((resolve, reject) => {
      let baseUrl;
      let brokers;
      const timer = setTimeout(
        () => reject(new Error(`indexer did not print its addresses within ${startTimeoutMs} ms\n${log.join('\n')}`)),
        startTimeoutMs,
      );
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        remember(line);
        const http = /indexer listening on (http:\/\/\S+)/.exec(line);
        if (http) baseUrl = http[1].replace(/\/$/, '');
        const kafka = /kafka embedded broker[^:]*:\s*(\S+)/.exec(line);
        if (kafka) brokers = kafka[1];
        if (baseUrl && brokers) {
          clearTimeout(timer);
          resolve({ baseUrl, brokers });
        }
      });
      exitedPromise.then((code) => {
        clearTimeout(timer);
        reject(new Error(`indexer exited (${code}) before it was listening\n${log.join('\n')}`));
      });
    });

    const getJson = async (urlPath) => {
      const response = await fetch(baseUrl + urlPath, { headers: { Accept: 'application/json' } });
      const body = await response.json();
      if (!response.ok) throw new Error(`GET ${urlPath}: ${response.status} ${JSON.stringify(body)}`);
      return body;
    };

    await run(indexerBin, [
      'generate',
      '--brokers', brokers,
      '--products', String(products),
      '--seed', String(seed),
      '--stores', String(stores),
      '--rate', '100000',
      '--start-version', '1',
    ], { timeoutMs: ingestTimeoutMs });

    await waitFor('the catalog to be indexed (index.docs > 0, kafka.total_lag == 0)', async () => {
      if (exited !== null) throw new Error(`indexer exited (${exited})\n${log.join('\n')}`);
      const status = await getJson('/status');
      return status.index && status.index.docs > 0 && status.kafka && status.kafka.total_lag === 0 ? status : null;
    }, { timeoutMs: ingestTimeoutMs, intervalMs: 250 });

    /** Publishes one event with kcat (a JSON object, one line). */
    const produce = (topic, key, event) => run(kcatBin, ['-b', brokers, '-t', topic, '-k', key, '-P'], {
      input: `${JSON.stringify(event)}\n`,
      timeoutMs: 60_000,
    });

    return { baseUrl, brokers, dataDir, getJson, produce, stop, log: () => log.join('\n') };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Launches headless Chromium (the system's, through playwright-core) with a fresh profile.
 * Returns a browser context; `close()` also removes the profile.
 */
export async function launchChromium({ viewport = { width: 1280, height: 900 } } = {}) {
  hookExit();
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'shop-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumBin,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport,
      timeout: 120_000,
    });
  } catch (e) {
    await rm(userDataDir, { recursive: true, force: true });
    throw e;
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    cleanups.delete(close);
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true });
  };
  cleanups.add(close);
  return { context, close };
}
