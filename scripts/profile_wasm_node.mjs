/**
 * Where the time goes on onnxruntime-web's WASM backend (the browser's kernels, in node): runs one graph with
 * onnxruntime's profiler and prints kernel time per operator type (convolutions split into depthwise, 1x1 and
 * dense kxk, with their achieved GFLOP/s) and the slowest nodes. Every input gets a fixed pattern in [0, 1): the
 * kernels' cost does not depend on the values.
 *
 *   node scripts/profile_wasm_node.mjs [GRAPH.onnx] [--threads 1] [--runs 20] [--top 12] [--size 240x320]
 *
 * --size: the model input for graphs of dynamic size (the student's dims are written `h`, `16*h`, ... with h, w the
 * stride-16 grid): frame height x width, multiples of 16.
 *
 * Profiling adds some overhead per node: compare shares, and take absolute times from bench_wasm_node.mjs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import * as ort from 'onnxruntime-web';

import { DEFAULT_MODEL } from '../web/src/shipped-models.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const path =
  args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--'))) ||
  `web/public/models/${DEFAULT_MODEL}/student_k1.onnx`;
const runs = Number(opt('--runs', 20));
const top = Number(opt('--top', 12));
ort.env.wasm.numThreads = Number(opt('--threads', 1));
const [frameH, frameW] = opt('--size', '240x320').split('x').map(Number);
if (frameH % 16 || frameW % 16) throw new Error(`--size ${frameH}x${frameW}: both must be multiples of 16`);

/** A dim as a number: fixed, or a symbolic `h` / `w` / `k*h` / `k*w` at --size. */
function resolveDim(dim) {
  if (typeof dim === 'number') return dim;
  const match = /^(?:(\d+)\*)?([hw])$/.exec(dim);
  if (!match) throw new Error(`symbolic dim ${dim}: only h, w, k*h, k*w are known`);
  return (Number(match[1] ?? 1) * (match[2] === 'h' ? frameH : frameW)) / 16;
}

// onnxruntime-web's WASM module writes the profile (Chrome trace JSON) straight to stdout when profiling ends: a
// child process runs the graph and this process reads the trace from the child's output.
if (process.env.PROFILE_CHILD) {
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), {
    executionProviders: ['wasm'],
    enableProfiling: true,
  });
  const feeds = {};
  for (const meta of session.inputMetadata) {
    if (meta.type !== 'float32') throw new Error(`input ${meta.name}: ${meta.type} is not supported (float32 only)`);
    const shape = meta.shape.map(resolveDim);
    const size = shape.reduce((a, b) => a * b, 1);
    feeds[meta.name] = new ort.Tensor(
      'float32',
      Float32Array.from({ length: size }, (_, i) => ((i * 7919) % 255) / 255),
      shape,
    );
  }
  for (let i = 0; i < runs; i++) await session.run(feeds);
  session.endProfiling();
  process.exit(0);
}
const text = execFileSync(process.execPath, [process.argv[1], ...args], {
  env: { ...process.env, PROFILE_CHILD: '1' },
  maxBuffer: 1 << 30,
  encoding: 'utf8',
});
const events = JSON.parse(text.slice(text.indexOf('['), text.lastIndexOf(']') + 1));

/** Operator type, with Conv/FusedConv told apart by kernel shape, and the node's FLOPs (2 per multiply-add). */
function classify(event) {
  const { op_name: op, input_type_shape: inputs, output_type_shape: outputs } = event.args;
  if (!/Conv$/.test(op) || op.startsWith('QLinear')) return { kind: op, flops: 0 };
  const [w] = Object.values(inputs[1]);
  const [out] = Object.values(outputs[0]);
  const flops = 2 * out.reduce((a, b) => a * b, 1) * w[1] * w[2] * w[3];
  const kind =
    w[1] === 1 && w[0] > 1 ? `Conv depthwise ${w[2]}x${w[3]}` : w[2] === 1 ? 'Conv 1x1' : `Conv ${w[2]}x${w[3]}`;
  return { kind, flops };
}

const byKind = new Map();
const byNode = new Map();
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const { kind, flops } = classify(e);
  const k = byKind.get(kind) ?? { us: 0, flops: 0 };
  byKind.set(kind, { us: k.us + e.dur, flops: k.flops + flops });
  const n = byNode.get(e.name) ?? { us: 0, kind, shape: JSON.stringify(Object.values(e.args.input_type_shape[0])[0]) };
  n.us += e.dur;
  byNode.set(e.name, n);
}
const total = [...byKind.values()].reduce((a, k) => a + k.us, 0);
const ms = (us) => (us / runs / 1000).toFixed(2);
console.log(`${path}: ${runs} runs, ${ort.env.wasm.numThreads} thread(s); kernel time ${ms(total)} ms per run\n`);
console.log('| operator | ms per run | share | GFLOP/s |\n| --- | --- | --- | --- |');
for (const [kind, k] of [...byKind].sort((a, b) => b[1].us - a[1].us)) {
  const rate = k.flops ? (k.flops / (k.us * 1e3)).toFixed(1) : '';
  console.log(`| ${kind} | ${ms(k.us)} | ${((100 * k.us) / total).toFixed(1)}% | ${rate} |`);
}
console.log(`\nslowest ${top} nodes:`);
for (const [name, n] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
  console.log(`  ${ms(n.us)} ms  ${n.kind.padEnd(20)} input ${n.shape}  (${name.replace(/_kernel_time$/, '')})`);
}
