/**
 * `npm run bench -- --first-mask [--runs 5] [--models DIR] [--out results/bench-web] [--headed]` (scripts/bench.mjs
 * hands the arguments over): how long after a visitor opens the app the first tracked mask is drawn, on a warm cache.
 *
 * What is measured: the built site (web/dist) served by `vite preview` on localhost, the app page with its service
 * worker on, opened with `?start=sample` (the bundled sample clip opens frozen with its own first-frame mask while the
 * model loads, and tracking starts as soon as both are done: a visitor who clicks at once, without the clicks). One
 * cold load fills the caches (the service worker's precache of the app, onnxruntime-web and the sample; the model
 * bytes in the inference worker's Cache Storage; the browser's HTTP cache), then each of `--runs` warm loads opens a
 * fresh page in the same browser profile. The page's own start marks (web/src/page/marks.js, ms since navigation
 * start, performance.timeOrigin) give the times: page interactive, model ready, sample open, Track pressed, annotation
 * drawn, first mask drawn. Prints their median/min/max over the warm loads and the verdict against the 2 s goal
 * (median first mask ≤ 2,000 ms), and writes results/bench-web/first-mask-<time>.json and .md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

import { collectLogs, launch, preview } from '../tests/web/helpers/browser.js';
import { modelDir, REPO } from '../tests/web/helpers/models.js';
import {
  FIRST_MASK_GOAL_MS,
  startupMarkdown,
  startupProblems,
  startupTimes,
  summarizeStartup,
  workerDurations,
  workerTimes,
} from '../web/src/bench/first-mask.js';
import { MARKS } from '../web/src/page/marks.js';

export const FIRST_MASK_DEFINITION =
  'ms since navigation start (performance.timeOrigin) of the app page served by `vite preview` from web/dist on ' +
  'localhost, service worker on, opened with ?start=sample (the sample clip with its own first-frame mask, tracked ' +
  'as soon as the model is ready), in a fresh page of a browser profile that loaded it once before (warm cache: the ' +
  "service worker's precache, the model bytes in Cache Storage, the HTTP cache); times from the page's " +
  'performance.mark entries (web/src/page/marks.js); goal: median first mask drawn ≤ 2,000 ms';

/** Open the app once in a fresh page of `context` and wait for its first tracked mask; returns what the page marked. */
async function load(context, url, label, { waitServiceWorker = false } = {}) {
  const page = await context.newPage();
  const logs = collectLogs(page);
  page.on('crash', () => console.error(`${label}: the page crashed`));
  try {
    await page.goto(url);
    await page
      .waitForFunction(
        (name) => {
          const banner = document.querySelector('#banner');
          const failed = banner && !banner.hidden && banner.dataset.kind === 'error';
          return performance.getEntriesByName(name, 'mark').length > 0 || failed;
        },
        MARKS.firstMask,
        { timeout: 180000, polling: 100 },
      )
      .catch((e) => {
        throw new Error(`${label}: ${e.message}\n${logs.slice(-30).join('\n')}`);
      });
    const error = await page.evaluate(() => window.__mobilevos.error);
    if (!(await page.evaluate((name) => performance.getEntriesByName(name, 'mark').length, MARKS.firstMask)))
      throw new Error(`${label}: the page stopped with "${error?.text}"\n${logs.slice(-30).join('\n')}`);
    if (waitServiceWorker) {
      // the warm loads need the app precached: the service worker activates once its install cached precache.json
      await page.waitForFunction(
        async () => (await navigator.serviceWorker.getRegistration())?.active?.state === 'activated',
        null,
        { timeout: 120000, polling: 250 },
      );
    }
    const seen = await page.evaluate(() => {
      const own = (e) => e.name.startsWith('mobilevos:');
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource');
      const { info, mode } = window.__mobilevos;
      return {
        marks: performance
          .getEntriesByType('mark')
          .filter(own)
          .map(({ name, startTime, detail }) => ({ name, startTime, detail })),
        measures: performance
          .getEntriesByType('measure')
          .filter(own)
          .map(({ name, startTime, duration }) => ({ name, startTime, duration })),
        navigation: {
          responseEnd: nav.responseEnd,
          domInteractive: nav.domInteractive,
          domContentLoaded: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd,
          transferSize: nav.transferSize,
        },
        resources: {
          count: resources.length,
          viaServiceWorker: resources.filter((r) => r.workerStart > 0).length,
          transferBytes: resources.reduce((sum, r) => sum + r.transferSize, 0),
        },
        controlled: Boolean(navigator.serviceWorker?.controller),
        isolated: self.crossOriginIsolated,
        hardwareConcurrency: navigator.hardwareConcurrency,
        userAgent: navigator.userAgent,
        mode,
        model: info && {
          backend: info.backend,
          threads: info.threads,
          variant: info.variant,
          size: `${info.model.height}x${info.model.width}`,
          sizeReason: info.model.sizeReason,
        },
      };
    });
    const { times, details } = startupTimes(seen.marks);
    const areas = details.firstMask?.areas ?? [];
    return {
      label,
      times,
      durations: workerDurations(details, times),
      worker: workerTimes(seen.marks),
      problems: startupProblems(times),
      firstMask: { index: details.firstMask?.index ?? null, areas, pixels: areas.reduce((a, b) => a + b, 0) },
      ...seen,
      consoleErrors: logs.filter((l) => /\[(error|pageerror)/.test(l)).slice(-20),
    };
  } finally {
    await page.close();
  }
}

const f0 = (v) => (Number.isFinite(v) ? v.toFixed(0) : '–');
const describe = (r) =>
  `${r.label}: first mask ${f0(r.times.firstMask)} ms (interactive ${f0(r.times.interactive)}, model ready ` +
  `${f0(r.times.modelReady)}, sample ${f0(r.times.sampleReady)}, annotated ${f0(r.times.annotated)}); ` +
  `${r.model?.backend} ${r.model?.threads}t ${r.model?.variant} ${r.model?.size}; frame ${r.firstMask.index}, ` +
  `${r.firstMask.pixels} mask pixels; service worker ${r.controlled ? 'in control' : 'NOT in control'}` +
  (r.problems.length ? `; PROBLEMS: ${r.problems.join('; ')}` : '');

/** The first-mask mode of scripts/bench.mjs (`has`/`opt` read its command line); returns the exit code. */
export async function firstMaskBench({ has, opt }) {
  const runs = Number(opt('--runs', '5'));
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`--runs must be a whole number ≥ 1, got ${runs}`);
  const out = resolve(opt('--out', join(REPO, 'results/bench-web')));
  const models = opt('--models', null) ? resolve(opt('--models')) : modelDir();
  const host = { loadavgBefore: loadavg(), cpus: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version };
  console.log(
    `models: ${models}\nload average before: ${host.loadavgBefore.map((v) => v.toFixed(2)).join(' ')} ` +
      `(${host.cpus} CPUs)`,
  );
  const server = await preview(models);
  const browser = await launch([], { headless: !has('--headed') });
  const url = `${server.url}?start=sample`;
  const loads = [];
  let cold;
  try {
    console.log(`open ${url} (cold: fills the caches)`);
    cold = await load(browser.context, url, 'cold', { waitServiceWorker: true });
    console.log(describe(cold));
    for (let i = 1; i <= runs; i++) {
      loads.push(await load(browser.context, url, `warm ${i}/${runs}`));
      console.log(describe(loads.at(-1)));
    }
  } finally {
    await browser.close();
    server.stop();
  }
  host.loadavgAfter = loadavg();
  const summary = summarizeStartup(loads, FIRST_MASK_GOAL_MS);
  const created = new Date().toISOString();
  const warm = loads[0];
  const results = {
    schema: 'mobilevos-bench-first-mask/1',
    created,
    definition: FIRST_MASK_DEFINITION,
    settings: { runs, page: '?start=sample', goalMs: FIRST_MASK_GOAL_MS, models },
    host,
    device: { userAgent: warm.userAgent, hardwareConcurrency: warm.hardwareConcurrency, isolated: warm.isolated },
    model: warm.model,
    summary,
    cold,
    loads,
  };
  mkdirSync(out, { recursive: true });
  const base = join(out, `first-mask-${created.replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z')}`);
  const load1 = (v) => v.map((x) => x.toFixed(2)).join(' ');
  const table =
    `${startupMarkdown(summary)}\n\n${warm.model.backend} ${warm.model.threads} thread(s), ${warm.model.variant}, ` +
    `model input ${warm.model.size}; cold load's first mask ${f0(cold.times.firstMask)} ms. Host: ${host.cpus} CPUs ` +
    `(${host.cpu}); load average (1/5/15 min) before ${load1(host.loadavgBefore)}, after ${load1(host.loadavgAfter)}; ` +
    `${warm.userAgent}.`;
  writeFileSync(`${base}.json`, JSON.stringify(results));
  writeFileSync(`${base}.md`, `${table}\n`);
  console.log(`\n${table}\n\nwrote ${base}.json and .md`);
  return loads.every((r) => r.problems.length === 0 && r.controlled) ? 0 : 1;
}
