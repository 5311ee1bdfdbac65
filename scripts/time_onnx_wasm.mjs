/**
 * Times several ONNX graphs on onnxruntime-web's WASM backend in node, interleaved run by run, so that a baseline
 * and its candidates share the same machine load (this machine's cores are shared: compare ratios within one run).
 * Every float32 input gets a fixed pattern in [0, 1): the kernels' cost does not depend on the values.
 *
 *   node scripts/time_onnx_wasm.mjs A.onnx B.onnx ... [--threads 2] [--runs 15] [--warmup 3]
 *
 * Prints one JSON object: {threads, runs, results: [{path, median_ms, min_ms}]}.
 */
import { readFileSync } from 'node:fs';

import * as ort from 'onnxruntime-web';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const paths = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const threads = Number(opt('--threads', 2));
const runs = Number(opt('--runs', 15));
const warmup = Number(opt('--warmup', 3));
ort.env.wasm.numThreads = threads;

const sessions = [];
for (const path of paths) {
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
    executionProviders: ['wasm'],
  });
  const feeds = {};
  for (const meta of session.inputMetadata) {
    if (meta.type !== 'float32') throw new Error(`${path} input ${meta.name}: ${meta.type} (float32 only)`);
    const size = meta.shape.reduce((a, b) => a * b, 1);
    feeds[meta.name] = new ort.Tensor(
      'float32',
      Float32Array.from({ length: size }, (_, i) => ((i * 7919) % 255) / 255),
      meta.shape,
    );
  }
  sessions.push({ path, session, feeds, times: [] });
}
for (let r = 0; r < warmup + runs; r++) {
  for (const s of sessions) {
    const t0 = performance.now();
    await s.session.run(s.feeds);
    if (r >= warmup) s.times.push(performance.now() - t0);
  }
}
const results = sessions.map(({ path, times }) => {
  times.sort((a, b) => a - b);
  return { path, median_ms: times[times.length >> 1], min_ms: times[0] };
});
console.log(JSON.stringify({ threads, runs, results }));
for (const s of sessions) await s.session.release();
