/**
 * `npm run bench`: the bench page (web/bench.html) in headless Chromium, results to results/bench-web/.
 *
 *   npm run bench -- [--frames 200] [--backends wasm,webgpu] [--threads 1,2] [--variants fp32,int8] [--long]
 *                    [--models DIR] [--data DAVIS_DIR [--sequence NAME|all]] [--objects N] [--probe 1024] [--no-score]
 *                    [--sizes auto|first|all|HxW,...] [--shipped NAME,NAME] [--rounds N] [--no-revisit]
 *                    [--out results/bench-web]
 *                    [--hardware-webgpu] [--headed]
 *   npm run bench -- --first-mask [--runs 5] [--models DIR] [--out results/bench-web] [--headed]
 *
 * Builds the site, serves it with `vite preview` on a free port (the model folder: --models, $MOBILEVOS_MODELS,
 * the default model's export in web/public/models/, else the untrained test export of scripts/make_dev_models.sh), opens
 * bench.html?autorun=1 and waits for it. Frames come from the bundled clip (web/public/bench/clip, looped forth and
 * back), or from a DAVIS-layout folder given with --data (uploaded through the page's folder picker).
 *
 * --long: 10,000 frames (or --frames) on WASM, one configuration (the first --threads and --variants value; 2 threads
 * and fp32 by default), memory sampled every 100 frames after a forced GC; prints the first vs last 1,000-frame
 * medians and the heap growth.
 *
 * Writes results/bench-web/bench-<time>[-long].json (everything the page measured: settings, device, host load,
 * per-frame stage times, memory samples, probe, J&F), a .md table and .svg plots.
 * WebGPU runs on SwiftShader unless --hardware-webgpu (the flags are only added when webgpu is asked for).
 *
 * --shipped NAME,NAME: bench these shipped models (web/src/shipped-models.js) in one run instead of one folder.
 * --rounds N: run the configurations N times in alternating order (A B, B A, ...), each round with its own MatMul
 * probe, and add a table of each configuration's FPS per round and its ratio to the first configuration within
 * rounds: this host's speed drifts by ~1.5x within minutes, more than the models differ.
 *
 * --first-mask: not the bench page but the app's start: the time from opening the app page to its first tracked mask
 * drawn, on a warm cache (scripts/bench-first-mask.mjs) -> results/bench-web/first-mask-<time>.json and .md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

import { collectLogs, launch, preview, SWIFTSHADER_WEBGPU_FLAGS } from '../tests/web/helpers/browser.js';
import { modelDir, REPO } from '../tests/web/helpers/models.js';
import { charts, configLabel, markdownTable } from '../web/src/bench/report.js';
import { MODELS, modelFolder } from '../web/src/shipped-models.js';

const args = process.argv.slice(2);
const has = (name) => args.includes(name);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
if (has('--help') || has('-h')) {
  console.log(
    'usage: npm run bench -- [--frames N] [--backends wasm,webgpu] [--threads 1,2] [--variants fp32,int8] ' +
      '[--long] [--models DIR] [--data DAVIS_DIR [--sequence NAME|all]] [--objects N] [--probe N] [--no-score] ' +
      '[--sizes LIST] [--shipped NAME,NAME] [--rounds N] [--no-revisit] [--out DIR] ' +
      '[--hardware-webgpu] [--headed]\n' +
      '       npm run bench -- --first-mask [--runs 5] [--models DIR] [--out DIR] [--headed]',
  );
  process.exit(0);
}
if (has('--first-mask')) {
  const { firstMaskBench } = await import('./bench-first-mask.mjs');
  process.exit(await firstMaskBench({ has, opt }));
}
const long = has('--long');
const backends = long ? 'wasm' : opt('--backends', 'wasm');
const params = new URLSearchParams({
  autorun: opt('--data', null) ? '0' : '1',
  sw: '0',
  frames: opt('--frames', long ? '10000' : '200'),
  backends,
  threads: long ? opt('--threads', '2').split(',')[0] : opt('--threads', '1,2'),
  variants: long ? opt('--variants', 'fp32').split(',')[0] : opt('--variants', 'auto'),
  probe: opt('--probe', '1024'),
  sizes: opt('--sizes', 'auto'),
  score: has('--no-score') ? '0' : '1',
  long: long ? '1' : '0',
  gc: long ? '1' : '0',
  // the long run measures flatness at one input size: Auto's moves while tracking would change the bank's size
  revisit: long || has('--no-revisit') ? '0' : '1',
});
if (opt('--sequence', null)) params.set('sequence', opt('--sequence'));
if (opt('--objects', null)) {
  if (!/^\d+$/.test(opt('--objects'))) {
    console.error(`--objects ${opt('--objects')}: a whole number of objects (0 = all)`);
    process.exit(2);
  }
  params.set('objects', opt('--objects'));
}
if (opt('--rounds', null)) {
  if (!/^[1-9]\d*$/.test(opt('--rounds'))) {
    console.error(`--rounds ${opt('--rounds')}: a whole number of rounds >= 1`);
    process.exit(2);
  }
  params.set('rounds', opt('--rounds'));
}
if (opt('--shipped', null)) {
  const names = opt('--shipped').split(',');
  const unknownModels = names.filter((n) => !Object.hasOwn(MODELS, n));
  if (unknownModels.length) {
    console.error(`--shipped: ${unknownModels.join(', ')} not shipped (${Object.keys(MODELS).join(', ')})`);
    process.exit(2);
  }
  params.set('models', names.map(modelFolder).join(','));
}
const out = resolve(opt('--out', join(REPO, 'results/bench-web')));
const models = opt('--models', null) ? resolve(opt('--models')) : modelDir();
const webgpu = backends.split(',').includes('webgpu');
const flags = [
  '--enable-precise-memory-info',
  '--js-flags=--expose-gc',
  '--enable-blink-features=ForceEagerMeasureMemory',
  ...(webgpu ? (has('--hardware-webgpu') ? ['--enable-unsafe-webgpu'] : SWIFTSHADER_WEBGPU_FLAGS) : []),
];

const host = {
  loadavgBefore: loadavg(),
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? '',
  node: process.version,
  models,
};
console.log(
  `models: ${models}\nload average before: ${host.loadavgBefore.map((v) => v.toFixed(2)).join(' ')} ` +
    `(${host.cpus} CPUs)`,
);
const server = await preview(models);
const browser = await launch(flags, { headless: !has('--headed') });
let results;
try {
  const page = await browser.context.newPage();
  const logs = collectLogs(page);
  page.on('crash', () => console.error('the page crashed'));
  const url = `${server.url}bench.html?${params}`;
  console.log(`open ${url}`);
  await page.goto(url);
  if (opt('--data', null)) {
    await page.setInputFiles('#folder', resolve(opt('--data')));
    const picked = await page
      .waitForFunction(() => window.__mobilevosBench.picked, null, { timeout: 120000 })
      .then((h) => h.jsonValue());
    if (picked.error) throw new Error(picked.error);
    console.log(`picked ${picked.name}: ${picked.sequences.length} sequence(s)`);
    await page.evaluate(() => {
      window.__mobilevosBench.run();
    });
  }
  let last = '';
  let lastPrint = 0;
  for (;;) {
    const state = await page.evaluate(() => {
      const h = window.__mobilevosBench;
      return {
        state: h.state,
        progress: h.progress,
        error: h.error,
        status: document.querySelector('#status')?.textContent,
      };
    });
    if (state.state === 'done' || state.state === 'error') {
      if (state.error) throw new Error(`${state.error.message}\n${state.error.stack}\n${logs.slice(-30).join('\n')}`);
      break;
    }
    if (state.status !== last && Date.now() - lastPrint > 10000) {
      console.log(state.status);
      last = state.status;
      lastPrint = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  results = await page.evaluate(() => window.__mobilevosBench.results);
  const errors = logs.filter((l) => /\[(error|pageerror)/.test(l));
  if (errors.length) results.consoleErrors = errors.slice(-20);
} finally {
  await browser.close();
  server.stop();
}

host.loadavgAfter = loadavg();
results.host = host;
mkdirSync(out, { recursive: true });
const stamp = results.created.replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z') + (long ? '-long' : '');
const base = join(out, `bench-${stamp}`);
const table =
  `${markdownTable(results)}\n\nHost: ${host.cpus} CPUs (${host.cpu}); load average (1/5/15 min) before ` +
  `${host.loadavgBefore.map((v) => v.toFixed(2)).join(' ')}, after ${host.loadavgAfter.map((v) => v.toFixed(2)).join(' ')}.`;
writeFileSync(`${base}.json`, JSON.stringify(results));
writeFileSync(`${base}.md`, `${table}\n`);
for (const [name, svg] of Object.entries(charts(results))) writeFileSync(`${base}-${name}.svg`, svg);
console.log(`\n${table}\n`);
for (const r of results.runs) {
  if (r.status !== 'ok') {
    console.log(`${configLabel(r.config)}: ${r.status} (${r.reason})`);
    continue;
  }
  const f = r.flatness;
  const heap = f.memory.heapUsed;
  const bank = r.memory.at(-1);
  const agent = r.agentMemory.filter((a) => a.bytes && !a.afterWorkerStopped);
  console.log(
    `${configLabel(r.config)}: ${r.frames} frames; e2e median first ${f.window} ${f.latency.e2e.first.toFixed(1)} ms, ` +
      `last ${f.window} ${f.latency.e2e.last.toFixed(1)} ms (x${f.latency.e2e.ratio.toFixed(2)}); inference ` +
      `${f.latency.infer.first.toFixed(1)} -> ${f.latency.infer.last.toFixed(1)} ms; page heap from frame ${f.memoryFrom} ` +
      (heap
        ? `${(heap.first / 2 ** 20).toFixed(1)} -> ${(heap.last / 2 ** 20).toFixed(1)} MiB (growth ${(heap.growth / 2 ** 20).toFixed(2)} MiB, max ${(heap.max / 2 ** 20).toFixed(1)})`
        : 'n/a') +
      `; memory bank ${bank.bankBytes} bytes in ${bank.bankTensors} tensors (${bank.bankLocations.join(',')}), ` +
      `${r.bankConstant ? 'constant' : 'NOT constant'} over ${r.memory.length} samples` +
      (agent.length > 1
        ? `; whole page (measureUserAgentSpecificMemory) frame ${agent[0].frame} ${(agent[0].bytes / 2 ** 20).toFixed(1)} ` +
          `-> frame ${agent.at(-1).frame} ${(agent.at(-1).bytes / 2 ** 20).toFixed(1)} MiB`
        : ''),
  );
  for (const m of r.moves ?? []) {
    console.log(
      `  moved after frame ${m.frame} to ${m.size.join('x')} (memory carried in ${m.carryMs.toFixed(0)} ms): ${m.reason}`,
    );
  }
}
console.log(`\nwrote ${base}.json, .md and -{fps,latency,infer,memory}.svg`);
process.exit(results.runs.some((r) => r.status === 'ok') ? 0 : 1);
