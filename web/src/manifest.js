/**
 * manifest.json: the contract written by `python -m export` (export/manifest.py). Everything the app knows about the
 * model comes from it: one graph file per object capacity K and precision variant, input/output names and shapes,
 * the model resolution, the frame format, the graph's two calls (annotate / track: what each feeds) and the memory
 * slots with their update rule. This module only reads and checks it; nothing here hard-codes a name or a shape.
 * Schema 2 (one graph that annotates and tracks, told apart by its `annotate` input) replaced schema 1's init/step
 * graph pairs, which made the browser download the weights twice.
 */

export const SCHEMA_VERSION = 2;
/** The two calls of the graph (manifest `calls`): annotating a frame, and tracking each later frame. */
export const CALLS = ['annotate', 'track'];
/** What a call feeds or does with `prob`: the tokens this app interprets, per field of a `calls` entry. */
const CALL_TOKENS = { masks: ['annotation', 'zeros'], memory: ['zeros', 'slots'], prob: ['ignore', 'result'] };

/** Top-level sections and the keys each must have (mirrors `_REQUIRED` in export/manifest.py). */
const REQUIRED = {
  schema_version: null,
  model: ['height', 'width', 'stride'],
  frame: ['input', 'shape', 'dtype', 'layout', 'channels', 'range'],
  objects: ['capacities', 'masks_input', 'valid_input'],
  calls: ['input', ...CALLS],
  output: ['name'],
  memory: ['slots', 'entry', 'update'],
  graphs: null,
  variants: null,
};
const GRAPH_KEYS = ['name', 'capacity', 'variant', 'file', 'bytes', 'sha256', 'inputs', 'outputs'];

/** A manifest that is missing, malformed, or does not match its files. `code` says which for the UI. */
export class ManifestError extends Error {
  constructor(message, code = 'model-invalid') {
    super(message);
    this.name = 'ManifestError';
    this.code = code;
  }
}

function requireKeys(section, keys, where) {
  if (section === null || typeof section !== 'object') throw new ManifestError(`${where} must be an object`);
  const missing = keys.filter((k) => !(k in section));
  if (missing.length) throw new ManifestError(`${where} lacks ${missing.join(', ')}`);
}

/** Check structure and cross-references; throws ManifestError with the first problem found. Returns `manifest`. */
export function validateManifest(manifest) {
  requireKeys(manifest, Object.keys(REQUIRED), 'manifest');
  if (manifest.schema_version !== SCHEMA_VERSION) {
    throw new ManifestError(`manifest schema_version ${manifest.schema_version} is not ${SCHEMA_VERSION} (this app)`);
  }
  for (const [key, fields] of Object.entries(REQUIRED)) if (fields) requireKeys(manifest[key], fields, key);
  const { frame, objects, calls, memory, graphs, variants } = manifest;
  if (frame.dtype !== 'float32' || frame.layout !== 'NHWC' || frame.channels !== 'RGBA') {
    throw new ManifestError(`frame format ${frame.dtype} ${frame.layout} ${frame.channels} is not the float32 NHWC ` +
      'RGBA this app feeds');
  }
  const caps = objects.capacities;
  if (!Array.isArray(caps) || !caps.length || caps.some((k, i) => !(k >= 1) || (i && k <= caps[i - 1]))) {
    throw new ManifestError(`objects.capacities must be increasing and non-empty, got ${JSON.stringify(caps)}`);
  }
  requireKeys(memory.entry, ['key', 'value'], 'memory.entry');
  const slotNames = new Set();
  for (const slot of memory.slots) {
    requireKeys(slot, ['name', 'key', 'value'], 'memory slot');
    slotNames.add(slot.name);
  }
  if (!Array.isArray(graphs) || !graphs.length) throw new ManifestError('manifest lists no graphs');
  const seen = new Set();
  const neededInputs = [frame.input, objects.masks_input, objects.valid_input, calls.input,
    ...memory.slots.flatMap((s) => [s.key, s.value])];
  const neededOutputs = [manifest.output.name, memory.entry.key, memory.entry.value];
  graphs.forEach((g, i) => {
    requireKeys(g, GRAPH_KEYS, `graphs[${i}]`);
    const key = `${g.capacity}/${g.variant}`;
    if (seen.has(key)) throw new ManifestError(`graphs[${i}] (${g.name}): duplicate capacity/variant ${key}`);
    seen.add(key);
    for (const t of [...g.inputs, ...g.outputs]) requireKeys(t, ['name', 'shape', 'dtype'], `${g.name} tensor`);
    const inputs = new Set(g.inputs.map((t) => t.name));
    const outputs = new Set(g.outputs.map((t) => t.name));
    const missingIn = neededInputs.filter((n) => !inputs.has(n));
    if (missingIn.length) throw new ManifestError(`${g.name} lacks the inputs ${missingIn.join(', ')} that the manifest names`);
    const missingOut = neededOutputs.filter((n) => !outputs.has(n));
    if (missingOut.length) throw new ManifestError(`${g.name} lacks the outputs ${missingOut.join(', ')} that the manifest names`);
  });
  const variantNames = Object.keys(variants);
  if (!variantNames.includes('fp32')) throw new ManifestError('manifest has no fp32 variant');
  for (const v of variantNames) {
    for (const k of caps) {
      if (!seen.has(`${k}/${v}`)) throw new ManifestError(`variant ${v} has no graph for capacity ${k}`);
    }
  }
  for (const name of CALLS) {
    const call = calls[name];
    requireKeys(call, ['value', ...Object.keys(CALL_TOKENS)], `calls.${name}`);
    if (call.value !== 0 && call.value !== 1) throw new ManifestError(`calls.${name}.value must be 0 or 1, got ${JSON.stringify(call.value)}`);
    for (const [field, tokens] of Object.entries(CALL_TOKENS)) {
      if (!tokens.includes(call[field])) {
        throw new ManifestError(`calls.${name}.${field} = ${JSON.stringify(call[field])} is not one of ${tokens.join(', ')}`);
      }
    }
  }
  if (calls.annotate.value === calls.track.value) throw new ManifestError('calls.annotate and calls.track have the same annotate value');
  const updates = Object.keys(memory.update);
  if (updates.length !== CALLS.length || !CALLS.every((c) => updates.includes(c))) {
    throw new ManifestError(`memory.update must have exactly the calls ${CALLS.join(', ')}, got ${updates.join(', ')}`);
  }
  for (const [call, slots] of Object.entries(memory.update)) {
    if (!Array.isArray(slots) || !slots.length || !slots.every((s) => slotNames.has(s))) {
      throw new ManifestError(`memory.update[${call}] = ${JSON.stringify(slots)} refers to no or unknown slots`);
    }
  }
  if (calls.annotate.memory === 'zeros' && !memory.slots.every((s) => memory.update.annotate.includes(s.name))) {
    throw new ManifestError('memory.update.annotate must refill every slot (the annotate call reads none)');
  }
  return manifest;
}

/** The manifest entry of the graph of one capacity and variant; ManifestError if it was not exported. */
export function findGraph(manifest, capacity, variant) {
  const graph = manifest.graphs.find((g) => g.capacity === capacity && g.variant === variant);
  if (!graph) {
    throw new ManifestError(`no graph for capacity ${capacity}, variant ${variant} (exported variants: ` +
      `${Object.keys(manifest.variants).join(', ')}; capacities: ${manifest.objects.capacities.join(', ')})`);
  }
  return graph;
}

/** The smallest exported object capacity that holds `numObjects`. */
export function pickCapacity(manifest, numObjects) {
  const k = manifest.objects.capacities.find((c) => c >= numObjects);
  if (k === undefined) {
    throw new ManifestError(`${numObjects} objects exceed the largest exported capacity ` +
      `${manifest.objects.capacities.at(-1)}`, 'too-many-objects');
  }
  return k;
}

/** The most objects one annotation may have. */
export function maxObjects(manifest) {
  return manifest.objects.capacities.at(-1);
}

/** Model resolution {height, width} (the frame input's H and W). */
export function modelSize(manifest) {
  return { height: manifest.model.height, width: manifest.model.width };
}

/** Tensor spec (name, shape, dtype) of a graph input or output by name. */
export function tensorSpec(graph, name) {
  const spec = graph.inputs.find((t) => t.name === name) || graph.outputs.find((t) => t.name === name);
  if (!spec) throw new ManifestError(`${graph.name} has no tensor ${name}`);
  return spec;
}

/** Does the variant run on the backend? Uses the variant's `targets` when the manifest gives them. */
export function variantRunsOn(manifest, variant, backend) {
  const info = manifest.variants[variant];
  if (!info) return false;
  if (Array.isArray(info.targets)) return info.targets.includes(backend);
  return variant === 'fp32' || (variant === 'fp16' ? backend === 'webgpu' : backend === 'wasm');
}

/**
 * The precision variant to run. `requested` 'auto' picks fp16 on WebGPU adapters with shader-f16 (when exported)
 * and fp32 otherwise: on WASM the int8 (QDQ) graphs measured slower than fp32 (84 vs 69 ms per step, 1 thread), so
 * int8 is only used when asked for. An explicit request is honoured when exported and runnable here,
 * else the reason is returned so the UI can say why it fell back.
 * @returns {{variant: string, reason: string}}
 */
export function chooseVariant(manifest, backend, { requested = 'auto', shaderF16 = false } = {}) {
  const exported = Object.keys(manifest.variants);
  const runnable = (v) => exported.includes(v) && variantRunsOn(manifest, v, backend) && (v !== 'fp16' || shaderF16);
  if (requested !== 'auto') {
    if (runnable(requested)) return { variant: requested, reason: 'requested' };
    const why = !exported.includes(requested) ? 'not exported'
      : requested === 'fp16' && backend === 'webgpu' && !shaderF16 ? "this GPU adapter lacks 'shader-f16'"
        : `not meant for ${backend}`;
    return { variant: 'fp32', reason: `${requested} ${why}; using fp32` };
  }
  if (backend === 'webgpu' && runnable('fp16')) return { variant: 'fp16', reason: "WebGPU adapter has 'shader-f16'" };
  return { variant: 'fp32', reason: 'default' };
}
