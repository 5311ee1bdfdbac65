/**
 * Pre-processing: video frame -> the graph's `frame` input, and an annotation -> its `masks`/`valid` inputs.
 *
 * The page letterboxes the frame into the model's width x height (geometry.js: aspect kept, grey bars) and reads it
 * back with getImageData; `new Float32Array(imageData.data)` is the input (RGBA, 0..255, NHWC), exactly as
 * manifest.json's `frame.browser` says. No per-pixel JavaScript loop: the conversion is a typed-array copy.
 */
import { PAD_VALUE } from './geometry.js';
import { VOID } from './labels.js';
import { frameSignature } from './postprocess.js';

/** A 2D context of an OffscreenCanvas (worker or main thread) or, failing that, a DOM canvas, sized width x height. */
export function createFrameContext(width, height) {
  const canvas =
    typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: false });
  if (!ctx) throw new Error('this browser cannot create a 2D canvas context');
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'low'; // bilinear, like OpenCV INTER_LINEAR (the reference resize)
  return ctx;
}

/**
 * Draw `source` (ImageBitmap, VideoFrame, video, canvas) into the context: into the letterbox `box` (geometry.js
 * `letterbox`) on grey padding, or stretched over the whole canvas without one; returns its RGBA bytes.
 */
export function drawFrame(ctx, source, box = null) {
  const { width, height } = ctx.canvas;
  if (box) {
    if (box.width !== width || box.height !== height) {
      ctx.fillStyle = `rgb(${PAD_VALUE}, ${PAD_VALUE}, ${PAD_VALUE})`;
      ctx.fillRect(0, 0, width, height);
    }
    ctx.drawImage(source, box.x, box.y, box.width, box.height);
  } else ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

/** Debug and tests: the signature (postprocess.js `frameSignature`) of a bitmap at its native size. */
export function nativeSignature(bitmap) {
  const ctx = createFrameContext(bitmap.width, bitmap.height);
  return frameSignature(drawFrame(ctx, bitmap), bitmap.width, bitmap.height);
}

/** RGBA bytes at model resolution -> Float32Array for the `frame` input (a typed-array conversion, no JS loop). */
export function frameData(rgba, manifest) {
  const [, height, width, channels] = manifest.frame.shape;
  if (rgba.length !== height * width * channels) {
    throw new Error(`frame has ${rgba.length} values, the model takes ${height}x${width}x${channels}`);
  }
  return new Float32Array(rgba);
}

/**
 * Nearest-neighbour resize of a label image (Uint8Array, row-major), with OpenCV INTER_NEAREST semantics (the
 * Python tracker's mask resize): source index = min(floor(dst * (1 / (dst_size / src_size))), src_size - 1).
 */
export function resizeLabelsNearest(labels, srcWidth, srcHeight, dstWidth, dstHeight) {
  if (labels.length !== srcWidth * srcHeight) throw new Error('label image size does not match its dimensions');
  if (srcWidth === dstWidth && srcHeight === dstHeight) return labels.slice();
  const ifx = 1 / (dstWidth / srcWidth);
  const ify = 1 / (dstHeight / srcHeight);
  const xs = new Int32Array(dstWidth);
  for (let x = 0; x < dstWidth; x++) xs[x] = Math.min(Math.floor(x * ifx), srcWidth - 1);
  const out = new Uint8Array(dstWidth * dstHeight);
  for (let y = 0; y < dstHeight; y++) {
    const row = Math.min(Math.floor(y * ify), srcHeight - 1) * srcWidth;
    const o = y * dstWidth;
    for (let x = 0; x < dstWidth; x++) out[o + x] = labels[row + xs[x]];
  }
  return out;
}

/**
 * The annotate call's object masks [1, K, H, W] from a label image at model resolution (0 background, i = object i,
 * anything above `numObjects` — e.g. 255 void — counts as background): masks[0, i] = (labels == i + 1), padding slots
 * i >= numObjects stay zero (manifest `objects.rule`).
 */
export function objectMasks(labels, numObjects, capacity) {
  if (numObjects > capacity) throw new Error(`${numObjects} objects do not fit capacity ${capacity}`);
  const plane = labels.length;
  const masks = new Float32Array(capacity * plane);
  for (let p = 0; p < plane; p++) {
    const id = labels[p];
    if (id >= 1 && id <= numObjects) masks[(id - 1) * plane + p] = 1;
  }
  return masks;
}

/** The `valid` input [1, K]: 1 for object slots in use, 0 for padding. */
export function validFlags(numObjects, capacity) {
  const valid = new Float32Array(capacity);
  valid.fill(1, 0, numObjects);
  return valid;
}

/** Object count of a label image: its largest id (ids must be 1..N without gaps; 255 = void is ignored). */
export function countObjects(labels) {
  let max = 0;
  for (let p = 0; p < labels.length; p++) if (labels[p] > max && labels[p] !== VOID) max = labels[p];
  return max;
}
