/**
 * The app's start, in headless Chromium: `npm run bench -- --first-mask --runs 1` (a cold load, then one warm load of
 * `?start=sample` with the service worker on) must find every start mark of the page in order, a non-empty first
 * tracked mask drawn on frame 1 of the sample, the page under its service worker on the warm load, and write its
 * JSON and markdown. No timing is asserted: the 2 s goal is measured by the bench, not by a test. And `start` is off
 * by default: without it the page loads its model and waits, marking only its own start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { collectLogs, launch, preview, waitReady } from '../helpers/browser.js';
import { modelDir, readManifest, REPO } from '../helpers/models.js';
import { STARTUP_MARKS } from '../../../web/src/bench/first-mask.js';
import { findGraph, pickCapacity } from '../../../web/src/manifest.js';
import { MARKS } from '../../../web/src/page/marks.js';

/** How far the worker's clock may run ahead of the page's. Worker marks cross as epoch ms (each context's
 * performance.timeOrigin + now()), and the two origins need not agree to the millisecond: a loaded run (session 12,
 * two training jobs beside it) had the worker's `ready` after the page's model-ready mark, which the reply it sends
 * cannot be (by how much was not recorded); five loads of a bench on the same loaded machine put it 0.9-5.0 ms
 * before. */
const CLOCK_SKEW_MS = 3;

let server;
let tmp;
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mobilevos-first-mask-'));
  server = await preview(modelDir()); // builds web/dist once; the bench below serves the same build
});
after(() => {
  server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function bench(args) {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['scripts/bench.mjs', ...args], {
      cwd: REPO,
      env: { ...process.env, MOBILEVOS_MODELS: modelDir(), MOBILEVOS_SKIP_BUILD: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    child.on('exit', (code) => (code === 0 ? resolve(log) : reject(new Error(`bench exited ${code}:\n${log}`))));
  });
}

test(
  'bench --first-mask: the page marks its start in order and draws a non-empty first mask',
  { timeout: 600000 },
  async (t) => {
    const log = await bench(['--first-mask', '--runs', '1', '--out', tmp]);
    const files = readdirSync(tmp);
    const json = files.find((f) => /^first-mask-.*\.json$/.test(f));
    assert.ok(json && files.includes(json.replace(/\.json$/, '.md')), files.join());
    const results = JSON.parse(readFileSync(join(tmp, json), 'utf8'));
    assert.equal(results.schema, 'mobilevos-bench-first-mask/1');
    assert.match(results.definition, /navigation start/);
    assert.equal(results.settings.runs, 1);
    assert.equal(results.settings.goalMs, 2000);
    assert.equal(results.loads.length, 1);
    assert.ok(results.host.cpus > 0 && results.host.loadavgAfter.length === 3);
    assert.equal(results.model.backend, 'wasm', 'headless Chromium without a GPU runs WASM');

    const manifest = readManifest(modelDir());
    const sampleObjects = 2; // web/public/sample/sample-mask.png
    for (const load of [results.cold, ...results.loads]) {
      const { times } = load;
      assert.deepEqual(load.problems, [], `${load.label}: ${load.problems.join('; ')}`);
      for (const [key] of STARTUP_MARKS) assert.ok(times[key] > 0, `${load.label}: ${MARKS[key]} at ${times[key]}`);
      assert.ok(times.interactive < times.modelReady, `${load.label}: interactive before the model is ready`);
      assert.ok(times.modelReady <= times.trackStart && times.sampleReady <= times.trackStart, load.label);
      assert.ok(times.modelReady < times.firstMask && times.annotated < times.firstMask, load.label);
      // the first mask: the model's prediction for the frame after the annotated one, with pixels in it
      assert.equal(load.firstMask.index, 1);
      assert.equal(load.firstMask.areas.length, sampleObjects);
      assert.ok(load.firstMask.pixels > 0, `${load.label}: the first mask is empty`);
      assert.ok(['tracking', 'paused'].includes(load.mode), load.mode);
      // the worker's share: load made the graph for the sample's objects (the page told it), so annotate made none
      assert.ok(load.durations.sessionMs > 0 && load.durations.warmupMs > 0, JSON.stringify(load.durations));
      assert.equal(load.durations.annotateGraphMs, null, JSON.stringify(load.durations));
      const warmup = load.marks.find((m) => m.name === 'mobilevos:worker:warm-up');
      const graph = findGraph(manifest, pickCapacity(manifest, sampleObjects), load.model.variant);
      assert.equal(warmup?.detail.file, graph.file, "load warmed up the sample's graph");
      // the worker's marks of its load: each within the page's load of the model
      for (const name of ['script', 'manifest', 'runtime', 'graph', 'session', 'warm-up', 'ready']) {
        const at = load.worker[name]?.at;
        assert.ok(
          at > 0 && at <= times.modelReady + CLOCK_SKEW_MS,
          `${load.label}: worker mark ${name} at ${at}, the page's model-ready at ${times.modelReady}`,
        );
      }
      const measures = Object.fromEntries(load.measures.map((m) => [m.name, m]));
      assert.ok(measures['mobilevos:model-load'].duration > 0 && measures['mobilevos:first-track'].duration > 0);
      assert.equal(load.consoleErrors.join('\n'), '');
    }
    const warm = results.loads[0];
    assert.equal(warm.controlled, true, 'the warm load is served under the service worker');
    assert.equal(warm.isolated, true);

    const { summary } = results;
    assert.deepEqual([summary.loads, summary.goalMs], [1, 2000]);
    assert.equal(typeof summary.pass, 'boolean');
    assert.ok([0, 1].includes(summary.within));
    for (const [key] of STARTUP_MARKS) {
      const s = summary.marks[key];
      assert.equal(s.n, 1);
      assert.deepEqual([s.median, s.min, s.max], [warm.times[key], warm.times[key], warm.times[key]]);
    }
    const md = readFileSync(join(tmp, json.replace(/\.json$/, '.md')), 'utf8');
    assert.match(md, /\| first mask drawn \(`mobilevos:first-mask`\) \|/);
    assert.match(md, /\*\*(PASS|FAIL)\*\*/);
    for (const line of log.split('\n').filter((l) => /^(cold|warm)/.test(l))) t.diagnostic(line);
  },
);

test('start is off by default: the page loads its model and waits', { timeout: 300000 }, async (t) => {
  const browser = await launch([]);
  t.after(() => browser.close());
  const page = await browser.context.newPage();
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&sw=0`);
  const { error } = await waitReady(page, logs);
  assert.equal(error, null);
  await page.waitForTimeout(1000);
  const names = await page.evaluate(() =>
    performance
      .getEntriesByType('mark')
      .map((m) => m.name)
      .filter((n) => n.startsWith('mobilevos:')),
  );
  const marks = names.filter((n) => !n.startsWith('mobilevos:worker:'));
  assert.deepEqual(marks, [MARKS.interactive, MARKS.modelReady]);
  // the worker's own marks of its load, on the page's timeline before model ready
  for (const name of ['started', 'script', 'load', 'manifest', 'runtime', 'graph', 'session', 'warm-up', 'ready']) {
    const at = names.indexOf(`mobilevos:worker:${name}`);
    assert.ok(at >= 0 && at < names.indexOf(MARKS.modelReady), `${name}: ${names}`);
  }
  assert.equal(await page.evaluate(() => window.__mobilevos.mode), 'idle');
});
