/**
 * Predicted masks at the ground truth's size, for scoring: `prob` [C, h, w] (model resolution) -> labels [H, W] as
 * the Python trackers make them (mobilevos/runtime/ort_tracker.py `resize_prob`, the manifest's `output.resize`):
 * log(prob) resized bilinearly with OpenCV INTER_LINEAR semantics (half-pixel centres, edges replicated), then argmax over
 * channels (the softmax the Python code applies next does not change the argmax).
 */
import { argmaxLabels } from '../postprocess.js';

const TINY = 1.1754943508222875e-38; // np.finfo(np.float32).tiny

/** Source index pairs and weights of one axis (OpenCV INTER_LINEAR, float images). */
function axis(src, dst) {
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const w1 = new Float32Array(dst);
  const scale = src / dst;
  for (let d = 0; d < dst; d++) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= src - 1) {
      s = src - 1;
      f = 0;
    }
    i0[d] = s;
    i1[d] = Math.min(s + 1, src - 1);
    w1[d] = f;
  }
  return { i0, i1, w1 };
}

/**
 * Labels [height x width] from `prob` (channel-major [channels x h x w], background first): argmax over the first
 * `channels` planes after resizing log-probabilities bilinearly. At the same size it is the plain argmax.
 */
export function probToLabels(prob, channels, h, w, height, width, out = new Uint8Array(height * width)) {
  const plane = h * w;
  if (prob.length < channels * plane) throw new Error('prob has fewer channels than requested');
  if (height === h && width === w) return argmaxLabels(prob, channels - 1, plane, out);
  const logp = new Float32Array(channels * plane);
  for (let i = 0; i < logp.length; i++) logp[i] = Math.log(Math.max(prob[i], TINY));
  const X = axis(w, width);
  const Y = axis(h, height);
  for (let y = 0; y < height; y++) {
    const r0 = Y.i0[y] * w;
    const r1 = Y.i1[y] * w;
    const wy = Y.w1[y];
    for (let x = 0; x < width; x++) {
      const c0 = X.i0[x];
      const c1 = X.i1[x];
      const wx = X.w1[x];
      let best = -Infinity;
      let label = 0;
      for (let c = 0; c < channels; c++) {
        const o = c * plane;
        const top = logp[o + r0 + c0] * (1 - wx) + logp[o + r0 + c1] * wx;
        const bottom = logp[o + r1 + c0] * (1 - wx) + logp[o + r1 + c1] * wx;
        const v = top * (1 - wy) + bottom * wy;
        if (v > best) {
          best = v;
          label = c;
        }
      }
      out[y * width + x] = label;
    }
  }
  return out;
}
