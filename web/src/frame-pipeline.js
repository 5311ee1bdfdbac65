/**
 * The per-frame pipeline of both workers, the page's (worker.js) and the bench's (bench/bench-worker.js), so that
 * the bench times exactly what the page runs. A frame arrives at its native size; pre-processing draws it into the
 * model input (letterboxed, geometry.js), inference is the tracker's call, post-processing maps the probabilities back
 * to the frame's native size (labels, then the colour overlay as an ImageBitmap).
 */
import { letterbox, letterboxLabels, nativeLabels } from './geometry.js';
import { OBJECT_COLORS } from './labels.js';
import { labelAreas, overlayRgba } from './postprocess.js';
import { createFrameContext, drawFrame, resizeLabelsNearest } from './preprocess.js';

const now = () => performance.now();

/** One per loaded model: its tracker and a canvas at model resolution. */
export class FramePipeline {
  /**
   * @param {import('./tracker.js').Tracker} tracker  its sessions prepared
   * @param {{stretch?: boolean}} options  `stretch`: the frame fills the model input, aspect ratio not kept (the
   *     bench: `mobilevos eval` resizes so, and the bench's J&F must equal it); else it is letterboxed (the page)
   */
  constructor(tracker, { stretch = false } = {}) {
    const [, height, width] = tracker.manifest.frame.shape;
    this.tracker = tracker;
    this.ctx = createFrameContext(width, height); // 2D context at model resolution
    this.stretch = stretch;
  }

  /** Where a native frame lands in the model input, and the frame drawn there (RGBA at model resolution). */
  input(frame) {
    const { width, height } = this.ctx.canvas;
    const box = this.stretch ? { x: 0, y: 0, width, height } : letterbox(frame.width, frame.height, width, height);
    return { box, rgba: drawFrame(this.ctx, frame, box) };
  }

  /**
   * The annotate call: `labels` (0 background, 1..N objects), width x height, the frame's native size. Returns the
   * model input, the annotation as the frame's mask (ids above N dropped), its overlay and the stage timings (ms).
   */
  async annotate(frame, labels, width, height, numObjects, capacity) {
    if (frame.width !== width || frame.height !== height) {
      throw Object.assign(new Error(`the annotation is ${width}x${height}, its frame ${frame.width}x${frame.height}`), {
        code: 'internal',
      });
    }
    const t0 = now();
    const { box, rgba } = this.input(frame);
    const { width: mw, height: mh } = this.ctx.canvas;
    const small = this.stretch
      ? resizeLabelsNearest(labels, width, height, mw, mh) // OpenCV INTER_NEAREST, as `mobilevos eval`
      : letterboxLabels(labels, width, height, box, mw, mh);
    const t1 = now();
    const { inferMs } = await this.tracker.start(rgba, small, numObjects, capacity);
    const t2 = now();
    const native = labels.map((v) => (v <= numObjects ? v : 0));
    const overlay = await this.overlay(native, width, height, numObjects);
    return { rgba, labels: native, overlay, timings: { pre: t1 - t0, infer: inferMs, post: now() - t2 } };
  }

  /**
   * One tracked frame: its labels and overlay at native size, each object's area (pixels), the model's `prob` and
   * input, and the stage timings in ms (`run`: the tracker's own count, inside `infer`).
   */
  async step(frame) {
    if (!this.tracker.memory.ready) {
      throw Object.assign(new Error('annotate a frame before tracking'), { code: 'not-annotated' });
    }
    const t0 = now();
    const { box, rgba } = this.input(frame);
    const t1 = now();
    const { prob, numObjects, inferMs } = await this.tracker.step(rgba);
    const t2 = now();
    const { width: mw, height: mh } = this.ctx.canvas;
    const { width, height } = frame;
    const labels = nativeLabels(prob, numObjects + 1, mw, mh, box, width, height);
    const overlay = await this.overlay(labels, width, height, numObjects);
    const t3 = now();
    return {
      rgba,
      prob,
      numObjects,
      labels,
      overlay,
      areas: labelAreas(labels, numObjects),
      timings: { pre: t1 - t0, infer: t2 - t1, post: t3 - t2, run: inferMs },
    };
  }

  /** The colour overlay of a label image (width x height) as an ImageBitmap. */
  async overlay(labels, width, height, numObjects) {
    const rgba = overlayRgba(labels, width, height, OBJECT_COLORS.slice(0, numObjects));
    return createImageBitmap(new ImageData(rgba, width, height));
  }
}
