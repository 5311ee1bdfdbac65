/**
 * The inference worker: the page's actions of the protocol (web/src/protocol.js). Owns the onnxruntime-web sessions
 * (via Tracker), the per-frame pipeline (frame-pipeline.js: frames arrive as ImageBitmaps at their native size, each
 * with its index and time) and the recorded masks (mask-recording.js), keyed by frame index. With a prompt head in
 * the manifest, also click to mask: `prompt-image` encodes a frozen frame once, `prompt` runs the head per click.
 */
import { pickBackend, probeWebGPU, threadCount } from './backend.js';
import { matmulModel } from './bench/matmul-model.js';
import { FramePipeline } from './frame-pipeline.js';
import { nativeLabels } from './geometry.js';
import {
  atSize,
  chooseSize,
  chooseVariant,
  findGraph,
  loadCapacity,
  maxObjects,
  pickCapacity,
  promptGraphs,
} from './manifest.js';
import { MaskRecording } from './mask-recording.js';
import { cacheGraph, fetchManifest, loadGraph, pruneCache } from './model-loader.js';
import { nativeSignature } from './preprocess.js';
import { runParity, runPromptParity } from './parity.js';
import { frameToModel, PromptHead, promptMaps } from './prompt.js';
import { serveRequests } from './protocol.js';
import { importRuntime } from './runtime.js';
import { REMEASURE_AFTER_MS, revisitAfterStep, SizeRevisit, sizeForFrame, warmUp } from './size-fit.js';
import { Tracker } from './tracker.js';
import { WorkerMarks } from './worker-marks.js';

const marks = new WorkerMarks();
marks.mark('script'); // this module and its imports are evaluated (onnxruntime-web's JS comes with load's backend)

let ort = null; // the onnxruntime-web module of load's backend (runtime.js); every request after load uses it

const state = {
  manifest: null,
  modelBase: '',
  tracker: null,
  pipeline: null,
  debug: false,
  debugInputBytes: 0, // model inputs kept in the recording (debug only)
  recording: new MaskRecording(),
  info: null,
  head: null, // Promise of the PromptHead (null until first needed, and when the manifest has none): promptHeadReady
  clicks: null, // the frozen frame being prompted: {features, box, width, height, chains}
  // Auto's size (null when one was asked for): {size: measured choice, reason, remeasure: a step down to look at again
  // at the first annotate, {size, reason, after}, or null (autoSizeAtAnnotate), moved: why the size moved while
  // tracking, or ''}
  auto: null,
  revisit: null, // Auto while tracking: the SizeRevisit of the current annotation (revisitSize)
  carry: null, // tests: ?debug=1&carry=N:HxW, {after, size} (scriptedCarry)
  offline: Promise.resolve([]), // the graphs cached for offline use once written: cacheForLater
};

const now = () => performance.now();
const DEBUG_INPUT_BYTES = 64 * 2 ** 20;

serveRequests({
  load,
  annotate,
  step,
  reset: (msg, reply) => {
    state.tracker?.reset();
    state.revisit = null;
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
  'prepare-prompt': async (msg, reply) => {
    const t0 = now();
    const head = await promptHeadReady();
    reply({ prompt: Boolean(head), ms: now() - t0 });
  },
  'prompt-image': promptImage,
  prompt,
  stats: (msg, reply) => reply({ stats: state.tracker?.stats() ?? null, info: state.info }),
  offline: async (msg, reply) => reply({ cached: await state.offline }),
});

async function load(
  {
    modelBase,
    wasmBase,
    backend: choice,
    noWebgpu,
    variant: variantChoice,
    size: sizeChoice = 'auto',
    threads,
    objects = 1,
    debug,
    carry = null,
  },
  reply,
) {
  marks.mark('load');
  const progress = (message, extra = {}) => reply({ status: 'progress', message, ...extra });
  state.debug = Boolean(debug);
  state.carry = state.debug ? carry : null;
  state.modelBase = modelBase;
  const isolated = Boolean(self.crossOriginIsolated);
  progress('reading the model manifest');
  const manifestRead = fetchManifest(modelBase);
  manifestRead.catch(() => {}); // awaited below, after the probe: its failure is thrown there
  // the backend first (the WebGPU probe), so that only its onnxruntime-web build is fetched and started
  const probe =
    choice === 'wasm'
      ? { available: false, reason: 'not probed (WASM chosen)' }
      : noWebgpu
        ? { available: false, reason: 'disabled by ?nowebgpu=1' }
        : await probeWebGPU();
  let { backend, notice } = pickBackend(choice, probe);
  marks.mark('backend', { backend });
  // onnxruntime-web's runtime starts now, while the manifest and the graph's bytes are read (loadModel below waits
  // for it before the session is created); its failure goes to the attempt that waits, like a session's would
  const module = importRuntime(backend).then((imported) => {
    ort = imported;
    ort.env.wasm.wasmPaths = wasmBase;
    ort.env.wasm.numThreads = threadCount(threads, { isolated, cores: navigator.hardwareConcurrency });
    ort.env.logLevel = 'error';
  });
  const runtime = module.then(startRuntime).then(() => marks.mark('runtime'));
  // both are awaited by the attempt below, which reports their failure; a load that fails before it has its own error
  module.catch(() => {});
  runtime.catch(() => {});
  const manifest = await manifestRead;
  marks.mark('manifest');
  state.manifest = manifest;
  // old graphs left in the cache only cost disk space: say so in the console, do not stop loading
  pruneCache(modelBase, manifest).catch((e) => console.warn(`model cache clean-up failed: ${e.message}`));

  const attempt = async (be) => {
    await module; // the tracker takes the module; its graph's bytes are read while the runtime starts
    const { variant, reason } = chooseVariant(manifest, be, {
      requested: variantChoice,
      shaderF16: Boolean(probe.shaderF16),
    });
    // the graphs take any of the manifest's sizes: the tracker (and so the pipeline) sees the manifest at the chosen one
    const { size, reason: sizeReason } = chooseSize(manifest, be, sizeChoice, { software: Boolean(probe.software) });
    const tracker = new Tracker(ort, atSize(manifest, size), {
      backend: be,
      variant,
      mark: (name, detail) => marks.mark(name, detail),
      loadModel: async (graph) => {
        const bytes = await loadGraph(modelBase, graph, {
          onProgress: (loaded, total, cached) =>
            progress(cached ? `${graph.file} (cached)` : `downloading ${graph.file}`, { loaded, total }),
        });
        marks.mark('graph', { file: graph.file });
        await runtime;
        return bytes;
      },
    });
    progress(`creating ${be.toUpperCase()} sessions (${variant}, ${size[1]}×${size[0]})`);
    const capacity = loadCapacity(manifest, objects);
    const fitted = await warmUp(manifest, capacity, tracker, size, { auto: sizeChoice === 'auto', progress });
    marks.mark('size');
    // a step down from the start size is looked at again at the first annotate (autoSizeAtAnnotate)
    const [, height, width] = fitted.tracker.manifest.frame.shape;
    const steppedDown = height * width < size[0] * size[1];
    const auto = sizeChoice === 'auto' && {
      size: [height, width],
      reason: `${sizeReason}; ${fitted.reason}`,
      remeasure: steppedDown ? { size, reason: sizeReason, after: now() + REMEASURE_AFTER_MS } : null,
      moved: '',
    };
    return {
      variant,
      variantReason: reason,
      tracker: fitted.tracker,
      timings: fitted.timings,
      auto: auto || null,
      sizeReason: auto ? auto.reason : sizeReason,
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
  cacheForLater(modelBase, result.tracker);
  await state.tracker?.release();
  await dropPromptHead();
  state.tracker = result.tracker;
  state.auto = result.auto;
  state.revisit = null;
  state.pipeline = new FramePipeline(result.tracker, { keepFirst: keepsFirst() });
  state.info = {
    backend,
    variant: result.variant,
    variantReason: result.variantReason,
    threads: backend === 'wasm' ? ort.env.wasm.numThreads : 0,
    isolated,
    adapter: probe.available ? probe.adapter : null,
    shaderF16: Boolean(probe.shaderF16),
    webgpu: probe.available ? 'available' : probe.reason,
    notice,
  };
  const [, height, width] = result.tracker.manifest.frame.shape;
  marks.mark('ready');
  reply({
    status: 'ready',
    ...state.info,
    timings: result.timings,
    marks: marks.take(), // the worker's start (worker-marks.js), for the page's timeline
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
      prompt: Boolean(result.tracker.manifest.prompt), // its head is prepared when first needed (promptHeadReady)
      variants: Object.keys(manifest.variants),
      checkpoint: manifest.checkpoint?.path ?? '',
    },
  });
}

/**
 * onnxruntime-web's WASM runtime (the .wasm compiled, its threads started), which the first session would otherwise
 * start: a one-MatMul session created and released. The WebGPU backend runs on the same runtime (the JSEP build's).
 */
async function startRuntime() {
  const session = await ort.InferenceSession.create(matmulModel(1, 1).bytes, { executionProviders: ['wasm'] });
  await session.release();
}

/**
 * The graphs that load did not read but the page may need offline — the smallest capacity's (one object) when load
 * made another, and the click graphs (the head, and its encoder where it has one) — are put in the model cache in the
 * background (a check of the cache when warm). A failure is said in the console: the graph is fetched again when it
 * is needed, and fails there with its message.
 * `state.offline` resolves to the files cached once every write is done (the `offline` request waits for it): an entry
 * shows in the cache while its write is still under way, and a page closed then loses it.
 */
function cacheForLater(modelBase, tracker) {
  const { manifest, variant } = tracker;
  const graphs = [findGraph(manifest, manifest.objects.capacities[0], variant), ...promptGraphs(manifest)];
  const writes = graphs.map((graph) =>
    cacheGraph(modelBase, graph).then(
      () => graph.file,
      (e) => console.warn(`${graph.file} not cached for offline use: ${e.message}`),
    ),
  );
  state.offline = Promise.all(writes).then((files) => files.filter(Boolean));
}

/**
 * The prompt head, at the tracker's size (its maps and output follow the model size), created and warmed up when
 * first needed — `prepare-prompt` (the page asks when the Click tool is chosen or the page is idle), the first
 * `prompt-image`, or `parity` — not at load: the first mask does not wait for it. Resolves to null when the export
 * has no head. A failure goes to the request that needed it, and the next one tries again.
 */
function promptHeadReady() {
  const tracker = requireTracker();
  if (!tracker.manifest.prompt) return Promise.resolve(null);
  if (!state.head) {
    const ready = promptHead(tracker);
    state.head = ready;
    ready.catch(() => {
      if (state.head === ready) state.head = null;
    });
  }
  return state.head;
}

/**
 * The prompt head's session, its bytes from the model cache (load cached them for offline use), warmed up with one
 * click on a grey frame, so that the first real click costs what every click costs; the features come from the
 * smallest capacity's graph, whose session this creates if load did not. It runs on WASM whatever the tracker's
 * backend: on WebGPU (SwiftShader) its graph gave wrong masks (max |Δprob| 1.0 on the export's prompt fixtures, 0.15
 * with fp32 weights: not the dequantization; tests/web/e2e/webgpu.test.js), and the head is small (a click ~20 ms on
 * WASM under load); the features come back to the CPU either way.
 */
async function promptHead(tracker) {
  const head = new PromptHead(ort, tracker.manifest, {
    backend: 'wasm',
    loadModel: (entry) => loadGraph(state.modelBase, entry),
  });
  const grey = new Uint8ClampedArray(tracker.height * tracker.width * 4).fill(128);
  const size = [tracker.height, tracker.width];
  const centre = [{ y: size[0] / 2, x: size[1] / 2, positive: true }];
  const maps = promptMaps(centre, null, null, size, tracker.manifest.prompt.click_sigma);
  await head.run(await head.features(grey, tracker), maps);
  return head;
}

/** Forget the click head and its encoded frame (both at the tracker's size): the next click prepares them again. */
async function dropPromptHead() {
  const old = state.head;
  state.head = null;
  state.clicks = null;
  await (await old?.catch(() => null))?.release();
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

/** The tracker at another size (the memory is empty before an annotate; the click head, made at the old size, goes). */
async function moveTracker(size) {
  const tracker = state.tracker.withManifest(atSize(state.manifest, size));
  state.tracker = tracker;
  state.pipeline = new FramePipeline(tracker, { keepFirst: keepsFirst() });
  await dropPromptHead();
}

/** Auto: the tracker at the size of the frame's shape that costs no more than Auto's choice (size-fit.js
 * sizeForFrame), moved there if it is not; returns that size. Only where the memory is empty or about to be refilled. */
async function shapeForFrame(capacity, frameWidth, frameHeight) {
  const size = sizeForFrame(state.manifest, capacity, state.auto.size, frameWidth, frameHeight);
  if (size.join() !== [state.tracker.height, state.tracker.width].join()) await moveTracker(size);
  return size;
}

/**
 * Auto's size at an annotate, the frame's size known. First, once per load, a load that stepped down has its start
 * size measured again if REMEASURE_AFTER_MS have passed (size-fit.js remeasure: the runtime warm now). Then the
 * frame's shape: the size that shows it best at no more cost (size-fit.js sizeForFrame; a 16:9 video gets a 16:9
 * input). Returns the model's {height, width, sizeReason} (null when the size was asked for).
 */
async function autoSizeAtAnnotate(capacity, frameWidth, frameHeight, reply) {
  const { auto } = state;
  if (!auto) return null;
  const pending = auto.remeasure;
  auto.remeasure = null;
  if (pending && now() >= pending.after) {
    const start = state.tracker.withManifest(atSize(state.manifest, pending.size));
    const progress = (message) => reply({ status: 'progress', message });
    progress(`measuring ${pending.size[1]}×${pending.size[0]} again`);
    const fitted = await warmUp(state.manifest, capacity, start, pending.size, { auto: true, progress });
    auto.size = fitted.tracker.manifest.frame.shape.slice(1, 3);
    auto.reason = `${pending.reason}; at Track, ${fitted.reason}`;
    auto.moved = '';
  }
  const size = await shapeForFrame(capacity, frameWidth, frameHeight);
  const shaped =
    size.join() === auto.size.join()
      ? ''
      : `; ${size.join('x')} for this ${frameWidth}×${frameHeight} frame (no more FLOPs, more of it seen)`;
  return { height: size[0], width: size[1], sizeReason: autoReason() + shaped };
}

/** Does the pipeline keep the annotated frame, to carry the memory to another size mid-track (Auto, ?carry=)? */
const keepsFirst = () => Boolean(state.auto || state.carry);

/** Tests (?debug=1&carry=N:HxW): a revisit that moves to `size` after the `after`th track call of an annotation. */
function scriptedCarry({ after, size }) {
  let calls = 0;
  const reason = `debug: carried to ${size.join('x')} after ${after} track calls (?carry=)`;
  return { observe: () => (++calls === after ? { size, reason } : null) };
}

/** Auto's reason for its size: how it was chosen, and why it last moved while tracking. */
function autoReason() {
  const { reason, moved } = state.auto;
  return moved ? `${reason}; ${moved}` : reason;
}

/**
 * Auto while tracking: the size judged again on the track calls' inference times (size-fit.js SizeRevisit); a move
 * carries the memory to the new size with `frame` and its tracked `labels` (FramePipeline.carryTo: two graph calls,
 * in this frame's time). Returns the model's {height, width, sizeReason, carryMs} when the size moved, else null.
 */
async function revisitSize(frame, done) {
  const move = await revisitAfterStep(state.revisit, state.pipeline, state.manifest, frame, done);
  if (!move) return null;
  state.pipeline = move.pipeline;
  state.tracker = move.pipeline.tracker;
  await dropPromptHead();
  if (state.auto) Object.assign(state.auto, { size: move.size, moved: move.reason });
  const sizeReason = state.auto ? autoReason() : move.reason; // no Auto: ?carry= moved it
  return { height: move.size[0], width: move.size[1], sizeReason, carryMs: move.carryMs };
}

async function annotate({ frame, labels, width, height, numObjects, index, time }, reply) {
  requireTracker();
  const capacity = pickCapacity(state.manifest, numObjects);
  const model = await autoSizeAtAnnotate(capacity, width, height, reply);
  const tracker = state.tracker;
  let prepared = null;
  if (!tracker.hasSession(capacity)) {
    // first use of this capacity: create and warm up its graph now, not mid-track
    reply({ status: 'progress', message: `loading the ${capacity}-object graph` });
    prepared = await tracker.prepare(capacity, { settled: () => true }); // a warm-up only: one track call
  }
  const signature = state.debug ? nativeSignature(frame) : null;
  const done = await state.pipeline.annotate(frame, labels, width, height, numObjects, capacity);
  state.revisit = state.carry
    ? scriptedCarry(state.carry)
    : state.auto && new SizeRevisit(state.manifest, capacity, [tracker.height, tracker.width]);
  reply({ status: 'annotated', capacity, prepared, model, frame, overlay: done.overlay, timings: done.timings }, [
    frame,
    done.overlay,
  ]);
  record({ index, time, tracked: false, annotated: true }, done, width, height, signature);
}

async function step({ frame, index, time, skipped = [] }, reply) {
  requireTracker();
  state.recording.skip(skipped);
  const signature = state.debug ? nativeSignature(frame) : null;
  const { width, height } = frame;
  const done = await state.pipeline.step(frame);
  const model = await revisitSize(frame, done);
  const { labels, overlay, areas, timings } = done;
  const result = { status: 'result', index, time, frame, overlay, labels, areas, timings, model };
  reply({ ...result, recorded: !state.recording.full }, [frame, overlay]);
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

/** Debug/test: replay the export's parity fixtures on this worker's backend (web/src/parity.js), the prompt steps too. */
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
  // the prompt steps: the fixtures' features (fp32) and this backend's head
  const head = index.prompt ? await promptHeadReady() : null;
  const promptRows = head ? await runPromptParity(runner, head, index, read) : [];
  if (runner !== tracker) await runner.release();
  return { rows, promptRows, backend: tracker.backend, variant: index.variant, ms: now() - t0 };
}

/**
 * Click to mask, step 1: encode a frozen frame (native size, letterboxed as for tracking) once; every click on it then
 * only runs the head. Forgets the previous frame's prompts.
 */
async function promptImage({ frame }, reply) {
  requireTracker();
  // Auto, not tracking: the clicks see the frame at the input of its shape, as the annotate after them will
  if (state.auto && !state.tracker.memory.ready) {
    await shapeForFrame(state.manifest.objects.capacities[0], frame.width, frame.height);
  }
  const tracker = state.tracker;
  const head = await promptHeadReady();
  if (!head) {
    frame.close();
    throw Object.assign(new Error('this model has no prompt head: mark the object with the brush or box'), {
      code: 'no-prompt-head',
    });
  }
  const t0 = now(); // the frame's encoding only (a click before the head was warmed up waited for it above)
  const { box, rgba } = state.pipeline.input(frame);
  const features = await head.features(rgba, tracker);
  state.clicks = { features, box, width: frame.width, height: frame.height, chains: new Map() };
  frame.close();
  reply({ encodeMs: now() - t0, ...(state.debug ? { rgba } : {}) }); // debug: the model input, for the e2e test
}

/**
 * Click to mask, step 2: one object's mask from its prompts, in order: each {click: {x, y, positive}} or {box: {x0,
 * y0, x1, y1}} in frame pixels (a box replaces the previous one). Each prompt's prediction feeds the next one's
 * `previous` channel, as `mobilevos.prompts.PromptSegmenter` does; the worker keeps each object's chain of
 * predictions, so a new prompt costs one head run and an undo (a shorter list) none. Replies the mask (0/1) at the
 * frame's native size and the time of each stage.
 */
async function prompt({ object, prompts }, reply) {
  const clicksState = state.clicks;
  if (!clicksState) throw Object.assign(new Error('freeze a frame before clicking'), { code: 'not-annotated' });
  const { features, box: letterboxBox, width, height, chains } = clicksState;
  const head = await promptHeadReady(); // ready since prompt-image
  const [, mh, mw] = state.tracker.manifest.frame.shape;
  const sigma = state.tracker.manifest.prompt.click_sigma;
  const key = (p) => JSON.stringify(p);
  const chain = chains.get(object) ?? [];
  let kept = 0;
  while (kept < Math.min(chain.length, prompts.length) && chain[kept].key === key(prompts[kept])) kept += 1;
  chain.length = kept; // an undone or changed prompt drops its prediction and the later ones
  const t0 = now();
  let headMs = 0;
  for (let i = kept; i < prompts.length; i++) {
    const upTo = prompts.slice(0, i + 1);
    const clicks = upTo.filter((p) => p.click).map((p) => p.click);
    const rect = upTo.findLast((p) => p.box)?.box ?? null;
    const model = frameToModel(clicks, rect, width, height, letterboxBox);
    const maps = promptMaps(model.clicks, model.box, i ? chain[i - 1].prob : null, [mh, mw], sigma);
    const t1 = now();
    chain.push({ key: key(prompts[i]), prob: await head.run(features, maps) });
    headMs += now() - t1;
  }
  chains.set(object, chain);
  const t2 = now();
  let mask = new Uint8Array(width * height);
  if (chain.length) {
    const p = chain.at(-1).prob;
    const two = new Float32Array(2 * p.length); // [1 - p, p]: the tracker's mapping back through the letterbox
    for (let i = 0; i < p.length; i++) {
      two[i] = 1 - p[i];
      two[p.length + i] = p[i];
    }
    mask = nativeLabels(two, 2, mw, mh, letterboxBox, width, height, mask);
  }
  const t3 = now();
  const ms = { total: t3 - t0, head: headMs, maps: t2 - t0 - headMs, post: t3 - t2 };
  // debug: the model-resolution prob too (the e2e test compares it with onnxruntime CPU's)
  const prob = state.debug && chain.length ? Array.from(chain.at(-1).prob) : null;
  reply({ object, mask, width, height, ms, prob }, [mask.buffer]);
}
