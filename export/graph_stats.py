"""Static facts about a graph for the manifest and the README: node count, operators used, and FLOPs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import numpy_helper


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """Operator -> number of nodes, most used first."""
    return dict(Counter(node.op_type for node in model.graph.node).most_common())


def flops(model: onnx.ModelProto) -> int:
    """FLOPs of the Conv and MatMul nodes (2 per multiply-add), which dominate this network; needs static shapes."""
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(graph.value_info) + list(graph.input) + list(graph.output)
    }
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    constants = {
        n.output[0]: numpy_helper.to_array(n.attribute[0].t)
        for n in graph.node
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
    }
    shapes.update({name: list(value.shape) for name, value in constants.items()})
    total = 0
    for node in graph.node:
        if node.op_type == "Conv":
            weight, out = shapes[node.input[1]], shapes[node.output[0]]
            total += 2 * int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type == "MatMul":
            total += 2 * int(np.prod(shapes[node.output[0]])) * shapes[node.input[0]][-1]
    return total
