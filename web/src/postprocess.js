/**
 * Post-processing in the worker: `prob` [1, K+1, H, W] -> a label image (argmax, 0 = background, i = object i) ->
 * a coloured translucent overlay with opaque outlines (RGBA bytes for an ImageData/ImageBitmap).
 */

/**
 * Argmax over the first numObjects + 1 channels of `prob` (background first, manifest `output.mask`); padding slots
 * beyond numObjects are ignored (their share is ~0). Returns a Uint8Array of H*W labels (written into `out` if given).
 */
export function argmaxLabels(prob, numObjects, plane, out = new Uint8Array(plane)) {
  if (prob.length < (numObjects + 1) * plane) throw new Error('prob has fewer channels than objects + background');
  if (numObjects === 1) {
    // the common case, without the inner loop
    const bg = prob.subarray(0, plane);
    const fg = prob.subarray(plane, 2 * plane);
    for (let p = 0; p < plane; p++) out[p] = fg[p] > bg[p] ? 1 : 0;
    return out;
  }
  for (let p = 0; p < plane; p++) {
    let best = prob[p];
    let label = 0;
    for (let c = 1; c <= numObjects; c++) {
      const v = prob[c * plane + p];
      if (v > best) {
        best = v;
        label = c;
      }
    }
    out[p] = label;
  }
  return out;
}

/**
 * Colour overlay of a label image: object pixels get the object's colour at `fillAlpha`, pixels on an object's
 * boundary (a 4-neighbour with another label) are opaque; background is transparent.
 * @param {Uint8Array} labels  H*W
 * @param {number[][]} colors  colors[i - 1] = [r, g, b] of object i
 * @param {Uint8ClampedArray} [out]  H*W*4 RGBA
 */
export function overlayRgba(
  labels,
  width,
  height,
  colors,
  { fillAlpha = 110, outline = true } = {},
  out = new Uint8ClampedArray(width * height * 4),
) {
  const lut = new Uint32Array(256); // label -> packed little-endian RGBA with the fill alpha
  const edge = new Uint32Array(256);
  colors.forEach(([r, g, b], i) => {
    lut[i + 1] = ((fillAlpha << 24) | (b << 16) | (g << 8) | r) >>> 0;
    edge[i + 1] = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  });
  const px = new Uint32Array(out.buffer, out.byteOffset, width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const p = row + x;
      const l = labels[p];
      if (l === 0) {
        px[p] = 0;
        continue;
      }
      const border =
        outline &&
        ((x > 0 && labels[p - 1] !== l) ||
          (x < width - 1 && labels[p + 1] !== l) ||
          (y > 0 && labels[p - width] !== l) ||
          (y < height - 1 && labels[p + width] !== l));
      px[p] = border ? edge[l] : lut[l];
    }
  }
  return out;
}

/**
 * A small grey thumbnail of an RGBA frame (block means on a gridWidth x gridHeight grid): a signature that lets the
 * tests and the bench map a processed frame back to the source frame it came from.
 */
export function frameSignature(rgba, width, height, gridWidth = 32, gridHeight = 24) {
  const sums = new Float64Array(gridWidth * gridHeight);
  const counts = new Uint32Array(gridWidth * gridHeight);
  for (let y = 0; y < height; y++) {
    const gy = Math.floor((y * gridHeight) / height) * gridWidth;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const cell = gy + Math.floor((x * gridWidth) / width);
      sums[cell] += 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
      counts[cell] += 1;
    }
  }
  return Array.from(sums, (s, i) => Math.round((s / counts[i]) * 10) / 10);
}

/** Pixel count per label 1..numObjects (e.g. to tell that an object was lost). */
export function labelAreas(labels, numObjects) {
  const areas = new Array(numObjects + 1).fill(0);
  for (let p = 0; p < labels.length; p++) if (labels[p] <= numObjects) areas[labels[p]] += 1;
  return areas.slice(1);
}
