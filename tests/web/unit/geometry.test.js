import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { letterbox, letterboxLabels, maskFileName, maskFit, nativeLabels } from '../../../web/src/geometry.js';

const upsampleCases = JSON.parse(readFileSync(new URL('./fixtures/upsample-torch.json', import.meta.url), 'utf8'));

test('letterbox keeps the aspect ratio and centres the frame in the 320x240 input', () => {
  assert.deepEqual(letterbox(640, 480, 320, 240), { x: 0, y: 0, width: 320, height: 240 }); // 4:3 fills it
  assert.deepEqual(letterbox(1920, 1080, 320, 240), { x: 0, y: 30, width: 320, height: 180 }); // 16:9: bars top/bottom
  assert.deepEqual(letterbox(854, 480, 320, 240), { x: 0, y: 30, width: 320, height: 180 }); // DAVIS (179.9 -> 180)
  assert.deepEqual(letterbox(480, 854, 320, 240), { x: 92, y: 0, width: 135, height: 240 }); // portrait: bars left/right
  assert.deepEqual(letterbox(100, 100, 320, 240), { x: 40, y: 0, width: 240, height: 240 });
  for (const [w, h] of [
    [1920, 1080],
    [854, 480],
    [480, 854],
    [1000, 333],
    [7, 3000],
  ]) {
    const box = letterbox(w, h, 320, 240);
    const scale = Math.min(320 / w, 240 / h);
    assert.ok(
      Math.abs(box.width - w * scale) <= 0.5 && Math.abs(box.height - h * scale) <= 0.5,
      `${w}x${h}: one scale, rounded`,
    );
    assert.ok(box.x + box.width <= 320 && box.y + box.height <= 240 && (box.width === 320 || box.height === 240));
  }
  assert.throws(() => letterbox(0, 480, 320, 240), /positive integers/);
});

test('letterboxed labels: nearest inside the box, background in the padding', () => {
  // a 4x2 frame (2:1) into an 4x4 input: box 4x2 at y = 1
  const labels = Uint8Array.from([1, 1, 2, 2, 1, 0, 0, 2]);
  const box = letterbox(4, 2, 4, 4);
  assert.deepEqual(box, { x: 0, y: 1, width: 4, height: 2 });
  assert.deepEqual(
    Array.from(letterboxLabels(labels, 4, 2, box, 4, 4)),
    [0, 0, 0, 0, 1, 1, 2, 2, 1, 0, 0, 2, 0, 0, 0, 0],
  );
  // 8x4 -> box 4x2: every other pixel (OpenCV INTER_NEAREST picks floor(x * 2))
  const big = Uint8Array.from({ length: 32 }, (_, i) => i % 8);
  assert.deepEqual(Array.from(letterboxLabels(big, 8, 4, box, 4, 4).subarray(4, 12)), [0, 2, 4, 6, 0, 2, 4, 6]);
  assert.throws(() => letterboxLabels(labels, 3, 2, box, 4, 4), /does not match/);
});

test('native labels = argmax of PyTorch bilinear interpolation of the letterbox crop (align_corners=False)', () => {
  for (const c of upsampleCases) {
    const out = nativeLabels(
      Float32Array.from(c.prob),
      c.channels,
      c.in_width,
      c.in_height,
      c.box,
      c.out_width,
      c.out_height,
    );
    assert.deepEqual(
      Array.from(out),
      c.expected,
      `${c.channels} channels, box ${JSON.stringify(c.box)} -> ${c.out_width}x${c.out_height}`,
    );
  }
});

test('native labels undo the letterbox: a mask letterboxed and mapped back is the mask again', () => {
  const [w, h] = [1280, 720];
  const labels = new Uint8Array(w * h);
  for (let y = 200; y < 520; y++) labels.fill(1, y * w + 300, y * w + 700); // a 400x320 object
  for (let y = 100; y < 300; y++) labels.fill(2, y * w + 900, y * w + 1100);
  const box = letterbox(w, h, 320, 240); // scale 1/4: every edge lands on a model pixel boundary
  const small = letterboxLabels(labels, w, h, box, 320, 240);
  const prob = new Float32Array(3 * 320 * 240);
  small.forEach((l, p) => {
    prob[l * 320 * 240 + p] = 1;
  });
  const back = nativeLabels(prob, 3, 320, 240, box, w, h);
  let differ = 0;
  for (let p = 0; p < back.length; p++) if (back[p] !== labels[p]) differ += 1;
  // bilinear edges may move by at most the half model pixel (2 native px) on each side of each edge
  assert.ok(differ <= 2 * 2 * (2 * (400 + 320) + 2 * (200 + 200)), `${differ} pixels differ`);
  assert.equal(back[400 * w + 500], 1);
  assert.equal(back[200 * w + 1000], 2);
  assert.equal(back[10 * w + 10], 0);
  assert.throws(() => nativeLabels(prob, 3, 320, 240, { x: 0, y: 100, width: 320, height: 180 }, w, h), /outside/);
});

test('mask fit: same size, same aspect (scaled), another aspect', () => {
  assert.equal(maskFit(640, 480, 640, 480), 'same');
  assert.equal(maskFit(320, 240, 640, 480), 'scaled');
  assert.equal(maskFit(427, 240, 854, 480), 'scaled'); // half of DAVIS's 854x480, rounded
  assert.equal(maskFit(1920, 1080, 854, 480), 'scaled');
  assert.equal(maskFit(320, 240, 854, 480), 'other-aspect');
  assert.equal(maskFit(640, 360, 640, 480), 'other-aspect');
  assert.equal(maskFit(480, 640, 640, 480), 'other-aspect');
});

test('mask files are named by the frame index, DAVIS style', () => {
  assert.equal(maskFileName(0), '00000.png');
  assert.equal(maskFileName(42), '00042.png');
  assert.equal(maskFileName(123456), '123456.png');
  assert.throws(() => maskFileName(-1), /non-negative/);
  assert.throws(() => maskFileName(1.5), /non-negative/);
});
