// Score label maps with py/mobilevos/eval/metrics_core.py running in Pyodide, as the web app's bench page does.
//
//   node tests/pyodide/score.mjs MANIFEST.json [--pyodide DIR]
//
// DIR is the `pyodide` npm package folder (default: $MOBILEVOS_PYODIDE_DIR, else <repo>/node_modules/pyodide).
// MANIFEST.json:
//   {"core": "path/to/metrics_core.py" (default: the repository's),
//    "bound_th": 0.008 (optional),
//    "sequences": [{"name": "blackswan", "width": 854, "height": 480, "num_frames": 50,
//                   "gt": {"0": "gt/blackswan/00000.u8", ...}, "pred": {"1": "pred/blackswan/00001.u8", ...},
//                   "container": "map" | "array" | "object" (how the frames are passed; default "map")}]}
// Each .u8 file is a raw H×W uint8 label map, row-major (0 = background, 255 = void); relative paths are taken from
// the manifest's folder. Prints one JSON object: {"pyodide", "python", "load_ms", "score_ms", "frames",
// "ms_per_frame", "results": {seq: evaluate_sequence result}, "summary": summarize(results)}.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
let manifestPath = null;
let pyodideDir = process.env.MOBILEVOS_PYODIDE_DIR || join(repo, 'node_modules', 'pyodide');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--pyodide') pyodideDir = args[++i];
  else manifestPath = args[i];
}
if (!manifestPath || !pyodideDir) {
  console.error('usage: node tests/pyodide/score.mjs MANIFEST.json [--pyodide DIR]');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const base = dirname(resolve(manifestPath));
const corePath = resolve(base, manifest.core ?? join(repo, 'py', 'mobilevos', 'eval', 'metrics_core.py'));

function labelMap(path) {
  const buf = readFileSync(resolve(base, path));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// The ways a page may hand frames over: a Map (frame index → Uint8Array), an Array indexed by frame (null or a
// hole where a frame has none), or a plain object keyed by frame index.
function container(files, kind = 'map') {
  const entries = Object.entries(files).map(([t, path]) => [Number(t), labelMap(path)]);
  if (kind === 'map') return new Map(entries);
  if (kind === 'object') return Object.fromEntries(entries);
  if (kind === 'array') {
    const frames = [];
    for (const [t, labels] of entries) frames[t] = labels;
    for (let t = 0; t < frames.length; t++) if (!(t in frames) && t % 2) frames[t] = null; // null and holes
    return frames;
  }
  throw new Error(`unknown container ${kind}`);
}

let started = performance.now();
const { loadPyodide } = await import(pathToFileURL(join(resolve(pyodideDir), 'pyodide.mjs')).href);
const pyodide = await loadPyodide({ indexURL: resolve(pyodideDir) + '/' });
// The core is one standard-library module: write it into Pyodide's file system and import it (no package install).
pyodide.FS.writeFile('/home/pyodide/metrics_core.py', readFileSync(corePath, 'utf8'));
pyodide.runPython("import importlib, sys; sys.path.insert(0, '/home/pyodide'); importlib.invalidate_caches()");
const core = pyodide.pyimport('metrics_core');
const json = pyodide.pyimport('json');
const loadMs = performance.now() - started;

const results = pyodide.globals.get('dict')();
let frames = 0;
started = performance.now();
for (const seq of manifest.sequences) {
  const gt = container(seq.gt, seq.container);
  const pred = container(seq.pred, seq.container);
  const kwargs = { num_frames: seq.num_frames ?? null };
  if (manifest.bound_th !== undefined) kwargs.bound_th = manifest.bound_th;
  const result = core.evaluate_labels.callKwargs(seq.width, seq.height, gt, pred, kwargs);
  frames += result.get('frames').length;
  results.set(seq.name, result);
  result.destroy();
}
const scoreMs = performance.now() - started;
const summary = core.summarize(results);
const out = pyodide.globals.get('dict')();
out.set('pyodide', pyodide.version);
out.set('python', pyodide.runPython('sys.version.split()[0]'));
out.set('load_ms', loadMs);
out.set('score_ms', scoreMs);
out.set('frames', frames);
out.set('ms_per_frame', scoreMs / Math.max(frames, 1));
out.set('results', results);
out.set('summary', summary.get('summary'));
// Python's json writes every float exactly (repr round-trips), so the figures compare bit for bit.
process.stdout.write(json.dumps(out) + '\n');
