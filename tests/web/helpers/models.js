/**
 * Where the tests find an exported model: $MOBILEVOS_MODELS, else the page's default model's export
 * (web/public/models/<DEFAULT_MODEL>) when it holds a manifest.json, else tests/web/.models/dev, built on demand by
 * scripts/make_dev_models.sh (an untrained student exported with `python -m export`; takes a few minutes the first
 * time).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL } from '../../../web/src/shipped-models.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const DEV_MODELS = join(REPO, 'tests/web/.models/dev');

/** The model folder the tests use (building the dev export when nothing else is there). */
export function modelDir() {
  if (process.env.MOBILEVOS_MODELS) return resolve(process.env.MOBILEVOS_MODELS);
  const shipped = join(REPO, 'web/public/models', DEFAULT_MODEL);
  if (existsSync(join(shipped, 'manifest.json'))) return shipped;
  if (!existsSync(join(DEV_MODELS, 'manifest.json'))) {
    execFileSync('bash', [join(REPO, 'scripts/make_dev_models.sh'), DEV_MODELS], { stdio: 'inherit' });
  }
  return DEV_MODELS;
}

export function readManifest(dir = modelDir()) {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
}

/**
 * `&size=HxW` pinning the page at WASM's default model size. Tests whose references (Python's masks, letterbox
 * geometry, a replay's frames) were made at that size pin it: the page's Auto measures the device and steps down to a
 * smaller exported size where a CPU misses 30 FPS, which would make them depend on this machine's speed. size.test.js
 * tests Auto itself.
 */
export function wasmSizeQuery(dir = modelDir()) {
  const [height, width] = readManifest(dir).model.default_size.wasm;
  return `&size=${height}x${width}`;
}
