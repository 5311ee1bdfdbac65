/**
 * The tracker: onnxruntime-web sessions for the init/step graphs of one precision variant, plus the memory bank.
 * No DOM, no UI: it runs in the app's worker, in node's tests and in the bench page alike.
 *
 *   const tracker = new Tracker(ort, manifest, { backend: 'wasm', variant: 'int8', loadModel });
 *   await tracker.prepare(1);                       // sessions + warm-up for capacity 1
 *   await tracker.start(rgba, labels, numObjects);  // annotated frame: RGBA bytes at model size, labels 0..N
 *   const { prob } = await tracker.step(rgba);      // next frame: prob [(K+1) x H x W], background first
 *
 * Everything model-specific (tensor names, shapes, capacities, which slots each graph's entry fills) is read from the
 * manifest. On WebGPU the memory entries stay on the GPU between frames ('gpu-buffer' outputs fed back as inputs).
 */
import { MemoryBank } from './memory-bank.js';
import { findGraph, pickCapacity, tensorSpec } from './manifest.js';
import { frameData, objectMasks, validFlags } from './preprocess.js';

export class Tracker {
  /**
   * @param {any} ort  the onnxruntime-web module
   * @param {object} manifest  a validated manifest.json
   * @param {{backend: 'wasm'|'webgpu', variant: string, loadModel: (graph: object) => Promise<Uint8Array>,
   *          sessionOptions?: object}} options  loadModel fetches (and checks) a graph's bytes
   */
  constructor(ort, manifest, { backend, variant, loadModel, sessionOptions = {} }) {
    this.ort = ort;
    this.manifest = manifest;
    this.backend = backend;
    this.variant = variant;
    this.loadModel = loadModel;
    this.sessionOptions = sessionOptions;
    this.memory = new MemoryBank(manifest.memory);
    /** @type {Map<string, Promise<any>>} graph file -> InferenceSession */
    this.sessions = new Map();
    this.capacity = 0;
    this.numObjects = 0;
    this.frameIndex = 0;
    const [, height, width] = manifest.frame.shape;
    this.height = height;
    this.width = width;
  }

  /** The session of a graph (created once, on first use). */
  session(kind, capacity) {
    const graph = findGraph(this.manifest, kind, capacity, this.variant);
    if (!this.sessions.has(graph.file)) {
      const entry = this.manifest.memory.entry;
      const options = {
        executionProviders: [this.backend],
        graphOptimizationLevel: 'all',
        ...this.sessionOptions,
      };
      if (this.backend === 'webgpu') { // memory entries never leave the GPU; prob comes back to the CPU
        options.preferredOutputLocation = { [entry.key]: 'gpu-buffer', [entry.value]: 'gpu-buffer' };
      }
      const created = this.loadModel(graph).then((bytes) => this.ort.InferenceSession.create(bytes, options));
      created.catch(() => this.sessions.delete(graph.file));
      this.sessions.set(graph.file, created);
    }
    return this.sessions.get(graph.file).then((session) => ({ session, graph }));
  }

  /** Are the sessions of `capacity` created (or being created)? */
  hasSessions(capacity) {
    return ['init', 'step'].every((kind) => this.sessions.has(findGraph(this.manifest, kind, capacity, this.variant).file));
  }

  /** Create the init and step sessions of `capacity` and run each once (compiles WebGPU shaders, sizes WASM
   * buffers: the first run costs several times a steady one). Returns the warm-up wall times in ms. */
  async prepare(capacity) {
    const t0 = now();
    await Promise.all([this.session('init', capacity), this.session('step', capacity)]);
    const t1 = now();
    const labels = new Uint8Array(this.height * this.width);
    for (let y = this.height >> 2; y < (3 * this.height) >> 2; y++) labels.fill(1, y * this.width + (this.width >> 2), y * this.width + ((3 * this.width) >> 2));
    const grey = new Uint8ClampedArray(this.height * this.width * 4).fill(128);
    const saved = { capacity: this.capacity, numObjects: this.numObjects };
    const warm = new Tracker(this.ort, this.manifest, this); // same sessions, its own memory
    warm.sessions = this.sessions;
    await warm.start(grey, labels, 1, capacity);
    await warm.step(grey);
    warm.memory.clear();
    Object.assign(this, saved);
    return { sessionMs: t1 - t0, warmupMs: now() - t1 };
  }

  /**
   * Annotate a frame: `rgba` its RGBA bytes at model resolution, `labels` a label image at model resolution
   * (0 background, i = object i for i <= numObjects). Runs the init graph and resets the memory (manifest rule).
   */
  async start(rgba, labels, numObjects, capacity = pickCapacity(this.manifest, numObjects)) {
    if (numObjects < 1) throw new Error('the annotation has no object');
    if (labels.length !== this.height * this.width) throw new Error('labels are not at model resolution');
    const { session, graph } = await this.session('init', capacity);
    const { objects, frame } = this.manifest;
    const t0 = now();
    const feeds = {
      [frame.input]: this.tensor(graph, frame.input, frameData(rgba, this.manifest)),
      [objects.masks_input]: this.tensor(graph, objects.masks_input, objectMasks(labels, numObjects, capacity)),
    };
    const outputs = await session.run(feeds);
    this.capacity = capacity;
    this.numObjects = numObjects;
    this.frameIndex = 0;
    this.memory.update('init', outputs);
    this.disposeOthers(outputs);
    return { capacity, inferMs: now() - t0 };
  }

  /** Segment the next frame and update the memory. Returns prob [(K+1) x H x W] (background first). */
  async step(rgba) {
    if (!this.memory.ready) throw new Error('annotate a frame before tracking');
    const { session, graph } = await this.session('step', this.capacity);
    const { objects, frame, output } = this.manifest;
    const t0 = now();
    const feeds = {
      [frame.input]: this.tensor(graph, frame.input, frameData(rgba, this.manifest)),
      [objects.valid_input]: this.tensor(graph, objects.valid_input, validFlags(this.numObjects, this.capacity)),
      ...this.memory.feeds(),
    };
    const outputs = await session.run(feeds);
    const probTensor = outputs[output.name];
    const prob = probTensor.location === 'cpu' ? probTensor.data : await probTensor.getData(true);
    this.frameIndex += 1;
    this.memory.update('step', outputs);
    this.disposeOthers(outputs);
    return { prob, capacity: this.capacity, numObjects: this.numObjects, inferMs: now() - t0 };
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
    const sessions = await Promise.allSettled([...this.sessions.values()]);
    this.sessions.clear();
    await Promise.all(sessions.filter((s) => s.status === 'fulfilled').map((s) => s.value.release()));
  }

  /** Numbers for the debug hook and the bench. */
  stats() {
    return { backend: this.backend, variant: this.variant, capacity: this.capacity, numObjects: this.numObjects,
      frameIndex: this.frameIndex, memoryBytes: this.memory.bytes, memoryTensors: this.memory.tensors().size,
      memoryUpdates: this.memory.updates, memoryDisposed: this.memory.disposed, sessions: this.sessions.size,
      memoryLocations: [...new Set([...this.memory.tensors()].map((t) => t.location))] };
  }
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
