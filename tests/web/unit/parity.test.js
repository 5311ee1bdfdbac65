/**
 * Replays the export's parity fixtures (fixtures/index.json beside manifest.json) through the app's own Tracker and
 * memory bank (web/src/parity.js) on onnxruntime-web's WASM backend in node — the same runtime and kernels as the
 * browser's WASM path — and compares every stored output with what Python's onnxruntime produced. The calls run as
 * the manifest's memory rule says (init, then steps fed by the bank), so a wrong slot update shows in the step outputs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';

import * as ort from 'onnxruntime-web';

import { validateManifest } from '../../../web/src/manifest.js';
import { checkGraphBytes } from '../../../web/src/model-loader.js';
import { pngToRgba, runParity } from '../../../web/src/parity.js';
import { decodePng } from '../../../web/src/mask-encoding.js';
import { Tracker } from '../../../web/src/tracker.js';
import { modelDir } from '../helpers/models.js';

const FP32_MAX_ABS_PROB = 1e-3; // the bound for fp32 prob; the fixtures' own atol/rtol is applied to every value too

let dir;
let manifest;
let index;

before(() => {
  dir = modelDir();
  manifest = validateManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  index = JSON.parse(readFileSync(join(dir, manifest.fixtures || 'fixtures/index.json'), 'utf8'));
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
});

const readFixture = async (name) => new Uint8Array(await readFile(join(dir, 'fixtures', name)));
const loadModel = async (graph) => {
  const bytes = new Uint8Array(await readFile(join(dir, graph.file)));
  const problem = await checkGraphBytes(graph, bytes);
  if (problem) throw new Error(problem);
  return bytes;
};

test('fp32 graphs on onnxruntime-web WASM reproduce the Python outputs of every fixture call', async (t) => {
  const [, height, width] = manifest.frame.shape;
  assert.deepEqual(index.size, [height, width], 'fixtures are at model resolution');
  const tracker = new Tracker(ort, manifest, { backend: 'wasm', variant: index.variant, loadModel });
  try {
    const rows = await runParity(tracker, index, readFixture);
    assert.equal(
      rows.length,
      index.runs.reduce((n, r) => n + r.calls.reduce((m, c) => m + Object.keys(c.outputs).length, 0), 0),
    );
    for (const row of rows) {
      t.diagnostic(
        `K=${row.capacity} ${row.graph} frame ${row.frame} ${row.output}: max |diff| ${row.maxAbs.toExponential(2)}, ` +
          `${row.outside} of ${row.count} outside tolerance${row.maskPixelsDiffering !== undefined ? `, ${row.maskPixelsDiffering} mask pixels differ` : ''}`,
      );
      assert.ok(row.sizeMatches, `${row.graph} ${row.output} has the expected size`);
      assert.equal(row.outside, 0, `${row.graph} frame ${row.frame} ${row.output}: values outside tolerance`);
      if (row.output === manifest.output.name) {
        assert.ok(row.maxAbs <= FP32_MAX_ABS_PROB, `prob max abs diff ${row.maxAbs} > ${FP32_MAX_ABS_PROB}`);
        assert.equal(row.maskPixelsDiffering, 0, 'argmax masks agree wherever the reference is decisive');
      }
    }
  } finally {
    await tracker.release();
  }
});

async function fixtureClip() {
  const frames = await Promise.all(index.frames.map(async (n) => pngToRgba(await readFixture(n))));
  const annotation = decodePng(await readFixture(index.annotation)).samples;
  return { frames, annotation };
}

test('every exported WASM variant tracks the fixture clip; int8 stays close to fp32', async (t) => {
  const { frames, annotation } = await fixtureClip();
  const run = index.runs[0];
  const labels = annotation.map((v) => run.objects.indexOf(v) + 1);
  const results = {};
  for (const variant of Object.keys(manifest.variants)) {
    const targets = manifest.variants[variant].targets || [];
    if (!targets.includes('wasm')) continue;
    const tracker = new Tracker(ort, manifest, { backend: 'wasm', variant, loadModel });
    await tracker.start(frames[0], labels, run.objects.length, run.capacity);
    results[variant] = [];
    for (const frame of frames.slice(1)) results[variant].push((await tracker.step(frame)).prob.slice());
    await tracker.release();
  }
  for (const [variant, probs] of Object.entries(results)) {
    let maxAbs = 0;
    let meanAbs = 0;
    probs.forEach((p, i) => {
      assert.ok(p.every(Number.isFinite), `${variant} prob is finite`);
      for (let j = 0; j < p.length; j++) {
        const d = Math.abs(p[j] - results.fp32[i][j]);
        maxAbs = Math.max(maxAbs, d);
        meanAbs += d / (p.length * probs.length);
      }
    });
    t.diagnostic(
      `${variant}: |prob - fp32 prob| max ${maxAbs.toExponential(2)}, mean ${meanAbs.toExponential(2)} over ${probs.length} steps`,
    );
    if (variant === 'int8') assert.ok(meanAbs < 0.05, 'int8 is a quantised fp32, not another model');
  }
});

test('the tracker keeps a constant memory over many steps and releases replaced entries', async () => {
  const { frames, annotation } = await fixtureClip();
  const labels = annotation.map((v) => (v === 1 ? 1 : 0));
  const tracker = new Tracker(ort, manifest, { backend: 'wasm', variant: 'fp32', loadModel });
  await tracker.start(frames[0], labels, 1);
  const initBytes = tracker.memory.bytes; // one entry, in two slots
  const first = tracker.memory.feeds()[manifest.memory.slots[0].key];
  const probs = [];
  for (let i = 0; i < 12; i++) {
    const { prob } = await tracker.step(frames[1 + (i % (frames.length - 1))]);
    probs.push(prob);
    assert.equal(tracker.memory.bytes, 2 * initBytes, 'two entries, whatever the number of frames');
    assert.equal(tracker.memory.tensors().size, 4);
  }
  assert.equal(tracker.memory.feeds()[manifest.memory.slots[0].key], first, 'the first-frame entry is never replaced');
  assert.equal(tracker.memory.disposed, 2 * 11, 'each step after the first released the entry it replaced');
  assert.notEqual(probs[0].buffer, probs[1].buffer, 'each step returns its own prob array');
  await tracker.release();
});
