/**
 * The JavaScript memory bank: the tracker's memory slots, filled and replaced exactly as manifest.json's `memory`
 * section says. That section is the student's memory rule (`mobilevos.memory_rule.STUDENT`, written by the export),
 * which the PyTorch bank, the onnxruntime tracker and the training unroll read too; tests/memory_rule_cases.json runs
 * the same call sequences through all of them:
 *
 *   memory.slots   [{name, key, value}]  one entry per slot; `key`/`value` name the graph's memory inputs
 *   memory.entry   {key, value}          the graph outputs that form an entry
 *   memory.update  {annotate: [...], track: [...]}  which slots the entry of each call replaces after it runs
 *
 * With the student's manifest: after the annotate call, first = previous = its entry; after each track call,
 * previous = its entry; re-annotating is another annotate call (it refills every slot). The bank holds a fixed number
 * of entries, so its size does not grow with the number of frames. Tensors are onnxruntime-web Tensors and may live on
 * the GPU ('gpu-buffer' outputs fed back as inputs); a tensor is disposed as soon as no slot refers to it any more
 * (the annotated entry sits in two slots, so it is released only when both have been replaced).
 */

export class MemoryBank {
  /** @param {{slots: {name: string, key: string, value: string}[], entry: {key: string, value: string},
   *           update: Record<string, string[]>}} memory  the manifest's memory section */
  constructor(memory) {
    this.spec = memory;
    /** @type {Map<string, {key: any, value: any}>} slot name -> entry */
    this.slots = new Map();
    this.updates = 0;
    this.disposed = 0;
  }

  /** Slot names the entry of a `call` goes into (throws for a call the rule does not name). */
  targets(call) {
    const names = this.spec.update[call];
    if (!names) throw new Error(`the manifest's memory rule has no update for ${call} calls`);
    return names;
  }

  /**
   * Store the entry of a graph call (`call`: 'annotate' or 'track'): `outputs` maps output names to Tensors (only the
   * entry's key and value are taken). Replaced tensors that no slot refers to any more are disposed.
   */
  update(call, outputs) {
    const { key: keyName, value: valueName } = this.spec.entry;
    const key = outputs[keyName];
    const value = outputs[valueName];
    if (!key || !value) throw new Error(`${call} outputs lack the memory entry (${keyName}, ${valueName})`);
    const targets = this.targets(call);
    const before = this.tensors();
    for (const name of targets) this.slots.set(name, { key, value });
    this.updates += 1;
    this.releaseUnreferenced(before);
  }

  /** The graph's memory inputs for a track call: {key0: Tensor, value0: Tensor, key1: ..., ...}. */
  feeds() {
    const feeds = {};
    for (const slot of this.spec.slots) {
      const entry = this.slots.get(slot.name);
      if (!entry) throw new Error(`memory slot ${slot.name} is empty: annotate a frame first`);
      feeds[slot.key] = entry.key;
      feeds[slot.value] = entry.value;
    }
    return feeds;
  }

  /** True once every slot the track call reads holds an entry. */
  get ready() {
    return this.spec.slots.every((s) => this.slots.has(s.name));
  }

  /** Distinct tensors held (the annotated entry shared by two slots counts once). */
  tensors() {
    const set = new Set();
    for (const { key, value } of this.slots.values()) set.add(key).add(value);
    return set;
  }

  /** Bytes of the distinct tensors held (from their dims and type). */
  get bytes() {
    let total = 0;
    for (const t of this.tensors()) total += t.dims.reduce((a, b) => a * b, 1) * bytesPerElement(t.type);
    return total;
  }

  /** Drop every entry (e.g. reset, or before loading other graphs). */
  clear() {
    const before = this.tensors();
    this.slots.clear();
    this.releaseUnreferenced(before);
  }

  releaseUnreferenced(candidates) {
    const live = this.tensors();
    for (const t of candidates) {
      if (!live.has(t)) {
        t.dispose();
        this.disposed += 1;
      }
    }
  }
}

function bytesPerElement(type) {
  return { float32: 4, float16: 2, int8: 1, uint8: 1, int32: 4, int64: 8 }[type] ?? 4;
}
