/**
 * Inference-only timing of the exported graphs on onnxruntime-web's WASM backend in node (the browser's kernels,
 * without the page): median step time per capacity, variant and thread count.
 *
 *   node scripts/bench_wasm_node.mjs [MODEL_DIR] [--threads 1,2] [--runs 20] [--size HxW] [--variants fp32,int8]
 *
 * --size runs the (dynamic) graphs at another of the manifest's model sizes (default: the first).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import * as ort from 'onnxruntime-web';

import { atSize } from '../web/src/manifest.js';
import { Tracker } from '../web/src/tracker.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const dir = resolve(
  args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--'))) || 'web/public/models/student',
);
const threadsList = opt('--threads', '1,2').split(',').map(Number);
const runs = Number(opt('--runs', 20));
const exported = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const size = opt('--size', null);
const manifest = size ? atSize(exported, size.split('x').map(Number)) : exported;
const wanted = opt('--variants', null)?.split(',');
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
  for (const capacity of manifest.objects.capacities) {
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
