import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Stats } from '../../../web/src/ui/stats.js';

const WORK = { pre: 2, infer: 80, post: 2, draw: 1 }; // 85 ms of work per frame

test('fps is the achieved rate over the window, stage times are means', () => {
  const stats = new Stats();
  for (let i = 0; i < 11; i += 1) stats.add({ ...WORK, latency: 90 }, i * 100); // one frame every 100 ms
  assert.equal(stats.frames, 11);
  assert.ok(Math.abs(stats.fps - 10) < 1e-9);
  assert.equal(stats.mean('infer'), 80);
  stats.resume(); // after a pause the span starts again
  assert.equal(stats.fps, 0);
});

test('no frames, no rate: fps is 0 rather than NaN or Infinity', () => {
  const stats = new Stats();
  assert.equal(stats.fps, 0);
  stats.add(WORK, 0);
  assert.equal(stats.fps, 0); // one frame has no span
});
