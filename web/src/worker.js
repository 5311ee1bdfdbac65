/**
 * The inference worker: one switch over the protocol's actions (web/src/protocol.js). Owns the onnxruntime-web
 * sessions (via Tracker), pre-processing (the frame letterboxed into an OffscreenCanvas at model resolution),
 * post-processing (probabilities mapped back to the frame's native size, argmax, colour overlay) and the recorded
 * masks, keyed by frame index. Frames arrive as ImageBitmaps at their native size, each with its index and time.
 */
import * as ort from 'onnxruntime-web';

import { pickBackend, probeWebGPU, threadCount } from './backend.js';
import { chooseVariant, maxObjects, pickCapacity } from './manifest.js';
import { labelsToPng, zipFiles } from './mask-encoding.js';
import { fetchManifest, loadGraph, pruneCache } from './model-loader.js';
import { letterbox, letterboxLabels, maskFileName, nativeLabels } from './geometry.js';
import { labelAreas, overlayRgba } from './postprocess.js';
import { createFrameContext, drawFrame, nativeSignature } from './preprocess.js';
import { runParity } from './parity.js';
import { errorReply } from './protocol.js';
import { Tracker } from './tracker.js';

const MAX_RECORDED = 20000; // masks kept for the download (a few KB each)

const state = {
  manifest: null,
  modelBase: '',
  tracker: null,
  ctx: null, // 2D context at model resolution
  colors: [],
  debug: false,
  recording: new Map(), // frame index -> {index, time, tracked, annotated, png, signature?, rgba?}, in recording order
  skipped: new Map(), // camera frames dropped while busy: capture index -> time
  full: false, // MAX_RECORDED reached: later masks are not kept (the page says so)
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
      case 'load':
        return post(await load(msg));
      case 'annotate':
        return await annotate(msg);
      case 'step':
        return await step(msg);
      case 'reset':
        state.tracker?.reset();
        state.recording.clear();
        state.skipped.clear();
        state.full = false;
        return post({ status: 'done', requestId: msg.requestId });
      case 'masks': {
        for (const f of msg.skipped ?? []) state.skipped.set(f.index, f.time);
        const zip = masksZip(msg);
        return post({ status: 'done', requestId: msg.requestId, zip, count: state.recording.size }, [zip.buffer]);
      }
      case 'recording':
        return post({ status: 'done', requestId: msg.requestId, frames: [...state.recording.values()] });
      case 'parity':
        return post({ status: 'done', requestId: msg.requestId, ...(await parity(msg)) });
      case 'stats':
        return post({
          status: 'done',
          requestId: msg.requestId,
          stats: state.tracker?.stats() ?? null,
          info: state.info,
        });
      default:
        throw Object.assign(new Error(`unknown action ${msg.action}`), { code: 'internal' });
    }
  } catch (error) {
    if (msg.frame && typeof msg.frame.close === 'function') msg.frame.close();
    post(errorReply(msg.requestId, error));
  }
}

async function load({
  requestId,
  modelBase,
  wasmBase,
  backend: choice,
  noWebgpu,
  variant: variantChoice,
  threads,
  debug,
}) {
  const progress = (message, extra = {}) => post({ status: 'progress', requestId, message, ...extra });
  state.debug = Boolean(debug);
  state.modelBase = modelBase;
  progress('reading the model manifest');
  const manifest = await fetchManifest(modelBase);
  state.manifest = manifest;
  pruneCache(modelBase, manifest).catch(() => {});

  const probe =
    choice === 'wasm'
      ? { available: false, reason: 'not probed (WASM chosen)' }
      : noWebgpu
        ? { available: false, reason: 'disabled by ?nowebgpu=1' }
        : await probeWebGPU();
  let { backend, notice } = pickBackend(choice, probe);
  const isolated = Boolean(self.crossOriginIsolated);
  ort.env.wasm.wasmPaths = wasmBase;
  ort.env.wasm.numThreads = threadCount(threads, { isolated, cores: navigator.hardwareConcurrency });
  ort.env.logLevel = 'error';

  const attempt = async (be) => {
    const { variant, reason } = chooseVariant(manifest, be, {
      requested: variantChoice,
      shaderF16: Boolean(probe.shaderF16),
    });
    const tracker = new Tracker(ort, manifest, {
      backend: be,
      variant,
      loadModel: (graph) =>
        loadGraph(modelBase, graph, {
          onProgress: (loaded, total, cached) =>
            progress(cached ? `${graph.file} (cached)` : `downloading ${graph.file}`, { loaded, total }),
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
  state.info = {
    backend,
    variant: result.variant,
    variantReason: result.reason,
    threads: backend === 'wasm' ? ort.env.wasm.numThreads : 0,
    isolated,
    adapter: probe.available ? probe.adapter : null,
    shaderF16: Boolean(probe.shaderF16),
    webgpu: probe.available ? 'available' : probe.reason,
    notice,
  };
  return {
    status: 'ready',
    requestId,
    ...state.info,
    timings: result.timings,
    model: {
      name: manifest.name,
      height,
      width,
      capacities: manifest.objects.capacities,
      maxObjects: maxObjects(manifest),
      variants: Object.keys(manifest.variants),
      checkpoint: manifest.checkpoint?.path ?? '',
    },
  };
}

/** Model files are fine but no backend could run them. */
function backendError(error, backend) {
  if (error.code?.startsWith('model-')) return error;
  return Object.assign(new Error(`the model could not run on ${backend.toUpperCase()}: ${error.message}`), {
    code: 'no-backend',
  });
}

function requireTracker() {
  if (!state.tracker) throw Object.assign(new Error('the model is not loaded'), { code: 'internal' });
  return state.tracker;
}

/** Letterbox of a native frame in the model input, and the frame drawn into it (RGBA at model resolution). */
function modelInput(frame) {
  const { width, height } = state.ctx.canvas;
  const box = letterbox(frame.width, frame.height, width, height);
  return { box, rgba: drawFrame(state.ctx, frame, box) };
}

async function annotate({ requestId, frame, labels, width, height, numObjects, colors, index, time }) {
  const tracker = requireTracker();
  if (frame.width !== width || frame.height !== height) {
    throw Object.assign(new Error(`the annotation is ${width}x${height}, its frame ${frame.width}x${frame.height}`), {
      code: 'internal',
    });
  }
  const t0 = now();
  const { box, rgba } = modelInput(frame);
  const { width: mw, height: mh } = state.ctx.canvas;
  const small = letterboxLabels(labels, width, height, box, mw, mh);
  const capacity = pickCapacity(state.manifest, numObjects);
  if (!tracker.hasSession(capacity)) {
    // first use of this capacity: create and warm up its graph now, not mid-track
    post({ status: 'progress', requestId, message: `loading the ${capacity}-object graph` });
    await tracker.prepare(capacity);
  }
  const t1 = now();
  const { inferMs } = await tracker.start(rgba, small, numObjects, capacity);
  state.colors = colors;
  const t2 = now();
  const native = labels.map((v) => (v <= numObjects ? v : 0)); // the annotation itself is the frame's mask
  const overlay = await overlayBitmap(native, width, height, numObjects);
  const signature = state.debug ? nativeSignature(frame) : null;
  post(
    {
      status: 'annotated',
      requestId,
      capacity,
      frame,
      overlay,
      timings: { pre: t1 - t0, infer: inferMs, post: now() - t2 },
    },
    [frame, overlay],
  );
  record({ index, time, tracked: false, annotated: true }, native, width, height, signature, rgba);
}

async function step({ requestId, frame, index, time, skipped = [] }) {
  const tracker = requireTracker();
  if (!tracker.memory.ready)
    throw Object.assign(new Error('annotate a frame before tracking'), { code: 'not-annotated' });
  for (const s of skipped) state.skipped.set(s.index, s.time);
  const t0 = now();
  const { box, rgba } = modelInput(frame);
  const t1 = now();
  const { prob, numObjects } = await tracker.step(rgba);
  const t2 = now();
  const { width: mw, height: mh } = state.ctx.canvas;
  const { width, height } = frame;
  const labels = nativeLabels(prob, numObjects + 1, mw, mh, box, width, height);
  const overlay = await overlayBitmap(labels, width, height, numObjects);
  const t3 = now();
  const areas = labelAreas(labels, numObjects);
  const signature = state.debug ? nativeSignature(frame) : null;
  post(
    {
      status: 'result',
      requestId,
      index,
      time,
      frame,
      overlay,
      labels,
      areas,
      recorded: !state.full,
      timings: { pre: t1 - t0, infer: t2 - t1, post: t3 - t2 },
    },
    [frame, overlay],
  );
  record({ index, time, tracked: true, annotated: false }, labels, width, height, signature, rgba); // after the reply
}

async function overlayBitmap(labels, width, height, numObjects) {
  const rgba = overlayRgba(labels, width, height, state.colors.slice(0, numObjects));
  return createImageBitmap(new ImageData(rgba, width, height));
}

/** Keep frame `entry.index`'s mask as an index PNG at the frame's native size (a later mask of that frame replaces it). */
function record(entry, labels, width, height, signature, rgba) {
  if (!state.recording.has(entry.index) && state.recording.size >= MAX_RECORDED) {
    state.full = true;
    return;
  }
  Object.assign(entry, { width, height, png: labelsToPng(labels, width, height) });
  if (state.debug) {
    entry.signature = signature;
    if (state.recording.size < 8) entry.rgba = rgba.slice(); // a few raw model inputs, to compare with the source
  }
  state.recording.delete(entry.index);
  state.recording.set(entry.index, entry);
}

/**
 * The zip: `<name>/00000.png` ... (frame index, DAVIS layout, native size, DAVIS palette) and masks.json, which lists
 * every frame: all of a file's (`times`, in order), or the camera frames that were tracked or dropped.
 */
function masksZip({ name = 'video', kind = 'file', times = null }) {
  const folder = name.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_') || 'video';
  const files = {};
  const frames = times
    ? times.map((time, index) => ({ index, time }))
    : [...new Map([...state.skipped, ...[...state.recording.values()].map((r) => [r.index, r.time])])]
        .map(([index, time]) => ({ index, time }))
        .sort((a, b) => a.index - b.index);
  const index = frames.map(({ index: i, time }) => {
    const r = state.recording.get(i);
    if (r) files[`${folder}/${maskFileName(i)}`] = r.png;
    return {
      index: i,
      time,
      tracked: Boolean(r?.tracked),
      annotated: Boolean(r?.annotated),
      file: r ? `${folder}/${maskFileName(i)}` : null,
    };
  });
  const first = state.recording.values().next().value;
  const readme = {
    what:
      "MobileVOS masks: index PNGs (DAVIS palette; 0 = background, i = object i) at the source's native size, " +
      "named by frame index (video files: the frame's position in the video; camera: the capture index). " +
      '`tracked`: the model segmented the frame; `annotated`: the mask is an annotation; `time`: seconds (media time).',
    source: { kind, name, width: first?.width ?? 0, height: first?.height ?? 0, frames: times ? times.length : null },
    model: state.manifest?.name,
    input: state.ctx ? { width: state.ctx.canvas.width, height: state.ctx.canvas.height } : null,
    backend: state.info?.backend,
    variant: state.info?.variant,
    complete: !state.full,
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
  const runner =
    tracker.variant === index.variant
      ? tracker
      : new Tracker(ort, state.manifest, {
          backend: tracker.backend,
          variant: index.variant,
          loadModel: (g) => loadGraph(state.modelBase, g),
        });
  const t0 = now();
  const rows = await runParity(runner, index, read, { capacities });
  if (runner !== tracker) await runner.release();
  return { rows, backend: tracker.backend, variant: index.variant, ms: now() - t0 };
}
