/**
 * The page's settings: URL parameters (unknown ones are reported), then the choices saved in localStorage.
 * backend=auto|webgpu|wasm, variant=auto|fp32|fp16|int8, size=auto|HxW (model input, one of the manifest's sizes), threads=N, depth=1|2 (frames in flight),
 * model=student_pruned|student|student_fast (a shipped model: MODELS), models=URL (any folder with manifest.json; overrides model),
 * wasm=URL (onnxruntime-web files), nowebgpu=1 (act as if WebGPU were missing), debug=1 (record
 * per-frame signatures for tests), carry=N:HxW (with debug=1: carry the memory to HxW after the Nth track call of each
 * annotation, as Auto does when the device's speed changes, whatever the size setting; for tests), sw=0 (no service
 * worker), start=sample (open the sample clip with its mask and track it as soon as the model is ready, no clicks:
 * what `npm run bench -- --first-mask` times).
 */
import { DEFAULT_MODEL, MODELS, modelFolder } from '../shipped-models.js';

export { DEFAULT_MODEL, MODELS };

export const PARAMS = [
  'backend',
  'variant',
  'size',
  'threads',
  'depth',
  'model',
  'models',
  'wasm',
  'nowebgpu',
  'debug',
  'carry',
  'sw',
  'start',
];
const query = new URLSearchParams(location.search);
const stored = JSON.parse(localStorage.getItem('mobilevos-settings') || '{}');
const requestedModel = query.get('model') || stored.model || DEFAULT_MODEL;
/** A model name (?model= or a saved choice) that names no shipped model (the page loads the default and says so). */
export const unknownModel = Object.hasOwn(MODELS, requestedModel) ? null : requestedModel;

export const config = {
  backend: query.get('backend') || stored.backend || 'auto',
  variant: query.get('variant') || stored.variant || 'auto',
  size: query.get('size') || stored.size || 'auto',
  threads: Number(query.get('threads') ?? stored.threads ?? 0),
  depth: Math.min(2, Math.max(1, Number(query.get('depth') || 2))),
  model: unknownModel ? DEFAULT_MODEL : requestedModel,
  modelsOverride: query.has('models'), // ?models=URL: the Model setting does not apply
  get models() {
    return new URL(query.get('models') || modelFolder(this.model), document.baseURI).href;
  },
  wasm: new URL(query.get('wasm') || 'ort/', document.baseURI).href,
  nowebgpu: query.get('nowebgpu') === '1',
  debug: query.get('debug') === '1',
  carry: query.get('debug') === '1' ? parseCarry(query.get('carry')) : null,
  sw: query.get('sw') !== '0',
  start: query.get('start') === 'sample' ? 'sample' : '',
};

/** ?carry=N:HxW as {after: N, size: [H, W]} (null when absent or malformed: the page then carries nothing). */
function parseCarry(text) {
  const m = /^(\d+):(\d+)x(\d+)$/.exec(text ?? '');
  return m ? { after: Number(m[1]), size: [Number(m[2]), Number(m[3])] } : null;
}

export const unknownParams = [...query.keys()].filter((k) => !PARAMS.includes(k));

/** Keep the settings chosen on the page (model, backend, variant, model input size, threads) for the next visit. */
export function saveSettings() {
  localStorage.setItem(
    'mobilevos-settings',
    JSON.stringify({
      model: config.model,
      backend: config.backend,
      variant: config.variant,
      size: config.size,
      threads: config.threads,
    }),
  );
}
