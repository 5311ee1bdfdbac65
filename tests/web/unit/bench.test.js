/**
 * The bench page's pure parts (web/src/bench/): percentiles and flatness, the clip's ping-pong order, settings and
 * configurations, FLOPs from the manifest, the compute probe's hand-written ONNX model (run through onnxruntime-web's
 * WASM backend in node against a plain JS matrix product), the scoring resize, the DAVIS folder reader and the report.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as ort from 'onnxruntime-web';

import { folderClip, keepObjects, objectIds, trackedIds } from '../../../web/src/bench/clip.js';
import { expandConfigs, meanStepFlops, parseSettings, stepFlops } from '../../../web/src/bench/config.js';
import { matmulModel, probeInput, probeWeights } from '../../../web/src/bench/matmul-model.js';
import { charts, configLabel, markdownTable, roundsTable, runLabel } from '../../../web/src/bench/report.js';
import { probToLabels } from '../../../web/src/bench/resize.js';
import { downsample, flatness, percentile, pingPong, summarize } from '../../../web/src/bench/stats.js';
import { atSize } from '../../../web/src/manifest.js';
import { DEFAULT_MODEL } from '../../../web/src/shipped-models.js';
import { readManifest } from '../helpers/models.js';

const DEFAULT_FOLDER = `models/${DEFAULT_MODEL}/`; // the bench's default `models` setting

test('percentiles interpolate between ranks like numpy; summaries', () => {
  const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(percentile(sorted, 50), 5.5);
  assert.ok(Math.abs(percentile(sorted, 95) - 9.55) < 1e-12);
  assert.ok(Math.abs(percentile(sorted, 99) - 9.91) < 1e-12);
  const s = summarize([10, 1, 5]);
  assert.deepEqual([s.n, s.mean, s.p50, s.min, s.max], [3, 16 / 3, 5, 1, 10]);
});

test('flatness compares the first and last windows and memory growth', () => {
  const values = Float32Array.from({ length: 4000 }, (_, i) => (i < 1000 ? 10 : i >= 3000 ? 12 : 11));
  const f = flatness({ e2e: values }, [
    { frame: 0, heapUsed: 100 },
    { frame: 100, heapUsed: 90 },
    { frame: 200, heapUsed: 130 },
  ]);
  assert.equal(f.window, 1000);
  assert.deepEqual(f.latency.e2e, { first: 10, last: 12, ratio: 1.2 });
  assert.deepEqual(f.memory.heapUsed, { first: 100, last: 130, growth: 30, max: 130 });
  assert.equal(flatness({ e2e: [1, 2, 3, 4, 5, 6, 7, 8] }).window, 2);
  assert.ok(downsample(values, 100).length <= 100);
});

test('the clip loops forth and back without a jump', () => {
  const order = Array.from({ length: 12 }, (_, i) => pingPong(i, 5));
  assert.deepEqual(order, [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3]);
  assert.equal(pingPong(7, 1), 0);
});

const MANIFEST = {
  model: {
    height: 240,
    width: 320,
    sizes: [
      { height: 240, width: 320 },
      { height: 480, width: 640 },
    ],
  },
  variants: { fp32: { targets: ['webgpu', 'wasm'] }, fp16: { targets: ['webgpu'] }, int8: { targets: ['wasm'] } },
  graphs: [
    { capacity: 1, variant: 'fp32', file: 'student_k1.onnx', flops: 9.7e8 },
    { capacity: 2, variant: 'fp32', file: 'student_k2.onnx', flops: 1.16e9 },
    { capacity: 2, variant: 'int8', file: 'student_k2_int8.onnx' },
  ],
};

test('settings from the URL expand to configurations; variants follow the manifest', () => {
  const { settings, unknown } = parseSettings('?backends=wasm,webgpu&threads=1,2&frames=50&bogus=1');
  assert.deepEqual(unknown, ['bogus']);
  assert.equal(settings.frames, 50);
  const configs = expandConfigs(settings, { [DEFAULT_FOLDER]: MANIFEST });
  assert.deepEqual(
    configs.map((c) => `${c.backend}/${c.threads}/${c.variant}/${c.resolution}`),
    [
      'wasm/1/fp32/auto',
      'wasm/1/int8/auto',
      'wasm/2/fp32/auto',
      'wasm/2/int8/auto',
      'webgpu/0/fp32/auto',
      'webgpu/0/fp16/auto',
    ],
  );
  const long = parseSettings('?long=1&threads=2&variants=int8').settings;
  assert.equal(long.frames, 10000);
  assert.deepEqual(
    expandConfigs(long, { [DEFAULT_FOLDER]: MANIFEST }).map((c) => c.variant),
    ['int8'],
  );
  assert.equal(parseSettings('?long=1&frames=500').settings.frames, 500);
  // model sizes: the page's choice by default (the worker measures and steps as the page's Auto does), the export's
  // first, every size with sizes=all, named ones, and an error for others
  const sized = (query) => expandConfigs(parseSettings(query).settings, { [DEFAULT_FOLDER]: MANIFEST });
  assert.equal(sized('?threads=2&variants=fp32')[0].size, 'auto');
  assert.deepEqual(sized('?threads=2&variants=fp32&sizes=first')[0].size, [240, 320]);
  assert.deepEqual(
    sized('?threads=2&variants=fp32&sizes=auto,240x320').map((c) => c.resolution),
    ['auto', '240x320'],
  );
  assert.deepEqual(
    sized('?threads=2&variants=fp32&sizes=all').map((c) => c.resolution),
    ['240x320', '480x640'],
  );
  assert.deepEqual(sized('?threads=2&variants=fp32&sizes=480x640')[0].size, [480, 640]);
  assert.throws(() => sized('?sizes=100x100'), /size 100x100 is not exported \(240x320, 480x640\)/);
});

test('rounds repeat the configurations in alternating order; several models are named in the labels', () => {
  const { settings } = parseSettings('?threads=1,2&variants=fp32&rounds=3&models=models/a/,models/b/&sizes=first');
  assert.equal(settings.rounds, 3);
  const configs = expandConfigs(settings, { 'models/a/': MANIFEST, 'models/b/': MANIFEST });
  assert.deepEqual(configs.map(configLabel), [
    'a wasm 1t fp32 240x320 r1',
    'a wasm 2t fp32 240x320 r1',
    'b wasm 1t fp32 240x320 r1',
    'b wasm 2t fp32 240x320 r1',
    'b wasm 2t fp32 240x320 r2',
    'b wasm 1t fp32 240x320 r2',
    'a wasm 2t fp32 240x320 r2',
    'a wasm 1t fp32 240x320 r2',
    'a wasm 1t fp32 240x320 r3',
    'a wasm 2t fp32 240x320 r3',
    'b wasm 1t fp32 240x320 r3',
    'b wasm 2t fp32 240x320 r3',
  ]);
  // one round, one model: the labels of before; the default size is the page's choice, named once measured
  const once = expandConfigs(parseSettings('?threads=2&variants=fp32').settings, { [DEFAULT_FOLDER]: MANIFEST });
  assert.deepEqual(once.map(configLabel), ['wasm 2t fp32 auto']);
  assert.equal(
    runLabel({ config: once[0], info: { model: { height: 208, width: 272 } } }),
    'wasm 2t fp32 auto 208x272',
  );
  // Auto moved while tracking (revisit=1, the default): every size it ran at, in order
  const moves = [
    { frame: 61, size: [224, 288] },
    { frame: 182, size: [208, 272] },
  ];
  assert.equal(
    runLabel({ config: once[0], info: { model: { height: 240, width: 320 } }, moves }),
    'wasm 2t fp32 auto 240x320→224x288→208x272',
  );
  assert.equal(parseSettings('').settings.revisit, 1);
  assert.equal(parseSettings('?revisit=0').settings.revisit, 0);
});

test('the rounds table divides each FPS by that of the first configuration in the same round', () => {
  const base = { backend: 'wasm', threads: 2, variant: 'fp32', resolution: '240x320' };
  const run = (model, round, fps, ofPeak) => ({
    status: 'ok',
    config: { ...base, model, round },
    fps,
    compute: { ofPeak },
  });
  // the host runs twice as fast in round 2: the FPS move, the ratio does not
  const results = {
    runs: [
      run('balanced', 1, 20, 0.4),
      run('accurate', 1, 16, 0.5),
      run('accurate', 2, 32, 0.5),
      run('balanced', 2, 40, 0.4),
      run('balanced', 3, 22, 0.42),
      { status: 'error', reason: 'boom', config: { ...base, model: 'accurate', round: 3 } },
    ],
  };
  const lines = roundsTable(results).split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0], /FPS \/ balanced wasm 2t fp32 240x320, median of rounds/);
  assert.equal(lines[2], '| balanced wasm 2t fp32 240x320 | 20.0, 40.0, 22.0 | 22.0 | 40% | 1.00 |');
  assert.equal(lines[3], '| accurate wasm 2t fp32 240x320 | 16.0, 32.0 | 24.0 | 50% | 0.80 |');
  assert.equal(roundsTable({ runs: [run('balanced', undefined, 20, 0.4)] }), '', 'one round: no table');
  // auto: one row across rounds, each round's FPS with the size its worker chose
  const auto = (round, fps, height, width) => ({
    ...run('balanced', round, fps, 0.4),
    config: { ...base, resolution: 'auto', round },
    info: { model: { height, width } },
  });
  const autoLines = roundsTable({ runs: [auto(1, 30, 208, 272), auto(2, 25, 224, 288)] }).split('\n');
  assert.equal(autoLines[2], '| wasm 2t fp32 auto | 30.0 @208x272, 25.0 @224x288 | 27.5 | 40% | 1.00 |');
});

test('FLOPs of one step come from the manifest (fp32 graph when a variant records none)', () => {
  assert.deepEqual(stepFlops(MANIFEST, 2, 'fp32'), { flops: 1.16e9, graph: 'student_k2.onnx', fromVariant: 'fp32' });
  assert.equal(stepFlops(MANIFEST, 2, 'int8').flops, 1.16e9);
  const v1 = {
    graphs: [
      { kind: 'init', capacity: 1, variant: 'fp32', flops: 7e8 },
      { kind: 'step', capacity: 1, variant: 'fp32', flops: 9e8 },
    ],
  };
  assert.equal(stepFlops(v1, 1, 'fp32').flops, 9e8);
  assert.equal(stepFlops(MANIFEST, 4, 'fp32'), null);
});

test("a run's FLOPs per step are averaged over its frames at each size Auto ran at", () => {
  const shipped = readManifest();
  const at = (h, w) => stepFlops(atSize(shipped, [h, w]), 1, 'fp32').flops;
  const run = { frames: 200, info: { model: { height: 240, width: 320 } }, moves: [] };
  assert.equal(meanStepFlops(run, shipped, 1, 'fp32').flops, at(240, 320));
  const moved = { ...run, moves: [{ frame: 60, size: [208, 272] }] };
  const mean = meanStepFlops(moved, shipped, 1, 'fp32').flops;
  assert.ok(Math.abs(mean - (60 * at(240, 320) + 140 * at(208, 272)) / 200) < 1, String(mean));
  assert.ok(at(208, 272) < mean && mean < at(240, 320));
});

test('the compute probe model is valid ONNX and computes X·W·W·W', async () => {
  ort.env.wasm.numThreads = 1;
  const n = 40;
  const chain = 3;
  const model = matmulModel(n, chain);
  assert.equal(model.flops, chain * 2 * n ** 3);
  const session = await ort.InferenceSession.create(model.bytes);
  assert.deepEqual([session.inputNames, session.outputNames], [['x'], ['y']]);
  const x = probeInput(n);
  const { y } = await session.run({ x: new ort.Tensor('float32', x, [n, n]) });
  const w = probeWeights(n);
  let ref = Float64Array.from(x);
  for (let k = 0; k < chain; k++) {
    const next = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let l = 0; l < n; l++) sum += ref[i * n + l] * w[l * n + j];
        next[i * n + j] = sum;
      }
    ref = next;
  }
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < n * n; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(ref[i] - y.data[i]));
    maxAbs = Math.max(maxAbs, Math.abs(ref[i]));
  }
  assert.ok(maxDiff < 1e-4, `max |diff| ${maxDiff}`);
  assert.ok(maxAbs > 0.1 && maxAbs < 100, `values stay of order one (max ${maxAbs})`);
  await session.release();
});

test('scoring resize: plain argmax at the same size, bilinear log-prob argmax otherwise', () => {
  // 2 channels, 2x2: background wins on the left column, the object on the right
  const prob = Float32Array.from([0.9, 0.2, 0.8, 0.3, /* object */ 0.1, 0.8, 0.2, 0.7]);
  assert.deepEqual([...probToLabels(prob, 2, 2, 2, 2, 2)], [0, 1, 0, 1]);
  const up = probToLabels(prob, 2, 2, 2, 4, 4); // half-pixel centres: the boundary falls between columns 1 and 2
  assert.deepEqual([...up], [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]);
  const one = probToLabels(Float32Array.from([0.4, 0.6]), 2, 1, 1, 3, 5); // a single pixel spreads everywhere
  assert.ok(one.every((v) => v === 1));
});

test('a picked DAVIS folder: sequences, frames sorted, masks matched by stem, first frame required', () => {
  const file = (path) => ({ name: path.split('/').pop(), webkitRelativePath: path });
  const clip = folderClip([
    file('d/JPEGImages/480p/b/00001.jpg'),
    file('d/JPEGImages/480p/b/00000.jpg'),
    file('d/Annotations/480p/b/00000.png'),
    file('d/Annotations/480p/b/00001.png'),
    file('d/JPEGImages/480p/a/00000.jpg'),
    file('d/README.md'),
    file('d/JPEGImages/480p/c/00000.jpg'),
    file('d/Annotations/480p/c/00003.png'), // c: frame 0 not annotated
    file('d/Annotations/480p/a/00000.png'),
  ]);
  assert.equal(clip.name, 'd');
  assert.deepEqual(
    clip.sequences.map((s) => s.name),
    ['a', 'b'],
  );
  assert.deepEqual(
    clip.sequences[1].frames.map((f) => f.stem),
    ['00000', '00001'],
  );
  assert.deepEqual([...clip.sequences[1].annotations.keys()], [0, 1]);
  assert.throws(() => folderClip([file('x/y.jpg')]), /no DAVIS-layout frames/);
  assert.deepEqual(objectIds(Uint8Array.from([0, 3, 255, 1, 3])), [1, 3]);
});

test('objects=N: a run tracks the first N objects and is scored against those alone', () => {
  const labels = Uint8Array.from([0, 3, 255, 1, 3, 7]);
  assert.deepEqual(trackedIds(labels), [1, 3, 7]);
  assert.deepEqual(trackedIds(labels, 1), [1]);
  assert.deepEqual(trackedIds(labels, 2), [1, 3]);
  assert.deepEqual(trackedIds(labels, 9), [1, 3, 7]);
  assert.throws(() => trackedIds(labels, -1), /objects=-1: a whole number >= 0/);
  assert.throws(() => trackedIds(labels, 1.5), /objects=1.5/);
  // the untracked objects become background in the ground truth; void stays void
  assert.deepEqual([...keepObjects(labels, [1])], [0, 0, 255, 1, 0, 0]);
  assert.deepEqual([...keepObjects(labels, [1, 3, 7])], [...labels]);
  assert.equal(parseSettings('?objects=1').settings.objects, 1);
  assert.equal(parseSettings('').settings.objects, 0);
});

test('report: markdown table and SVG plots from a results object', () => {
  const stage = { n: 3, mean: 10, p50: 10, p95: 12, p99: 13, min: 9, max: 13 };
  const run = {
    config: { backend: 'wasm', threads: 2, variant: 'fp32', resolution: '240x320' },
    status: 'ok',
    fps: 100,
    stages: Object.fromEntries(['capture', 'pre', 'infer', 'post', 'transfer', 'draw', 'e2e'].map((s) => [s, stage])),
    perFrame: { e2e: [9, 10, 13], infer: [8, 9, 12] },
    memory: [
      { frame: 0, heapUsed: 2 ** 20, bankBytes: 2 ** 20, bankTensors: 4 },
      { frame: 3, heapUsed: 2 ** 21, bankBytes: 2 ** 20, bankTensors: 4 },
    ],
    flatness: { memory: { heapUsed: { first: 2 ** 20, last: 2 ** 21 } } },
    compute: { studentGflops: 50, peakGflops: 100, ofPeak: 0.5 },
    jf: { summary: { 'J&F': 80.123 }, scorer: 'metrics_core' },
  };
  const results = {
    settings: { frames: 3, warmup: 5 },
    device: { hardwareConcurrency: 8, crossOriginIsolated: true, userAgent: 'UA' },
    clip: { name: 'bundled', sequences: [{ name: 'bench', frames: 50, width: 432, height: 240, objects: [1] }] },
    runs: [
      run,
      {
        config: { backend: 'webgpu', threads: 0, variant: 'fp16', resolution: '240x320' },
        status: 'skipped',
        reason: 'no adapter',
      },
    ],
  };
  const md = markdownTable(results);
  assert.match(md, /\| wasm 2t fp32 240x320 \| 100 \| 10\.0 \/ 12\.0 \/ 13\.0 \|/);
  assert.match(md, /\| 50% \| 80\.12 \| 1\.0 → 2\.0 \| 1\.0 \(4\) \|/);
  assert.match(md, /webgpu fp16 240x320 \| skipped: no adapter/);
  assert.match(md, /clip bundled \(bench 50×432x240, 1 object tracked\)/);
  const svgs = charts(results);
  for (const svg of Object.values(svgs)) assert.match(svg, /^<svg [^>]*>.*<\/svg>$/s);
});
