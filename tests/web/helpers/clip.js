/**
 * The fake-webcam clip with ground truth (scripts/make_fake_webcam.py), made on first use, and content matching of
 * tracked frames back to its source frames.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { frameSignature } from '../../../web/src/postprocess.js';
import { REPO } from './models.js';

const WEBCAM = join(REPO, 'tests/web/.artifacts/webcam');

/** The fake-webcam clip in `dir`, made by scripts/make_fake_webcam.py with `args` (e.g. --size) if it is not there. */
export function ensureWebcam(dir = WEBCAM, args = []) {
  if (!existsSync(join(dir, 'clip.json'))) {
    execFileSync('python3', [join(REPO, 'scripts/make_fake_webcam.py'), '--out', dir, ...args], {
      stdio: 'inherit',
      cwd: REPO,
    });
  }
  return { dir, y4m: join(dir, 'clip.y4m'), info: JSON.parse(readFileSync(join(dir, 'clip.json'), 'utf8')) };
}

/** A C-order uint8 .npy file -> {shape, data}. */
export function readNpy(path) {
  const buf = readFileSync(path);
  const headerLength = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLength).toString('latin1');
  if (!/'descr': '\|u1'/.test(header) || /'fortran_order': True/.test(header))
    throw new Error(`${path}: not C-order uint8`);
  const shape = header
    .match(/'shape': \(([^)]*)\)/)[1]
    .split(',')
    .filter((s) => s.trim())
    .map(Number);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + 10 + headerLength) };
}

/** Signatures (web/src/postprocess.js frameSignature) of every source frame, as the page computes them. */
export function sourceSignatures(dir = WEBCAM) {
  const {
    shape: [t, h, w],
    data,
  } = readNpy(join(dir, 'camera_frames.npy'));
  const rgba = new Uint8ClampedArray(h * w * 4);
  const out = [];
  for (let i = 0; i < t; i++) {
    const frame = data.subarray(i * h * w * 3, (i + 1) * h * w * 3);
    for (let p = 0; p < h * w; p++) {
      rgba[p * 4] = frame[p * 3];
      rgba[p * 4 + 1] = frame[p * 3 + 1];
      rgba[p * 4 + 2] = frame[p * 3 + 2];
      rgba[p * 4 + 3] = 255;
    }
    out.push(frameSignature(rgba, w, h));
  }
  return out;
}

/** The nearest source frame of a signature (RMS difference of the block means) and the distances to the best two. */
export function matchFrame(signature, sources) {
  let best = -1;
  let bestD = Infinity;
  let second = Infinity;
  sources.forEach((s, i) => {
    let d = 0;
    for (let k = 0; k < s.length; k++) d += (s[k] - signature[k]) ** 2;
    d = Math.sqrt(d / s.length);
    if (d < bestD) {
      second = bestD;
      bestD = d;
      best = i;
    } else if (d < second) second = d;
  });
  return { index: best, distance: bestD, second };
}
