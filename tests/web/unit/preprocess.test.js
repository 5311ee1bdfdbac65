import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { countObjects, frameData, objectMasks, resizeLabelsNearest, validFlags } from '../../../web/src/preprocess.js';

const cases = JSON.parse(readFileSync(new URL('./fixtures/nearest-cv2.json', import.meta.url), 'utf8'));

test('nearest resize of label images equals OpenCV INTER_NEAREST (the Python tracker) exactly', () => {
  for (const c of cases) {
    const out = resizeLabelsNearest(Uint8Array.from(c.src), c.src_width, c.src_height, c.dst_width, c.dst_height);
    assert.deepEqual(Array.from(out), c.expected, `${c.src_width}x${c.src_height} -> ${c.dst_width}x${c.dst_height}`);
  }
});

test('same-size resize copies; a wrong size is an error', () => {
  const src = Uint8Array.from([1, 2, 3, 4]);
  const out = resizeLabelsNearest(src, 2, 2, 2, 2);
  assert.deepEqual(Array.from(out), [1, 2, 3, 4]);
  assert.notEqual(out, src);
  assert.throws(() => resizeLabelsNearest(src, 3, 2, 1, 1), /does not match/);
});

test('object masks: one 0/1 plane per object in slot order, padding slots zero, void ignored', () => {
  const labels = Uint8Array.from([0, 1, 2, 255, 2, 1]);
  const masks = objectMasks(labels, 2, 4);
  assert.equal(masks.length, 4 * 6);
  assert.deepEqual(Array.from(masks.subarray(0, 6)), [0, 1, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(masks.subarray(6, 12)), [0, 0, 1, 0, 1, 0]);
  assert.deepEqual(Array.from(masks.subarray(12)), new Array(12).fill(0));
  assert.throws(() => objectMasks(labels, 3, 2), /do not fit/);
  assert.deepEqual(Array.from(validFlags(2, 4)), [1, 1, 0, 0]);
  assert.equal(countObjects(labels), 2);
});

test('frame data is the RGBA bytes as float32, checked against the manifest shape', () => {
  const manifest = { frame: { shape: [1, 2, 3, 4] } };
  const rgba = Uint8ClampedArray.from({ length: 24 }, (_, i) => i * 10);
  const data = frameData(rgba, manifest);
  assert.ok(data instanceof Float32Array);
  assert.deepEqual(Array.from(data), Array.from(rgba));
  assert.throws(() => frameData(new Uint8ClampedArray(8), manifest), /the model takes 2x3x4/);
});
