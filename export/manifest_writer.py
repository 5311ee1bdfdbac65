"""What an export writes into `manifest.json` about itself: the graphs' contract (inputs, calls, memory rule,
output), its variants and where each runs, the checkpoint and the tool versions (`export.pipeline` adds the
measurements). The schema it must satisfy is `mobilevos/runtime/manifest.schema.json`."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import onnx
import onnxruntime as ort
import onnxscript
import torch

import mobilevos
from mobilevos.memory_rule import STUDENT
from mobilevos.models.checkpoint import read_metadata
from mobilevos.models.efficientnet_lite import is_pruned
from mobilevos.models.network import NetworkConfig, SpaceTimeNetwork
from mobilevos.runtime.manifest import SCHEMA_VERSION, same_shape, sha256

from export.op_support import WASM_TABLE, WEBGPU_TABLE, load_table

REPO = Path(__file__).resolve().parents[1]

# Where each variant runs, hence which operator tables it must satisfy.
TARGETS = {"fp32": ("webgpu", "wasm"), "fp16": ("webgpu",), "int8": ("wasm",)}
TABLES = {"webgpu": WEBGPU_TABLE, "wasm": WASM_TABLE}
VARIANT_NOTES = {
    "fp32": "reference precision; runs on WebGPU and WASM",
    "fp16": "float16 weights and activations for WebGPU adapters with the 'shader-f16' feature; inputs, outputs "
    "and the aggregation tail (object sigmoid -> prob) stay float32",
    "int8": "int8 conv weights (symmetric, one scale per output channel) dequantized in the graph, float32 "
    "arithmetic: a third of fp32's download, for WASM",
}


def display_path(path: Path) -> str:
    """Repository-relative where possible, so the manifest does not record this machine's layout."""
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return path.as_posix()


def model_name(cfg: NetworkConfig) -> str:
    """The name the page shows: another key encoder (the dense one) and a pruned one say so, so a visitor and a test
    can tell the shipped students apart."""
    name = "mobilevos-student" if cfg.backbone == "lite0" else f"mobilevos-student-{cfg.backbone}"
    share = cfg.backbone_share
    if is_pruned(share):
        name += f"-pruned-{share:g}" if isinstance(share, (int, float)) else "-pruned-per-block"
    return name


def size_entries(sizes: list[tuple[int, int]], stride: int) -> list[dict]:
    """`model.sizes` before measurements: each size with its memory grid."""
    return [{"height": h, "width": w, "memory_height": h // stride, "memory_width": w // stride} for h, w in sizes]


def webgpu_default(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """WebGPU's starting size: the largest of the first size's shape (`same_shape`); sizes of other shapes are for
    frames of those shapes (the web app's size-fit.js sizeForFrame)."""
    return max((s for s in sizes if same_shape(s, sizes[0])), key=lambda s: s[0] * s[1])


def build_manifest(
    sizes: list[tuple[int, int]],
    capacities: list[int],
    opset: int,
    net: SpaceTimeNetwork,
    checkpoint: Path,
    graphs: list[dict],
    variants: dict,
) -> dict:
    """The manifest of an export of `graphs` (their entries, at the first of `sizes`) in `variants`, before
    measurements. WASM defaults to the first size, WebGPU to webgpu_default's."""
    height, width = sizes[0]
    largest = webgpu_default(sizes)
    cfg, training = read_metadata(checkpoint)
    names = {t["name"]: t for t in graphs[0]["inputs"]}
    return {
        "schema_version": SCHEMA_VERSION,
        "name": model_name(net.cfg),
        "model": {
            "height": height,
            "width": width,
            "stride": net.stride,
            "key_dim": net.cfg.key_dim,
            "value_dim": net.cfg.value_dim,
            "memory_height": height // net.stride,
            "memory_width": width // net.stride,
            "sizes": size_entries(sizes, net.stride),
            "default_size": {
                "wasm": list(sizes[0]),
                "webgpu": list(largest),
                "rule": "the graphs take any of model.sizes (their height and width are dynamic; tensors with "
                "spatial_axes scale with it, memory too): WASM's CPU kernels reach ~12 FPS at the first size on "
                "2 cores, so it is WASM's default; a GPU runs the largest. A consumer may pick another size of "
                "the list (the web app: ?size=HxW or its setting); sizes[i].cpu_ms and flops give the cost",
            },
        },
        "frame": {
            "input": "frame",
            "shape": names["frame"]["shape"],
            "dtype": "float32",
            "layout": "NHWC",
            "channels": "RGBA",
            "range": [0, 255],
            "browser": "draw the video frame scaled to width x height on a canvas, then "
            "new Float32Array(ctx.getImageData(0, 0, width, height).data); alpha is ignored",
            "resize": "bilinear (OpenCV INTER_LINEAR semantics, no antialiasing) to height x width; the aspect "
            "ratio is not kept",
            "normalisation": "inside the graph: rgb = frame[..., :3] / 255 transposed to NCHW, then "
            "(rgb - 127/255) / (128/255)",
        },
        "objects": {
            "capacities": sorted(capacities),
            "masks_input": "masks",
            "valid_input": "valid",
            "rule": "use the graph of the smallest capacity K >= the number of objects; object i (annotation "
            "order) is slot i; valid[0, i] = 1 for i < number of objects, else 0 (in both calls); padding "
            "slots' masks are all zero and their prob channels are ~0",
        },
        "calls": {
            "input": "annotate",
            "annotate": {
                "value": 1,
                "masks": "annotation",
                "memory": "zeros",
                "prob": "ignore",
                "meaning": "a frame with an annotation (the first frame, or a re-annotation): annotate = [1], masks = "
                "the annotated objects (objects.rule), every memory slot input zeros (any finite values "
                "give the same entry); prob is not a result; the entry (key, value) fills the slots "
                "memory.update.annotate names",
            },
            "track": {
                "value": 0,
                "masks": "zeros",
                "memory": "slots",
                "prob": "result",
                "meaning": "every later frame: annotate = [0], masks all zero (one zero tensor can be made once "
                "and reused), the memory slots as inputs; prob is the frame's result; the entry fills "
                "the slots memory.update.track names",
            },
            "rule": "one graph per capacity K and variant serves both calls. It always segments the frame from the "
            "memory slots and encodes the frame's memory entry: key from the frame, value from "
            "m = annotate * masks + (1 - annotate) * (predicted object probabilities, prob without its "
            "background channel). With annotate = 1 that is the annotation exactly, so the entry equals "
            "encode_key + encode_value(annotation) of mobilevos.track.Tracker.start; with annotate = 0 it "
            "is Tracker.step's entry.",
        },
        "output": {
            "name": "prob",
            "channels": "background first, then the objects in slot order (K+1 channels)",
            "mask": "argmax over channels (0 = background, i = object slot i-1)",
            "resize": "to another size: resize log(prob) bilinearly, then softmax over channels (equals "
            "resizing the logits, as the PyTorch tracker does)",
        },
        "memory": {
            **STUDENT.manifest_memory({"key": "key", "value": "value"}),
            "rule": "annotating a frame: run the graph once with annotate = 1 (calls.annotate), then slot0 = slot1 "
            "= its outputs (key, value); each later frame: annotate = 0 (calls.track), then slot1 = its "
            "outputs (key, value), slot0 unchanged; re-annotating a frame is another annotate call (both "
            "slots reset). Every tracking call reads exactly two entries, so its cost is constant.",
        },
        "graphs": graphs,
        "variants": variants,
        "checkpoint": {
            "path": display_path(checkpoint),
            "sha256": sha256(checkpoint),
            "bytes": checkpoint.stat().st_size,
            "config": dataclasses.asdict(cfg),
            "training": training or None,
        },
        "versions": {
            "mobilevos": mobilevos.__version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "onnxscript": onnxscript.__version__,
            "opset": opset,
            "exporter": "torch.onnx.export(dynamo=True)",
            "operator_tables": {t: load_table(p)["source"] for t, p in TABLES.items()},
        },
    }


def operator_notes(graphs: list[dict]) -> dict:
    """The WebGPU table's remarks on the operators that the WebGPU-targeted graphs use."""
    table = load_table(WEBGPU_TABLE)
    used = {op for g in graphs if "webgpu" in g["targets"] for op in g["ops"]}
    return {
        "source": table["source"],
        "notes": {op: note for op, note in table.get("comments", {}).items() if op in used},
    }


def cpu_name() -> str:
    """The CPU model of this machine, for the record of measured timings."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def variant_entry(variant: str, extra: dict | None = None) -> dict:
    """A variant's manifest entry: where it runs and what it is."""
    return {"targets": list(TARGETS[variant]), "notes": VARIANT_NOTES[variant], **(extra or {})}
