"""The export-only wrapper of the deployed graph, and the torch -> ONNX step for it.

The wrapper only calls the network's stages (`encode_key`, `encode_value`, `segment`); the logic it adds is unpacking
the browser's frame format and choosing the masks the new memory entry is encoded with. Like segment-anything's
`SamOnnxModel`, it is not meant to be called directly: `export_graph` traces it with named inputs whose height and
width are dynamic (multiples of the stride).

One graph per object capacity K serves both calls (H, W: model resolution; h, w = H/16, W/16; CK, CV: key and value
channels):

    student_k{K}:  frame [1,H,W,4], masks [1,K,H,W], annotate [1], key0, value0, key1, value1 (two memory slots),
                   valid [1,K]  ->  prob [1,K+1,H,W], key [1,CK,h,w], value [1,K,CV,h,w],
                                    feat16 [1,C16,h,w], feat8 [1,C8,2h,2w], feat4 [1,C4,4h,4w]

The new entry's value is encoded from m = annotate * masks + (1 - annotate) * (the predicted object probabilities):
annotate = 1 encodes the annotation (the frame's key and value are then those of `mobilevos.track.Tracker.start`,
whatever the memory inputs hold, and `prob` is ignored); annotate = 0 is a tracking step (`Tracker.step`).
A single graph means the browser downloads the weights once.

feat16/feat8/feat4 are the key encoder's features (`Features.f16/f8/f4`), the inputs of the click-to-mask head
(`export.prompt`): they depend on the frame only. Tracking does not fetch them (onnxruntime computes the nodes
anyway, they feed the decoder); the web app asks for them only when the user clicks on a frozen frame.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

from mobilevos.models.network import SpaceTimeNetwork

MIN_OPSET = 18  # the lowest the dynamo exporter produces (its down-conversion to 17 fails on Pad)


def rgba_to_image(frame: torch.Tensor) -> torch.Tensor:
    """[1, H, W, 4] RGBA in 0..255 (canvas ImageData as float) -> [1, 3, H, W] RGB in [0, 1], the network's input."""
    # Transpose first, then slice whole channel planes: slicing the interleaved last axis cost 4% of the WASM graph.
    return frame.permute(0, 3, 1, 2)[:, :3] / 255.0


class StudentGraph(nn.Module):
    """One call of the student: read the two memory slots, segment the frame, and encode the frame's memory entry
    from the annotation (annotate = 1) or from its own prediction (annotate = 0)."""

    def __init__(self, net: SpaceTimeNetwork):
        super().__init__()
        self.net = net

    def forward(self, frame, masks, annotate, key0, value0, key1, value1, valid):
        feats = self.net.encode_key(rgba_to_image(frame))
        # Same entry order as mobilevos.track.MemoryBank.read: [permanent (first frame), previous frame].
        keys = torch.stack([key0, key1], 2)
        values = torch.stack([value0, value1], 3)
        seg = self.net.segment(feats, keys, values, valid)
        # annotate is 0 or 1: exactly the annotation (Tracker.start) or exactly the prediction (Tracker.step).
        entry_masks = annotate * masks + (1 - annotate) * seg.prob
        value = self.net.encode_value(feats, entry_masks)
        return seg.probs, feats.key, value, feats.f16, feats.f8, feats.f4


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output as the manifest describes it."""

    name: str
    shape: tuple[int, ...]
    meaning: str
    dtype: str = "float32"
    spatial: tuple[int, int, int] | None = None  # (height axis, width axis, stride) of a size-dependent tensor

    def as_dict(self) -> dict:
        entry = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "meaning": self.meaning}
        if self.spatial is not None:
            entry["spatial_axes"], entry["spatial_stride"] = list(self.spatial[:2]), self.spatial[2]
        return entry


@dataclass(frozen=True)
class GraphSpec:
    """A graph to export: its object capacity, inputs and outputs."""

    capacity: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def name(self) -> str:
        return f"{GRAPH_PREFIX}_k{self.capacity}"


GRAPH_PREFIX = "student"  # graph files: student_k{K}.onnx, student_k{K}_fp16.onnx, student_k{K}_int8.onnx
# The key encoder's features as graph outputs, finest last: the names the prompt head's graph takes them by.
FEATURE_OUTPUTS = (("feat16", 16), ("feat8", 8), ("feat4", 4))


def feature_specs(net: SpaceTimeNetwork, size: tuple[int, int]) -> tuple[TensorSpec, ...]:
    """The key-encoder feature tensors (f16, f8, f4) at model size `size`, as graph outputs or head inputs."""
    with torch.no_grad():  # the channel counts, whatever the backbone
        dims = net.encode_key(torch.zeros(1, 3, 64, 64))[1:4]
    return tuple(
        TensorSpec(
            name,
            (1, d.shape[1], size[0] // stride, size[1] // stride),
            f"the key encoder's features at 1/{stride} of the model size (depend on the frame only): "
            "the prompt head's input; fetch only when prompting",
            spatial=(2, 3, stride),
        )
        for (name, stride), d in zip(FEATURE_OUTPUTS, dims)
    )


def frame_spec(size: tuple[int, int]) -> TensorSpec:
    """The frame input at model size `size` (H, W): the browser's frame format (`rgba_to_image` unpacks it)."""
    return TensorSpec(
        "frame",
        (1, *size, 4),
        "RGBA frame at model resolution, 0..255 (canvas ImageData bytes as float32); alpha is ignored",
        spatial=(1, 2, 1),
    )


def graph_spec(net: SpaceTimeNetwork, size: tuple[int, int], capacity: int) -> GraphSpec:
    """The graph spec for model resolution `size` (H, W) and `capacity` objects."""
    height, width = size
    k, ck, cv = capacity, net.cfg.key_dim, net.cfg.value_dim
    h, w = height // net.stride, width // net.stride
    key_axes, value_axes = (2, 3, net.stride), (3, 4, net.stride)
    return GraphSpec(
        k,
        (
            frame_spec(size),
            TensorSpec(
                "masks",
                (1, k, height, width),
                "annotated objects' masks at model resolution (0/1) when "
                "annotate = 1 (padding slots all zero); all zero when annotate = 0",
                spatial=(2, 3, 1),
            ),
            TensorSpec(
                "annotate",
                (1,),
                "1: this frame is annotated, its entry's value is encoded from masks; "
                "0: a tracking step, the value is encoded from the predicted probabilities",
            ),
            TensorSpec(
                "key0",
                (1, ck, h, w),
                "memory slot 0 (first frame, permanent): key; zeros when annotate = 1",
                spatial=key_axes,
            ),
            TensorSpec(
                "value0", (1, k, cv, h, w), "memory slot 0: values; zeros when annotate = 1", spatial=value_axes
            ),
            TensorSpec(
                "key1", (1, ck, h, w), "memory slot 1 (previous frame): key; zeros when annotate = 1", spatial=key_axes
            ),
            TensorSpec(
                "value1", (1, k, cv, h, w), "memory slot 1: values; zeros when annotate = 1", spatial=value_axes
            ),
            TensorSpec("valid", (1, k), "1 for object slots in use, 0 for padding"),
        ),
        (
            TensorSpec(
                "prob",
                (1, k + 1, height, width),
                "probabilities at model resolution, background first "
                "(softmax over the K+1 channels); ignored when annotate = 1",
                spatial=(2, 3, 1),
            ),
            TensorSpec("key", (1, ck, h, w), "this frame's memory key", spatial=key_axes),
            TensorSpec(
                "value",
                (1, k, cv, h, w),
                "this frame's per-object memory values, encoded from masks "
                "(annotate = 1) or from its own prediction (annotate = 0)",
                spatial=value_axes,
            ),
            *feature_specs(net, size),
        ),
    )


def example_inputs(spec: GraphSpec) -> tuple[torch.Tensor, ...]:
    """Plausible inputs of the right shapes (a real frame range, binary masks, all slots valid) for tracing."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for t in spec.inputs:
        if t.name == "frame":
            out.append(torch.randint(0, 256, t.shape, generator=gen).float())
        elif t.name in ("masks", "valid"):
            out.append(torch.ones(t.shape))
        elif t.name == "annotate":
            out.append(torch.full(t.shape, 0.5))  # a traced value, never folded into a constant
        else:
            out.append(torch.randn(t.shape, generator=gen))
    return tuple(out)


# Model sizes one graph accepts, in units of the stride: 64..1024 pixels a side.
MIN_CELLS, MAX_CELLS = 4, 64


def dynamic_shapes(spec: GraphSpec, stride: int) -> dict:
    """torch.export's dynamic dimensions of every size-dependent input: its spatial axes as multiples of `stride`
    cells (H = stride * h), so one graph serves every model size whose sides are multiples of the stride."""
    cells = torch.export.Dim("h", min=MIN_CELLS, max=MAX_CELLS), torch.export.Dim("w", min=MIN_CELLS, max=MAX_CELLS)
    shapes = {}
    for t in spec.inputs:
        if t.spatial is None:
            shapes[t.name] = None
        else:
            scale = stride // t.spatial[2]  # 16 for full-resolution tensors, 1 for the memory's
            shapes[t.name] = {axis: scale * cell for axis, cell in zip(t.spatial[:2], cells)}
    return shapes


def spec_feeds(spec: GraphSpec) -> dict:
    """`example_inputs` as numpy arrays by input name (e.g. to run the exported graph at the spec's size)."""
    return {t.name: x.numpy() for t, x in zip(spec.inputs, example_inputs(spec))}


def export_graph(net: SpaceTimeNetwork, spec: GraphSpec, opset: int) -> onnx.ModelProto:
    """Trace the graph into an optimised ONNX model (BatchNorm and constants folded) whose height and width are
    dynamic (`dynamic_shapes`): the web app and the Space pick the model size at run time from the manifest's sizes.

    Uses the dynamo exporter: its graph is about 30% the size of the legacy exporter's, which keeps Shape/Gather
    chains for `view`/`expand` (numbers in export/README.md); with dynamic sizes it adds 23 small shape nodes (212
    against 189), which cost nothing measurable in WASM (one run in node, 2 threads, loaded machine: 336 against 332
    ms a step for the static graph). It supports opset >= 18.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset}: the dynamo exporter produces opset {MIN_OPSET} or newer")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # deprecation and tracer warnings that do not apply here
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed"
        program = torch.onnx.export(
            StudentGraph(net).eval(),
            example_inputs(spec),
            dynamo=True,
            opset_version=opset,
            optimize=True,
            input_names=[t.name for t in spec.inputs],
            output_names=[t.name for t in spec.outputs],
            dynamic_shapes=dynamic_shapes(spec, net.stride),
            verbose=False,
        )
    model = program.model_proto
    model.doc_string = f"MobileVOS student {spec.name}"
    return model


def save_model(model: onnx.ModelProto, path: Path) -> None:
    """Write one self-contained .onnx file (no external data: the browser fetches a single file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path), save_as_external_data=False)
