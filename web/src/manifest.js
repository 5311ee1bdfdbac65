/**
 * manifest.json: the contract written by `python -m export`. Everything the app knows about the model comes from it:
 * one graph file per object capacity K and precision variant, input/output names and shapes, the model resolution,
 * the frame format, the graph's two calls (annotate / track: what each feeds) and the memory slots with their update
 * rule, and (optional) the click-to-mask head's graph (`prompt`). This module only reads and checks it; nothing here
 * hard-codes a name or a shape.
 *
 * The check is the schema the Python runtime validates with (py/mobilevos/runtime/manifest.schema.json, bundled at
 * build time: one file, no copy to keep in step), then the cross-references a JSON Schema cannot express, made in the
 * same order as `_check_references` in py/mobilevos/runtime/manifest.py so that both sides reject the same manifests
 * at the same place (tests/manifest_cases.json). Graph bytes are checked against their sha256 when they are fetched
 * (model-loader.js).
 */
import { Validator } from '@cfworker/json-schema';

import schema from '../../py/mobilevos/runtime/manifest.schema.json' with { type: 'json' };

const validator = new Validator(schema, '2020-12');

/** A manifest that is missing, malformed, or does not match its files. `code` says which for the UI; `where` is the
 * JSON pointer of the part at fault ('' for the whole manifest). */
export class ManifestError extends Error {
  constructor(message, code = 'model-invalid', where = null) {
    super(where === null ? message : `${where || '/'}: ${message}`);
    this.name = 'ManifestError';
    this.code = code;
    this.where = where;
  }
}

const invalid = (where, message) => new ManifestError(message, 'model-invalid', where);

/** What the schema cannot say (see the module comment); throws ManifestError for the first problem found. */
function checkReferences(manifest) {
  const { model, frame, objects, calls, output, memory, graphs, variants } = manifest;
  if (model.height % model.stride || model.width % model.stride) {
    const size = `${model.height}x${model.width}`;
    throw invalid('/model', `model size ${size} is not a multiple of the stride ${model.stride}`);
  }
  const { stride, sizes } = model;
  sizes.forEach((size, i) => {
    const name = `${size.height}x${size.width}`;
    if (size.height % stride || size.width % stride) {
      throw invalid(`/model/sizes/${i}`, `size ${name} is not a multiple of the stride ${stride}`);
    }
    if (size.memory_height !== size.height / stride || size.memory_width !== size.width / stride) {
      throw invalid(`/model/sizes/${i}`, `size ${name}: memory grid is not the size / stride`);
    }
  });
  if (sizes[0].height !== model.height || sizes[0].width !== model.width) {
    throw invalid('/model/sizes/0', 'the first size must be model.height x model.width (the size the shapes describe)');
  }
  for (const backend of ['wasm', 'webgpu']) {
    const [h, w] = model.default_size[backend];
    if (!sizes.some((s) => s.height === h && s.width === w)) {
      throw invalid(`/model/default_size/${backend}`, `the default size ${h}x${w} is not among the sizes`);
    }
  }
  const caps = objects.capacities;
  if (caps.some((k, i) => i && k <= caps[i - 1])) {
    throw invalid('/objects/capacities', `capacities must be increasing, got ${JSON.stringify(caps)}`);
  }
  const inputs = [
    frame.input,
    objects.masks_input,
    objects.valid_input,
    calls.input,
    ...memory.slots.flatMap((s) => [s.key, s.value]),
  ];
  const outputs = [output.name, memory.entry.key, memory.entry.value];
  const seen = new Set();
  graphs.forEach((g, i) => {
    const key = `${g.capacity}/${g.variant}`;
    if (seen.has(key)) throw invalid(`/graphs/${i}`, `${g.name}: duplicate capacity/variant ${key}`);
    seen.add(key);
    checkSpatialShapes(g, model, `/graphs/${i}`);
    for (const [kind, needed, tensors] of [
      ['inputs', inputs, g.inputs],
      ['outputs', outputs, g.outputs],
    ]) {
      const have = new Set(tensors.map((t) => t.name));
      const missing = needed.filter((n) => !have.has(n));
      if (missing.length) {
        throw invalid(`/graphs/${i}`, `${g.name} lacks the ${kind} ${missing.join(', ')} that the manifest names`);
      }
    }
  });
  for (const v of Object.keys(variants)) {
    for (const k of caps) {
      if (!seen.has(`${k}/${v}`)) throw invalid(`/variants/${v}`, `variant ${v} has no graph for capacity ${k}`);
    }
  }
  const slotNames = memory.slots.map((s) => s.name);
  for (const [call, slots] of Object.entries(memory.update)) {
    const unknown = slots.filter((s) => !slotNames.includes(s));
    if (unknown.length) throw invalid(`/memory/update/${call}`, `${call} fills unknown slots ${unknown.join(', ')}`);
  }
  const annotated = new Set(memory.update.annotate);
  const refillsAll = annotated.size === slotNames.length && slotNames.every((s) => annotated.has(s));
  if (calls.annotate.memory === 'zeros' && !refillsAll) {
    throw invalid('/memory/update/annotate', 'the annotate call must refill every slot (it reads none)');
  }
  if (manifest.prompt) checkPrompt(manifest.prompt, graphs, model);
}

/** Every input and output of a graph entry with spatial axes holds the model size there. */
function checkSpatialShapes(entry, model, path) {
  for (const kind of ['inputs', 'outputs']) {
    entry[kind].forEach((t, j) => {
      if (t.spatial_axes && !spatialShapeMatches(t, model)) {
        throw invalid(
          `${path}/${kind}/${j}`,
          `${t.name}: shape ${JSON.stringify(t.shape)} does not hold the model size at its spatial axes`,
        );
      }
    });
  }
}

/** The prompt head's cross-references, as `_check_prompt` in py/mobilevos/runtime/manifest.py: the features come
 * from its own encoder graph when it has one, else from every student graph. */
function checkPrompt(prompt, graphs, model) {
  const features = prompt.features.outputs;
  for (const g of prompt.encoder ? [prompt.encoder] : graphs) {
    const have = new Set(g.outputs.map((t) => t.name));
    const missing = features.filter((n) => !have.has(n));
    if (missing.length) {
      throw invalid(
        '/prompt/features/outputs',
        `${g.name} lacks the feature outputs ${missing.join(', ')} the prompt head reads`,
      );
    }
  }
  checkSpatialShapes(prompt, model, '/prompt');
  if (prompt.encoder) checkSpatialShapes(prompt.encoder, model, '/prompt/encoder');
  const inputs = new Map(prompt.inputs.map((t) => [t.name, t]));
  const missing = [...features, prompt.prompts_input].filter((n) => !inputs.has(n));
  if (missing.length || !prompt.outputs.some((t) => t.name === prompt.output)) {
    throw invalid('/prompt', `the head lacks the inputs or output the prompt section names (${missing.join(', ')})`);
  }
  const maps = inputs.get(prompt.prompts_input).shape;
  if (maps.length !== 4 || maps[1] !== prompt.channels.length) {
    throw invalid(
      '/prompt/channels',
      `${prompt.prompts_input} has shape ${JSON.stringify(maps)}: not [1, ${prompt.channels.length}, H, W] for the channels`,
    );
  }
}

/** Does a size-dependent tensor's listed shape hold model.height x model.width (over its stride) at its axes? */
function spatialShapeMatches(tensor, model) {
  const { shape, spatial_axes: axes, spatial_stride: stride } = tensor;
  const expected = [model.height / stride, model.width / stride];
  return axes.every((a, i) => a < shape.length && shape[a] === expected[i]);
}

/**
 * The manifest as it reads at model size [height, width], one of `model.sizes`: the model section's size and memory
 * grid, the frame shape and every size-dependent tensor's shape (`spatial_axes`) rewritten, FLOPs per capacity taken
 * from the size's entry. Everything that reads shapes from the manifest (tracker, memory bank, pre-processing) then
 * runs the dynamic graphs at that size unchanged. Mirrors `at_size` in py/mobilevos/runtime/manifest.py.
 */
export function atSize(manifest, [height, width]) {
  const { model } = manifest;
  const entry = model.sizes.find((s) => s.height === height && s.width === width);
  if (!entry) {
    const have = model.sizes.map((s) => `${s.height}x${s.width}`).join(', ');
    throw new ManifestError(`model size ${height}x${width} was not exported (have: ${have})`, 'size-unavailable');
  }
  const resized = (t) => {
    if (!t.spatial_axes) return t;
    const shape = [...t.shape];
    t.spatial_axes.forEach((axis, i) => {
      shape[axis] = [height, width][i] / t.spatial_stride;
    });
    return { ...t, shape };
  };
  const withResizedTensors = (e) => ({ ...e, inputs: e.inputs.map(resized), outputs: e.outputs.map(resized) });
  const graphs = manifest.graphs.map((g) => ({
    ...withResizedTensors(g),
    ...(entry.flops?.[g.capacity] !== undefined ? { flops: entry.flops[g.capacity] } : {}),
  }));
  const frameShape = graphs[0].inputs.find((t) => t.name === manifest.frame.input).shape;
  const { prompt } = manifest;
  return {
    ...manifest,
    model: { ...model, height, width, memory_height: entry.memory_height, memory_width: entry.memory_width },
    frame: { ...manifest.frame, shape: frameShape },
    graphs,
    ...(prompt
      ? {
          prompt: {
            ...withResizedTensors(prompt),
            ...(prompt.encoder ? { encoder: withResizedTensors(prompt.encoder) } : {}),
          },
        }
      : {}),
  };
}

/**
 * The model size to run: `requested` 'auto' takes the manifest's default for the backend (WASM: the first size; a
 * GPU: the largest; a software WebGPU adapter, which is a CPU too: WASM's), a size 'HxW' of the manifest is honoured,
 * anything else falls back to the default with the reason, so the UI can say why.
 * @returns {{size: [number, number], reason: string}}
 */
export function chooseSize(manifest, backend, requested = 'auto', { software = false } = {}) {
  const gpu = backend === 'webgpu' && !software;
  const fallback = manifest.model.default_size[gpu ? 'webgpu' : 'wasm'];
  if (requested === 'auto') {
    return {
      size: [...fallback],
      reason: gpu || backend !== 'webgpu' ? `default for ${backend}` : 'software WebGPU: the WASM size',
    };
  }
  const match = /^(\d+)x(\d+)$/.exec(requested);
  const size = match && manifest.model.sizes.find((s) => s.height === +match[1] && s.width === +match[2]);
  if (size) return { size: [size.height, size.width], reason: 'requested' };
  const have = manifest.model.sizes.map((s) => `${s.height}x${s.width}`).join(', ');
  return { size: [...fallback], reason: `${requested} is not an exported size (${have}); using the default` };
}

/** Check `manifest` against the schema, then its cross-references; throws ManifestError with the first problem
 * found. Returns `manifest`. */
export function validateManifest(manifest) {
  const result = validator.validate(manifest);
  if (!result.valid) {
    // The validator lists the failing keywords from the outside in: the last one is the actual problem.
    const error = result.errors.at(-1);
    throw invalid(error.instanceLocation.replace(/^#/, ''), error.error);
  }
  checkReferences(manifest);
  return manifest;
}

/** The click-to-mask graphs of a manifest, files like the student graphs: the head and, where it has one, its encoder. */
export function promptGraphs(manifest) {
  return [manifest.prompt, manifest.prompt?.encoder].filter(Boolean);
}

/** The manifest entry of the graph of one capacity and variant; ManifestError if it was not exported. */
export function findGraph(manifest, capacity, variant) {
  const graph = manifest.graphs.find((g) => g.capacity === capacity && g.variant === variant);
  if (!graph) {
    throw new ManifestError(
      `no graph for capacity ${capacity}, variant ${variant} (exported variants: ` +
        `${Object.keys(manifest.variants).join(', ')}; capacities: ${manifest.objects.capacities.join(', ')})`,
    );
  }
  return graph;
}

/** The smallest exported object capacity that holds `numObjects`. */
export function pickCapacity(manifest, numObjects) {
  const k = manifest.objects.capacities.find((c) => c >= numObjects);
  if (k === undefined) {
    throw new ManifestError(
      `${numObjects} objects exceed the largest exported capacity ` + `${manifest.objects.capacities.at(-1)}`,
      'too-many-objects',
    );
  }
  return k;
}

/**
 * The capacity whose graph the page's worker creates and warms up at load: the one for the `objects` the page expects to annotate first
 * (the sample's mask has two, known before the model is ready), so that the first annotate call finds it ready; the
 * smallest when the page does not know (1) or expects more than the model tracks (annotate then says so).
 */
export function loadCapacity(manifest, objects) {
  const n = Number.isInteger(objects) && objects >= 1 ? objects : 1;
  return n <= maxObjects(manifest) ? pickCapacity(manifest, n) : manifest.objects.capacities[0];
}

/** The most objects one annotation may have. */
export function maxObjects(manifest) {
  return manifest.objects.capacities.at(-1);
}

/** Tensor spec (name, shape, dtype) of a graph input or output by name. */
export function tensorSpec(graph, name) {
  const spec = graph.inputs.find((t) => t.name === name) || graph.outputs.find((t) => t.name === name);
  if (!spec) throw new ManifestError(`${graph.name} has no tensor ${name}`);
  return spec;
}

/** Does the variant run on the backend? Its `targets` say (the schema requires them). */
function variantRunsOn(manifest, variant, backend) {
  return Boolean(manifest.variants[variant]?.targets.includes(backend));
}

/**
 * The precision variant to run. `requested` 'auto' picks fp16 on WebGPU adapters with shader-f16 (when exported)
 * and fp32 otherwise: on WASM the int8 graphs (int8 weights, float arithmetic) run at fp32's speed (38.8 vs 38.8 ms
 * per step, interleaved, 1 thread, node) and lose a little accuracy, so int8 — a third of the download — is only used
 * when asked for. An explicit request is honoured when exported and runnable here, else the reason is returned so the UI
 * can say why it fell back.
 * @returns {{variant: string, reason: string}}
 */
export function chooseVariant(manifest, backend, { requested = 'auto', shaderF16 = false } = {}) {
  const exported = Object.keys(manifest.variants);
  const runnable = (v) => exported.includes(v) && variantRunsOn(manifest, v, backend) && (v !== 'fp16' || shaderF16);
  if (requested !== 'auto') {
    if (runnable(requested)) return { variant: requested, reason: 'requested' };
    const why = !exported.includes(requested)
      ? 'not exported'
      : requested === 'fp16' && backend === 'webgpu' && !shaderF16
        ? "this GPU adapter lacks 'shader-f16'"
        : `not meant for ${backend}`;
    return { variant: 'fp32', reason: `${requested} ${why}; using fp32` };
  }
  if (backend === 'webgpu' && runnable('fp16')) return { variant: 'fp16', reason: "WebGPU adapter has 'shader-f16'" };
  return { variant: 'fp32', reason: 'default' };
}
