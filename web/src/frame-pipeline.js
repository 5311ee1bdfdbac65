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
   * @param {{stretch?: boolean, keepFirst?: boolean}} options  `stretch`: the frame fills the model input, aspect
   *     ratio not kept (the bench: `mobilevos eval` resizes so, and the bench's J&F must equal it); else it is
   *     letterboxed (the page). `keepFirst`: keep the annotated frame and its labels at native size, so that the
   *     memory can be carried to another size mid-track (carryTo; Auto's size revisit)
   */
  constructor(tracker, { stretch = false, keepFirst = false } = {}) {
    const [, height, width] = tracker.manifest.frame.shape;
    this.tracker = tracker;
    this.ctx = createFrameContext(width, height); // 2D context at model resolution
    this.stretch = stretch;
    this.keepFirst = keepFirst;
    /** @type {{source: OffscreenCanvas, labels: Uint8Array}|null} the annotated frame (keepFirst) */
    this.first = null;
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
    const { rgba, labels: small } = this.modelInput(frame, labels);
    const t1 = now();
    const { inferMs } = await this.tracker.start(rgba, small, numObjects, capacity);
    const t2 = now();
    const native = labels.map((v) => (v <= numObjects ? v : 0));
    if (this.keepFirst) {
      const source = new OffscreenCanvas(width, height);
      source.getContext('2d').drawImage(frame, 0, 0);
      this.first = { source, labels: native };
    }
    const overlay = await this.overlay(native, width, height, numObjects);
    return { rgba, labels: native, overlay, timings: { pre: t1 - t0, infer: inferMs, post: now() - t2 } };
  }

  /** A native frame (`labels` its label image, native size) as the model sees it: {rgba, labels} at model size. */
  modelInput(frame, labels) {
    const { box, rgba } = this.input(frame);
    const { width: mw, height: mh } = this.ctx.canvas;
    const { width, height } = frame;
    const small = this.stretch
      ? resizeLabelsNearest(labels, width, height, mw, mh) // OpenCV INTER_NEAREST, as `mobilevos eval`
      : letterboxLabels(labels, width, height, box, mw, mh);
    return { rgba, labels: small };
  }

  /**
   * This pipeline's memory carried to `manifest`'s size (manifest.js atSize; the same sessions): a new pipeline whose
   * tracker has annotated the kept first frame again and holds `frame`'s entry from `labels` (its tracked labels,
   * native size) as the previous frame's (Tracker.carry). This tracker's memory is released. Returns the new pipeline
   * and the time the two calls took.
   */
  async carryTo(manifest, frame, labels) {
    if (!this.first) throw Object.assign(new Error('no annotated frame kept to carry'), { code: 'internal' });
    const t0 = now();
    const old = this.tracker;
    const next = new FramePipeline(old.withManifest(manifest), { stretch: this.stretch, keepFirst: true });
    next.first = this.first;
    const first = next.modelInput(this.first.source, this.first.labels);
    await next.tracker.carry(first, next.modelInput(frame, labels), old.numObjects, old.capacity, old.frameIndex);
    old.reset();
    return { pipeline: next, ms: now() - t0 };
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
