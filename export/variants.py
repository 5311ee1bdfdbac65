"""Precision variants of the fp32 graphs: fp16 for WebGPU adapters with `shader-f16`, int8 for WASM.

* fp16: onnxruntime's own float16 converter (`onnxruntime.transformers.float16`, the onnxconverter-common code that
  ships inside the pinned onnxruntime wheel), inputs and outputs kept float32 so every variant has one interface.
  The soft-aggregation tail (object sigmoid -> `prob`) stays float32: `1 - 1e-7` rounds to 1 in float16, so its
  clamped log-odds would reach log(inf) and the softmax NaN wherever an object is certain.
* int8: static QDQ quantisation (per-channel int8 weights, uint8 activations, MinMax calibration on frames from the
  training split), the same tail excluded, and the 4 nodes that switch the entry's masks between the annotation and
  the prediction (`entry_switch`) too: quantised, they only add 5 QuantizeLinear/DequantizeLinear pairs per call.
  Dynamic quantisation was measured and rejected: less accurate, and onnxruntime runs its ConvInteger path 8-12x
  slower than fp32 on CPU (numbers in export/README.md).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quant_pre_process, quantize_static
from onnxruntime.transformers.float16 import convert_float_to_float16

PRECISION_TAIL_START = "Sigmoid"  # the decoder's per-object probability; the aggregation follows it
PRECISION_TAIL_END = "prob"
ENTRY_SWITCH_INPUT = "annotate"  # annotate * masks + (1 - annotate) * prob_objects: the entry's masks (graphs.py)
ENTRY_MASKS_INPUT = "masks"


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


def entry_switch(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes that mix the annotation into the entry's masks (annotate * masks + (1 - annotate) * prob):
    the nodes reached from the `annotate` input, up to and including the first ones that the `masks` input also
    reaches. Empty for graphs without these inputs."""
    consumers = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            consumers[name].append(node)
    from_masks, stack = set(), list(consumers[ENTRY_MASKS_INPUT])
    while stack:
        node = stack.pop()
        if node.name not in from_masks:
            from_masks.add(node.name)
            stack.extend(c for out in node.output for c in consumers[out])
    switch, stack = set(), list(consumers[ENTRY_SWITCH_INPUT]) if from_masks else []
    while stack:
        node = stack.pop()
        if node.name not in switch:
            switch.add(node.name)
            if node.name not in from_masks:  # stop where the annotation joins
                stack.extend(c for out in node.output for c in consumers[out])
    return sorted(switch)


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


class _Feeds(CalibrationDataReader):
    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)


def to_int8(model: onnx.ModelProto, calibration: list[dict[str, np.ndarray]]) -> onnx.ModelProto:
    """Static QDQ int8 model calibrated on `calibration` (a list of input feeds of this graph, of both calls)."""
    if not calibration:
        raise ValueError("int8 quantisation needs calibration feeds")
    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save_model(model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # shape inference + fusions for QDQ
        quantize_static(
            str(pre),
            str(out),
            _Feeds(calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=precision_tail(onnx.load(pre)) + entry_switch(onnx.load(pre)),
        )
        quantized = onnx.load(out)
    quantized.doc_string = model.doc_string
    return quantized
