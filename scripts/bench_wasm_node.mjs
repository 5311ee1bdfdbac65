/**
 * Inference-only timing of the exported graphs on onnxruntime-web's WASM backend in node (the browser's kernels,
 * without the page): median step time per capacity, variant and thread count; with a prompt head in the manifest,
 * also click to mask: the frame's encoding (once per frozen frame) and one click (prompt maps + the head).
 *
 *   node scripts/bench_wasm_node.mjs [MODEL_DIR] [--threads 1,2] [--runs 20] [--size HxW] [--variants fp32,int8]
 *                                    [--capacities 1,2] [--no-prompt]
 *
 * --size runs the (dynamic) graphs at another of the manifest's model sizes (default: the first).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import * as ort from 'onnxruntime-web';

import { atSize } from '../web/src/manifest.js';
import { PromptHead, promptMaps } from '../web/src/prompt.js';
import { DEFAULT_MODEL } from '../web/src/shipped-models.js';
import { Tracker } from '../web/src/tracker.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const dir = resolve(
  args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--'))) ||
    `web/public/models/${DEFAULT_MODEL}`,
);
const threadsList = opt('--threads', '1,2').split(',').map(Number);
const runs = Number(opt('--runs', 20));
const exported = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const size = opt('--size', null);
const manifest = size ? atSize(exported, size.split('x').map(Number)) : exported;
const wanted = opt('--variants', null)?.split(',');
const capacities = opt('--capacities', null)?.split(',').map(Number) ?? manifest.objects.capacities;
const [, height, width] = manifest.frame.shape;

// ort.env.wasm.numThreads is read once per process: one child process per thread count.
if (!process.env.BENCH_CHILD) {
  const { execFileSync } = await import('node:child_process');
  for (const threads of threadsList) {
    execFileSync(process.execPath, [process.argv[1], ...args], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_CHILD: String(threads) },
    });
  }
  process.exit(0);
}
const threads = Number(process.env.BENCH_CHILD);
ort.env.wasm.numThreads = threads;
const frame = new Uint8ClampedArray(height * width * 4).map((_, i) => (i * 7) % 251);
const labels = new Uint8Array(height * width);
for (let y = height >> 2; y < (3 * height) >> 2; y++)
  labels.fill(1, y * width + (width >> 2), y * width + (width >> 1));
for (let y = height >> 2; y < (3 * height) >> 2; y++)
  labels.fill(2, y * width + (width >> 1), y * width + ((3 * width) >> 2));
for (const variant of Object.keys(manifest.variants).filter(
  (v) => (manifest.variants[v].targets?.includes('wasm') ?? v !== 'fp16') && (!wanted || wanted.includes(v)),
)) {
  for (const capacity of capacities) {
    const tracker = new Tracker(ort, manifest, {
      backend: 'wasm',
      variant,
      loadModel: async (g) => new Uint8Array(readFileSync(join(dir, g.file))),
    });
    await tracker.prepare(capacity);
    await tracker.start(frame, labels, Math.min(2, capacity), capacity);
    const times = [];
    for (let i = 0; i < runs + 3; i++) {
      const t0 = performance.now();
      await tracker.step(frame);
      if (i >= 3) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(
      `${threads} thread(s)  ${variant.padEnd(4)}  K=${capacity}  step median ${times[times.length >> 1].toFixed(1)} ms  (min ${times[0].toFixed(1)}, ${width}x${height})`,
    );
    await tracker.release();
  }
}

const median = (times) => times.sort((a, b) => a - b)[times.length >> 1];

if (manifest.prompt && !args.includes('--no-prompt')) {
  const loadModel = async (g) => new Uint8Array(readFileSync(join(dir, g.file)));
  const tracker = new Tracker(ort, manifest, { backend: 'wasm', variant: 'fp32', loadModel });
  const head = new PromptHead(ort, manifest, { backend: 'wasm', loadModel });
  const encode = [];
  const click = [];
  const maps = [];
  let previous = null;
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const features = await head.features(frame, tracker);
    const t1 = performance.now();
    const clicks = [{ y: (height >> 1) + (i % 7), x: (width >> 1) - (i % 5), positive: true }];
    const m = promptMaps(clicks, null, previous, [height, width], manifest.prompt.click_sigma);
    const t2 = performance.now();
    previous = await head.run(features, m);
    const t3 = performance.now();
    if (i >= 3) {
      encode.push(t1 - t0);
      maps.push(t2 - t1);
      click.push(t3 - t1);
    }
  }
  console.log(
    `${threads} thread(s)  prompt  encode median ${median(encode).toFixed(1)} ms (once per frozen frame)  ` +
      `click median ${median(click).toFixed(1)} ms (maps ${median(maps).toFixed(1)} ms + head), ${width}x${height}`,
  );
  await Promise.all([tracker.release(), head.release()]);
}
