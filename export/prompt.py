"""The click-to-mask head as its own small graph, `prompt_head.onnx`, and its `prompt` section of the manifest.

The head (`mobilevos.models.prompt_head`) reads the student graph's feature outputs (`feat16`, `feat8`, `feat4`,
see `export.graphs`) and four prompt maps; its graph outputs the object's probability at the model size. Like the
student's, its height and width are dynamic (the same multiples of the stride), so one file serves every model size.

    prompt_head:  feat16 [1,C16,h,w], feat8 [1,C8,2h,2w], feat4 [1,C4,4h,4w], prompts [1,4,H,W]  ->  prob [1,1,H,W]

Size: the fp32 head is 431 KB, which on top of the 3.86 MB fp32 student graph would break the 4 MB download budget
of WASM's default variant; so its conv weights are stored as int8 (symmetric, one scale per output channel) and
dequantized inside the graph (`DequantizeLinear`, in onnxruntime-web's WASM and WebGPU tables), and the exporter's
per-node provenance is dropped (`strip_provenance`, 57 KB): 124 KB, one file for every backend and variant,
computing in float32 (fp16 weights, 0.2 MB, would not fit). What the int8 weights cost in IoU is measured against the
PyTorch head on the selection sequences (`measure_prompt`) and recorded in the manifest; for the student the head was
trained on, the export fails above `MAX_IOU_DROP`.

A head reads the features of the student it was trained on. For a student whose key encoder is another (the pruned
Balanced student: the head on its features lost 0.11 IoU at the first click), the export adds that student's key
encoder as its own graph, `prompt_encoder.onnx` (int8 weights like the head's), and the `prompt.encoder` entry tells
the page and the Python runtime to take the features from it instead of from the student graphs:

    prompt_encoder:  frame [1,H,W,4]  ->  feat16 [1,C16,h,w], feat8 [1,C8,2h,2w], feat4 [1,C4,4h,4w]

It runs once per frame the user clicks on, never while tracking.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from mobilevos.eval.prompt import annotated_frames, evaluate
from mobilevos.models.checkpoint import find_shipped
from mobilevos.models.network import SpaceTimeNetwork
from mobilevos.models.prompt_head import PROMPT_CHANNELS, PromptHead, load_head, read_head_metadata
from mobilevos.prompts import PromptSegmenter
from mobilevos.runtime.manifest import sha256
from mobilevos.runtime.ort_prompt import OrtPromptSegmenter
from mobilevos.runtime.session import open_session, session_options

from export.evaluate import median_run_ms
from export.graph_stats import op_counts
from export.graphs import MAX_CELLS, MIN_CELLS, TensorSpec, feature_specs, frame_spec, rgba_to_image, save_model
from export.manifest_writer import display_path

HEAD_FILE = "prompt_head.onnx"
ENCODER_FILE = "prompt_encoder.onnx"
# The int8 head may lose at most this much mean IoU against the PyTorch head (any click count, or the box).
MAX_IOU_DROP = 0.02
EVERY = 10  # the accuracy is measured on every 10th annotated frame of the selection sequences
# How the page and the Python runtime build the prompt maps: `mobilevos.prompts.prompt_maps`, in words.
MAPS_RULE = (
    "float32 [1, 4, H, W] at the model size, all zero, then: a click at model pixel (y, x) (continuous "
    "coordinates, pixel centres at integers; a frame pixel (fy, fx) maps to ((fy + 0.5) * sy - 0.5, (fx + 0.5) * sx "
    "- 0.5) with sy, sx the model/frame scale, plus the letterbox offset where one is used) sets channel 0 (positive) "
    "or 1 (negative) to the pointwise max with exp(-((i - y)^2 + (j - x)^2) / (2 sigma^2)) over pixels (i, j); a box "
    "with inclusive frame bounds (y0, x0, y1, x1) fills channel 2 with 1 over rows floor(y0 * sy) .. "
    "ceil((y1 + 1) * sy) - 1 and columns floor(x0 * sx) .. ceil((x1 + 1) * sx) - 1 (in model coordinates, edges "
    "offset like the clicks); channel 3 is the previous prob output for this object on this frame (zeros before the "
    "first prediction). tests/prompt_maps_cases.json pins the rule for Python and JavaScript."
)


class HeadGraph(nn.Module):
    """The head with its probability as output (its previous-mask channel takes a probability, so the caller needs
    that anyway; a mask is prob > 0.5)."""

    def __init__(self, head: PromptHead):
        super().__init__()
        self.head = head

    def forward(self, feat16, feat8, feat4, prompts):
        return torch.sigmoid(self.head(feat16, feat8, feat4, prompts))


class EncoderGraph(nn.Module):
    """The key encoder alone: the student graph's frame input to the features a prompt head reads."""

    def __init__(self, net: SpaceTimeNetwork):
        super().__init__()
        self.net = net

    def forward(self, frame):
        feats = self.net.encode_key(rgba_to_image(frame))
        return feats.f16, feats.f8, feats.f4


def encoder_specs(
    net: SpaceTimeNetwork, size: tuple[int, int]
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The encoder graph's input (the student graphs' frame) and outputs (the head's feature inputs) at `size`."""
    return (frame_spec(size),), feature_specs(net, size)


def head_specs(net: SpaceTimeNetwork, size: tuple[int, int]) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The head graph's inputs and outputs at model size `size`."""
    height, width = size
    inputs = (
        *feature_specs(net, size),
        TensorSpec(
            "prompts",
            (1, len(PROMPT_CHANNELS), height, width),
            "prompt maps at the model size: " + ", ".join(PROMPT_CHANNELS) + " (prompt.maps says how they are built)",
            spatial=(2, 3, 1),
        ),
    )
    outputs = (
        TensorSpec(
            "prob",
            (1, 1, height, width),
            "the object's probability at the model size; the next click's previous channel",
            spatial=(2, 3, 1),
        ),
    )
    return inputs, outputs


def export_head(
    head: PromptHead, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], stride: int, opset: int
) -> onnx.ModelProto:
    """Trace the head (float32) into an ONNX model whose height and width are dynamic multiples of `stride`, like
    the student's graphs (`export.graphs.dynamic_shapes`)."""
    model = _trace(HeadGraph(head), inputs, outputs, stride, opset, scale=1.0)
    model.doc_string = "MobileVOS prompt head: one object's probability from key-encoder features and prompt maps"
    return model


def export_encoder(
    net: SpaceTimeNetwork, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], opset: int
) -> onnx.ModelProto:
    """Trace the key encoder of `net` (float32, `EncoderGraph`) with dynamic height and width, like the head."""
    model = _trace(EncoderGraph(net), inputs, outputs, net.stride, opset, scale=255.0)
    model.doc_string = "MobileVOS prompt encoder: the key-encoder features the prompt head was trained on"
    return model


def _trace(
    module: nn.Module, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], stride: int, opset: int, scale
) -> onnx.ModelProto:
    """torch.onnx (dynamo) export of `module` on uniform random inputs times `scale`, its spatial axes dynamic."""
    gen = torch.Generator().manual_seed(0)
    example = tuple(scale * torch.rand(t.shape, generator=gen) for t in inputs)
    cells = torch.export.Dim("h", min=MIN_CELLS, max=MAX_CELLS), torch.export.Dim("w", min=MIN_CELLS, max=MAX_CELLS)
    shapes = {t.name: {a: (stride // t.spatial[2]) * c for a, c in zip(t.spatial[:2], cells)} for t in inputs}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            module.eval(),
            example,
            dynamo=True,
            opset_version=opset,
            optimize=True,
            input_names=[t.name for t in inputs],
            output_names=[t.name for t in outputs],
            dynamic_shapes=shapes,
            verbose=False,
        )
    return program.model_proto


def strip_provenance(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without the exporter's per-node provenance (stack traces, name scopes, FX node names) and without
    intermediate shape annotations: 57 KB of the int8 head's 180 KB, nothing onnxruntime reads."""
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    del model.graph.value_info[:]
    return model


INT8_WEIGHTS = (
    "int8 conv weights (symmetric, one scale per output channel) dequantized in the graph; float32 arithmetic; one "
    "file for every backend and variant"
)


def _save_checked(folder: Path, name: str, model: onnx.ModelProto, outputs, feeds: dict) -> Path:
    """Check a prompt graph (onnx.checker, one onnxruntime run on `feeds`: every output of its listed shape and
    finite), save it into `folder` as `name` and return its path."""
    onnx.checker.check_model(model, full_check=True)
    path = folder / name
    save_model(model, path)
    session = open_session(path)
    for t, x in zip(outputs, session.run(None, feeds), strict=True):
        if list(x.shape) != list(t.shape) or not np.isfinite(x).all():
            raise RuntimeError(f"{name}: {t.name} has shape {x.shape} or non-finite values")
    return path


def _graph_entry(path: Path, model: onnx.ModelProto, opset: int, inputs, outputs) -> dict:
    """What the manifest says of every prompt graph: its file, size, sha256, operators and tensors."""
    return {
        "name": path.stem,
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": sha256(path),
        "opset": opset,
        "nodes": len(model.graph.node),
        "ops": op_counts(model),
        "weights": INT8_WEIGHTS,
        "inputs": [t.as_dict() for t in inputs],
        "outputs": [t.as_dict() for t in outputs],
    }


def head_entry(
    folder: Path,
    model: onnx.ModelProto,
    head_path: Path,
    inputs,
    outputs,
    features: tuple[str, ...],
    rule: str,
    opset: int,
) -> dict:
    """Check the head graph, save it into `folder` and describe it: the manifest's `prompt` section (before the
    measurements); `rule` says which graph gives the `features` (STUDENT_FEATURES_RULE or ENCODER_FEATURES_RULE)."""
    rng = np.random.default_rng(0)
    feeds = {t.name: rng.random(t.shape, dtype=np.float32) for t in inputs}
    path = _save_checked(folder, HEAD_FILE, model, outputs, feeds)
    cfg, meta = read_head_metadata(head_path)
    return {
        **_graph_entry(path, model, opset, inputs, outputs),
        "features": {"outputs": list(features), "rule": rule},
        "prompts_input": inputs[-1].name,
        "output": outputs[0].name,
        "channels": list(PROMPT_CHANNELS),
        "click_sigma": cfg.click_sigma,
        "maps": MAPS_RULE,
        "mask": "prob > 0.5; to another size, resize the logit log(prob / (1 - prob)) bilinearly (as output.resize "
        "does with the two channels [1 - prob, prob])",
        "source": {"path": display_path(head_path), "sha256": sha256(head_path), "step": meta.get("step")},
    }


STUDENT_FEATURES_RULE = (
    "run any student graph on the frame (the frame input; every other input zeros: the features depend on the frame "
    "only) fetching only these outputs, once per frame; feed them to the head under the same names for every click"
)
ENCODER_FEATURES_RULE = (
    "run the encoder graph (prompt.encoder) on the frame (its frame input, the student graphs' frame format) "
    "fetching these outputs, once per frame; feed them to the head under the same names for every click. The "
    "student graphs' own feature outputs are another key encoder's: the head was not trained on them"
)


def encoder_entry(folder: Path, model: onnx.ModelProto, checkpoint: Path, inputs, outputs, opset: int) -> dict:
    """Check the encoder graph, save it into `folder` and describe it: the manifest's `prompt.encoder` entry."""
    frame = np.random.default_rng(0).integers(0, 256, inputs[0].shape).astype(np.float32)
    path = _save_checked(folder, ENCODER_FILE, model, outputs, {inputs[0].name: frame})
    return {
        **_graph_entry(path, model, opset, inputs, outputs),
        "source": {"path": display_path(checkpoint), "sha256": sha256(checkpoint)},
    }


def trained_on(head_path: Path, checkpoint: Path) -> bool:
    """Was the head trained on this student checkpoint's features (its record names the shipped student)?"""
    _, meta = read_head_metadata(head_path)
    shipped = find_shipped(meta["student"]) if "student" in meta else None
    return shipped is not None and shipped.resolve() == Path(checkpoint).resolve()


def measure_prompt(
    net: SpaceTimeNetwork, head_path: Path, folder: Path, size: tuple[int, int], root: Path, options
) -> dict:
    """Mean IoU after 1, 3, 5 NoC clicks and from a tight box (`mobilevos.eval.prompt`) of the exported graphs in
    onnxruntime (the int8 head on the features of the fp32 student graph, or of the export's encoder graph) and of
    PyTorch (`net`: the key encoder the head reads), at model size `size`, on every
    `EVERY`-th annotated frame of the selection sequences in `root` (a training folder: never an evaluation split;
    their 6 first frames alone made a noisy mean, one object's few pixels moving it by 0.02)."""
    frames = annotated_frames(root, "selection", every=EVERY)
    onnx_result = evaluate(OrtPromptSegmenter(folder, session_options=options), frames)
    torch_result = evaluate(PromptSegmenter(net, load_head(head_path), size), frames)
    keys = list(torch_result["mean"])
    return {
        "frames": f"every {EVERY}th annotated frame of the selection sequences of {root.name} "
        f"({len(onnx_result['objects'])} objects)",
        "size": list(size),
        "pytorch": {k: round(torch_result["mean"][k], 4) for k in keys},
        "onnx": {k: round(onnx_result["mean"][k], 4) for k in keys},
        "max_drop": round(max(torch_result["mean"][k] - onnx_result["mean"][k] for k in keys), 4),
        "bound": MAX_IOU_DROP,
    }


def benchmark_head(folder: Path, prompt: dict, threads: int = 1, warmup: int = 5, runs: int = 20) -> float:
    """Median onnxruntime CPU milliseconds of one run of a prompt graph at its listed size: for the head (the
    manifest's `prompt`) one click, the features given; for `prompt.encoder` one clicked frame's features."""
    session = open_session(folder / prompt["file"], session_options(threads))
    rng = np.random.default_rng(0)
    feeds = {t["name"]: rng.random(t["shape"], dtype=np.float32) for t in prompt["inputs"]}
    return median_run_ms(session, None, feeds, warmup, runs)
