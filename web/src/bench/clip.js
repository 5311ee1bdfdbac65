/**
 * The bench's clips, in the DAVIS layout: JPEGImages/<seq>/<frame>.jpg and Annotations/<seq>/<frame>.png (index PNGs:
 * 0 = background, 1..N objects, 255 = void). Two sources, one shape:
 *
 *  - the bundled clip (web/public/bench/clip/clip.json lists its files; scripts/make_bench_clip.py wrote it);
 *  - a folder the user picks (<input type=file webkitdirectory>): any DAVIS-layout tree (DAVIS 2017's
 *    JPEGImages/480p/<seq>/ too); frames are matched to masks by file stem, as `mobilevos.data.davis` does.
 *
 * A clip is {name, source, sequences: [{name, frames: [{stem, load(): Promise<Blob>}], annotations: Map(index ->
 * load(): Promise<Blob>)}]}. Masks are decoded to their palette *indices* (never RGB) with the app's PNG decoder.
 */
import { decodePng, MaskError } from '../mask-encoding.js';
import { VOID } from '../labels.js';

const FRAME_RE = /\.(jpe?g|png)$/i;
const stem = (name) => name.replace(/\.[^.]+$/, '');

/** The bundled clip from `url` (its clip.json). */
export async function bundledClip(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`bench clip index ${url}: HTTP ${response.status}`);
  const info = await response.json();
  const fetchBlob = (path) => async () => {
    const r = await fetch(new URL(path, response.url));
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.blob();
  };
  return {
    name: 'bundled',
    source: 'bundled',
    url: response.url,
    info,
    sequences: info.sequences.map((s) => {
      const frames = s.frames.map((path) => ({ stem: stem(path.split('/').pop()), load: fetchBlob(path) }));
      const index = new Map(frames.map((f, i) => [f.stem, i]));
      const annotations = new Map();
      for (const path of s.annotations) annotations.set(index.get(stem(path.split('/').pop())), fetchBlob(path));
      return { name: s.name, frames, annotations };
    }),
  };
}

/**
 * A clip from the files of a picked folder (File objects with webkitRelativePath). Sequences are the folders that
 * hold frames under a `JPEGImages` folder; their masks are the PNGs under `Annotations` at the same relative path.
 */
export function folderClip(files) {
  const frames = new Map(); // key (path between JPEGImages/ and the file) -> [{stem, file}]
  const masks = new Map();
  let root = '';
  for (const file of files) {
    const parts = (file.webkitRelativePath || file.name).split('/');
    const at = Math.max(parts.lastIndexOf('JPEGImages'), parts.lastIndexOf('Annotations'));
    if (at < 0 || parts.length - at < 3) continue;
    const kind = parts[at];
    const key = parts.slice(at + 1, -1).join('/');
    const name = parts.at(-1);
    if (!root) root = parts.slice(0, at).join('/');
    if (kind === 'JPEGImages' && FRAME_RE.test(name)) {
      if (!frames.has(key)) frames.set(key, []);
      frames.get(key).push({ stem: stem(name), file });
    } else if (kind === 'Annotations' && /\.png$/i.test(name)) {
      if (!masks.has(key)) masks.set(key, new Map());
      masks.get(key).set(stem(name), file);
    }
  }
  if (!frames.size) {
    throw new Error(
      'no DAVIS-layout frames in this folder: pick a folder holding JPEGImages/<sequence>/*.jpg and ' +
        'Annotations/<sequence>/*.png',
    );
  }
  const sequences = [];
  for (const key of [...frames.keys()].sort()) {
    const list = frames.get(key).sort((a, b) => (a.file.name < b.file.name ? -1 : a.file.name > b.file.name ? 1 : 0));
    const byStem = masks.get(key) || new Map();
    const annotations = new Map();
    list.forEach((f, i) => {
      const m = byStem.get(f.stem);
      if (m) annotations.set(i, async () => m);
    });
    if (!annotations.has(0)) continue; // semi-supervised: the first frame must be annotated
    sequences.push({
      name: key.split('/').pop(),
      key,
      annotations,
      frames: list.map((f) => ({ stem: f.stem, load: async () => f.file })),
    });
  }
  if (!sequences.length)
    throw new Error(
      'no sequence in this folder has an annotation of its first frame (Annotations/<sequence>/<first frame>.png)',
    );
  return { name: root || 'folder', source: 'folder', sequences };
}

/** Decode an index mask (palette or grey PNG) to {width, height, labels}: the indices, never the palette colours. */
export async function decodeMask(blob) {
  const png = decodePng(new Uint8Array(await blob.arrayBuffer()));
  if (png.channels !== 1) {
    throw new MaskError(`a mask is a colour image (PNG colour type ${png.colorType}): DAVIS masks are index PNGs`);
  }
  return { width: png.width, height: png.height, labels: png.samples };
}

/** Decoded frame: an ImageBitmap of the file's pixels as stored (no colour management, like PIL). */
export async function decodeFrame(blob) {
  return createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
}

/** Every frame of a sequence, decoded (decodeFrame). */
export async function decodeAll(seq) {
  const bitmaps = [];
  for (const f of seq.frames) bitmaps.push(await decodeFrame(await f.load()));
  return bitmaps;
}

/**
 * The object ids a run tracks: the annotation's first `max` (all when `max` is 0), sorted.
 * @param {Uint8Array} labels the first frame's annotation
 */
export function trackedIds(labels, max = 0) {
  const ids = objectIds(labels);
  if (!Number.isInteger(max) || max < 0) throw new Error(`objects=${max}: a whole number >= 0 (0 = all)`);
  return max > 0 ? ids.slice(0, max) : ids;
}

/** `labels` with every object outside `ids` made background (void stays void): the ground truth of a run that
 * tracks only those objects. */
export function keepObjects(labels, ids) {
  const lut = new Uint8Array(256);
  lut[VOID] = VOID;
  for (const id of ids) lut[id] = id;
  return labels.map((v) => lut[v]);
}

/** Object ids of a label image (1..254; 0 background, 255 void), sorted. */
export function objectIds(labels) {
  const seen = new Uint8Array(256);
  for (let i = 0; i < labels.length; i++) seen[labels[i]] = 1;
  const ids = [];
  for (let v = 1; v < VOID; v++) if (seen[v]) ids.push(v);
  return ids;
}
