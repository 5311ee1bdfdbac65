/**
 * The inference worker: the page's actions of the protocol (web/src/protocol.js). Owns the onnxruntime-web sessions
 * (via Tracker), the per-frame pipeline (frame-pipeline.js: frames arrive as ImageBitmaps at their native size, each
 * with its index and time) and the recorded masks (mask-recording.js), keyed by frame index.
 */
import * as ort from 'onnxruntime-web';

import { pickBackend, probeWebGPU, threadCount } from './backend.js';
import { FramePipeline } from './frame-pipeline.js';
import { atSize, chooseSize, chooseVariant, maxObjects, pickCapacity } from './manifest.js';
import { MaskRecording } from './mask-recording.js';
import { fetchManifest, loadGraph, pruneCache } from './model-loader.js';
import { nativeSignature } from './preprocess.js';
import { runParity } from './parity.js';
import { serveRequests } from './protocol.js';
import { fitToDevice } from './size-fit.js';
import { Tracker } from './tracker.js';

const state = {
  manifest: null,
  modelBase: '',
  tracker: null,
  pipeline: null,
  debug: false,
  debugInputBytes: 0, // model inputs kept in the recording (debug only)
  recording: new MaskRecording(),
  info: null,
};

const now = () => performance.now();
const DEBUG_INPUT_BYTES = 64 * 2 ** 20;

serveRequests({
  load,
  annotate,
  step,
  reset: (msg, reply) => {
    state.tracker?.reset();
    state.recording.clear();
    state.debugInputBytes = 0;
    reply();
  },
  masks: (msg, reply) => {
    state.recording.skip(msg.skipped);
    const { ctx } = state.pipeline ?? {};
    const zip = state.recording.zip(msg, {
      model: state.manifest?.name,
      input: ctx ? { width: ctx.canvas.width, height: ctx.canvas.height } : null,
      backend: state.info?.backend,
      variant: state.info?.variant,
    });
    reply({ zip, count: state.recording.frames.size }, [zip.buffer]);
  },
  recording: (msg, reply) => reply({ frames: [...state.recording.frames.values()] }),
  parity: async (msg, reply) => reply(await parity(msg)),
  stats: (msg, reply) => reply({ stats: state.tracker?.stats() ?? null, info: state.info }),
});

async function load(
  { modelBase, wasmBase, backend: choice, noWebgpu, variant: variantChoice, size: sizeChoice = 'auto', threads, debug },
  reply,
) {
  const progress = (message, extra = {}) => reply({ status: 'progress', message, ...extra });
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
    // the graphs take any of the manifest's sizes: the tracker (and so the pipeline) sees the manifest at the chosen one
    const { size, reason: sizeReason } = chooseSize(manifest, be, sizeChoice, { software: Boolean(probe.software) });
    const tracker = new Tracker(ort, atSize(manifest, size), {
      backend: be,
      variant,
      loadModel: (graph) =>
        loadGraph(modelBase, graph, {
          onProgress: (loaded, total, cached) =>
            progress(cached ? `${graph.file} (cached)` : `downloading ${graph.file}`, { loaded, total }),
        }),
    });
    progress(`creating ${be.toUpperCase()} sessions (${variant}, ${size[1]}×${size[0]})`);
    const capacity = manifest.objects.capacities[0];
    const timings = await tracker.prepare(capacity);
    const fitted =
      sizeChoice === 'auto'
        ? await fitToDevice(manifest, capacity, { tracker, timings, size }, progress)
        : { tracker, timings };
    return {
      variant,
      reason,
      ...fitted,
      sizeReason: sizeChoice === 'auto' ? `${sizeReason}; ${fitted.reason}` : sizeReason,
    };
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
  state.pipeline = new FramePipeline(result.tracker);
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
  const [, height, width] = result.tracker.manifest.frame.shape;
  reply({
    status: 'ready',
    ...state.info,
    timings: result.timings,
    model: {
      name: manifest.name,
      height,
      width,
      sizeReason: result.sizeReason,
      sizes: manifest.model.sizes.map((s) => ({
        height: s.height,
        width: s.width,
        flops: s.flops?.[manifest.objects.capacities[0]] ?? null, // of the smallest capacity, as the export measured
      })),
      capacities: manifest.objects.capacities,
      maxObjects: maxObjects(manifest),
      variants: Object.keys(manifest.variants),
      checkpoint: manifest.checkpoint?.path ?? '',
    },
  });
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

async function annotate({ frame, labels, width, height, numObjects, index, time }, reply) {
  const tracker = requireTracker();
  const capacity = pickCapacity(state.manifest, numObjects);
  if (!tracker.hasSession(capacity)) {
    // first use of this capacity: create and warm up its graph now, not mid-track
    reply({ status: 'progress', message: `loading the ${capacity}-object graph` });
    await tracker.prepare(capacity);
  }
  const signature = state.debug ? nativeSignature(frame) : null;
  const done = await state.pipeline.annotate(frame, labels, width, height, numObjects, capacity);
  reply({ status: 'annotated', capacity, frame, overlay: done.overlay, timings: done.timings }, [frame, done.overlay]);
  record({ index, time, tracked: false, annotated: true }, done, width, height, signature);
}

async function step({ frame, index, time, skipped = [] }, reply) {
  requireTracker();
  state.recording.skip(skipped);
  const signature = state.debug ? nativeSignature(frame) : null;
  const { width, height } = frame;
  const done = await state.pipeline.step(frame);
  const { labels, overlay, areas, timings } = done;
  reply({ status: 'result', index, time, frame, overlay, labels, areas, recorded: !state.recording.full, timings }, [
    frame,
    overlay,
  ]);
  record({ index, time, tracked: true, annotated: false }, done, width, height, signature); // after the reply
}

/** Keep a frame's mask for the download; in debug mode with its signature and model input (up to a budget). */
function record(entry, { labels, rgba }, width, height, signature) {
  const extra = state.debug ? { signature } : {};
  // The e2e test replays the page's exact inputs in Python: every frame of a ~120-frame run at 240x320 fits.
  if (state.debug && state.debugInputBytes + rgba.length <= DEBUG_INPUT_BYTES) {
    extra.rgba = rgba.slice();
    state.debugInputBytes += rgba.length;
  }
  state.recording.record(entry, labels, width, height, extra);
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
  // the fixtures are at the manifest's first size: a tracker at another size replays them with its own sessions
  const sameSize = tracker.manifest.frame.shape.join() === state.manifest.frame.shape.join();
  const runner =
    tracker.variant === index.variant && sameSize
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
