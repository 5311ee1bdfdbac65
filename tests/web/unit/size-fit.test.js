import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  FIRST_TRACK_MARGIN,
  fitSize,
  fitToDevice,
  INFERENCE_BUDGET_MS,
  REMEASURE_AFTER_MS,
  sameShape,
  sizeForFrame,
  sizeSettled,
  SizeRevisit,
  BLOCKED_WINDOWS,
  REVISIT_CALLS,
  STEP_UP_MARGIN,
  warmUp,
} from '../../../web/src/size-fit.js';
import { WARMUP_STEPS } from '../../../web/src/tracker.js';
import { readManifest } from '../helpers/models.js';

const shipped = readManifest(); // the default model: 4:3 sizes 208x272 to 480x640, and their 16:9 partners
const isDefault = (s) => Object.values(shipped.model.default_size).some(([h, w]) => s.height === h && s.width === w);
// the two backends' defaults alone (~5x the FLOPs at the larger): moving up and down between them
const manifest = { ...shipped, model: { ...shipped.model, sizes: shipped.model.sizes.filter(isDefault) } };
const ratio = manifest.model.sizes[1].flops[1] / manifest.model.sizes[0].flops[1];

test('the budget is 85% of a 30 FPS frame', () => {
  assert.ok(Math.abs(INFERENCE_BUDGET_MS - 28.33) < 0.01);
});

test('a CPU at 50 ms a frame at 240x320 keeps the smallest size and says that none fits', () => {
  const fit = fitSize(manifest, 1, [240, 320], 50);
  assert.deepEqual(fit.size, [240, 320]);
  assert.equal(fit.fits, false);
  assert.deepEqual(
    fit.predictions.map((p) => p.size),
    [
      [240, 320],
      [480, 640],
    ],
  );
  assert.ok(Math.abs(fit.predictions[1].ms - 50 * ratio) < 1e-9, 'scaled by the export FLOPs');
  assert.ok(
    fit.reason.includes(
      `240x320 measured 50 ms a frame (480x640 predicted ${Math.round(50 * ratio)} ms); none fits, so the smallest`,
    ),
    fit.reason,
  );
});

test('a device fast at 240x320 stays there when 480x640 is predicted over the budget', () => {
  const fit = fitSize(manifest, 1, [240, 320], 20); // 480x640 predicted ~97 ms
  assert.deepEqual(fit.size, [240, 320]);
  assert.equal(fit.fits, true);
});

test('a device that runs 240x320 in 5 ms is moved up to 480x640 (predicted 24 ms)', () => {
  const fit = fitSize(manifest, 1, [240, 320], 5);
  assert.deepEqual(fit.size, [480, 640]);
  assert.match(fit.reason, /the largest within 28 ms/);
});

test('a GPU too slow at 480x640 steps down to 240x320', () => {
  const fit = fitSize(manifest, 1, [480, 640], 60);
  assert.deepEqual(fit.size, [240, 320]);
  assert.ok(Math.abs(fit.predictions[0].ms - 60 / ratio) < 1e-9);
});

test('without FLOPs in the manifest the prediction scales with pixels', () => {
  const m = structuredClone(manifest);
  for (const s of m.model.sizes) delete s.flops;
  const fit = fitSize(m, 1, [240, 320], 7);
  assert.equal(fit.predictions[1].ms, 28);
  assert.deepEqual(fit.size, [480, 640]);
});

test("sizeSettled: the warm-up's second track call only where a faster one could change the size", () => {
  assert.equal(FIRST_TRACK_MARGIN, 2);
  const small = [240, 320];
  const large = [480, 640];
  // WASM at 240x320: 480x640 is out of reach even at half the time (50 -> 121 ms predicted; loaded: 300 ms)
  assert.equal(sizeSettled(manifest, 1, small, 50), true);
  assert.equal(sizeSettled(manifest, 1, small, 300), true);
  // near the line: 480x640 predicted 24 ms at 5 ms, so a first call of 8 ms (39 ms predicted) is not settled
  assert.equal(sizeSettled(manifest, 1, small, 8), false);
  assert.equal(sizeSettled(manifest, 1, small, 5), false, 'a move up is measured anyway, from a steady call');
  // a GPU at 480x640 that fits already stays at the largest size, however much faster a second call is
  assert.equal(sizeSettled(manifest, 1, large, 20), true);
  // one over the budget might step down: measured again
  assert.equal(sizeSettled(manifest, 1, large, 40), false);
  for (const ms of [3, 8, 20, 40, 50, 300]) {
    for (const size of [small, large]) {
      if (!sizeSettled(manifest, 1, size, ms)) continue;
      for (const steady of [ms, ms / 1.5, ms / 2]) {
        assert.deepEqual(fitSize(manifest, 1, size, steady).size, size, `${size} ${ms} -> ${steady}`);
      }
    }
  }
});

/** A stand-in for Tracker: `withManifest` moves it to another size, `prepare` returns that size's step time. */
function fakeTracker(msBySize, shape = [240, 320]) {
  return {
    shape,
    withManifest: (m) => fakeTracker(msBySize, m.frame.shape.slice(1, 3)),
    prepare: async () => ({ stepMs: msBySize[shape.join('x')] }),
  };
}

async function fit(msBySize, start, m = manifest) {
  const tracker = fakeTracker(msBySize, start);
  const timings = await tracker.prepare(1);
  return fitToDevice(m, 1, { tracker, timings, size: start });
}

test('fitToDevice keeps a step up only when the larger size measures within the budget', async () => {
  const up = await fit({ '240x320': 5, '480x640': 25 }, [240, 320]);
  assert.deepEqual(up.tracker.shape, [480, 640]);
  assert.equal(up.timings.stepMs, 25);
  assert.match(up.reason, /480x640 measured 25 ms$/);
  const back = await fit({ '240x320': 5, '480x640': 40 }, [240, 320]); // predicted 24, measured 40
  assert.deepEqual(back.tracker.shape, [240, 320]);
  assert.equal(back.timings.stepMs, 5);
  assert.match(back.reason, /but 480x640 measured 40 ms, so it stays$/);
});

test('fitToDevice steps a slow GPU down from 480x640, and measures nothing more when the size fits', async () => {
  const down = await fit({ '240x320': 15, '480x640': 60 }, [480, 640]);
  assert.deepEqual(down.tracker.shape, [240, 320]);
  const stay = await fit({ '240x320': 50 }, [240, 320]);
  assert.deepEqual(stay.tracker.shape, [240, 320]);
  assert.match(stay.reason, /none fits, so the smallest within 28 ms for 30 FPS$/);
});

// The shipped default model also has sizes below WASM's start (for CPUs that miss 30 FPS at 240x320) and 16:9 ones
const sizeOf = (h, w) => shipped.model.sizes.find((s) => s.height === h && s.width === w);
const costAt = (h, w) => sizeOf(h, w).flops[1] / sizeOf(240, 320).flops[1];

test('the default model is exported below 240x320 too (224x288, 208x272: ~0.83 and ~0.72 of its FLOPs)', () => {
  assert.ok(sizeOf(224, 288) && sizeOf(208, 272), shipped.model.sizes.map((s) => `${s.height}x${s.width}`).join());
  assert.ok(Math.abs(costAt(224, 288) - 0.83) < 0.02, String(costAt(224, 288)));
  assert.ok(Math.abs(costAt(208, 272) - 0.72) < 0.02, String(costAt(208, 272)));
});

test('a CPU that misses the budget at 240x320 steps down to the largest smaller size predicted within it', () => {
  // 32 ms at 240x320: 224x288 predicted ~26 ms, within 28
  const one = fitSize(shipped, 1, [240, 320], 32);
  assert.deepEqual(one.size, [224, 288]);
  assert.equal(one.fits, true);
  assert.deepEqual(
    one.predictions.map((p) => p.size),
    [
      [208, 272],
      [224, 288],
      [240, 320],
      [480, 640],
    ],
    'smallest first',
  );
  // 36 ms: only 208x272 (~26 ms) fits; 45 ms: nothing does, so the smallest, said so
  assert.deepEqual(fitSize(shipped, 1, [240, 320], 36).size, [208, 272]);
  const slow = fitSize(shipped, 1, [240, 320], 45);
  assert.deepEqual(slow.size, [208, 272]);
  assert.equal(slow.fits, false);
  assert.match(slow.reason, /208x272 predicted 32 ms/);
  assert.match(slow.reason, /none fits, so the smallest within 28 ms for 30 FPS$/);
  // a CPU within the budget at 240x320 stays there
  assert.deepEqual(fitSize(shipped, 1, [240, 320], 25).size, [240, 320]);
});

test('sizeSettled: a CPU over the budget at 240x320 always measures a second call (a steadier one may fit)', () => {
  assert.equal(sizeSettled(shipped, 1, [240, 320], 45), false);
  assert.equal(sizeSettled(shipped, 1, [240, 320], 20), true, 'within the budget, with 480x640 out of reach');
});

test('fitToDevice keeps a step down only when the smaller size measures faster', async () => {
  const down = await fit({ '240x320': 40, '208x272': 29 }, [240, 320], shipped);
  assert.deepEqual(down.tracker.shape, [208, 272]);
  assert.equal(down.timings.stepMs, 29);
  assert.match(down.reason, /none fits, so the smallest within 28 ms for 30 FPS; 208x272 measured 29 ms$/);
  const stay = await fit({ '240x320': 40, '208x272': 41 }, [240, 320], shipped);
  assert.deepEqual(stay.tracker.shape, [240, 320]);
  assert.match(stay.reason, /but 208x272 measured 41 ms, so it stays$/);
});

test('warmUp: a second look at the start size keeps what that measurement says; a forced size only warms up', async () => {
  assert.equal(REMEASURE_AFTER_MS, 3000);
  const again = async (msBySize) => {
    const tracker = fakeTracker(msBySize, [240, 320]);
    return warmUp(shipped, 1, tracker, [240, 320], { auto: true });
  };
  // warm now: 240x320 fits the budget, so the page goes back to it without measuring anything else
  const back = await again({ '240x320': 24 });
  assert.deepEqual(back.tracker.shape, [240, 320]);
  assert.match(back.reason, /^auto: 240x320 measured 24 ms a frame .*the largest within 28 ms for 30 FPS$/);
  // still slow: down to 208x272 again, measured
  const down = await again({ '240x320': 40, '208x272': 27 });
  assert.deepEqual(down.tracker.shape, [208, 272]);
  assert.match(down.reason, /; 208x272 measured 27 ms$/);
  // not auto (a forced size): the warm-up alone, at that size, with no reason to give
  const forced = await warmUp(shipped, 1, fakeTracker({ '240x320': 40 }), [240, 320]);
  assert.deepEqual([forced.tracker.shape, forced.timings.stepMs, forced.reason], [[240, 320], 40, '']);
});

test('sizeForFrame: a frame gets the size of its own shape that costs no more than the measured 4:3 one', () => {
  // each 4:3 size has 16:9, 3:4 and 9:16 partners of no more FLOPs, with the same memory grid (a 16:9 frame in a 4:3
  // input is a quarter grey bars; a portrait phone frame more than half)
  const rows = [
    // 4:3,       16:9,       3:4,        9:16
    [
      [208, 272],
      [176, 320],
      [272, 208],
      [320, 176],
    ],
    [
      [224, 288],
      [192, 336],
      [288, 224],
      [336, 192],
    ],
    [
      [240, 320],
      [208, 368],
      [320, 240],
      [368, 208],
    ],
    [
      [480, 640],
      [416, 736],
      [640, 480],
      [736, 416],
    ],
  ];
  for (const [four, sixteen, portrait, tall] of rows) {
    for (const size of [sixteen, portrait, tall]) {
      assert.ok(sizeOf(...size).flops[1] <= sizeOf(...four).flops[1], `${size} costs no more than ${four}`);
    }
    assert.deepEqual(sizeForFrame(shipped, 1, four, 854, 480), sixteen, `854x480 at ${four}`);
    assert.deepEqual(sizeForFrame(shipped, 2, four, 1280, 720), sixteen, `1280x720 at ${four}, two objects`);
    assert.deepEqual(sizeForFrame(shipped, 1, four, 640, 480), four, `640x480 at ${four}`);
    assert.deepEqual(sizeForFrame(shipped, 1, four, 480, 640), portrait, `a 3:4 portrait frame at ${four}`);
    assert.deepEqual(sizeForFrame(shipped, 1, four, 720, 1280), tall, `a 9:16 portrait frame at ${four}`);
  }
  // never a size that costs more: a 16:9 frame at 208x272 does not get 208x368
  assert.ok(sizeOf(208, 368).flops[1] > sizeOf(208, 272).flops[1]);
  // a square frame: the 4:3 size shows as much of it as any
  assert.deepEqual(sizeForFrame(shipped, 1, [240, 320], 500, 500), [240, 320]);
});

test("fitSize moves within the measured size's shape: a 16:9 size is never predicted from a 4:3 measurement", () => {
  const fit = fitSize(shipped, 1, [240, 320], 20);
  for (const { size } of fit.predictions) assert.ok(sameShape(size, [240, 320]), String(size));
  assert.equal(sameShape([176, 320], [208, 272]), false);
  assert.equal(sameShape([208, 272], [240, 320]), true);
});

/** Feed `revisit` n calls of `ms` each; returns the moves it asked for. */
function feed(revisit, n, ms) {
  const moves = [];
  for (let i = 0; i < n; i++) {
    const move = revisit.observe(typeof ms === 'function' ? ms(i) : ms);
    if (move) moves.push(move);
  }
  return moves;
}

test("SizeRevisit: a host that slows down while tracking steps down once a window's median is over the budget", () => {
  assert.equal(REVISIT_CALLS, 60);
  const revisit = new SizeRevisit(shipped, 1, [240, 320]);
  assert.deepEqual(feed(revisit, 10 * REVISIT_CALLS, 25), [], 'within the budget, 480x640 out of reach: it stays');
  // one slow call in four (a GC pause, another tab) moves nothing: the median
  assert.deepEqual(
    feed(revisit, REVISIT_CALLS, (i) => (i % 4 ? 25 : 80)),
    [],
  );
  assert.deepEqual(feed(revisit, REVISIT_CALLS - 1, 36), [], 'nothing before the window is full');
  const [down] = feed(revisit, 1, 36);
  assert.deepEqual(down.size, [208, 272]);
  assert.match(
    down.reason,
    /^while tracking, 240x320 took 36 ms a frame \(median of 60\), so 208x272 \(predicted 26 ms/,
  );
  assert.deepEqual(revisit.size, [208, 272]);
});

test('SizeRevisit: the calls right after a move are not counted, and a step up needs room and a size that has not failed lately', () => {
  const revisit = new SizeRevisit(shipped, 1, [240, 320]);
  feed(revisit, REVISIT_CALLS, 36); // down to 208x272
  // the new size's first calls are slow (buffers sized): not counted
  assert.deepEqual(feed(revisit, WARMUP_STEPS, 200), []);
  const up = (ms, [h, w]) => (ms * costAt(h, w)) / costAt(208, 272);
  // fast again: even 240x320 is predicted within STEP_UP_MARGIN of the budget, but a step up goes one size at a time
  // (224x288), and 240x320, which failed a moment ago, stays closed for BLOCKED_WINDOWS windows
  const fast = 16;
  assert.ok(up(fast, [240, 320]) <= INFERENCE_BUDGET_MS * STEP_UP_MARGIN, String(up(fast, [240, 320])));
  const [first] = feed(revisit, REVISIT_CALLS, fast);
  assert.deepEqual(first.size, [224, 288]);
  feed(revisit, WARMUP_STEPS, fast);
  assert.deepEqual(feed(revisit, (BLOCKED_WINDOWS - 2) * REVISIT_CALLS, fast), [], '240x320 closed');
  const [again] = feed(revisit, REVISIT_CALLS, fast);
  assert.deepEqual([again.size, revisit.windows], [[240, 320], 1 + BLOCKED_WINDOWS], 'open 5 windows after it failed');
  // within the margin but not 15% below the budget: no step up (it would measure over the budget and come back)
  const edge = new SizeRevisit(shipped, 1, [208, 272]);
  const justFits = (INFERENCE_BUDGET_MS * 0.95 * costAt(208, 272)) / costAt(224, 288);
  assert.ok(up(justFits, [224, 288]) > INFERENCE_BUDGET_MS * STEP_UP_MARGIN);
  assert.deepEqual(feed(edge, 3 * REVISIT_CALLS, justFits), []);
});

test('SizeRevisit: a host at the edge does not switch every window: a size that fails again is blocked twice as long', () => {
  assert.equal(BLOCKED_WINDOWS, 5);
  const revisit = new SizeRevisit(shipped, 1, [240, 320]);
  const sizes = [];
  const windows = [];
  // 240x320 takes 36 ms, 208x272 16 ms (its step up always predicted within the margin)
  const ms = () => (revisit.size[0] === 240 ? 36 : revisit.size[0] === 224 ? 30 : 16);
  for (let i = 0; i < 60 * REVISIT_CALLS; i++) {
    const move = revisit.observe(ms());
    if (move) sizes.push(`${move.size[0]}x${move.size[1]}`);
    if (move) windows.push(revisit.windows);
  }
  // 240 fails (it and larger sizes closed for 5 windows) -> 208, up to 224, which fails too (224 and up closed for 5)
  // -> 208 ... and each time 224 fails again it stays closed twice as long: 60 windows hold 9 moves, not 60
  assert.deepEqual(sizes, ['208x272', ...Array(4).fill(['224x288', '208x272']).flat()]);
  const ups = windows.filter((w, i) => sizes[i] === '224x288');
  assert.deepEqual(
    ups.slice(1).map((w, i) => w - ups[i]),
    [1, 2, 4].map((n) => n * BLOCKED_WINDOWS + 1),
    'the window 224x288 failed in, then closed 5, 10, 20 windows',
  );
});
