/**
 * Masks in and out as PNG, in plain JavaScript (zlib from fflate), so they work the same in a worker, on the main
 * thread and in node's tests, with exact values (no colour management or premultiplied alpha on the way):
 *
 *  - decodePng: any non-interlaced PNG (grey, grey+alpha, RGB, RGBA, palette; 1-16 bits) -> samples;
 *  - labelsFromPng: an uploaded mask -> a label image (0 background, 1..N objects), from an index mask (palette or
 *    grey PNG, DAVIS style: value = object id, 255 = void) or a colour mask (one flat colour per object);
 *  - labelsToPng: a label image -> an index PNG with the DAVIS palette (what `mobilevos` reads back);
 *  - zipFiles: a zip of files (PNG masks are stored, not recompressed).
 */
import { unzlibSync, zlibSync, zipSync } from 'fflate';
import { VOID } from './labels.js';

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An image that is not a PNG this decoder reads; `code` lets the UI explain. */
export class MaskError extends Error {
  constructor(message, code = 'mask-unreadable') {
    super(message);
    this.name = 'MaskError';
    this.code = code;
  }
}

/**
 * Decode a PNG. Returns {width, height, bitDepth, colorType, channels, samples, palette, paletteAlpha}: `samples` is
 * a Uint8Array of width*height*channels values (16-bit samples keep their high byte; 1/2/4-bit samples are unpacked
 * to one value each, not rescaled), `palette` RGB triplets for colour type 3.
 */
export function decodePng(bytes) {
  bytes = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new MaskError('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let header = null;
  let palette = null;
  let paletteAlpha = null;
  const idat = [];
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (data.length !== length) throw new MaskError('truncated PNG');
    if (type === 'IHDR') {
      header = {
        width: view.getUint32(pos + 8),
        height: view.getUint32(pos + 12),
        bitDepth: data[8],
        colorType: data[9],
        interlace: data[12],
      };
    } else if (type === 'PLTE') palette = data.slice();
    else if (type === 'tRNS') paletteAlpha = data.slice();
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + length;
  }
  if (!header || !idat.length) throw new MaskError('PNG without image data');
  const { width, height, bitDepth, colorType, interlace } = header;
  const channels = CHANNELS[colorType];
  if (!channels || ![1, 2, 4, 8, 16].includes(bitDepth))
    throw new MaskError(`unsupported PNG colour type ${colorType}`);
  if (interlace) throw new MaskError('interlaced PNGs are not supported: save the mask without interlacing');
  if (colorType === 3 && !palette) throw new MaskError('palette PNG without a palette');
  let compressed = idat[0];
  if (idat.length > 1) {
    compressed = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
    let o = 0;
    for (const d of idat) {
      compressed.set(d, o);
      o += d.length;
    }
  }
  let raw;
  try {
    raw = unzlibSync(compressed);
  } catch (e) {
    throw new MaskError(`corrupt PNG data (${e.message})`);
  }
  const bitsPerPixel = channels * bitDepth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  if (raw.length < height * (stride + 1)) throw new MaskError('truncated PNG data');
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const dst = rows.subarray(y * stride, (y + 1) * stride);
    const up = y ? rows.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    unfilter(filter, src, dst, up, bpp);
  }
  const samples = new Uint8Array(width * height * channels);
  if (bitDepth === 8) samples.set(rows);
  else if (bitDepth === 16) for (let i = 0; i < samples.length; i++) samples[i] = rows[2 * i];
  else {
    const perByte = 8 / bitDepth;
    const maskBits = (1 << bitDepth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width * channels; x++) {
        const byte = rows[y * stride + Math.floor(x / perByte)];
        samples[y * width * channels + x] = (byte >> (8 - bitDepth * ((x % perByte) + 1))) & maskBits;
      }
    }
  }
  return { width, height, bitDepth, colorType, channels, samples, palette, paletteAlpha };
}

function unfilter(filter, src, dst, up, bpp) {
  const n = src.length;
  switch (filter) {
    case 0:
      dst.set(src);
      break;
    case 1:
      for (let i = 0; i < n; i++) dst[i] = src[i] + (i >= bpp ? dst[i - bpp] : 0);
      break;
    case 2:
      for (let i = 0; i < n; i++) dst[i] = src[i] + up[i];
      break;
    case 3:
      for (let i = 0; i < n; i++) dst[i] = src[i] + (((i >= bpp ? dst[i - bpp] : 0) + up[i]) >> 1);
      break;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? dst[i - bpp] : 0;
        const b = up[i];
        const c = i >= bpp ? up[i - bpp] : 0;
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        dst[i] = src[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      break;
    default:
      throw new MaskError(`corrupt PNG: unknown filter type ${filter}`);
  }
}

/**
 * Encode an 8-bit PNG: `channels` 1 (grey, or palette when `palette` [[r,g,b], ...] is given), 3 (RGB) or 4 (RGBA).
 * @returns {Uint8Array}
 */
export function encodePng({ width, height, channels = 1, data, palette = null, level = 6 }) {
  if (data.length !== width * height * channels) throw new Error('PNG data size does not match its dimensions');
  const colorType = palette ? 3 : { 1: 0, 3: 2, 4: 6 }[channels];
  if (colorType === undefined || (palette && channels !== 1)) throw new Error(`cannot encode ${channels} channels`);
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1)); // filter byte 0 (none) on every row
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  const chunks = [chunk('IHDR', ihdr)];
  if (palette) chunks.push(chunk('PLTE', Uint8Array.from(palette.flat())));
  chunks.push(chunk('IDAT', zlibSync(raw, { level })), chunk('IEND', new Uint8Array(0)));
  const out = new Uint8Array(8 + chunks.reduce((n, c) => n + c.length, 0));
  out.set(SIGNATURE);
  let o = 8;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The DAVIS / Pascal VOC palette (index -> [r, g, b]); index masks written with it open in the usual tools. */
export const DAVIS_PALETTE = Array.from({ length: 256 }, (_, index) => {
  let r = 0;
  let g = 0;
  let b = 0;
  let c = index;
  for (let j = 0; j < 8; j++) {
    r |= ((c >> 0) & 1) << (7 - j);
    g |= ((c >> 1) & 1) << (7 - j);
    b |= ((c >> 2) & 1) << (7 - j);
    c >>= 3;
  }
  return [r, g, b];
});

/** A label image (0 background, i = object i) as a palette PNG with the DAVIS palette. */
export function labelsToPng(labels, width, height) {
  let max = 0;
  for (let p = 0; p < labels.length; p++) if (labels[p] > max) max = labels[p];
  return encodePng({
    width,
    height,
    channels: 1,
    data: labels,
    palette: DAVIS_PALETTE.slice(0, Math.max(2, max + 1)),
    level: 6,
  });
}

const MAX_COLOURS = 64; // more distinct colours than this is a photo or an anti-aliased drawing, not a mask

/**
 * An uploaded mask -> {labels (Uint8Array, 0 background, 1..N), width, height, count, kind}.
 *
 * Index masks (grey or palette PNG, `kind` 'index'): value v is object v (255 = void, read as background); a grey
 * mask holding only 0 and 255 is one object. Colour masks (RGB/RGBA, `kind` 'colour'): black or transparent is
 * background, each other colour one object — colours equal to `knownColours[i]` first, in that order, then the rest.
 * Objects are numbered 1..N in that order (ascending ids for index masks, as the Python tracker orders them).
 */
export function labelsFromPng(png, { knownColours = [] } = {}) {
  const { width, height, colorType, channels, samples } = png;
  const plane = width * height;
  const labels = new Uint8Array(plane);
  if (colorType === 0 || colorType === 3 || colorType === 4) {
    const value = new Uint8Array(plane);
    const present = new Uint8Array(256);
    for (let p = 0; p < plane; p++) {
      const v = samples[p * channels];
      const transparent = colorType === 4 && samples[p * channels + 1] === 0;
      value[p] = transparent ? 0 : v;
      present[value[p]] = 1;
    }
    let ids = [];
    for (let v = 1; v < 256; v++) if (present[v]) ids.push(v);
    if (!(ids.length === 1 && ids[0] === VOID && colorType !== 3)) ids = ids.filter((v) => v !== VOID);
    const lut = new Uint8Array(256);
    ids.forEach((v, i) => {
      lut[v] = i + 1;
    });
    if (ids.length > 255) throw new MaskError('too many objects in the mask');
    for (let p = 0; p < plane; p++) labels[p] = lut[value[p]];
    return { labels, width, height, count: ids.length, kind: 'index' };
  }
  const colours = new Map(); // packed rgb -> label
  const order = [];
  for (let p = 0; p < plane; p++) {
    const i = p * channels;
    if ((channels === 4 && samples[i + 3] === 0) || (samples[i] | samples[i + 1] | samples[i + 2]) === 0) continue;
    const key = (samples[i] << 16) | (samples[i + 1] << 8) | samples[i + 2];
    if (!colours.has(key)) {
      colours.set(key, 0);
      order.push(key);
      if (order.length > MAX_COLOURS) {
        throw new MaskError(
          `the mask has more than ${MAX_COLOURS} colours: upload an index mask (grey or palette ` +
            'PNG) or a PNG with one flat colour per object',
          'mask-not-flat',
        );
      }
    }
  }
  const known = knownColours.map(([r, g, b]) => (r << 16) | (g << 8) | b).filter((k) => colours.has(k));
  const rest = order.filter((k) => !known.includes(k)).sort((a, b) => a - b);
  [...known, ...rest].forEach((k, i) => colours.set(k, i + 1));
  for (let p = 0; p < plane; p++) {
    const i = p * channels;
    if ((channels === 4 && samples[i + 3] === 0) || (samples[i] | samples[i + 1] | samples[i + 2]) === 0) continue;
    labels[p] = colours.get((samples[i] << 16) | (samples[i + 1] << 8) | samples[i + 2]);
  }
  return { labels, width, height, count: colours.size, kind: 'colour' };
}

/** A zip of {name: Uint8Array} (stored: PNGs are already compressed). */
export function zipFiles(files) {
  const entries = {};
  for (const [name, data] of Object.entries(files)) entries[name] = [data, { level: 0 }];
  return zipSync(entries);
}
