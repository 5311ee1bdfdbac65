/**
 * The page's settings: URL parameters (unknown ones are reported), then the choices saved in localStorage.
 * backend=auto|webgpu|wasm, variant=auto|fp32|fp16|int8, size=auto|HxW (model input, one of the manifest's sizes), threads=N, depth=1|2 (frames in flight), models=URL (folder
 * with manifest.json), wasm=URL (onnxruntime-web files), nowebgpu=1 (act as if WebGPU were missing), debug=1 (record
 * per-frame signatures for tests), sw=0 (no service worker), start=sample (open the sample clip with its mask and track
 * it as soon as the model is ready, no clicks: what `npm run bench -- --first-mask` times).
 */
export const PARAMS = [
  'backend',
  'variant',
  'size',
  'threads',
  'depth',
  'models',
  'wasm',
  'nowebgpu',
  'debug',
  'sw',
  'start',
];
const query = new URLSearchParams(location.search);
const stored = JSON.parse(localStorage.getItem('mobilevos-settings') || '{}');

export const config = {
  backend: query.get('backend') || stored.backend || 'auto',
  variant: query.get('variant') || stored.variant || 'auto',
  size: query.get('size') || stored.size || 'auto',
  threads: Number(query.get('threads') ?? stored.threads ?? 0),
  depth: Math.min(2, Math.max(1, Number(query.get('depth') || 2))),
  models: new URL(query.get('models') || 'models/student/', document.baseURI).href,
  wasm: new URL(query.get('wasm') || 'ort/', document.baseURI).href,
  nowebgpu: query.get('nowebgpu') === '1',
  debug: query.get('debug') === '1',
  sw: query.get('sw') !== '0',
  start: query.get('start') === 'sample' ? 'sample' : '',
};

export const unknownParams = [...query.keys()].filter((k) => !PARAMS.includes(k));

/** Keep the settings chosen on the page (backend, variant, model input size, threads) for the next visit. */
export function saveSettings() {
  localStorage.setItem(
    'mobilevos-settings',
    JSON.stringify({ backend: config.backend, variant: config.variant, size: config.size, threads: config.threads }),
  );
}
