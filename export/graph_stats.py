"""Static facts about a graph for the manifest and the README: node count, operators used, and FLOPs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import numpy_helper


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Operator -> number of nodes, most used first."""
    return dict(Counter(node.op_type for node in model.graph.node).most_common())


def flops(model: onnx.ModelProto, feeds: dict[str, np.ndarray] | None = None) -> int:
    """FLOPs of the Conv and MatMul nodes (2 per multiply-add), which dominate this network.

    Shapes come from ONNX shape inference, which a graph with dynamic sizes cannot complete (its reshapes depend
    on computed shapes): with `feeds` (inputs at one size) they are taken from a run of onnxruntime instead.
    """
    graph = model.graph
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    constants = {
        n.output[0]: numpy_helper.to_array(n.attribute[0].t)
        for n in graph.node
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
    }
    shapes.update({name: list(value.shape) for name, value in constants.items()})
    nodes = [n for n in graph.node if n.op_type in ("Conv", "MatMul")]
    if feeds is None:
        inferred = onnx.shape_inference.infer_shapes(model).graph
        for v in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
            shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    else:
        shapes.update(_run_shapes(model, feeds, {name for n in nodes for name in (n.input[0], n.output[0])}))
    total = 0
    for node in nodes:
        if node.op_type == "Conv":
            weight, out = shapes[node.input[1]], shapes[node.output[0]]
            total += 2 * int(np.prod(out)) * int(np.prod(weight[1:]))
        else:
            total += 2 * int(np.prod(shapes[node.output[0]])) * shapes[node.input[0]][-1]
    return total


def _run_shapes(model: onnx.ModelProto, feeds: dict[str, np.ndarray], names: set[str]) -> dict[str, list[int]]:
    """The shapes of the tensors `names` in one onnxruntime run of `model` on `feeds` (each exposed as an output)."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output} | {i.name for i in probe.graph.input}
    known |= {t.name for t in probe.graph.initializer}
    for name in sorted(names - known):
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    values = dict(zip(outputs, session.run(outputs, feeds)))
    values.update(feeds)
    return {name: list(values[name].shape) for name in names if name in values}
