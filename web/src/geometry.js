/**
 * Frame geometry between the source and the model's fixed W x H input, and the names of the exported masks.
 *
 * Letterboxing: a frame of any size is scaled by one factor to fit the input (its aspect ratio kept), centred, and
 * the rest is padded. The model's probabilities are mapped back exactly: the content box is cropped out and resized
 * to the frame's native size (bilinear, half-pixel centres, clamped at the box's edges: `F.interpolate(crop,
 * size, mode='bilinear', align_corners=False)`), then argmax. Pure functions: the worker, the page and node's tests
 * share them.
 */

/** Grey padding: 127 is 0 after the graph's (x - 127) / 128 normalisation, so the bars carry no signal. */
export const PAD_VALUE = 127;

function requireSize(width, height, what) {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`${what} must be positive integers, got ${width}x${height}`);
  }
}

/**
 * Where a srcWidth x srcHeight frame lands in a dstWidth x dstHeight input without distortion: the content box
 * {x, y, width, height} in input pixels (integers; the sides are rounded, so the two scales differ by < 1 px).
 */
export function letterbox(srcWidth, srcHeight, dstWidth, dstHeight) {
  requireSize(srcWidth, srcHeight, 'the frame size');
  requireSize(dstWidth, dstHeight, 'the model input size');
  const scale = Math.min(dstWidth / srcWidth, dstHeight / srcHeight);
  const width = Math.min(dstWidth, Math.max(1, Math.round(srcWidth * scale)));
  const height = Math.min(dstHeight, Math.max(1, Math.round(srcHeight * scale)));
  return { x: Math.floor((dstWidth - width) / 2), y: Math.floor((dstHeight - height) / 2), width, height };
}

/**
 * A label image at the frame's size -> the model input's size: nearest neighbour (OpenCV INTER_NEAREST, as
 * preprocess.js) into the content box, background (0) in the padding.
 */
export function letterboxLabels(labels, srcWidth, srcHeight, box, dstWidth, dstHeight) {
  if (labels.length !== srcWidth * srcHeight) throw new Error('label image size does not match its dimensions');
  const out = new Uint8Array(dstWidth * dstHeight);
  const ifx = srcWidth / box.width;
  const ify = srcHeight / box.height;
  const xs = new Int32Array(box.width);
  for (let x = 0; x < box.width; x++) xs[x] = Math.min(Math.floor(x * ifx), srcWidth - 1);
  for (let y = 0; y < box.height; y++) {
    const row = Math.min(Math.floor(y * ify), srcHeight - 1) * srcWidth;
    const o = (box.y + y) * dstWidth + box.x;
    for (let x = 0; x < box.width; x++) out[o + x] = labels[row + xs[x]];
  }
  return out;
}

/** Source taps of a 1-D bilinear resize of `size` samples starting at `offset` to `outSize` (align_corners=False). */
function taps(offset, size, outSize) {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const w = new Float32Array(outSize);
  const ratio = size / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.max(0, (i + 0.5) * ratio - 0.5);
    const i0 = Math.min(Math.floor(src), size - 1);
    lo[i] = offset + i0;
    hi[i] = offset + Math.min(i0 + 1, size - 1);
    w[i] = src - i0;
  }
  return { lo, hi, w };
}

/**
 * The model's probabilities `prob` [channels, inHeight, inWidth] (background first) -> labels at the frame's native
 * outWidth x outHeight: the letterbox `box` is resized bilinearly to the native size, then argmax over the channels
 * (ties go to the lower id, as numpy's argmax). Returns a Uint8Array (written into `out` if given).
 */
export function nativeLabels(
  prob,
  channels,
  inWidth,
  inHeight,
  box,
  outWidth,
  outHeight,
  out = new Uint8Array(outWidth * outHeight),
) {
  const plane = inWidth * inHeight;
  if (prob.length < channels * plane)
    throw new Error(`prob holds ${prob.length} values, not ${channels}x${inHeight}x${inWidth}`);
  if (box.x < 0 || box.y < 0 || box.x + box.width > inWidth || box.y + box.height > inHeight) {
    throw new RangeError('the letterbox lies outside the model input');
  }
  const tx = taps(box.x, box.width, outWidth);
  const ty = taps(box.y, box.height, outHeight);
  // Where the four source pixels of an output pixel share their argmax, the bilinear mix (a convex combination)
  // keeps it, ties included: only pixels near a boundary need the per-channel interpolation. That makes a 1080p
  // frame several times cheaper, with the same labels.
  const arg = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) {
    let best = prob[i];
    for (let c = 1, base = plane; c < channels; c++, base += plane) {
      if (prob[base + i] > best) {
        best = prob[base + i];
        arg[i] = c;
      }
    }
  }
  for (let y = 0; y < outHeight; y++) {
    const r0 = ty.lo[y] * inWidth;
    const r1 = ty.hi[y] * inWidth;
    const wy = ty.w[y];
    const o = y * outWidth;
    for (let x = 0; x < outWidth; x++) {
      const c0 = tx.lo[x];
      const c1 = tx.hi[x];
      const a = arg[r0 + c0];
      if (a === arg[r0 + c1] && a === arg[r1 + c0] && a === arg[r1 + c1]) {
        out[o + x] = a;
        continue;
      }
      const wx = tx.w[x];
      let best = -Infinity;
      let label = 0;
      for (let c = 0, base = 0; c < channels; c++, base += plane) {
        const top = prob[base + r0 + c0] + wx * (prob[base + r0 + c1] - prob[base + r0 + c0]);
        const bottom = prob[base + r1 + c0] + wx * (prob[base + r1 + c1] - prob[base + r1 + c0]);
        const v = top + wy * (bottom - top);
        if (v > best) {
          best = v;
          label = c;
        }
      }
      out[o + x] = label;
    }
  }
  return out;
}

/**
 * How an uploaded mask fits the frame: 'same' size, 'scaled' (another size, same aspect: the mask scaled to the
 * frame's height is within one frame pixel of the frame's width, or scaled to its width within one pixel of its
 * height — sizes are rounded), or 'other-aspect'.
 */
export function maskFit(maskWidth, maskHeight, frameWidth, frameHeight) {
  requireSize(maskWidth, maskHeight, 'the mask size');
  requireSize(frameWidth, frameHeight, 'the frame size');
  if (maskWidth === frameWidth && maskHeight === frameHeight) return 'same';
  const close =
    Math.abs((maskWidth * frameHeight) / maskHeight - frameWidth) <= 1 ||
    Math.abs((maskHeight * frameWidth) / maskWidth - frameHeight) <= 1;
  return close ? 'scaled' : 'other-aspect';
}

/** The mask file of frame `index` (a video's frame index, or a camera's capture index): DAVIS names, 00000.png. */
export function maskFileName(index) {
  if (!Number.isInteger(index) || index < 0)
    throw new RangeError(`frame index must be a non-negative integer, got ${index}`);
  return `${String(index).padStart(5, '0')}.png`;
}
