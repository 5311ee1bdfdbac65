/**
 * The Tracker's calls of the single graph, against a fake onnxruntime that records every feed: the annotate call
 * feeds the annotation's masks, the flag of `calls.annotate` and zero memory; each track call feeds the flag of
 * `calls.track`, one zero masks tensor made once, and the memory bank's slots. Every name comes from the manifest,
 * so a manifest with other names must drive the same calls.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { validateManifest } from '../../../web/src/manifest.js';
import { Tracker, WARMUP_STEPS } from '../../../web/src/tracker.js';

const [H, W, CK, CV, h, w] = [32, 48, 8, 16, 2, 3];

class FakeTensor {
  constructor(type, data, dims) {
    Object.assign(this, { type, data, dims, location: 'cpu', disposed: 0 });
  }
  dispose() {
    this.disposed += 1;
  }
}

/** A fake onnxruntime-web: sessions record their feeds and return outputs of the declared shapes. */
function fakeOrt() {
  const runs = [];
  const created = [];
  const size = (dims) => dims.reduce((a, b) => a * b, 1);
  class Session {
    constructor(graph, options) {
      Object.assign(this, { graph, options });
    }
    async run(feeds) {
      runs.push({ graph: this.graph.name, feeds });
      const outputs = {};
      for (const t of this.graph.outputs) {
        const out = new FakeTensor(t.dtype, new Float32Array(size(t.shape)).fill(runs.length), t.shape);
        if (this.options.preferredOutputLocation?.[t.name]) out.location = 'gpu-buffer';
        outputs[t.name] = out;
      }
      return outputs;
    }
    async release() {}
  }
  const ort = {
    Tensor: FakeTensor,
    InferenceSession: {
      create: async (graph, options) => {
        created.push(graph.name);
        return new Session(graph, options);
      },
    },
  };
  return { ort, runs, created };
}

/** A schema-2 manifest for capacities 1 and 2 whose every name differs from the exporter's (and whose free-text
 * fields, which the schema requires but the app does not read, say only what they are). */
function renamedManifest() {
  const tensor = (name, shape) => ({ name, shape, dtype: 'float32', meaning: name });
  const graph = (k) => ({
    name: `g${k}`,
    capacity: k,
    variant: 'fp32',
    file: `g${k}.onnx`,
    bytes: 1,
    sha256: '0'.repeat(64),
    opset: 18,
    nodes: 1,
    ops: { Conv: 1 },
    inputs: [
      tensor('img', [1, H, W, 4]),
      tensor('obj_masks', [1, k, H, W]),
      tensor('is_annotation', [1]),
      tensor('ka', [1, CK, h, w]),
      tensor('va', [1, k, CV, h, w]),
      tensor('kr', [1, CK, h, w]),
      tensor('vr', [1, k, CV, h, w]),
      tensor('in_use', [1, k]),
    ],
    outputs: [tensor('p', [1, k + 1, H, W]), tensor('k_out', [1, CK, h, w]), tensor('v_out', [1, k, CV, h, w])],
  });
  return validateManifest({
    schema_version: 3,
    name: 'renamed',
    model: {
      height: H,
      width: W,
      stride: 16,
      key_dim: CK,
      value_dim: CV,
      memory_height: h,
      memory_width: w,
      sizes: [{ height: H, width: W, memory_height: h, memory_width: w }],
      default_size: { wasm: [H, W], webgpu: [H, W] },
    },
    frame: {
      input: 'img',
      shape: [1, H, W, 4],
      dtype: 'float32',
      layout: 'NHWC',
      channels: 'RGBA',
      range: [0, 255],
      browser: 'browser',
      resize: 'resize',
      normalisation: 'normalisation',
    },
    objects: { capacities: [1, 2], masks_input: 'obj_masks', valid_input: 'in_use', rule: 'rule' },
    calls: {
      input: 'is_annotation',
      annotate: { value: 1, masks: 'annotation', memory: 'zeros', prob: 'ignore', meaning: 'annotate' },
      track: { value: 0, masks: 'zeros', memory: 'slots', prob: 'result', meaning: 'track' },
      rule: 'rule',
    },
    output: { name: 'p', channels: 'channels', mask: 'mask', resize: 'resize' },
    memory: {
      slots: [
        { name: 'anchor', key: 'ka', value: 'va', meaning: 'anchor' },
        { name: 'recent', key: 'kr', value: 'vr', meaning: 'recent' },
      ],
      entry: { key: 'k_out', value: 'v_out' },
      update: { annotate: ['anchor', 'recent'], track: ['recent'] },
      rule: 'rule',
    },
    graphs: [graph(1), graph(2)],
    variants: { fp32: { targets: ['webgpu', 'wasm'] } },
    checkpoint: { path: 'student.safetensors', sha256: '0'.repeat(64), bytes: 1, config: {}, training: null },
    versions: { torch: 'torch', onnx: 'onnx', onnxruntime: 'onnxruntime', opset: 18 },
  });
}

const frame = () => new Uint8ClampedArray(H * W * 4).fill(7);
const labels = (numObjects) => Uint8Array.from({ length: H * W }, (_, p) => (p % 3 < numObjects ? (p % 3) + 1 : 0));
const isZero = (t) => t.data.every((v) => v === 0);

for (const backend of ['wasm', 'webgpu']) {
  test(`${backend}: start is the annotate call, step the track call, with the manifest's names and rules`, async () => {
    const manifest = renamedManifest();
    const { ort, runs, created } = fakeOrt();
    const tracker = new Tracker(ort, manifest, { backend, variant: 'fp32', loadModel: async (g) => g });
    await tracker.start(frame(), labels(2), 2);
    assert.equal(tracker.capacity, 2);
    assert.deepEqual(created, ['g2'], 'one session: the graph of the smallest capacity holding 2 objects');

    const annotate = runs[0].feeds;
    assert.deepEqual(Object.keys(annotate).sort(), [
      'img',
      'in_use',
      'is_annotation',
      'ka',
      'kr',
      'obj_masks',
      'va',
      'vr',
    ]);
    assert.deepEqual([...annotate.is_annotation.data], [1]);
    assert.deepEqual([...annotate.in_use.data], [1, 1]);
    assert.deepEqual(annotate.obj_masks.dims, [1, 2, H, W]);
    assert.equal(annotate.obj_masks.data[0], 1, 'pixel 0 is object 1');
    assert.equal(annotate.obj_masks.data[H * W + 1], 1, 'pixel 1 is object 2');
    assert.equal(
      annotate.obj_masks.data.reduce((a, b) => a + b, 0),
      labels(2).filter((v) => v > 0).length,
    );
    for (const name of ['ka', 'va', 'kr', 'vr'])
      assert.ok(isZero(annotate[name]), `${name}: zeros in the annotate call`);
    const entry = tracker.memory.feeds();
    assert.equal(entry.ka, entry.kr, 'both slots hold the annotated entry');
    assert.equal(entry.ka.location, backend === 'webgpu' ? 'gpu-buffer' : 'cpu');

    const steps = [];
    for (let i = 0; i < 3; i++) {
      const slots = tracker.memory.feeds();
      await tracker.step(frame());
      const feeds = runs.at(-1).feeds;
      steps.push(feeds);
      assert.deepEqual([...feeds.is_annotation.data], [0]);
      assert.ok(isZero(feeds.obj_masks));
      for (const name of ['ka', 'va', 'kr', 'vr']) assert.equal(feeds[name], slots[name], `${name}: the memory slot`);
    }
    assert.equal(steps[0].obj_masks, steps[2].obj_masks, 'one zero masks tensor, made once and reused');
    assert.equal(steps[0].is_annotation, steps[2].is_annotation);
    assert.equal(tracker.memory.feeds().ka, entry.ka, 'the annotated entry stays in the first slot');
    assert.equal(created.length, 1);

    await tracker.start(frame(), labels(1), 1); // re-annotation with one object: the capacity-1 graph
    assert.deepEqual(created, ['g2', 'g1']);
    assert.deepEqual(runs.at(-1).feeds.obj_masks.dims, [1, 1, H, W]);
    assert.deepEqual([...runs.at(-1).feeds.is_annotation.data], [1]);
    if (backend === 'webgpu') assert.equal(entry.ka.disposed, 1, 'the old entry is released once');
    await tracker.release();
  });
}

test('prepare creates one session per capacity and warms it up with an annotate and three track calls', async () => {
  const { ort, runs, created } = fakeOrt();
  const tracker = new Tracker(ort, renamedManifest(), { backend: 'wasm', variant: 'fp32', loadModel: async (g) => g });
  const timings = await tracker.prepare(1);
  assert.ok(timings.sessionMs >= 0 && timings.warmupMs >= timings.stepMs && timings.stepMs >= 0);
  assert.deepEqual(created, ['g1']);
  assert.deepEqual(
    runs.map((r) => r.feeds.is_annotation.data[0]),
    [1, 0, 0, 0],
  );
  assert.equal(WARMUP_STEPS, 3);
  assert.ok(tracker.hasSession(1) && !tracker.hasSession(2));
  assert.equal(tracker.memory.ready, false, 'the warm-up leaves no memory behind');
  await assert.rejects(tracker.step(frame()), /annotate a frame/);
  assert.equal(timings.runsMs.length, 4);
  assert.equal(timings.stepMs, Math.min(...timings.runsMs.slice(1)));
  assert.ok(timings.readMs >= 0 && timings.createMs >= 0, 'the graph was created by this call');
});

test('prepare stops its track calls as soon as the fastest so far settles what its caller needs', async () => {
  const { ort, runs } = fakeOrt();
  const marks = [];
  const tracker = new Tracker(ort, renamedManifest(), {
    backend: 'wasm',
    variant: 'fp32',
    loadModel: async (g) => g,
    mark: (name, detail) => marks.push([name, detail.file]),
  });
  const asked = [];
  const timings = await tracker.prepare(2, { settled: (ms) => (asked.push(ms), true) });
  assert.deepEqual(
    runs.map((r) => r.feeds.is_annotation.data[0]),
    [1, 0],
    'an annotate call and one track call',
  );
  assert.deepEqual(asked, [timings.runsMs[1]]);
  assert.deepEqual([timings.runsMs.length, timings.stepMs], [2, timings.runsMs[1]]);
  assert.deepEqual(marks, [
    ['session', 'g2.onnx'],
    ['warm-up', 'g2.onnx'],
  ]);
  await tracker.prepare(2, { settled: () => false });
  assert.equal(runs.length, 6, 'never settled: three track calls');
  // settled from the second call on: two track calls, each call asked about the fastest so far
  const seen = [];
  const two = await tracker.prepare(2, { settled: (ms) => (seen.push(ms), seen.length === 2) });
  assert.equal(runs.length, 9, 'an annotate call and two track calls');
  assert.deepEqual(seen, [two.runsMs[1], Math.min(two.runsMs[1], two.runsMs[2])]);
  assert.deepEqual(marks.at(-1), ['warm-up', 'g2.onnx'], 'the session existed: only the warm-up is marked');
});

test("carry: the annotated frame annotated again, then the latest frame's entry from its labels in the track slots", async () => {
  const { ort, runs } = fakeOrt();
  const tracker = new Tracker(ort, renamedManifest(), { backend: 'wasm', variant: 'fp32', loadModel: async (g) => g });
  const latest = { rgba: new Uint8ClampedArray(H * W * 4).fill(9), labels: labels(1) };
  await tracker.carry({ rgba: frame(), labels: labels(2) }, latest, 2, 2, 17);
  assert.equal(runs.length, 2, 'two calls, both annotate calls');
  assert.deepEqual(
    runs.map((r) => [r.feeds.is_annotation.data[0], r.feeds.img.data[0], r.feeds.obj_masks.data[1 + H * W]]),
    [
      [1, 7, 1],
      [1, 9, 0],
    ],
    'the annotated frame with its two objects, then the latest frame with its own labels (object 2 lost there)',
  );
  const slots = tracker.memory.feeds();
  assert.equal(slots.ka.data[0], 1, "the first call's entry in the anchor slot");
  assert.equal(slots.kr.data[0], 2, "the second call's entry where a track call's goes");
  assert.deepEqual([tracker.frameIndex, tracker.numObjects, tracker.capacity], [17, 2, 2]);
  await tracker.step(frame());
  assert.equal(runs.at(-1).feeds.kr, slots.kr, 'the next track call reads it');
  // carried right after the annotation (no frame tracked yet): the annotate call alone
  await tracker.carry({ rgba: frame(), labels: labels(1) }, latest, 1, 1, 0);
  assert.equal(runs.length, 4);
  await assert.rejects(
    tracker.carry({ rgba: frame(), labels: labels(1) }, { rgba: frame(), labels: new Uint8Array(3) }, 1, 1, 5),
    /model resolution/,
  );
});
