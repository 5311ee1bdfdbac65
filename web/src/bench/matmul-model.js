/**
 * The compute-peak probe's model, written as ONNX protobuf bytes in JavaScript (no file to ship): a chain of `chain`
 * MatMuls Y = X·W·W·…·W with X [n, n] the input and W [n, n] a float32 initializer, so one run costs
 * chain · 2n³ FLOPs (2 per multiply-add, the convention of the manifest's `flops`). W's entries are uniform in
 * ±sqrt(3/n) (variance 1/n), so values stay of order one along the chain (no overflow, no denormals).
 */

const FLOAT = 1; // TensorProto.DataType.FLOAT

/** A minimal protobuf writer (varints and length-delimited fields are all ONNX needs here). */
class Writer {
  constructor() {
    this.parts = [];
    this.length = 0;
  }

  push(bytes) {
    this.parts.push(bytes);
    this.length += bytes.length;
    return this;
  }

  varint(value) {
    let v = BigInt(value);
    const bytes = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      bytes.push(byte);
    } while (v);
    return this.push(Uint8Array.from(bytes));
  }

  tag(field, wire) {
    return this.varint((field << 3) | wire);
  }

  int(field, value) {
    return this.tag(field, 0).varint(value);
  }

  bytes(field, bytes) {
    return this.tag(field, 2).varint(bytes.length).push(bytes);
  }

  string(field, text) {
    return this.bytes(field, new TextEncoder().encode(text));
  }

  message(field, writer) {
    return this.bytes(field, writer.finish());
  }

  finish() {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function tensorType(dims) {
  const shape = new Writer();
  for (const d of dims) shape.message(1, new Writer().int(1, d)); // TensorShapeProto.dim { dim_value }
  const tensor = new Writer().int(1, FLOAT).message(2, shape); // TypeProto.Tensor { elem_type, shape }
  return new Writer().message(1, tensor); // TypeProto { tensor_type }
}

function valueInfo(name, dims) {
  return new Writer().string(1, name).message(2, tensorType(dims));
}

/** Deterministic weights (a 32-bit LCG), uniform in ±sqrt(3/n). */
export function probeWeights(n, seed = 1) {
  const w = new Float32Array(n * n);
  const a = Math.sqrt(3 / n);
  let s = seed >>> 0;
  for (let i = 0; i < w.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    w[i] = ((s / 4294967296) * 2 - 1) * a;
  }
  return w;
}

/**
 * ONNX bytes of the probe: input `x` [n, n], output `y` [n, n], `chain` MatMul nodes sharing the initializer `w`.
 * @returns {{bytes: Uint8Array, flops: number, n: number, chain: number}}
 */
export function matmulModel(n = 1024, chain = 4, { opset = 13, seed = 1 } = {}) {
  if (!(n >= 1 && chain >= 1)) throw new Error(`bad probe size n=${n}, chain=${chain}`);
  const weights = probeWeights(n, seed);
  const initializer = new Writer()
    .int(1, n)
    .int(1, n)
    .int(2, FLOAT)
    .string(8, 'w')
    .bytes(9, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  const graph = new Writer();
  for (let i = 0; i < chain; i++) {
    const input = i === 0 ? 'x' : `y${i}`;
    const output = i === chain - 1 ? 'y' : `y${i + 1}`;
    graph.message(
      1,
      new Writer().string(1, input).string(1, 'w').string(2, output).string(3, `matmul${i}`).string(4, 'MatMul'),
    );
  }
  graph
    .string(2, 'mobilevos_matmul_probe')
    .message(5, initializer)
    .message(11, valueInfo('x', [n, n]))
    .message(12, valueInfo('y', [n, n]));
  const model = new Writer()
    .int(1, 8) // ir_version 8
    .string(2, 'mobilevos-bench')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, opset)); // opset_import
  return { bytes: model.finish(), flops: chain * 2 * n ** 3, n, chain };
}

/** Deterministic probe input [n, n] (values of order one). */
export function probeInput(n) {
  return probeWeights(n, 7).map((v) => v * Math.sqrt(n / 3));
}
