/** The inference worker and its model, as the page shows them: loading progress, backend and variant pills. */
import { WorkerClient } from '../ui/worker-client.js';
import { MARKS, markOnce, markWorker } from './marks.js';
import { config } from './settings.js';
import { $, app, banner } from './state.js';
import { setPill, setStatus, updateControls } from './view.js';

/**
 * A fresh worker with the current settings: loads the model and shows the backend, or a banner to retry. `objects`
 * (a number, or a promise of one): how many objects the page will annotate first when it knows (the sample's mask),
 * so that the worker creates and warms up that graph while it loads; the load request waits for it, the worker's
 * script loads meanwhile.
 */
export async function startWorker({ objects = 1 } = {}) {
  app.worker?.terminate();
  app.ready = false;
  setPill('#pill-backend', 'loading model…');
  $('#pill-variant').hidden = true;
  const worker = new WorkerClient(
    new Worker(new URL('../worker.js', import.meta.url), { type: 'module', name: 'mobilevos-inference' }),
    { onProgress: (p) => showProgress(p) },
  );
  app.worker = worker;
  try {
    const ready = await worker.request('load', {
      modelBase: config.models,
      wasmBase: config.wasm,
      backend: config.backend,
      noWebgpu: config.nowebgpu,
      variant: config.variant,
      size: config.size,
      threads: config.threads,
      objects: await objects,
      debug: config.debug,
      carry: config.carry,
    });
    if (app.worker !== worker) return;
    app.ready = true;
    app.info = ready;
    app.model = ready.model;
    showBackend(ready);
    fillVariantChoices(ready.model.variants);
    fillSizeChoices(ready.model.sizes);
    banner.hide('no-backend');
    if (ready.notice) banner.show('backend-notice', { kind: 'info', detail: ready.notice });
    else if (ready.backend === 'wasm' && !ready.isolated) banner.show('not-isolated', { kind: 'warn' });
    setStatus('');
    const { backend, threads, variant, model, timings } = ready;
    markWorker(ready.marks);
    markOnce(MARKS.modelReady, { backend, threads, variant, size: `${model.height}x${model.width}`, timings });
    warmClickHead();
  } catch (error) {
    if (app.worker !== worker) return;
    setPill('#pill-backend', error.code === 'no-backend' ? 'no backend' : 'model error', 'bad');
    setStatus('');
    banner.show(error.code || 'no-backend', { detail: error.message, actions: [['Retry', () => startWorker()]] });
  }
  updateControls();
}

/**
 * The click head (the worker's `prepare-prompt`: its session and the features' graph, warmed up) is not on the way to
 * the first mask, so the worker prepares it once the page asks: when the Click tool is chosen (`tool`), or when the
 * page is idle with the model ready — not while it tracks or is about to (?start=sample's Track: `app.autoTrack`),
 * where it would hold frames back. Once per worker; a failure is shown as a click's would be, and the Click tool
 * tries again when used.
 */
export function warmClickHead({ tool = false } = {}) {
  const worker = app.worker;
  if (!worker || !app.ready || !app.model?.prompt || app.clickHead === worker) return;
  if (!tool && (app.mode === 'tracking' || app.autoTrack)) return;
  app.clickHead = worker;
  worker.request('prepare-prompt').catch((error) => {
    if (app.worker !== worker || error.code === 'cancelled') return;
    app.clickHead = null;
    banner.show(error.code || 'prompt-failed', { detail: error.message });
  });
}

function showProgress({ message, loaded, total }) {
  const pct = total ? ` ${Math.round((100 * loaded) / total)}%` : '';
  setStatus(`${message}${pct}`);
}

function showBackend(info) {
  const label = info.backend === 'webgpu' ? 'WebGPU' : `WASM · ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  setPill('#pill-backend', label, info.backend === 'wasm' && !info.isolated ? 'warn' : 'ok');
  $('#pill-backend').title =
    info.backend === 'webgpu'
      ? `WebGPU: ${info.adapter}${info.shaderF16 ? ' (shader-f16)' : ''}`
      : `WASM, ${info.threads} thread(s)${info.isolated ? '' : ' — page not cross-origin isolated'}; WebGPU: ${info.webgpu}`;
  const variant = $('#pill-variant');
  variant.hidden = false;
  variant.textContent = info.variant;
  variant.title = `model variant ${info.variant}: ${info.variantReason}`;
  showModelInfo(info);
}

/** The settings hint: which model and input size run, why, and the cost. */
function showModelInfo(info) {
  const m = info.model;
  const { flops } = m.sizes.find((s) => s.height === m.height && s.width === m.width);
  const cost = flops ? `; ${(flops / 1e9).toFixed(1)} GFLOP a frame` : '';
  // the stats panel shows the input in use (Auto moves it while tracking), its title says why
  $('#stat-input').textContent = `${m.width}×${m.height}`;
  $('#stat-input-box').title = `model input: ${m.sizeReason}`;
  $('#model-info').textContent =
    `${m.name}: ${m.width}×${m.height} input (${m.sizeReason}${cost}), ` +
    `up to ${m.maxObjects} objects, variants ` +
    `${m.variants.join(', ')}.` +
    (info.adapter ? ` GPU: ${info.adapter}.` : '');
}

/** Auto's input size moved: measured again at Track (the `annotated` reply's model) or while tracking (a `result`'s):
 * {height, width, sizeReason}. */
export function showModelSize({ height, width, sizeReason }) {
  Object.assign(app.model, { height, width, sizeReason });
  showModelInfo(app.info);
}

/** Aspect ratios the size list names its groups by (an export's other shapes serve frames of those shapes). */
const SHAPES = [
  ['4:3', 4 / 3],
  ['16:9', 16 / 9],
  ['3:4, portrait', 3 / 4],
  ['9:16, portrait', 9 / 16],
];
const shapeOf = (s) =>
  SHAPES.reduce((a, b) =>
    Math.abs(Math.log(s.width / s.height / b[1])) < Math.abs(Math.log(s.width / s.height / a[1])) ? b : a,
  )[0];

/** The model input sizes of the export ("HxW"), one group per shape in the export's order, smallest first (the hint
 * below says the chosen one's cost). */
function fillSizeChoices(sizes) {
  const select = $('#set-size');
  const groups = new Map();
  for (const s of [...sizes].sort((a, b) => a.height * a.width - b.height * b.width)) {
    const shape = shapeOf(s);
    if (!groups.has(shape)) groups.set(shape, Object.assign(document.createElement('optgroup'), { label: shape }));
    groups.get(shape).append(new Option(`${s.width}×${s.height}`, `${s.height}x${s.width}`));
  }
  const first = shapeOf(sizes[0]); // the export's first size's shape leads
  const ordered = [groups.get(first), ...[...groups].filter(([k]) => k !== first).map(([, g]) => g)];
  select.replaceChildren(new Option('Auto', 'auto'), ...ordered);
  const values = [...select.options].map((o) => o.value);
  select.value = values.includes(config.size) ? config.size : 'auto';
}

function fillVariantChoices(variants) {
  const select = $('#set-variant');
  select.replaceChildren(new Option('Auto', 'auto'), ...variants.map((v) => new Option(v, v)));
  select.value = variants.includes(config.variant) ? config.variant : 'auto';
}
