/**
 * The page's model size by measurement: the largest exported size whose predicted inference time keeps 30 FPS on
 * this device, from one measured track call at the backend's default size.
 *
 * The graphs take any size, so the prediction scales the measured time by the export's FLOPs per size (pixels when
 * the manifest has no FLOPs). FLOPs are not time (WASM's depthwise convolutions run at a fifth of its MatMul rate),
 * which is why a step to another size is measured again before it is kept (fitToDevice). The measurement moves
 * between sizes of one shape (4:3-like: 240x320, 224x288, 208x272, 480x640); the frame's aspect then picks a size of
 * another shape at no more cost where it shows more of the frame (sizeForFrame: a 16:9 video in a 4:3 input spends a
 * quarter of the frame on grey bars).
 */

/** Inference time a frame may take for 30 FPS end to end: 85% of 33.3 ms, the rest for the page's pre-processing,
 * post-processing and drawing (~3 ms a frame at 240×320 in `npm run bench`). */
export const INFERENCE_BUDGET_MS = (1000 / 30) * 0.85;

import { median } from './bench/stats.js';
import { letterbox } from './geometry.js';
import { atSize } from './manifest.js';
import { WARMUP_STEPS } from './tracker.js';

const key = ([h, w]) => `${h}x${w}`;

/** Aspect ratios within this factor are one shape: 4:3 (1.33) with 224x288 (1.29) and 208x272 (1.31); 16:9 (1.78)
 * with 176x320 (1.82) and 192x336 (1.75). */
const SAME_SHAPE = 1.15;
/** Do sizes [h, w] and [h2, w2] have one shape (SAME_SHAPE)? */
export const sameShape = ([h1, w1], [h2, w2]) => Math.abs(Math.log(w1 / h1 / (w2 / h2))) < Math.log(SAME_SHAPE);

/** The cost the export recorded for a size at `capacity`: FLOPs when known, else pixels (both only as ratios). */
function cost(manifest, [h, w], capacity) {
  const entry = manifest.model.sizes.find((s) => s.height === h && s.width === w);
  return entry?.flops?.[capacity] ?? h * w;
}

/**
 * Predict the inference time of every exported size of `measured`'s shape ([h, w]) from `ms` measured there, and
 * pick the largest predicted to fit `budgetMs`, else the smallest. Returns {size, fits, predictions: [{size, ms}]
 * smallest first, reason}.
 */
export function fitSize(manifest, capacity, measured, ms, budgetMs = INFERENCE_BUDGET_MS) {
  const base = cost(manifest, measured, capacity);
  const predictions = manifest.model.sizes
    .filter((s) => sameShape([s.height, s.width], measured))
    .map((s) => ({ size: [s.height, s.width], ms: (ms * cost(manifest, [s.height, s.width], capacity)) / base }))
    .sort((a, b) => a.size[0] * a.size[1] - b.size[0] * b.size[1]);
  const fitting = predictions.filter((p) => p.ms <= budgetMs);
  const pick = fitting.at(-1) ?? predictions[0];
  const others = predictions
    .filter((p) => key(p.size) !== key(measured))
    .map((p) => `${key(p.size)} predicted ${p.ms.toFixed(0)} ms`);
  const reason =
    `auto: ${key(measured)} measured ${ms.toFixed(0)} ms a frame` +
    (others.length ? ` (${others.join(', ')})` : '') +
    `; ${fitting.length ? 'the largest' : 'none fits, so the smallest'} within ${budgetMs.toFixed(0)} ms for 30 FPS`;
  return { size: pick.size, fits: fitting.length > 0, predictions, reason };
}

/**
 * The exported size that shows a `frameWidth` x `frameHeight` frame best at no more cost than `size` (Auto's measured
 * choice) for a graph of `capacity`: of the sizes whose FLOPs are at most `size`'s, the one whose letterbox box holds
 * the most frame pixels, `size` itself on a tie. The memory grid goes with the FLOPs (208x368: 13x23 cells, 240x320:
 * 15x20), so no size is measured again.
 */
export function sizeForFrame(manifest, capacity, size, frameWidth, frameHeight) {
  const budget = cost(manifest, size, capacity);
  const seen = ([h, w]) => {
    const box = letterbox(frameWidth, frameHeight, w, h);
    return box.width * box.height;
  };
  let best = size;
  for (const s of manifest.model.sizes) {
    const candidate = [s.height, s.width];
    if (cost(manifest, candidate, capacity) <= budget && seen(candidate) > seen(best)) best = candidate;
  }
  return best;
}

/** How much faster than the warm-up's fastest track call so far a steady one may be (session 18, Balanced on WASM at
 * 240x320: the first track call 42-48 ms where the second took 24-26 in five loads of a one-off script; the
 * first-mask bench's warmupStep1Ms..3Ms report each call). */
export const FIRST_TRACK_MARGIN = 2;

/**
 * Is the size choice at `size` settled by the warm-up's fastest track call so far, `ms`, so that a further one
 * (Tracker.prepare) could not change it? True when fitSize keeps `size` whether a steady call takes `ms` or up to
 * FIRST_TRACK_MARGIN times less (a faster one can only make larger sizes fit, or keep a size a slow call would leave;
 * a slower one is not possible, `stepMs` being the fastest).
 */
export function sizeSettled(manifest, capacity, size, ms, budgetMs = INFERENCE_BUDGET_MS) {
  const keeps = (t) => fitSize(manifest, capacity, size, t, budgetMs).size.join() === size.join();
  return keeps(ms) && keeps(ms / FIRST_TRACK_MARGIN);
}

/**
 * 'auto' size: from the default size's measured track call, move to the largest exported size predicted to keep
 * 30 FPS (fitSize). The move is measured too and kept only if it holds: a step up must fit the budget, a step
 * down must be faster. Returns {tracker, timings, reason} of the size kept.
 */
export async function fitToDevice(manifest, capacity, current, progress = () => {}) {
  const fit = fitSize(manifest, capacity, current.size, current.timings.stepMs);
  if (fit.size.join() === current.size.join()) return { ...current, reason: fit.reason };
  progress(`measuring ${fit.size[1]}×${fit.size[0]}`);
  const tracker = current.tracker.withManifest(atSize(manifest, fit.size));
  const timings = await tracker.prepare(capacity);
  const up = fit.size[0] * fit.size[1] > current.size[0] * current.size[1];
  const measured = `${fit.size[0]}x${fit.size[1]} measured ${timings.stepMs.toFixed(0)} ms`;
  if (up ? timings.stepMs <= INFERENCE_BUDGET_MS : timings.stepMs < current.timings.stepMs) {
    return { tracker, timings, reason: `${fit.reason}; ${measured}` };
  }
  return { ...current, reason: `${fit.reason}; but ${measured}, so it stays` };
}

/**
 * How long after a load that stepped down its first annotate must come to measure the start size again (warmUp):
 * a first visit measures while Chromium still compiles onnxruntime's WASM in the background (session 18: 95 and
 * 154 ms a frame at 240x320 on a fresh profile's first load, 22-26 ms on the next loads), and an annotate sooner
 * than this (the page's autostart) would measure under the load's own conditions.
 */
export const REMEASURE_AFTER_MS = 3000;

/**
 * Warm `tracker` (at `size`) up for a graph of `capacity` and, with `auto`, move it as Auto does (fitToDevice), the
 * warm-up's further track calls made only while they could change the size (sizeSettled). The page's load, its second
 * look at Track (the runtime warm then, the memory empty) and the bench's `auto` all go through here. Returns
 * {tracker, timings, reason} of the size kept (`reason` empty without `auto`).
 */
export async function warmUp(manifest, capacity, tracker, size, { auto = false, progress = () => {} } = {}) {
  const settled = (ms) => !auto || sizeSettled(manifest, capacity, size, ms);
  const current = { tracker, timings: await tracker.prepare(capacity, { settled }), size, reason: '' };
  return auto ? fitToDevice(manifest, capacity, current, progress) : current;
}

/** Track calls whose median a revisit judges the size on: ~2 s at 30 FPS, so one slow frame (a GC pause, another
 * tab) moves nothing. */
export const REVISIT_CALLS = 60;
/** A step up must be predicted within this share of the budget: the FLOPs prediction misses by ~10% on WASM (session
 * 18: 208x272 ran 1.30-1.40x 240x320's FPS for 1.39x fewer FLOPs), and a step up that then measures over the budget
 * steps straight back down. */
export const STEP_UP_MARGIN = 0.85;
/** Windows a size that measured over the budget (and every larger one) is not stepped up to again; doubled each time
 * it fails again, so a host whose speed sits at the edge settles on the smaller size instead of switching every
 * window. */
export const BLOCKED_WINDOWS = 5;

const area = ([h, w]) => h * w;

/**
 * Auto's size while tracking: the host's speed drifts (sessions 17-18: the same graph 23-44 ms within an hour on this
 * 2-core machine, and another tab or a laptop's power state does the same to a visitor), so the load's choice is
 * judged again on the median inference time of every REVISIT_CALLS track calls: over the budget, step down to the
 * largest size of the shape predicted within it (fitSize); with room to spare, step up to the next larger size of the
 * shape if it is predicted within STEP_UP_MARGIN of the budget and it (or a smaller size) has not failed lately. The
 * caller carries the memory over (FramePipeline.carryTo: two graph calls, once per move). The first WARMUP_STEPS calls
 * after a move are not counted (a size's first calls are slower, Tracker.prepare).
 */
export class SizeRevisit {
  /**
   * @param {object} manifest  the export's manifest (all sizes)
   * @param {number} capacity  the graph's object capacity
   * @param {number[]} size  the size tracking starts at, [h, w]
   */
  constructor(manifest, capacity, size, budgetMs = INFERENCE_BUDGET_MS) {
    Object.assign(this, { manifest, capacity, size, budgetMs });
    this.times = [];
    this.skip = 0;
    this.windows = 0;
    /** @type {Map<string, {size: number[], until: number, windows: number}>} "HxW" -> the window it may be stepped up
     * to again, and for how many windows it was closed */
    this.blocked = new Map();
  }

  /**
   * One track call's inference time (ms) at the current size. Returns {size, reason} when the size should move
   * (the caller moves the tracker there), else null.
   */
  observe(ms) {
    if (this.skip > 0) {
      this.skip -= 1;
      return null;
    }
    this.times.push(ms);
    if (this.times.length < REVISIT_CALLS) return null;
    const ms50 = median(this.times);
    this.times = [];
    this.windows += 1;
    const fit = fitSize(this.manifest, this.capacity, this.size, ms50, this.budgetMs);
    let target = fit.size;
    if (area(target) > area(this.size)) {
      // a size is closed while it, or a smaller one, measured over the budget lately
      const closed = [...this.blocked.values()].filter((b) => b.until > this.windows);
      const open = (s) => !closed.some((b) => area(b.size) <= area(s));
      // one size up at a time (predictions are smallest first): each step is measured before the next
      const next = fit.predictions.find((p) => area(p.size) > area(this.size));
      target = next.ms <= this.budgetMs * STEP_UP_MARGIN && open(next.size) ? next.size : this.size;
    }
    if (key(target) === key(this.size)) return null;
    const from = this.size;
    if (area(target) < area(from)) {
      const failed = this.blocked.get(key(from));
      const windows = failed ? failed.windows * 2 : BLOCKED_WINDOWS;
      this.blocked.set(key(from), { size: from, until: this.windows + windows, windows });
    }
    const predicted = fit.predictions.find((p) => key(p.size) === key(target)).ms;
    this.size = target;
    this.skip = WARMUP_STEPS;
    return {
      size: target,
      reason:
        `while tracking, ${key(from)} took ${ms50.toFixed(0)} ms a frame (median of ${REVISIT_CALLS}), so ` +
        `${key(target)} (predicted ${predicted.toFixed(0)} ms; the budget ${this.budgetMs.toFixed(0)} ms)`,
    };
  }
}

/**
 * After a track call of `pipeline` (FramePipeline, keepFirst) on `frame`, whose result is `done` ({labels, timings}):
 * `revisit` (a SizeRevisit, or null when the size was asked for) judges its inference time, and on a move the memory
 * is carried to the new size of `manifest` (FramePipeline.carryTo). The page's worker and the bench's both step so.
 * Returns null, or {pipeline, size, reason, carryMs} of the move.
 */
export async function revisitAfterStep(revisit, pipeline, manifest, frame, { labels, timings }) {
  const move = revisit?.observe(timings.run);
  if (!move) return null;
  const carried = await pipeline.carryTo(atSize(manifest, move.size), frame, labels);
  return { pipeline: carried.pipeline, size: move.size, reason: move.reason, carryMs: carried.ms };
}
