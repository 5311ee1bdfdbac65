/**
 * The bench's inference worker: the app's per-frame pipeline (web/src/worker.js) with each stage timed, built on the
 * public API of web/src/tracker.js only. One worker per configuration: onnxruntime-web reads its WASM thread count
 * once, so a fresh worker is the only clean way to change it.
 *
 * Requests (postMessage {action, requestId, ...}), replies {status: 'done'|'error', requestId, ...}:
 *   load    {modelBase, wasmBase, backend, variant, threads, numObjects}  sessions + warm-up
 *   probe   {n, chain, runs}     compute peak: a chain of n×n MatMuls on the same backend -> GFLOP/s
 *   start   {frame: ImageBitmap, labels, width, height, numObjects}     annotate (labels at the frame's size)
 *   step    {frame}              pre -> infer -> post; replies with the frame and overlay bitmaps to draw
 *   labels  {width, height}      the last step's mask at another size (for scoring; not timed as a stage)
 *   sample  {gc}                 memory: the tracker's memory bank (bytes, tensors, where they live), this heap
 */
import * as ort from 'onnxruntime-web';

import { probeWebGPU } from '../backend.js';
import { pickCapacity } from '../manifest.js';
import { fetchManifest, loadGraph } from '../model-loader.js';
import { argmaxLabels, overlayRgba } from '../postprocess.js';
import { createFrameContext, drawFrame, resizeLabelsNearest } from '../preprocess.js';
import { Tracker } from '../tracker.js';
import { matmulModel, probeInput } from './matmul-model.js';
import { probToLabels } from './resize.js';

const COLORS = [
  [255, 93, 115],
  [64, 196, 255],
  [255, 196, 64],
  [120, 220, 120],
  [190, 120, 255],
  [255, 140, 60],
];
const now = () => performance.now();
const state = {
  manifest: null,
  tracker: null,
  ctx: null,
  labels: null,
  overlay: null,
  prob: null,
  numObjects: 0,
  backend: '',
  variant: '',
};

let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(() => handle(data));
};

async function handle(msg) {
  try {
    const reply = await ACTIONS[msg.action](msg);
    const { transfer = [], ...body } = reply || {};
    self.postMessage({ status: 'done', requestId: msg.requestId, ...body }, transfer);
  } catch (error) {
    if (msg.frame?.close) msg.frame.close();
    self.postMessage({
      status: 'error',
      requestId: msg.requestId,
      message: error.message || String(error),
      code: error.code || 'error',
      stack: String(error.stack || '').slice(0, 2000),
    });
  }
}

const skip = (message) => Object.assign(new Error(message), { code: 'skipped' });

const ACTIONS = {
  async load({ modelBase, wasmBase, backend, variant, threads, numObjects }) {
    const manifest = await fetchManifest(modelBase);
    const info = manifest.variants[variant];
    if (!info) throw skip(`variant ${variant} is not exported (${Object.keys(manifest.variants).join(', ')})`);
    if (Array.isArray(info.targets) && !info.targets.includes(backend))
      throw skip(`${variant} is not meant for ${backend}`);
    ort.env.wasm.wasmPaths = wasmBase;
    ort.env.wasm.numThreads = backend === 'wasm' ? threads : 1;
    ort.env.logLevel = 'error';
    let adapter = null;
    if (backend === 'webgpu') {
      const probe = await probeWebGPU(self.navigator.gpu);
      if (!probe.available) throw skip(probe.reason);
      if (variant === 'fp16' && !probe.shaderF16) throw skip("the WebGPU adapter lacks 'shader-f16'");
      adapter = probe.adapter;
      ort.env.webgpu.powerPreference = 'high-performance';
    }
    const tracker = new Tracker(ort, manifest, { backend, variant, loadModel: (graph) => loadGraph(modelBase, graph) });
    const capacity = pickCapacity(manifest, numObjects);
    const t0 = now();
    const timings = await tracker.prepare(capacity);
    await state.tracker?.release();
    Object.assign(state, { manifest, tracker, backend, variant, numObjects, prob: null });
    const [, height, width] = manifest.frame.shape;
    state.ctx = createFrameContext(width, height);
    state.labels = new Uint8Array(width * height);
    state.overlay = new Uint8ClampedArray(width * height * 4);
    return {
      info: {
        backend,
        variant,
        threads: backend === 'wasm' ? ort.env.wasm.numThreads : 0,
        capacity,
        adapter,
        isolated: Boolean(self.crossOriginIsolated),
        ort: ort.env.versions,
        model: { height, width },
        prepareMs: now() - t0,
        ...timings,
      },
    };
  },

  async probe({ n = 1024, chain = 4, runs = 5 }) {
    const backend = state.backend || 'wasm';
    const model = matmulModel(n, chain);
    const options = { executionProviders: [backend], graphOptimizationLevel: 'all' };
    if (backend === 'webgpu') options.preferredOutputLocation = 'gpu-buffer';
    const session = await ort.InferenceSession.create(model.bytes, options);
    const input = new ort.Tensor('float32', probeInput(n), [n, n]);
    const ms = [];
    try {
      for (let r = 0; r <= runs; r++) {
        // run 0 warms up (shader compilation, buffer sizing)
        const t0 = now();
        const out = await session.run({ x: input });
        const y = out.y;
        if (y.location === 'gpu-buffer') {
          await y.getData(true);
        } // wait for the GPU; the read-back is 4n² bytes
        const dt = now() - t0;
        if (r) ms.push(dt);
        if (y.location !== 'cpu') y.dispose?.();
      }
    } finally {
      await session.release();
    }
    const sorted = [...ms].sort((a, b) => a - b);
    const med = sorted[sorted.length >> 1];
    return {
      probe: {
        backend,
        n,
        chain,
        runs,
        flops: model.flops,
        ms,
        medianMs: med,
        gflops: model.flops / med / 1e6,
        bestGflops: model.flops / sorted[0] / 1e6,
        note: backend === 'webgpu' ? 'includes reading y back (4n² bytes) each run' : '',
      },
    };
  },

  async start({ frame, labels, width, height, numObjects }) {
    const t0 = now();
    const rgba = drawFrame(state.ctx, frame);
    frame.close();
    const { width: mw, height: mh } = state.ctx.canvas;
    const small = resizeLabelsNearest(labels, width, height, mw, mh);
    const t1 = now();
    await state.tracker.start(rgba, small, numObjects);
    state.numObjects = numObjects;
    state.prob = null;
    return { timings: { pre: t1 - t0, infer: now() - t1 } };
  },

  async step({ frame }) {
    const t0 = now();
    const rgba = drawFrame(state.ctx, frame);
    const t1 = now();
    const result = await state.tracker.step(rgba);
    const t2 = now();
    const numObjects = result.numObjects ?? state.numObjects;
    argmaxLabels(result.prob, numObjects, state.labels.length, state.labels);
    const { width, height } = state.ctx.canvas;
    overlayRgba(state.labels, width, height, COLORS.slice(0, numObjects), {}, state.overlay);
    const overlay = await createImageBitmap(new ImageData(state.overlay, width, height));
    const t3 = now();
    state.prob = result.prob;
    return {
      frame,
      overlay,
      transfer: [frame, overlay],
      timings: { pre: t1 - t0, infer: t2 - t1, post: t3 - t2, run: result.inferMs ?? null },
    };
  },

  labels({ width, height }) {
    if (!state.prob) throw new Error('no step has run since the annotation');
    const { width: w, height: h } = state.ctx.canvas;
    const labels = probToLabels(state.prob, state.numObjects + 1, h, w, height, width);
    return { labels, transfer: [labels.buffer] };
  },

  sample({ gc = false }) {
    if (gc && typeof self.gc === 'function') self.gc();
    const m = performance.memory;
    const s = state.tracker?.stats() ?? {};
    return {
      sample: {
        bankBytes: s.memoryBytes ?? null,
        bankTensors: s.memoryTensors ?? null,
        bankLocations: s.memoryLocations ?? [],
        bankUpdates: s.memoryUpdates ?? null,
        bankDisposed: s.memoryDisposed ?? null,
        sessions: s.sessions ?? null,
        workerHeapUsed: m ? m.usedJSHeapSize : null,
      },
    };
  },

  async release() {
    await state.tracker?.release();
    state.tracker = null;
    return {};
  },
};
