/**
 * The inference worker: one switch over the protocol's actions (web/src/protocol.js). Owns the onnxruntime-web
 * sessions (via Tracker), pre-processing (OffscreenCanvas at model resolution), post-processing (argmax + colour
 * overlay) and the recorded masks. Frames arrive as ImageBitmaps; the page drops frames while one is in flight.
 */
import * as ort from 'onnxruntime-web';

import { pickBackend, probeWebGPU, threadCount } from './backend.js';
import { chooseVariant, maxObjects, pickCapacity } from './manifest.js';
import { labelsToPng, zipFiles } from './mask-encoding.js';
import { fetchManifest, loadGraph, pruneCache } from './model-loader.js';
import { argmaxLabels, frameSignature, labelAreas, overlayRgba } from './postprocess.js';
import { createFrameContext, drawFrame, resizeLabelsNearest } from './preprocess.js';
import { runParity } from './parity.js';
import { errorReply } from './protocol.js';
import { Tracker } from './tracker.js';

const MAX_RECORDED = 20000; // masks kept for the download (a few KB each)

const state = {
  manifest: null,
  modelBase: '',
  tracker: null,
  ctx: null, // 2D context at model resolution
  labels: null, // reusable label image
  overlay: null, // reusable RGBA
  colors: [],
  debug: false,
  recording: [], // {name, png, frameId, mediaTime, signature?}
  annotations: 0,
  info: null,
};

const post = (message, transfer = []) => self.postMessage(message, transfer);
const now = () => performance.now();

// Requests run one at a time, in order (a step must see the memory the previous step left).
let queue = Promise.resolve();
self.onmessage = ({ data: msg }) => {
  queue = queue.then(() => handle(msg));
};

async function handle(msg) {
  try {
    switch (msg.action) {
      case 'load': return post(await load(msg));
      case 'annotate': return await annotate(msg);
      case 'step': return await step(msg);
      case 'reset':
        state.tracker?.reset();
        state.recording = [];
        state.annotations = 0;
        return post({ status: 'done', requestId: msg.requestId });
      case 'masks': {
        const zip = masksZip();
        return post({ status: 'done', requestId: msg.requestId, zip, count: state.recording.length }, [zip.buffer]);
      }
      case 'recording':
        return post({ status: 'done', requestId: msg.requestId, frames: state.recording });
      case 'parity':
        return post({ status: 'done', requestId: msg.requestId, ...(await parity(msg)) });
      case 'stats':
        return post({ status: 'done', requestId: msg.requestId, stats: state.tracker?.stats() ?? null, info: state.info });
      default:
        throw Object.assign(new Error(`unknown action ${msg.action}`), { code: 'internal' });
    }
  } catch (error) {
    if (msg.frame && typeof msg.frame.close === 'function') msg.frame.close();
    post(errorReply(msg.requestId, error));
  }
}

async function load({ requestId, modelBase, wasmBase, backend: choice, noWebgpu, variant: variantChoice, threads, debug }) {
  const progress = (message, extra = {}) => post({ status: 'progress', requestId, message, ...extra });
  state.debug = Boolean(debug);
  state.modelBase = modelBase;
  progress('reading the model manifest');
  const manifest = await fetchManifest(modelBase);
  state.manifest = manifest;
  pruneCache(modelBase, manifest).catch(() => {});

  const probe = choice === 'wasm' ? { available: false, reason: 'not probed (WASM chosen)' }
    : noWebgpu ? { available: false, reason: 'disabled by ?nowebgpu=1' } : await probeWebGPU();
  let { backend, notice } = pickBackend(choice, probe);
  const isolated = Boolean(self.crossOriginIsolated);
  ort.env.wasm.wasmPaths = wasmBase;
  ort.env.wasm.numThreads = threadCount(threads, { isolated, cores: navigator.hardwareConcurrency });
  ort.env.logLevel = 'error';

  const attempt = async (be) => {
    const { variant, reason } = chooseVariant(manifest, be, { requested: variantChoice, shaderF16: Boolean(probe.shaderF16) });
    const tracker = new Tracker(ort, manifest, {
      backend: be,
      variant,
      loadModel: (graph) => loadGraph(modelBase, graph, {
        onProgress: (loaded, total, cached) => progress(cached ? `${graph.file} (cached)` : `downloading ${graph.file}`,
          { loaded, total }),
      }),
    });
    progress(`creating ${be.toUpperCase()} sessions (${variant})`);
    const timings = await tracker.prepare(manifest.objects.capacities[0]);
    return { tracker, variant, reason, timings };
  };

  let result;
  try {
    result = await attempt(backend);
  } catch (error) {
    if (error.code?.startsWith('model-') || backend === 'wasm') throw backendError(error, backend);
    notice = `WebGPU failed (${error.message}); running on WASM`;
    backend = 'wasm';
    try {
      result = await attempt('wasm');
    } catch (e) {
      throw backendError(e, 'wasm');
    }
  }
  await state.tracker?.release();
  state.tracker = result.tracker;
  const [, height, width] = manifest.frame.shape;
  state.ctx = createFrameContext(width, height);
  state.labels = new Uint8Array(width * height);
  state.overlay = new Uint8ClampedArray(width * height * 4);
  state.info = {
    backend, variant: result.variant, variantReason: result.reason, threads: backend === 'wasm' ? ort.env.wasm.numThreads : 0,
    isolated, adapter: probe.available ? probe.adapter : null, shaderF16: Boolean(probe.shaderF16),
    webgpu: probe.available ? 'available' : probe.reason, notice,
  };
  return {
    status: 'ready', requestId, ...state.info, timings: result.timings,
    model: { name: manifest.name, height, width, capacities: manifest.objects.capacities, maxObjects: maxObjects(manifest),
      variants: Object.keys(manifest.variants), checkpoint: manifest.checkpoint?.path ?? '' },
  };
}

/** Model files are fine but no backend could run them. */
function backendError(error, backend) {
  if (error.code?.startsWith('model-')) return error;
  return Object.assign(new Error(`the model could not run on ${backend.toUpperCase()}: ${error.message}`), { code: 'no-backend' });
}

function requireTracker() {
  if (!state.tracker) throw Object.assign(new Error('the model is not loaded'), { code: 'internal' });
  return state.tracker;
}

async function annotate({ requestId, frame, labels, width, height, numObjects, colors, frameId, mediaTime }) {
  const tracker = requireTracker();
  const t0 = now();
  const rgba = drawFrame(state.ctx, frame);
  const { width: mw, height: mh } = state.ctx.canvas;
  const small = resizeLabelsNearest(labels, width, height, mw, mh);
  const capacity = pickCapacity(state.manifest, numObjects);
  if (!tracker.hasSession(capacity)) { // first use of this capacity: create and warm up its graph now, not mid-track
    post({ status: 'progress', requestId, message: `loading the ${capacity}-object graph` });
    await tracker.prepare(capacity);
  }
  const t1 = now();
  const { inferMs } = await tracker.start(rgba, small, numObjects, capacity);
  state.colors = colors;
  const t2 = now();
  small.forEach((v, i) => { state.labels[i] = v <= numObjects ? v : 0; });
  const overlay = await overlayBitmap(numObjects);
  state.annotations += 1;
  record(`annotation${state.annotations}_${String(frameId).padStart(6, '0')}.png`, frameId, mediaTime, rgba);
  post({ status: 'annotated', requestId, capacity, frame, overlay,
    timings: { pre: t1 - t0, infer: inferMs, post: now() - t2 } }, [frame, overlay]);
}

async function step({ requestId, frame, frameId, mediaTime }) {
  const tracker = requireTracker();
  if (!tracker.memory.ready) throw Object.assign(new Error('annotate a frame before tracking'), { code: 'not-annotated' });
  const t0 = now();
  const rgba = drawFrame(state.ctx, frame);
  const t1 = now();
  const { prob, numObjects } = await tracker.step(rgba);
  const t2 = now();
  argmaxLabels(prob, numObjects, state.labels.length, state.labels);
  const overlay = await overlayBitmap(numObjects);
  const t3 = now();
  const labels = state.labels.slice();
  post({ status: 'result', requestId, frameId, mediaTime, frame, overlay, labels, areas: labelAreas(labels, numObjects),
    timings: { pre: t1 - t0, infer: t2 - t1, post: t3 - t2 } }, [frame, overlay, labels.buffer]);
  record(`${String(frameId).padStart(6, '0')}.png`, frameId, mediaTime, rgba); // after the reply: off the latency path
}

async function overlayBitmap(numObjects) {
  const { width, height } = state.ctx.canvas;
  overlayRgba(state.labels, width, height, state.colors.slice(0, numObjects), {}, state.overlay);
  return createImageBitmap(new ImageData(state.overlay, width, height));
}

function record(name, frameId, mediaTime, rgba) {
  if (state.recording.length >= MAX_RECORDED) return;
  const { width, height } = state.ctx.canvas;
  const entry = { name, frameId, mediaTime, png: labelsToPng(state.labels, width, height) };
  if (state.debug) {
    entry.signature = frameSignature(rgba, width, height);
    if (state.recording.length < 8) entry.rgba = rgba.slice(); // a few raw model inputs, to compare with the source
  }
  state.recording.push(entry);
}

function masksZip() {
  const files = {};
  const index = [];
  for (const r of state.recording) {
    files[`masks/${r.name}`] = r.png;
    index.push({ file: `masks/${r.name}`, frame: r.frameId, media_time: r.mediaTime });
  }
  const { width, height } = state.ctx ? state.ctx.canvas : { width: 0, height: 0 };
  const readme = {
    what: 'MobileVOS masks: index PNGs (DAVIS palette), 0 = background, i = object i, at model resolution',
    width, height, model: state.manifest?.name, backend: state.info?.backend, variant: state.info?.variant,
    frames: index,
  };
  files['masks.json'] = new TextEncoder().encode(JSON.stringify(readme, null, 1));
  return zipFiles(files);
}

/** Debug/test: replay the export's parity fixtures on this worker's backend (web/src/parity.js). */
async function parity({ capacities = null }) {
  const tracker = requireTracker();
  const fixtures = new URL(state.manifest.fixtures || 'fixtures/index.json', state.modelBase);
  const index = await (await fetch(fixtures)).json();
  const read = async (name) => {
    const response = await fetch(new URL(name, fixtures));
    if (!response.ok) throw new Error(`fixture ${name}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  };
  const runner = tracker.variant === index.variant ? tracker
    : new Tracker(ort, state.manifest, { backend: tracker.backend, variant: index.variant, loadModel: (g) => loadGraph(state.modelBase, g) });
  const t0 = now();
  const rows = await runParity(runner, index, read, { capacities });
  if (runner !== tracker) await runner.release();
  return { rows, backend: tracker.backend, variant: index.variant, ms: now() - t0 };
}
