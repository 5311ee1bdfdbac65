/**
 * The bench's inference worker: the page's per-frame pipeline (web/src/frame-pipeline.js: the same `annotate` and
 * `step` as web/src/worker.js, each stage timed), built on the public API of web/src/tracker.js only, with the
 * bench's own actions of the protocol (web/src/protocol.js): `load` (exactly one configuration), `probe`, `labels`,
 * `sample`, `release`. One worker per configuration: onnxruntime-web reads its WASM thread count once, so a fresh
 * worker is the only clean way to change it.
 */
import { probeWebGPU } from '../backend.js';
import { FramePipeline } from '../frame-pipeline.js';
import { atSize, chooseSize, pickCapacity } from '../manifest.js';
import { fetchManifest, loadGraph } from '../model-loader.js';
import { serveRequests } from '../protocol.js';
import { importRuntime } from '../runtime.js';
import { revisitAfterStep, SizeRevisit, warmUp } from '../size-fit.js';
import { Tracker } from '../tracker.js';
import { matmulModel, probeInput } from './matmul-model.js';
import { probToLabels } from './resize.js';

const now = () => performance.now();
const state = {
  tracker: null,
  pipeline: null,
  prob: null, // the last step's probabilities {data, height, width} (model resolution), for `labels`
  numObjects: 0,
  backend: '',
  exported: null, // the export's manifest (every size), for moves while tracking
  capacity: 0,
  sizeRevisit: null, // the SizeRevisit of the current annotation (its pipeline keeps the first frame to move at all)
};

let ort = null; // onnxruntime-web, the build load's backend needs (one configuration per worker)

const skip = (message) => Object.assign(new Error(message), { code: 'skipped' });

serveRequests({
  async load({ modelBase, wasmBase, backend, variant, threads, size, numObjects, revisit = true }, reply) {
    const exported = await fetchManifest(modelBase);
    const info = exported.variants[variant];
    if (!info) throw skip(`variant ${variant} is not exported (${Object.keys(exported.variants).join(', ')})`);
    if (Array.isArray(info.targets) && !info.targets.includes(backend))
      throw skip(`${variant} is not meant for ${backend}`);
    ort = await importRuntime(backend); // the app's build for this backend
    ort.env.wasm.wasmPaths = wasmBase;
    ort.env.wasm.numThreads = backend === 'wasm' ? threads : 1;
    ort.env.logLevel = 'error';
    let adapter = null;
    let software = false;
    if (backend === 'webgpu') {
      const probe = await probeWebGPU(self.navigator.gpu);
      if (!probe.available) throw skip(probe.reason);
      if (variant === 'fp16' && !probe.shaderF16) throw skip("the WebGPU adapter lacks 'shader-f16'");
      adapter = probe.adapter;
      software = Boolean(probe.software);
      ort.env.webgpu.powerPreference = 'high-performance';
    }
    // 'auto': the page's choice — the backend's default size, measured, then size-fit.js's step (worker.js's load)
    const auto = size === 'auto';
    const start = auto ? chooseSize(exported, backend, 'auto', { software }).size : size;
    const manifest = atSize(exported, start);
    const loadModel = (graph) => loadGraph(modelBase, graph);
    const capacity = pickCapacity(manifest, numObjects);
    const t0 = now();
    const tracker = new Tracker(ort, manifest, { backend, variant, loadModel });
    // as the page's load (one warm-up track call when the size is forced: the bench warms up after)
    const fitted = await warmUp(exported, capacity, tracker, start, { auto });
    await state.tracker?.release();
    // stretched, not letterboxed: `mobilevos eval` resizes frames so, and the bench's J&F must equal its own
    // 'auto' sizes move while tracking, as the page's (size-fit.js SizeRevisit), unless revisit=0
    const pipeline = new FramePipeline(fitted.tracker, { stretch: true, keepFirst: auto && revisit });
    Object.assign(state, { tracker: fitted.tracker, pipeline, backend, prob: null, exported, capacity });
    const [, height, width] = fitted.tracker.manifest.frame.shape;
    reply({
      info: {
        backend,
        variant,
        threads: backend === 'wasm' ? ort.env.wasm.numThreads : 0,
        capacity,
        adapter,
        isolated: Boolean(self.crossOriginIsolated),
        ort: ort.env.versions,
        model: { height, width, sizeReason: fitted.reason || 'requested' },
        prepareMs: now() - t0,
        ...fitted.timings,
      },
    });
  },

  async probe({ n = 1024, chain = 4, runs = 5 }, reply) {
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
    reply({
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
    });
  },

  async annotate({ frame, labels, width, height, numObjects }, reply) {
    const { overlay, timings } = await state.pipeline.annotate(frame, labels, width, height, numObjects);
    state.numObjects = numObjects;
    state.prob = null;
    const { height: h, width: w } = state.pipeline.ctx.canvas;
    state.sizeRevisit = state.pipeline.keepFirst ? new SizeRevisit(state.exported, state.capacity, [h, w]) : null;
    reply({ status: 'annotated', frame, overlay, timings }, [frame, overlay]);
  },

  async step({ frame }, reply) {
    const done = await state.pipeline.step(frame);
    const { overlay, timings } = done;
    const { height: h, width: w } = state.pipeline.ctx.canvas;
    state.prob = { data: done.prob, height: h, width: w }; // at the size it was made at (a move changes the pipeline's)
    const move = await revisitAfterStep(state.sizeRevisit, state.pipeline, state.exported, frame, done);
    let model = null;
    if (move) {
      Object.assign(state, { pipeline: move.pipeline, tracker: move.pipeline.tracker });
      model = { height: move.size[0], width: move.size[1], sizeReason: move.reason, carryMs: move.carryMs };
    }
    reply({ status: 'result', frame, overlay, timings, model }, [frame, overlay]);
  },

  labels({ width, height }, reply) {
    if (!state.prob) throw new Error('no step has run since the annotation');
    const { data, height: h, width: w } = state.prob;
    const labels = probToLabels(data, state.numObjects + 1, h, w, height, width);
    reply({ labels }, [labels.buffer]);
  },

  sample({ gc = false }, reply) {
    if (gc && typeof self.gc === 'function') self.gc();
    const m = performance.memory;
    const s = state.tracker?.stats() ?? {};
    reply({
      sample: {
        bankBytes: s.memoryBytes ?? null,
        bankTensors: s.memoryTensors ?? null,
        bankLocations: s.memoryLocations ?? [],
        bankUpdates: s.memoryUpdates ?? null,
        bankDisposed: s.memoryDisposed ?? null,
        sessions: s.sessions ?? null,
        size: state.pipeline ? `${state.pipeline.ctx.canvas.height}x${state.pipeline.ctx.canvas.width}` : null,
        workerHeapUsed: m ? m.usedJSHeapSize : null,
      },
    });
  },

  async release(request, reply) {
    await state.tracker?.release();
    Object.assign(state, { tracker: null, pipeline: null });
    reply();
  },
});
