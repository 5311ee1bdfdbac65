/**
 * The JavaScript memory bank: the tracker's memory slots, filled and replaced exactly as manifest.json's `memory`
 * section says (the same rules as `mobilevos.track.MemoryBank` and `export/ort_tracker.py`):
 *
 *   memory.slots   [{name, key, value}]  one entry per slot; `key`/`value` name the step graph's inputs
 *   memory.entry   {key, value}          the graph outputs that form an entry
 *   memory.update  {init: [...], step: [...]}  which slots a graph's entry replaces after it runs
 *
 * With the student's manifest: after init, first = previous = the init entry; after each step, previous = the step
 * entry; re-annotating runs init again. The bank holds a fixed number of entries, so its size does not grow with the
 * number of frames. Tensors are onnxruntime-web Tensors and may live on the GPU ('gpu-buffer' outputs fed back as
 * inputs); a tensor is disposed as soon as no slot refers to it any more (the init entry sits in two slots, so it is
 * released only when both have been replaced).
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

  /** Slot names the entry of a `kind` graph goes into (throws for a kind the rule does not name). */
  targets(kind) {
    const names = this.spec.update[kind];
    if (!names) throw new Error(`the manifest's memory rule has no update for ${kind} graphs`);
    return names;
  }

  /**
   * Store the entry of a graph run: `outputs` maps output names to Tensors (only the entry's key and value are taken).
   * Replaced tensors that no slot refers to any more are disposed.
   */
  update(kind, outputs) {
    const { key: keyName, value: valueName } = this.spec.entry;
    const key = outputs[keyName];
    const value = outputs[valueName];
    if (!key || !value) throw new Error(`${kind} outputs lack the memory entry (${keyName}, ${valueName})`);
    const before = this.tensors();
    if (kind === 'init') this.slots.clear(); // a new annotation: every slot is refilled by the rule below
    for (const name of this.targets(kind)) this.slots.set(name, { key, value });
    this.updates += 1;
    this.releaseUnreferenced(before);
  }

  /** Step graph inputs for the slots: {key0: Tensor, value0: Tensor, key1: ..., ...}. */
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

  /** True once every slot the step graph reads holds an entry. */
  get ready() {
    return this.spec.slots.every((s) => this.slots.has(s.name));
  }

  /** Distinct tensors held (the init entry shared by two slots counts once). */
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
