/**
 * Times several ONNX graphs on onnxruntime-web's WASM backend in node, interleaved run by run, so that a baseline
 * and its candidates share the same machine load (this machine's cores are shared: compare ratios within one run).
 * Every float32 input gets a fixed pattern in [0, 1): the kernels' cost does not depend on the values.
 *
 *   node scripts/time_onnx_wasm.mjs A.onnx B.onnx ... [--threads 2] [--runs 15] [--warmup 3] [--dims h=15,w=20]
 *
 * `--dims` gives the symbolic dimensions of graphs exported with free sizes (the student graph's frame is
 * [1, 16*h, 16*w, 4]): each symbol in a dimension's expression is replaced by its value.
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
const dims = Object.fromEntries(
  opt('--dims', '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=')),
);
ort.env.wasm.numThreads = threads;

/** A dimension of an input's shape as a number: symbolic ones ("16*h") evaluated with `--dims`. */
function resolveDim(dim, path, name) {
  if (typeof dim === 'number') return dim;
  const expr = String(dim).replace(/[A-Za-z_]\w*/g, (sym) => {
    if (!(sym in dims)) throw new Error(`${path} input ${name}: dimension ${dim} needs --dims ${sym}=N`);
    return String(Number(dims[sym]));
  });
  if (!/^[\d+\-*/() ]+$/.test(expr)) throw new Error(`${path} input ${name}: cannot evaluate dimension ${dim}`);
  return Function(`return (${expr});`)();
}

const sessions = [];
for (const path of paths) {
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
    executionProviders: ['wasm'],
  });
  const feeds = {};
  for (const meta of session.inputMetadata) {
    if (meta.type !== 'float32') throw new Error(`${path} input ${meta.name}: ${meta.type} (float32 only)`);
    const shape = meta.shape.map((d) => resolveDim(d, path, meta.name));
    const size = shape.reduce((a, b) => a * b, 1);
    feeds[meta.name] = new ort.Tensor(
      'float32',
      Float32Array.from({ length: size }, (_, i) => ((i * 7919) % 255) / 255),
      shape,
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
