/**
 * Numbers for the bench: latency percentiles, windowed medians (is latency flat over a long run?), heap growth, and
 * down-sampled series for the plots. Pure functions: the page, scripts/bench.mjs and the node tests share them.
 */

/** The stages timed per frame, in pipeline order, and the end-to-end time (capture to drawn). */
export const STAGES = ['capture', 'pre', 'infer', 'post', 'transfer', 'draw'];
export const ALL_STAGES = [...STAGES, 'e2e'];

/** Percentile q (0..100) of sorted values, linear interpolation between ranks (numpy's default). */
export function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  const rank = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function median(values) {
  return percentile(Float64Array.from(values).sort(), 50);
}

/** {n, mean, p50, p95, p99, min, max} of a list of milliseconds. */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    min: sorted[0] ?? NaN,
    max: sorted.at(-1) ?? NaN,
  };
}

/** Window for first-vs-last comparisons: 1,000 frames, or a quarter of a shorter run. */
function flatnessWindow(frames) {
  return Math.max(1, Math.min(1000, Math.floor(frames / 4)));
}

/**
 * Does a run stay flat? Medians of the first and the last `window` frames of each series (e.g. e2e and infer), their
 * ratio, and the growth of memory between the first and the last sample of each memory field.
 * @param {Record<string, ArrayLike<number>>} series  per-frame values
 * @param {object[]} samples  memory samples (objects with numeric fields), in frame order
 */
export function flatness(series, samples = [], window = null) {
  const out = { window: 0, latency: {}, memory: {} };
  for (const [name, values] of Object.entries(series)) {
    const w = window ?? flatnessWindow(values.length);
    out.window = w;
    if (values.length < 2) continue;
    const first = median(Array.prototype.slice.call(values, 0, w));
    const last = median(Array.prototype.slice.call(values, values.length - w));
    out.latency[name] = { first, last, ratio: last / first };
  }
  if (samples.length >= 2) {
    const [a, b] = [samples[0], samples.at(-1)];
    for (const key of Object.keys(a)) {
      if (typeof a[key] === 'number' && typeof b[key] === 'number' && key !== 'frame' && key !== 't') {
        out.memory[key] = {
          first: a[key],
          last: b[key],
          growth: b[key] - a[key],
          max: Math.max(...samples.map((s) => s[key] ?? -Infinity)),
        };
      }
    }
  }
  return out;
}

/** At most `points` [x, y] pairs of a per-frame series: medians of equal consecutive blocks (x = block centre). */
export function downsample(values, points = 300) {
  const n = values.length;
  if (!n) return [];
  const block = Math.max(1, Math.ceil(n / points));
  const out = [];
  for (let i = 0; i < n; i += block) {
    const part = Array.prototype.slice.call(values, i, Math.min(n, i + block));
    out.push([i + (part.length - 1) / 2, median(part)]);
  }
  return out;
}

/** Round to `digits` decimals (for compact JSON). */
export function round(value, digits = 3) {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Frame order for N tracked frames of a T-frame clip: 0 (annotated), then ping-pong 1..T-1, T-2..0, 1.. (no jump). */
export function pingPong(i, frames) {
  if (frames < 2) return 0;
  const period = 2 * (frames - 1);
  const k = i % period;
  return k < frames ? k : period - k;
}
