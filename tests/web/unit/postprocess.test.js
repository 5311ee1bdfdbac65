import assert from 'node:assert/strict';
import { test } from 'node:test';

import { argmaxLabels, frameSignature, labelAreas, overlayRgba } from '../../../web/src/postprocess.js';

test('argmax over background + objects, padding channels ignored, ties go to the lower channel', () => {
  const plane = 4;
  // K = 3 capacity (4 channels), 2 objects in use; channel 3 (padding) would win but must be ignored
  const prob = Float32Array.from([
    0.5,
    0.1,
    0.2,
    0.4, // background
    0.3,
    0.6,
    0.2,
    0.3, // object 1
    0.2,
    0.3,
    0.6,
    0.3, // object 2
    0.9,
    0.9,
    0.9,
    0.9, // padding slot
  ]);
  assert.deepEqual(Array.from(argmaxLabels(prob, 2, plane)), [0, 1, 2, 0]);
  const two = Float32Array.from([0.5, 0.4, 0.5, 0.5, 0.6, 0.5]);
  assert.deepEqual(Array.from(argmaxLabels(two, 1, 3)), [0, 1, 0]);
  assert.throws(() => argmaxLabels(two, 2, 3), /fewer channels/);
});

test('overlay: transparent background, translucent fill, opaque outline in the object colour', () => {
  const w = 5;
  const h = 5;
  const labels = new Uint8Array(w * h);
  for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) labels[y * w + x] = 1;
  const rgba = overlayRgba(labels, w, h, [[10, 20, 30]], { fillAlpha: 100 });
  const px = (x, y) => Array.from(rgba.subarray((y * w + x) * 4, (y * w + x) * 4 + 4));
  assert.deepEqual(px(0, 0), [0, 0, 0, 0]);
  assert.deepEqual(px(2, 2), [10, 20, 30, 100]);
  assert.deepEqual(px(1, 2), [10, 20, 30, 255]);
  assert.deepEqual(px(3, 3), [10, 20, 30, 255]);
  const plain = overlayRgba(labels, w, h, [[10, 20, 30]], { fillAlpha: 100, outline: false });
  assert.equal(plain[(2 * w + 1) * 4 + 3], 100);
});

test('frame signature: block means of the luma; areas per object', () => {
  const w = 4;
  const h = 2;
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let p = 0; p < w * h; p++) rgba.fill(p % w < 2 ? 0 : 200, p * 4, p * 4 + 3);
  assert.deepEqual(frameSignature(rgba, w, h, 2, 1), [0, 200]);
  assert.deepEqual(labelAreas(Uint8Array.from([0, 1, 1, 2, 0]), 2), [2, 1]);
});
