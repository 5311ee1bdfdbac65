"""Precision variants of the fp32 graphs: fp16 for WebGPU adapters with `shader-f16`, int8 weights for WASM.

* fp16: onnxruntime's own float16 converter (`onnxruntime.transformers.float16`, the onnxconverter-common code that
  ships inside the pinned onnxruntime wheel), inputs and outputs kept float32 so every variant has one interface.
  The soft-aggregation tail (object sigmoid -> `prob`) stays float32: `1 - 1e-7` rounds to 1 in float16, so its
  clamped log-odds would reach log(inf) and the softmax NaN wherever an object is certain.
* int8: int8 conv weights (one scale per output channel) dequantized in the graph, float32 arithmetic: a third of
  the download at nearly fp32's accuracy and speed. Static QDQ quantisation (uint8 activations too) was used until
  session 21 and dropped: on WASM it ran slower than fp32 (no int8 kernels in the npm build), and its activation
  ranges, calibrated on a few training frames, broke with the Balanced weights of session 20 (selection J&F 67.8
  against fp32's 72.5; weight-only 72.1; numbers in export/README.md). Dynamic quantisation had been rejected
  before: less accurate, and onnxruntime runs its ConvInteger path 8-12x slower than fp32 on CPU.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.transformers.float16 import convert_float_to_float16

PRECISION_TAIL_START = "Sigmoid"  # the decoder's per-object probability; the aggregation follows it
PRECISION_TAIL_END = "prob"


def precision_tail(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes between the object sigmoid and the `prob` output (empty for graphs without them)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    consumers = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            consumers[name].append(node)

    def reach(start: list, neighbours) -> set[str]:
        seen, stack = set(), list(start)
        while stack:
            node = stack.pop()
            if node.name not in seen:
                seen.add(node.name)
                stack.extend(neighbours(node))
        return seen

    after = reach(
        [n for n in model.graph.node if n.op_type == PRECISION_TAIL_START],
        lambda n: [c for out in n.output for c in consumers[out]],
    )
    before = reach(
        [producer[PRECISION_TAIL_END]] if PRECISION_TAIL_END in producer else [],
        lambda n: [producer[i] for i in n.input if i in producer],
    )
    return sorted(after & before)


def topological_sort(model: onnx.ModelProto) -> onnx.ModelProto:
    """Reorder the nodes so each comes after the producers of its inputs (onnx.checker requires it; the float16
    converter appends its input casts at the end). Stable: keeps the original order where it is already valid."""
    nodes = list(model.graph.node)
    available = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    ordered, pending = [], nodes
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ValueError(f"graph has a cycle or a dangling input near node {pending[0].name}")
        for node in ready:
            available.update(node.output)
        ordered += ready
        pending = [n for n in pending if all(n is not r for r in ready)]
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    return model


def remove_redundant_casts(model: onnx.ModelProto) -> onnx.ModelProto:
    """Bypass the casts the converter puts between consecutive blocked nodes: float32 -> float16 -> float32 pairs
    (which would round the tail's values to float16 after all) and casts of float32 constants to float32.
    Re-infers value_info, since tensors that the converter typed float16 are float32 again."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    floats = {
        v.name
        for v in list(graph.value_info) + list(graph.input) + list(graph.output)
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    }
    floats |= {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    floats |= {n.output[0] for n in graph.node if _is_cast(n, onnx.TensorProto.FLOAT)}
    outputs = {o.name for o in graph.output}
    removed = set()
    for cast in [n for n in graph.node if _is_cast(n, onnx.TensorProto.FLOAT)]:
        first = producer.get(cast.input[0])
        if cast.input[0] in floats and cast.input[0] not in producer:  # float32 constant or input
            src = cast.input[0]
        elif first is not None and _is_cast(first, onnx.TensorProto.FLOAT16) and first.input[0] in floats:
            src = first.input[0]
        else:
            continue
        dst = cast.output[0]
        if dst in outputs:  # a graph output keeps its name: the float32 producer writes it directly
            if src not in producer:
                continue
            src, dst = dst, src
            producer[dst].output[:] = [src if o == dst else o for o in producer[dst].output]
        for node in graph.node:
            node.input[:] = [src if i == dst else i for i in node.input]
        removed.add(cast.name)
    nodes = [n for n in graph.node if n.name not in removed]
    while True:  # drop float16 casts that nothing reads any more
        used = {i for n in nodes for i in n.input} | outputs
        alive = [n for n in nodes if any(o in used for o in n.output)]
        if len(alive) == len(nodes):
            break
        nodes = alive
    del graph.node[:]
    graph.node.extend(nodes)
    graph.ClearField("value_info")
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def _is_cast(node: onnx.NodeProto, to: int) -> bool:
    return node.op_type == "Cast" and next(a.i for a in node.attribute if a.name == "to") == to


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """float16 weights and activations, float32 inputs/outputs and aggregation tail."""
    fp16 = convert_float_to_float16(model, keep_io_types=True, node_block_list=precision_tail(model))
    return remove_redundant_casts(topological_sort(fp16))


def int8_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every Conv weight stored as int8 with one float32 scale per output channel (symmetric: scale = max|w| / 127)
    and dequantized in the graph by a `DequantizeLinear` in front of the Conv; biases stay float32. Weight-only:
    activations and arithmetic stay float32, so only the weights' rounding changes the result."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    weights = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    kept, nodes = [], []
    for init in graph.initializer:
        if init.name not in weights:
            kept.append(init)
            continue
        w = numpy_helper.to_array(init).astype(np.float32)
        scale = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(1), 1e-12) / 127.0
        q = np.clip(np.round(w / scale.reshape(-1, *[1] * (w.ndim - 1))), -127, 127).astype(np.int8)
        kept += [numpy_helper.from_array(q, f"{init.name}_int8"), numpy_helper.from_array(scale, f"{init.name}_scale")]
        nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{init.name}_int8", f"{init.name}_scale"],
                [init.name],
                axis=0,
                name=f"{init.name}_dequantize",
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    return model
