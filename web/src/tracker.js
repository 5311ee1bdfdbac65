/**
 * The tracker: an onnxruntime-web session per object capacity for one precision variant, plus the memory bank.
 * No DOM, no UI: it runs in the app's worker, in node's tests and in the bench page alike.
 *
 *   const tracker = new Tracker(ort, manifest, { backend: 'wasm', variant: 'int8', loadModel });
 *   await tracker.prepare(1);                       // session + warm-up for capacity 1
 *   await tracker.start(rgba, labels, numObjects);  // annotated frame: RGBA bytes at model size, labels 0..N
 *   const { prob } = await tracker.step(rgba);      // next frame: prob [(K+1) x H x W], background first
 *
 * One graph per capacity does both: `start` is its annotate call and `step` its track call (manifest `calls`: the
 * value of the `annotate` input, which masks and memory inputs each call feeds, whether `prob` is a result).
 * Everything model-specific (tensor names, shapes, capacities, calls, which slots each call's entry fills) is read
 * from the manifest. On WebGPU the memory entries stay on the GPU between frames ('gpu-buffer' outputs fed back as
 * inputs); the constant inputs (the track call's zero masks, the annotate flag, the annotate call's zero memory) are
 * tensors made once per graph and reused.
 */
import { MemoryBank } from './memory-bank.js';
import { findGraph, pickCapacity, tensorSpec } from './manifest.js';
import { frameData, objectMasks, validFlags } from './preprocess.js';

/** Track calls of a warm-up at most (Tracker.prepare). */
export const WARMUP_STEPS = 3;

export class Tracker {
  /**
   * @param {any} ort  the onnxruntime-web module
   * @param {object} manifest  a validated manifest.json
   * @param {{backend: 'wasm'|'webgpu', variant: string, loadModel: (graph: object) => Promise<Uint8Array>,
   *          sessionOptions?: object, mark?: (name: string, detail: object) => void}} options  loadModel fetches
   *     (and checks) a graph's bytes; `mark` is told when a graph's session is created ('session') and warmed up
   *     ('warm-up'), with {file} (the worker's start marks, worker-marks.js)
   */
  constructor(ort, manifest, { backend, variant, loadModel, sessionOptions = {}, mark = () => {} }) {
    this.ort = ort;
    this.manifest = manifest;
    this.backend = backend;
    this.variant = variant;
    this.loadModel = loadModel;
    this.sessionOptions = sessionOptions;
    this.mark = mark;
    this.memory = new MemoryBank(manifest.memory);
    /** @type {Map<string, Promise<any>>} graph file -> InferenceSession */
    this.sessions = new Map();
    /** @type {Map<string, {readMs: number, createMs: number}>} graph file -> how long loadModel and its session took */
    this.creation = new Map();
    /** @type {Map<string, any>} constant CPU tensors (zeros, call flags), made once per graph input and value */
    this.constants = new Map();
    this.capacity = 0;
    this.numObjects = 0;
    this.frameIndex = 0;
    // the outputs a call uses: the prompt head's features stay in the session unless `features` asks for them
    this.fetches = [manifest.output.name, manifest.memory.entry.key, manifest.memory.entry.value];
    const [, height, width] = manifest.frame.shape;
    this.height = height;
    this.width = width;
  }

  /** The session of the graph of `capacity` (created once, on first use). */
  session(capacity) {
    const graph = findGraph(this.manifest, capacity, this.variant);
    if (!this.sessions.has(graph.file)) {
      const entry = this.manifest.memory.entry;
      const options = {
        executionProviders: [this.backend],
        graphOptimizationLevel: 'all',
        ...this.sessionOptions,
      };
      if (this.backend === 'webgpu') {
        // memory entries never leave the GPU; prob comes back to the CPU
        options.preferredOutputLocation = { [entry.key]: 'gpu-buffer', [entry.value]: 'gpu-buffer' };
      }
      const t0 = now();
      const created = this.loadModel(graph).then(async (bytes) => {
        const t1 = now();
        const session = await this.ort.InferenceSession.create(bytes, options);
        this.creation.set(graph.file, { readMs: t1 - t0, createMs: now() - t1 });
        this.mark('session', { file: graph.file });
        return session;
      });
      created.catch(() => this.sessions.delete(graph.file));
      this.sessions.set(graph.file, created);
    }
    return this.sessions.get(graph.file).then((session) => ({ session, graph }));
  }

  /** Is the session of `capacity` created (or being created)? */
  hasSession(capacity) {
    return this.sessions.has(findGraph(this.manifest, capacity, this.variant).file);
  }

  /** A tracker on the same sessions (its own memory and constants) for `manifest`: this one at another input size
   * (manifest.js atSize), since the graphs take any exported size. */
  withManifest(manifest) {
    const other = new Tracker(this.ort, manifest, this);
    other.sessions = this.sessions;
    other.creation = this.creation;
    return other;
  }

  /** Create the session of `capacity` and run an annotate call and up to WARMUP_STEPS track calls (compiles WebGPU
   * shaders, sizes WASM buffers: the first run costs several times a steady one, and on WASM the first track call
   * still up to twice the third; the annotate call runs the same operators as a track call). The track calls stop as
   * soon as `settled(ms)` says the fastest one so far is all its caller needs (size-fit.js: no size choice it could
   * change; annotate: only the warm-up). Returns the wall times in ms, with `stepMs` the fastest track call (a steady
   * frame's inference, for choosing the size), `runsMs` the calls' inference times, and the graph's `readMs`
   * (loadModel: its bytes) and `createMs` (its session) when it was created. */
  async prepare(capacity, { settled = () => false } = {}) {
    const t0 = now();
    const { graph } = await this.session(capacity);
    const t1 = now();
    const labels = new Uint8Array(this.height * this.width);
    for (let y = this.height >> 2; y < (3 * this.height) >> 2; y++)
      labels.fill(1, y * this.width + (this.width >> 2), y * this.width + ((3 * this.width) >> 2));
    const grey = new Uint8ClampedArray(this.height * this.width * 4).fill(128);
    const warm = this.withManifest(this.manifest); // same sessions and constants, its own memory
    warm.constants = this.constants;
    const annotated = await warm.start(grey, labels, 1, capacity);
    const runsMs = [annotated.inferMs, (await warm.step(grey)).inferMs];
    while (runsMs.length <= WARMUP_STEPS && !settled(Math.min(...runsMs.slice(1)))) {
      runsMs.push((await warm.step(grey)).inferMs);
    }
    warm.memory.clear();
    this.mark('warm-up', { file: graph.file, runsMs });
    return {
      sessionMs: t1 - t0,
      warmupMs: now() - t1,
      stepMs: Math.min(...runsMs.slice(1)),
      runsMs,
      ...this.creation.get(graph.file),
    };
  }

  /**
   * Annotate a frame: `rgba` its RGBA bytes at model resolution, `labels` a label image at model resolution
   * (0 background, i = object i for i <= numObjects). Runs the annotate call, whose entry refills the memory
   * (manifest rule); its `prob` is not a result.
   */
  async start(rgba, labels, numObjects, capacity = pickCapacity(this.manifest, numObjects)) {
    if (numObjects < 1) throw new Error('the annotation has no object');
    this.checkLabels(labels);
    const { session, graph } = await this.session(capacity);
    const t0 = now();
    const outputs = await session.run(this.feeds('annotate', graph, rgba, numObjects, labels), this.fetches);
    this.capacity = capacity;
    this.numObjects = numObjects;
    this.frameIndex = 0;
    this.memory.update('annotate', outputs);
    this.disposeOthers(outputs);
    return { capacity, inferMs: now() - t0 };
  }

  /** Segment the next frame (the track call) and update the memory. Returns prob [(K+1) x H x W], background first. */
  async step(rgba) {
    if (!this.memory.ready) throw new Error('annotate a frame before tracking');
    const { session, graph } = await this.session(this.capacity);
    const t0 = now();
    const outputs = await session.run(this.feeds('track', graph, rgba, this.numObjects), this.fetches);
    const probTensor = outputs[this.manifest.output.name];
    const prob = probTensor.location === 'cpu' ? probTensor.data : await probTensor.getData(true);
    this.frameIndex += 1;
    this.memory.update('track', outputs);
    this.disposeOthers(outputs);
    return { prob, capacity: this.capacity, numObjects: this.numObjects, inferMs: now() - t0 };
  }

  /**
   * Carry a memory to this tracker's size mid-track (Auto's size revisit, size-fit.js SizeRevisit; the same as
   * `mobilevos.track.Tracker.resize`): `first` is the annotated frame and `latest` the last tracked one, each {rgba,
   * labels} at this tracker's size (the latest frame's labels are its prediction). The annotated frame is annotated
   * again; then the latest frame's entry is made by the same annotate call from its labels and stored where a track
   * call's entry goes (memory.update.track), so the next track call reads the two entries it would have read at this
   * size. Objects, capacity and the frame count carry over.
   */
  async carry(first, latest, numObjects, capacity, frameIndex) {
    await this.start(first.rgba, first.labels, numObjects, capacity);
    if (frameIndex > 0) {
      this.checkLabels(latest.labels);
      const { session, graph } = await this.session(capacity);
      const feeds = this.feeds('annotate', graph, latest.rgba, numObjects, latest.labels);
      const outputs = await session.run(feeds, this.fetches);
      this.memory.update('track', outputs);
      this.disposeOthers(outputs);
    }
    this.frameIndex = frameIndex;
  }

  /**
   * The key encoder's features of a frame (RGBA bytes at model resolution) for the prompt head: the outputs
   * `manifest.prompt.features.outputs` of the smallest capacity's graph, run with every other input zero (the
   * features depend on the frame only) and fetching only those outputs. The memory is not touched.
   * @returns {Promise<Record<string, any>>} CPU tensors by name
   */
  async features(rgba) {
    const { session, graph } = await this.session(this.manifest.objects.capacities[0]);
    const { frame } = this.manifest;
    const feeds = {};
    for (const t of graph.inputs) {
      feeds[t.name] =
        t.name === frame.input
          ? this.tensor(graph, t.name, frameData(rgba, this.manifest))
          : this.constant(graph, t.name, 0);
    }
    return session.run(feeds, this.manifest.prompt.features.outputs);
  }

  /** A label image the annotate call takes must be at model resolution. */
  checkLabels(labels) {
    if (labels.length !== this.height * this.width) throw new Error('labels are not at model resolution');
  }

  /** The graph's inputs for one call ('annotate' | 'track'), as the manifest's `calls` section says. */
  feeds(call, graph, rgba, numObjects, labels = null) {
    const { calls, objects, frame, memory } = this.manifest;
    const spec = calls[call];
    const feeds = {
      [frame.input]: this.tensor(graph, frame.input, frameData(rgba, this.manifest)),
      [calls.input]: this.constant(graph, calls.input, spec.value),
      [objects.valid_input]: this.tensor(graph, objects.valid_input, validFlags(numObjects, graph.capacity)),
      [objects.masks_input]:
        spec.masks === 'annotation'
          ? this.tensor(graph, objects.masks_input, objectMasks(labels, numObjects, graph.capacity))
          : this.constant(graph, objects.masks_input, 0),
    };
    if (spec.memory === 'slots') return Object.assign(feeds, this.memory.feeds());
    for (const slot of memory.slots) {
      feeds[slot.key] = this.constant(graph, slot.key, 0);
      feeds[slot.value] = this.constant(graph, slot.value, 0);
    }
    return feeds;
  }

  /** A CPU tensor of the graph input `name` filled with `fill`, made once and reused on every call. */
  constant(graph, name, fill) {
    const key = `${graph.file}|${name}|${fill}`;
    if (!this.constants.has(key)) {
      const spec = tensorSpec(graph, name);
      const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      if (fill !== 0) data.fill(fill);
      this.constants.set(key, new this.ort.Tensor(spec.dtype, data, spec.shape));
    }
    return this.constants.get(key);
  }

  tensor(graph, name, data) {
    const spec = tensorSpec(graph, name);
    return new this.ort.Tensor(spec.dtype, data, spec.shape);
  }

  /** Dispose outputs the memory bank did not take (prob's data has been read or copied already). */
  disposeOthers(outputs) {
    const kept = this.memory.tensors();
    for (const t of Object.values(outputs)) if (!kept.has(t) && t.location !== 'cpu') t.dispose();
  }

  /** Forget the annotation (memory released). */
  reset() {
    this.memory.clear();
    this.numObjects = 0;
    this.frameIndex = 0;
  }

  /** Release the memory and every session. */
  async release() {
    this.reset();
    this.constants.clear();
    this.creation.clear();
    const sessions = await Promise.allSettled([...this.sessions.values()]);
    this.sessions.clear();
    await Promise.all(sessions.filter((s) => s.status === 'fulfilled').map((s) => s.value.release()));
  }

  /** Numbers for the debug hook and the bench. */
  stats() {
    return {
      backend: this.backend,
      variant: this.variant,
      capacity: this.capacity,
      numObjects: this.numObjects,
      frameIndex: this.frameIndex,
      memoryBytes: this.memory.bytes,
      memoryTensors: this.memory.tensors().size,
      memoryUpdates: this.memory.updates,
      memoryDisposed: this.memory.disposed,
      sessions: this.sessions.size,
      memoryLocations: [...new Set([...this.memory.tensors()].map((t) => t.location))],
    };
  }
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
