import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Stats } from '../../../web/src/ui/stats.js';

const WORK = { pre: 2, infer: 80, post: 2, draw: 1 }; // 85 ms of work per frame

test('fps is the achieved rate, capacity the rate the work allows', () => {
  const stats = new Stats();
  for (let i = 0; i < 11; i += 1) stats.add({ ...WORK, latency: 90 }, i * 100); // one frame every 100 ms
  assert.equal(stats.frames, 11);
  assert.ok(Math.abs(stats.fps - 10) < 1e-9);
  assert.ok(Math.abs(stats.capacity - 1000 / 85) < 1e-9);
});

test('capacity does not fall when frames arrive slower than the tracker could take them', () => {
  // Regression: the page paced a video by `fps`, which a slowed video caps, so every adjustment slowed it further.
  const fast = new Stats();
  const throttled = new Stats();
  for (let i = 0; i < 30; i += 1) {
    fast.add(WORK, i * 90);
    throttled.add(WORK, i * 500); // the video delivers 2 frames per second
  }
  assert.ok(Math.abs(throttled.fps - 2) < 1e-9 && fast.fps > 11);
  assert.equal(throttled.capacity, fast.capacity);
});

test('no frames, no rate: fps and capacity are 0 rather than NaN or Infinity', () => {
  const stats = new Stats();
  assert.equal(stats.fps, 0);
  assert.equal(stats.capacity, 0);
  stats.add(WORK, 0);
  assert.equal(stats.fps, 0); // one frame has no span
});
