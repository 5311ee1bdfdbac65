/** The bench's predicted masks: back to the annotation's ids, J&F of each run, base64 for scripts and tests. */
import { decodePng } from '../mask-encoding.js';
import { decodeMask, keepObjects } from './clip.js';
import { configLabel } from './report.js';
import { scoringSession } from './scoring.js';
import { predicted, status } from './state.js';

/** Tracker slots 1..N back to the annotation's object ids. */
export function remap(labels, ids) {
  if (ids.every((id, i) => id === i + 1)) return labels;
  const lut = new Uint8Array(256);
  ids.forEach((id, i) => {
    lut[i + 1] = id;
  });
  return labels.map((v) => lut[v]);
}

/** J&F of every run's first pass, with metrics_core.py in Pyodide (after all timing, so it disturbs none). */
export async function scoreRuns(results, prepared) {
  const gtCache = new Map();
  const gtOf = async (p, numFrames) => {
    const key = `${p.name}/${numFrames}`;
    if (!gtCache.has(key)) {
      const gt = new Map();
      for (const [t, load] of p.annotations)
        if (t < numFrames) gt.set(t, keepObjects((await decodeMask(await load())).labels, p.ids));
      gtCache.set(key, gt);
    }
    return gtCache.get(key);
  };
  for (const [r, run] of results.runs.entries()) {
    if (run.status !== 'ok') continue;
    status(`J&F of ${configLabel(run.config)} (metrics_core.py in Pyodide)`);
    try {
      const session = await scoringSession();
      for (const seq of predicted[r].sequences) {
        const p = prepared.find((x) => x.name === seq.name);
        const pred = new Map([...seq.pngs].map(([t, png]) => [t, decodePng(png).samples]));
        if (seq.numFrames < 3) throw new Error('J&F needs at least 3 frames (the first and last are not scored)');
        session.add(seq.name, seq.width, seq.height, await gtOf(p, seq.numFrames), pred, seq.numFrames);
      }
      run.jf = session.finish();
      run.jf.loadMs = session.scorer.loadMs;
    } catch (error) {
      run.jf = { error: error.message };
    }
  }
}

/** Predicted masks of run `r` as base64 index PNGs (tests and downloads). */
export function predictions(r) {
  const b64 = (bytes) => {
    let s = '';
    for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return btoa(s);
  };
  return {
    sequences: (predicted[r]?.sequences || []).map((s) => ({
      name: s.name,
      width: s.width,
      height: s.height,
      numFrames: s.numFrames,
      frames: Object.fromEntries([...s.pngs].map(([t, png]) => [t, b64(png)])),
    })),
  };
}
