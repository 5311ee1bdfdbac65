"""ONNX export: graphs, operator check, manifest, the onnxruntime tracker's parity with PyTorch, fixtures, errors.

One small export (64x96 and 96x128, capacities 1 and 2, a dev checkpoint without ImageNet weights) is shared by the
tests.
Each capacity and variant has one graph (`student_k{K}[_variant].onnx`); its annotate call (annotate = 1) replaces
schema 1's init graph and its track call (annotate = 0) the step graph.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from PIL import Image

from mobilevos.data.synth import SynthConfig, generate_clip
from mobilevos.models.checkpoint import load_network, save_network
from mobilevos.models.network import build_network, student_config
from mobilevos.models.prompt_head import PROMPT_CHANNELS, load_head
from mobilevos.prompts import Click, PromptSegmenter, centre_click, next_click
from mobilevos.runtime.manifest import SCHEMA_VERSION, ManifestError, at_size, load_manifest, sha256
from mobilevos.runtime.ort_prompt import OrtPromptSegmenter
from mobilevos.runtime.ort_tracker import OrtTracker, frame_to_rgba
from mobilevos.runtime.session import open_session
from mobilevos.track import Tracker

from export.__main__ import main as export_main
from export.clips import davis_clips, synthetic_clips
from export.evaluate import FP32_MAX_ABS_PROB, FP32_MIN_MEAN_IOU, mask_ious
from export.graphs import StudentGraph, example_inputs, graph_spec
from export.manifest_writer import webgpu_default
from export.op_support import (
    WASM_TABLE,
    WEBGPU_TABLE,
    UnsupportedOperatorError,
    check_operators,
    load_table,
    parse_webgpu_doc,
    unsupported_nodes,
)
from export.pipeline import TABLES, TARGETS, ExportOptions, run_export
from export.prompt import ENCODER_FEATURES_RULE, ENCODER_FILE, HEAD_FILE, MAX_IOU_DROP
from export.variants import int8_weights, precision_tail

REPO = Path(__file__).resolve().parents[1]

SIZE = (64, 96)
EXTRA_SIZE = (96, 128)  # a second model size: the graphs' height and width are dynamic
CAPACITIES = (1, 2)


def _data_root() -> Path | None:
    root = Path(os.environ.get("MOBILEVOS_SHARED_DATA", REPO.parent / "shared" / "data"))
    return root if root.is_dir() else None


@pytest.fixture(scope="module")
def dev_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "student_dev.safetensors"
    save_network(path, build_network(student_config(pretrained=False)), metadata={"steps": 0, "note": "test"})
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory, dev_checkpoint) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "student"
    run_export(
        ExportOptions(
            checkpoint=dev_checkpoint,
            out=out,
            size=SIZE,
            extra_sizes=(EXTRA_SIZE,),
            capacities=CAPACITIES,
            data=_data_root(),
            eval_frames=4,
            eval_sequences=2,
            fixture_frames=3,
        )
    )
    return out


@pytest.fixture(scope="module")
def net(dev_checkpoint):
    return load_network(dev_checkpoint)


def _graph_files(folder: Path) -> list[Path]:
    """The student graphs of an export (not the prompt head's)."""
    return sorted(p for p in folder.glob("*.onnx") if p.name not in (HEAD_FILE, ENCODER_FILE))


# --- graphs and manifest --------------------------------------------------------------------------------------------


def test_manifest_validates_and_matches_files(exported, dev_checkpoint):
    manifest = load_manifest(exported)
    assert (manifest["model"]["height"], manifest["model"]["width"]) == SIZE
    assert manifest["objects"]["capacities"] == list(CAPACITIES)
    assert {g["file"] for g in manifest["graphs"]} == {p.name for p in _graph_files(exported)}
    for graph in manifest["graphs"]:
        path = exported / graph["file"]
        assert graph["bytes"] == path.stat().st_size and graph["sha256"] == sha256(path)
    assert manifest["schema_version"] == SCHEMA_VERSION == 3
    assert len(manifest["graphs"]) == len(CAPACITIES) * 3  # one graph per capacity and variant
    assert sorted(g["file"] for g in manifest["graphs"]) == sorted(
        f"student_k{k}{suffix}.onnx" for k in CAPACITIES for suffix in ("", "_fp16", "_int8")
    )
    assert manifest["checkpoint"]["sha256"] == sha256(dev_checkpoint)
    assert manifest["checkpoint"]["training"] == {"steps": 0, "note": "test"}
    for variant in ("fp32", "fp16", "int8"):
        for k in CAPACITIES:
            assert 0 <= manifest["variants"][variant]["accuracy"][f"k{k}"]["mean_iou"] <= 1


def test_resize_adds_sizes_to_an_export_without_touching_its_graphs(exported, dev_checkpoint, tmp_path, capsys):
    """`python -m export --resize`: a copy of the export gets a wider partner of its first size, checked against
    PyTorch and costed like the others, WebGPU keeping the largest of the first size's shape; every graph stays byte
    for byte. Another checkpoint, or another first size, is refused with a message."""
    folder = tmp_path / "student"
    shutil.copytree(exported, folder)
    graphs = {p.name: p.read_bytes() for p in folder.glob("*.onnx")}
    args = ["--resize", "--checkpoint", str(dev_checkpoint), "--out", str(folder), "--eval-frames", "3"]
    wide = (64, 128)  # 2:1, another shape than SIZE's 3:2
    assert export_main([*args, "--size", "64x96", "--extra-sizes", "96x128,64x128"]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [(s["height"], s["width"]) for s in manifest["model"]["sizes"]] == [SIZE, EXTRA_SIZE, wide]
    entry = manifest["model"]["sizes"][2]
    assert entry["memory_height"] * 16 == wide[0] and entry["memory_width"] * 16 == wide[1]
    assert entry["parity"]["min_iou"] == 1.0 and entry["parity"]["frames"] > 0, entry["parity"]
    assert set(entry["flops"]) == {str(c) for c in CAPACITIES} and entry["cpu_ms"] > 0
    assert manifest["model"]["default_size"]["webgpu"] == list(EXTRA_SIZE)
    assert {p.name: p.read_bytes() for p in folder.glob("*.onnx")} == graphs
    torch.manual_seed(1)
    other = tmp_path / "other.safetensors"
    save_network(other, build_network(student_config(pretrained=False)))
    assert export_main([*args[:2], str(other), *args[3:], "--size", "64x96"]) == 2
    assert "other.safetensors is not the checkpoint" in capsys.readouterr().err
    assert export_main([*args, "--size", "96x128", "--extra-sizes", "64x96"]) == 2
    assert "the export's first size is 64x96" in capsys.readouterr().err
    after = json.loads((folder / "manifest.json").read_text())
    assert after == manifest, "a refused resize leaves the manifest as it was"


def test_graphs_are_single_file_checked_and_dynamic_only_in_size(exported):
    manifest = load_manifest(exported)
    for graph in manifest["graphs"]:
        model = onnx.load(exported / graph["file"], load_external_data=False)
        onnx.checker.check_model(model, full_check=True)
        assert not any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)
        declared = {t["name"]: t for t in graph["inputs"] + graph["outputs"]}
        for value in list(model.graph.input) + list(model.graph.output):
            dims, spec = value.type.tensor_type.shape.dim, declared[value.name]
            dynamic = [i for i, d in enumerate(dims) if not d.HasField("dim_value")]
            assert dynamic == spec.get("spatial_axes", []), f"{graph['name']}: {value.name} dynamic axes {dynamic}"
            assert [d.dim_value for i, d in enumerate(dims) if i not in dynamic] == [
                n for i, n in enumerate(spec["shape"]) if i not in dynamic
            ]
            assert value.type.tensor_type.elem_type == TensorProto.FLOAT  # every variant keeps float32 I/O
        for target in TARGETS[graph["variant"]]:
            assert unsupported_nodes(model, load_table(TABLES[target])) == []


def test_fp16_keeps_the_aggregation_tail_float32(exported):
    fp32 = onnx.load(exported / "student_k1.onnx")
    fp16 = onnx.shape_inference.infer_shapes(onnx.load(exported / "student_k1_fp16.onnx"))
    tail = set(precision_tail(fp32))
    assert {"Sigmoid", "Clip", "ReduceSum", "Div"} <= {n.op_type for n in fp32.graph.node if n.name in tail}
    # The probabilities are the odds over their sum: no full-resolution Log and Softmax (issue 18's trimming).
    assert not {"Log", "Softmax"} & {n.op_type for n in fp32.graph.node if n.name in tail}
    types = {v.name: v.type.tensor_type.elem_type for v in list(fp16.graph.value_info) + list(fp16.graph.output)}
    types.update({t.name: t.data_type for t in fp16.graph.initializer})
    for node in fp16.graph.node:
        if node.name in tail:
            float_args = [types[n] for n in list(node.input) + list(node.output) if types.get(n) in (1, 10)]
            assert set(float_args) == {TensorProto.FLOAT}, node.name
    assert TensorProto.FLOAT16 in {t.data_type for t in fp16.graph.initializer}
    assert load_manifest(exported)["variants"]["fp16"]["float32_nodes"] == len(tail) > 0


def test_int8_graph_stores_its_conv_weights_as_int8_and_computes_in_float(exported):
    """The int8 variant is weight-only: every Conv weight is an int8 initializer dequantized in the graph, nothing
    else changes (no activation quantisation), the file is under 40% of fp32's, and it tracks like fp32."""
    fp32 = onnx.load(exported / "student_k1.onnx")
    int8 = onnx.load(exported / "student_k1_int8.onnx")
    assert "QuantizeLinear" not in {n.op_type for n in int8.graph.node}
    dequantized = {n.output[0]: n.input[0] for n in int8.graph.node if n.op_type == "DequantizeLinear"}
    inits = {t.name: t.data_type for t in int8.graph.initializer}
    convs = [n for n in int8.graph.node if n.op_type == "Conv"]
    assert convs and all(inits[dequantized[n.input[1]]] == TensorProto.INT8 for n in convs)
    computed = [n.op_type for n in int8.graph.node if n.op_type != "DequantizeLinear"]
    assert computed == [n.op_type for n in fp32.graph.node]
    assert (exported / "student_k1_int8.onnx").stat().st_size < 0.4 * (exported / "student_k1.onnx").stat().st_size
    frames, masks = generate_clip(7, 4, SIZE, SynthConfig(max_objects=1))
    probs = {}
    for variant in ("fp32", "int8"):
        tracker = OrtTracker(exported, variant)
        tracker.start(frames[0], masks[0])
        probs[variant] = [tracker.step(frame).prob for frame in frames[1:]]
    diff = max(np.abs(a - b).max() for a, b in zip(probs["fp32"], probs["int8"], strict=True))
    assert 0 < diff < 2e-3  # ~1.5e-4 for the dev model; rounding, not a broken graph


def test_open_session_dequantizes_the_int8_weights_once(exported, tmp_path):
    """onnxruntime keeps DequantizeLinear nodes out of constant folding (a QDQ pattern to fuse), so by default the
    int8 graph dequantizes its weights on every call; `open_session` turns QDQ handling off and the optimised graph
    keeps none of them (the weights are dequantized at load)."""

    def optimised_ops(open_graph, name: str) -> set[str]:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / name)
        open_graph(options)
        return {n.op_type for n in onnx.load(tmp_path / name).graph.node}

    graph = exported / "student_k1_int8.onnx"
    plain = optimised_ops(lambda o: ort.InferenceSession(str(graph), o, providers=["CPUExecutionProvider"]), "a.onnx")
    assert "DequantizeLinear" in plain  # why open_session sets the option
    assert "DequantizeLinear" not in optimised_ops(lambda o: open_session(graph, o), "b.onnx")


def test_open_session_sets_its_config_once_per_options_object(exported, capfd):
    """Trackers reuse one options object for every graph they open; setting the entry again made onnxruntime log an
    "already exists" warning per graph."""
    options = ort.SessionOptions()
    for _ in range(2):
        open_session(exported / "student_k1_int8.onnx", options)
    assert options.get_session_config_entry("session.disable_quant_qdq") == "1"
    assert "already exists" not in capfd.readouterr().err


# --- operator check -------------------------------------------------------------------------------------------------


def _tiny_model(op: str, opset: int, **attrs) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    inputs, inits = ["x"], []
    if op == "TopK":
        inits = [helper.make_tensor("k", TensorProto.INT64, [1], [2])]
        inputs.append("k")
        outputs.append(helper.make_tensor_value_info("i", TensorProto.INT64, None))
    node = helper.make_node(op, inputs, [o.name for o in outputs], name="the_node", **attrs)
    graph = helper.make_graph([node], "tiny", [x], outputs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_operator_check_rejects_an_unsupported_op():
    webgpu = load_table(WEBGPU_TABLE)
    model = _tiny_model("TopK", 18)
    with pytest.raises(UnsupportedOperatorError, match=r"the_node: TopK \(ai.onnx v11\)"):
        check_operators(model, webgpu, "tiny.onnx")
    check_operators(model, load_table(WASM_TABLE), "tiny.onnx")  # the CPU/WASM kernels have TopK
    check_operators(_tiny_model("Relu", 18), webgpu, "tiny.onnx")


def test_webgpu_starts_at_the_largest_size_of_the_first_sizes_shape():
    """A landscape export with portrait and 16:9 partners: WebGPU's default stays landscape 4:3 (640x480 has the same
    area as 480x640 and comes first in a list where it is not the shape)."""
    assert webgpu_default([(240, 320), (640, 480), (480, 640), (416, 736), (208, 272)]) == (480, 640)
    assert webgpu_default([(240, 320), (208, 272)]) == (240, 320)
    assert webgpu_default([(176, 320), (240, 320), (416, 736)]) == (416, 736)


def test_webgpu_table_parsing():
    doc = (
        "| Operator | Opset | Comments |\n|:--:|:--:|--|\n| Pad | ai.onnx(2-10,11-12,13+) |  |\n"
        "| Attention | com.microsoft(1+) | note |\n"
    )
    operators, comments = parse_webgpu_doc(doc)
    assert operators == {
        "Pad": {"ai.onnx": [[2, 10], [11, 12], [13, None]]},
        "Attention": {"com.microsoft": [[1, None]]},
    }
    assert comments == {"Attention": "note"}
    table = load_table(WEBGPU_TABLE)
    assert "1.30.0" in table["source"] and "Conv" in table["operators"] and "TopK" not in table["operators"]


# --- the onnxruntime tracker ----------------------------------------------------------------------------------------


def _track_both(net, folder, frames, mask, capacity=None, variant="fp32"):
    """(PyTorch results, OrtTracker results) of one clip, at the frames' size."""
    reference = Tracker(net, short_side=min(SIZE))
    reference.start(frames[0], mask)
    ours = OrtTracker(folder, variant, capacity=capacity)
    ours.start(frames[0], mask)
    return [reference.step(f) for f in frames[1:]], [ours.step(f) for f in frames[1:]]


def _assert_parity(ref, ours):
    """The export's bounds: max |Δprob| and mean IoU of the argmax masks over frames and objects."""
    ious = []
    for r, (_, prob) in zip(ref, ours, strict=True):
        assert prob.shape == r.prob.shape
        assert np.abs(prob - r.prob).max() <= FP32_MAX_ABS_PROB
        ious += mask_ious(r.prob, prob)
    assert np.mean(ious) >= FP32_MIN_MEAN_IOU


def test_ort_tracker_matches_pytorch_on_a_synthetic_clip(exported, net):
    frames, masks = generate_clip(5, 6, SIZE, SynthConfig(max_objects=2))
    assert masks[0].max() == 2
    _assert_parity(*_track_both(net, exported, frames, masks[0]))


def test_ort_tracker_resizes_like_pytorch(exported, net):
    """Frames at twice the model size: both trackers resize in and out the same way."""
    frames, masks = generate_clip(7, 4, (2 * SIZE[0], 2 * SIZE[1]), SynthConfig(max_objects=2))
    _assert_parity(*_track_both(net, exported, frames, masks[0]))


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_ort_tracker_matches_pytorch_on_a_davis_clip(exported, net, davis_val, capacity):
    clip = davis_clips(davis_val, SIZE, frames=5, sequences=1)[0]
    _assert_parity(*_track_both(net, exported, clip.frames, clip.mask, capacity=capacity))


def test_ort_tracker_follows_the_memory_rule(exported):
    frames, masks = generate_clip(5, 4, SIZE, SynthConfig(max_objects=2))
    tracker = OrtTracker(exported)
    tracker.start(frames[0], masks[0])
    assert tracker.capacity == 2 and tracker.objects == [1, 2]
    first = tracker.memory["first"]
    assert all(a is b for a, b in zip(tracker.memory["previous"], first))  # after annotate: both slots = its entry
    tracker.step(frames[1])
    assert tracker.memory["first"] is first and tracker.memory["previous"][0] is not first[0]
    single = np.where(masks[2] == 1, 1, 0).astype(np.uint8)
    tracker.start(frames[2], single)  # re-annotation: another annotate call, smallest capacity
    assert tracker.capacity == 1 and tracker.memory["first"] is not first
    with pytest.raises(ValueError, match="no object"):
        tracker.start(frames[0], np.zeros_like(masks[0]))
    with pytest.raises(ManifestError, match="exceed"):
        tracker.start(frames[0], np.arange(SIZE[0] * SIZE[1]).reshape(SIZE).astype(np.uint8) % 4)


@pytest.mark.parametrize("capacity", CAPACITIES)
def test_annotate_call_gives_the_pytorch_start_entry(exported, net, capacity):
    """annotate = 1: key = encode_key(frame), value = encode_value(annotation masks), as `Tracker.start` computes them,
    whatever finite values the memory inputs hold (zeros, or another frame's entries)."""
    frames, masks = generate_clip(11, 2, SIZE, SynthConfig(max_objects=capacity))
    ids = [i for i in np.unique(masks[0]) if i not in (0, 255)][:capacity]
    tracker = OrtTracker(exported, capacity=capacity)
    feeds = tracker.annotate_feeds(frames[0], np.where(np.isin(masks[0], ids), masks[0], 0).astype(np.uint8))
    zeros_out = tracker.run_graph("annotate", feeds)
    rng = np.random.default_rng(1)
    noisy = dict(feeds)
    for slot in tracker.manifest["memory"]["slots"]:
        for name in (slot["key"], slot["value"]):
            noisy[name] = rng.standard_normal(feeds[name].shape).astype(np.float32)
    noisy_out = tracker.run_graph("annotate", noisy)
    with torch.no_grad():
        image = torch.from_numpy(frames[0]).permute(2, 0, 1)[None].float() / 255.0
        feats = net.encode_key(image)
        key = feats.key.numpy()
        value = net.encode_value(feats, torch.from_numpy(feeds["masks"])).numpy()
    for out in (zeros_out, noisy_out):
        np.testing.assert_allclose(out["key"], key, atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(out["value"], value, atol=1e-5, rtol=1e-4)
    np.testing.assert_array_equal(noisy_out["value"], zeros_out["value"])  # the memory inputs do not reach the entry


def test_the_graph_wrapper_switches_on_annotate(net):
    """The wrapper in PyTorch: annotate = 1 encodes the masks, annotate = 0 the prediction (Tracker.step's entry); the
    key encoder's features come out as they are, whatever the flag."""
    graph = StudentGraph(net).eval()
    spec = graph_spec(net, SIZE, 2)
    inputs = dict(zip([t.name for t in spec.inputs], example_inputs(spec)))
    inputs["masks"] = (torch.rand(inputs["masks"].shape) > 0.5).float()
    with torch.no_grad():
        feats = net.encode_key(inputs["frame"][..., :3].permute(0, 3, 1, 2) / 255.0)
        seg = net.segment(
            feats,
            torch.stack([inputs["key0"], inputs["key1"]], 2),
            torch.stack([inputs["value0"], inputs["value1"]], 3),
            inputs["valid"],
        )
        for flag, masks in ((1.0, inputs["masks"]), (0.0, seg.prob)):
            prob, key, value, *features = graph(**{**inputs, "annotate": torch.tensor([flag])})
            assert torch.equal(key, feats.key)
            assert all(torch.equal(a, b) for a, b in zip(features, (feats.f16, feats.f8, feats.f4), strict=True))
            torch.testing.assert_close(value, net.encode_value(feats, masks), atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(prob, torch.softmax(seg.logits, 1))


def test_a_clip_keeps_its_first_objects_for_a_smaller_capacity():
    """Clips with more objects than K are measured on the capacity-K graph with their first K objects."""
    clip = next(c for c in synthetic_clips(SIZE, 3, 12, 2) if c.num_objects == 2)
    one = clip.first_objects(1)
    assert one.objects == clip.objects[:1] and one.frames is clip.frames
    assert set(np.unique(one.mask)) <= {0, 255, clip.objects[0]}
    assert clip.first_objects(2) is clip


@pytest.mark.parametrize("variant", ["fp16", "int8"])
def test_variants_track(exported, variant):
    frames, masks = generate_clip(5, 4, SIZE, SynthConfig(max_objects=2))
    tracker = OrtTracker(exported, variant)
    tracker.start(frames[0], masks[0])
    mask, prob = tracker.step(frames[1])
    assert mask.shape == SIZE and prob.shape == (3, *SIZE) and np.isfinite(prob).all()
    assert np.allclose(prob.sum(0), 1, atol=1e-4)


# --- click to mask: the student graphs' feature outputs and the prompt head's graph ----------------------------------


def test_feature_outputs_are_the_key_encoder_features_and_leave_tracking_unchanged(exported, net):
    manifest = load_manifest(exported)
    features = manifest["prompt"]["features"]["outputs"]
    assert features == ["feat16", "feat8", "feat4"]
    graph = next(g for g in manifest["graphs"] if (g["capacity"], g["variant"]) == (1, "fp32"))
    frame = np.random.default_rng(1).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    feeds = {t["name"]: np.zeros(t["shape"], np.float32) for t in graph["inputs"]}
    feeds["frame"] = frame_to_rgba(frame, SIZE)
    session = ort.InferenceSession(str(exported / graph["file"]))
    got = session.run(features, feeds)
    with torch.no_grad():
        expected = net.eval().encode_key(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255)[1:4]
    for name, a, b in zip(features, got, expected, strict=True):
        assert a.shape == tuple(b.shape) == tuple(next(t["shape"] for t in graph["outputs"] if t["name"] == name))
        np.testing.assert_allclose(a, b.numpy(), atol=1e-4, rtol=1e-4)
    # Fetching the features or not gives the same tracking outputs, to the bit.
    feeds["annotate"][:] = 1
    feeds["masks"][:] = 1
    tracking = ["prob", "key", "value"]
    alone = session.run(tracking, feeds)
    with_features = session.run(tracking + features, feeds)[:3]
    assert all(np.array_equal(a, b) for a, b in zip(alone, with_features, strict=True))


def test_prompt_head_graph_is_int8_weight_only_dynamic_and_runs_on_both_backends(exported):
    prompt = load_manifest(exported)["prompt"]
    model = onnx.load(exported / prompt["file"])
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    dequant = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    assert len(convs) == len(dequant) == prompt["ops"]["Conv"] == 14 and all(c.input[1] in dequant for c in convs)
    big = [t for t in model.graph.initializer if np.prod(t.dims) > 1000]
    assert big and all(t.data_type == TensorProto.INT8 for t in big)  # every large tensor is an int8 weight
    assert prompt["bytes"] < 130_000  # the int8 weights (107 K parameters) and the graph, no exporter provenance
    assert not any(n.metadata_props for n in model.graph.node)
    assert prompt["channels"] == list(PROMPT_CHANNELS) and prompt["click_sigma"] == 5.0
    for target in TABLES:
        assert unsupported_nodes(model, load_table(TABLES[target])) == []
    session = ort.InferenceSession(str(exported / prompt["file"]))
    for size in (SIZE, EXTRA_SIZE):  # its height and width are dynamic, like the student's
        inputs = at_size(load_manifest(exported), size)["prompt"]["inputs"]
        (prob,) = session.run(None, {t["name"]: np.zeros(t["shape"], np.float32) for t in inputs})
        assert prob.shape == (1, 1, *size) and np.all((prob > 0) & (prob < 1))


def test_int8_weights_dequantize_within_half_a_step_per_output_channel():
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((3, 2, 3, 3)) * np.array([1.0, 0.01, 100.0])[:, None, None, None]).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 5, 5])],
        [onnx.numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    quantized = int8_weights(model)
    onnx.checker.check_model(quantized, full_check=True)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in quantized.graph.initializer}
    q, scale = inits["w_int8"], inits["w_scale"]
    assert q.dtype == np.int8 and np.abs(q).max() == 127 and scale.shape == (3,)
    np.testing.assert_allclose(scale, np.abs(weight).reshape(3, -1).max(1) / 127, rtol=1e-6)
    restored = q.astype(np.float32) * scale[:, None, None, None]
    assert np.all(np.abs(restored - weight) <= scale[:, None, None, None] / 2 + 1e-9)  # each channel its own step
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    (y32,) = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    (y8,) = ort.InferenceSession(quantized.SerializeToString()).run(None, {"x": x})
    assert 0 < np.abs(y8 - y32).max() < 0.01 * np.abs(y32).max()


@pytest.mark.parametrize("size", [SIZE, EXTRA_SIZE])
def test_ort_prompt_segmenter_matches_pytorch(exported, net, size):
    """The exported head (int8 weights) on the exported features against the PyTorch head, the same clicks."""
    frames, masks = generate_clip(3, 1, (90, 120), SynthConfig(max_objects=1))  # another size than the model's
    target = masks[0] == 1
    ort_seg = OrtPromptSegmenter(exported, size=size)
    torch_seg = PromptSegmenter(net, load_head(REPO / "models" / "prompt_head.safetensors"), size)
    clicks: list[Click] = []
    for seg in (ort_seg, torch_seg):
        seg.set_image(frames[0])
    pred = np.zeros_like(target)
    for _ in range(3):
        clicks.append(next_click(pred, target) or centre_click(target, True))
        a, b = ort_seg.predict(clicks), torch_seg.predict(clicks)
        assert a.shape == b.shape == target.shape
        assert np.abs(a - b).max() < 0.05
        decisive = np.abs(b - 0.5) > 0.05
        assert np.mean((a > 0.5)[decisive] == (b > 0.5)[decisive]) > 0.999
        pred = b > 0.5
    box = ort_seg.predict([], (10, 20, 60, 90)), torch_seg.predict([], (10, 20, 60, 90))  # previous fed back too
    assert np.abs(box[0] - box[1]).max() < 0.05


def test_prompt_accuracy_is_measured_against_pytorch_where_the_data_is(exported):
    prompt = load_manifest(exported)["prompt"]
    if _data_root() is None:
        assert "accuracy" not in prompt
        return
    accuracy = prompt["accuracy"]
    assert accuracy["enforced"] is False  # the dev checkpoint is not the student the head was trained on
    assert accuracy["bound"] == MAX_IOU_DROP and accuracy["size"] == list(SIZE)
    assert set(accuracy["onnx"]) == set(accuracy["pytorch"]) == {"clicks_1", "clicks_3", "clicks_5", "box"}
    assert accuracy["max_drop"] == pytest.approx(
        max(accuracy["pytorch"][k] - accuracy["onnx"][k] for k in accuracy["onnx"]), abs=2e-4
    )
    assert prompt["cpu_ms"] > 0


def test_ort_prompt_segmenter_needs_a_prompt_head(exported, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(exported, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["prompt"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="no prompt head"):
        OrtPromptSegmenter(copy)
    OrtTracker(copy)  # tracking does not need it


def test_a_prompt_encoder_gives_the_head_the_features_of_the_student_it_was_trained_on(dev_checkpoint, tmp_path):
    """--prompt-encoder: another student's key encoder (here one with other weights) is exported beside the head and
    gives it its features, in onnxruntime as in PyTorch with that student; the tracking graphs stay this student's."""
    torch.manual_seed(1)
    other = build_network(student_config(pretrained=False))
    save_network(tmp_path / "trained_on.safetensors", other)
    out = tmp_path / "student"
    run_export(
        ExportOptions(
            checkpoint=dev_checkpoint,
            out=out,
            size=SIZE,
            extra_sizes=(EXTRA_SIZE,),
            capacities=(1,),
            variants=("fp32",),
            data=None,
            eval_frames=3,
            eval_sequences=1,
            fixture_frames=3,
            prompt_encoder=tmp_path / "trained_on.safetensors",
        )
    )
    manifest = load_manifest(out)  # sizes and sha256 of every file, the encoder's included
    prompt = manifest["prompt"]
    encoder = prompt["encoder"]
    assert encoder["file"] == ENCODER_FILE and prompt["features"]["rule"] == ENCODER_FEATURES_RULE
    assert [t["name"] for t in encoder["outputs"]] == prompt["features"]["outputs"]
    assert encoder["source"]["sha256"] == sha256(tmp_path / "trained_on.safetensors") and encoder["cpu_ms"] > 0
    model = onnx.load(out / ENCODER_FILE)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    assert convs and all(c.input[1] in dequantized for c in convs)  # int8 weights, like the head's
    assert encoder["bytes"] < 0.35 * sum(p.numel() * 4 for p in other.backbone.parameters())
    frame = np.random.default_rng(2).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    nets = [load_network(tmp_path / "trained_on.safetensors"), load_network(dev_checkpoint)]
    for size in (SIZE, EXTRA_SIZE):
        rgba = frame_to_rgba(frame, size)
        got = OrtPromptSegmenter(out, size=size).encode(rgba)
        image = torch.from_numpy(rgba[0, ..., :3]).permute(2, 0, 1)[None] / 255
        with torch.no_grad():
            want, tracking = (n.encode_key(image)[1:4] for n in nets)
        for name, w, t in zip(prompt["features"]["outputs"], want, tracking, strict=True):
            scale = float(w.abs().max())
            assert np.abs(got[name] - w.numpy()).max() < 0.05 * scale  # the encoder's features (int8 weights)
            assert float((w - t).abs().max()) > 0.3 * scale  # not the tracking student's
    index = json.loads((out / "fixtures" / "index.json").read_text())
    assert index["prompt"]["graph"] == "prompt_encoder"  # the web parity replays the same path
    with pytest.raises(ValueError, match="needs --prompt-head"):
        run_export(ExportOptions(checkpoint=dev_checkpoint, out=tmp_path / "x", prompt_head=None, prompt_encoder=out))


# --- fixtures -------------------------------------------------------------------------------------------------------


def test_fixtures_replay(exported):
    """Replay the fixtures as the web test will: PNG -> RGBA float, manifest rules, compare within tolerance."""
    manifest = load_manifest(exported)
    folder = exported / manifest["fixtures"].rsplit("/", 1)[0]
    index = json.loads((exported / manifest["fixtures"]).read_text())
    frames = [np.asarray(Image.open(folder / f).convert("RGBA"), np.float32)[None] for f in index["frames"]]
    annotation = np.asarray(Image.open(folder / index["annotation"]))
    tol = index["tolerance"]
    assert [run["capacity"] for run in index["runs"]] == list(CAPACITIES)
    calls = manifest["calls"]
    for run in index["runs"]:
        sessions, memory = {}, {}
        masks = np.zeros((1, run["capacity"], *SIZE), np.float32)
        for i, obj in enumerate(run["objects"]):
            masks[0, i] = annotation == obj
        assert [c["call"] for c in run["calls"]] == ["annotate"] + ["track"] * (len(run["calls"]) - 1)
        for call in run["calls"]:
            graph = next(g for g in manifest["graphs"] if g["name"] == call["graph"])
            assert (graph["capacity"], graph["variant"]) == (run["capacity"], index["variant"])
            session = sessions.setdefault(graph["name"], ort.InferenceSession(str(exported / graph["file"])))
            spec = calls[call["call"]]
            shapes = {t["name"]: t["shape"] for t in graph["inputs"]}
            feeds = {
                manifest["frame"]["input"]: frames[call["frame"]],
                calls["input"]: np.full(shapes[calls["input"]], spec["value"], np.float32),
                manifest["objects"]["valid_input"]: np.array([run["valid"]], np.float32),
                manifest["objects"]["masks_input"]: masks if spec["masks"] == "annotation" else 0 * masks,
            }
            for slot in manifest["memory"]["slots"]:
                for name, i in ((slot["key"], 0), (slot["value"], 1)):
                    feeds[name] = (
                        memory[slot["name"]][i] if spec["memory"] == "slots" else np.zeros(shapes[name], np.float32)
                    )
            names = [t["name"] for t in graph["outputs"]]
            outputs = dict(zip(names, session.run(names, feeds)))
            for slot in manifest["memory"]["update"][call["call"]]:
                memory[slot] = (
                    outputs[manifest["memory"]["entry"]["key"]],
                    outputs[manifest["memory"]["entry"]["value"]],
                )
            for name, spec in call["outputs"].items():
                expected = np.fromfile(folder / spec["file"], "<f2").astype(np.float32).reshape(spec["shape"])
                assert np.all(np.abs(outputs[name] - expected) <= tol["atol"] + tol["rtol"] * np.abs(expected))


def test_prompt_fixtures_replay_through_the_head_with_the_previous_mask_chained(exported):
    """The prompt steps of index.json as the web test replays them: model coordinates, the chain of previous masks."""
    manifest = load_manifest(exported)
    folder = exported / manifest["fixtures"].rsplit("/", 1)[0]
    index = json.loads((exported / manifest["fixtures"]).read_text())
    steps, tol = index["prompt"]["steps"], index["tolerance"]
    assert [s["previous"] for s in steps] == ["reset", "chain", "reset"]
    assert len(steps[1]["clicks"]) == 2 and steps[2]["box"] is not None and not steps[2]["clicks"]
    segmenter = OrtPromptSegmenter(exported)
    segmenter.set_image(np.asarray(Image.open(folder / index["frames"][index["prompt"]["frame"]]).convert("RGB")))
    results = []
    for step in steps:
        if step["previous"] == "reset":
            segmenter.reset()
        prob = segmenter.predict([Click(*c) for c in step["clicks"]], tuple(step["box"]) if step["box"] else None)
        spec = step["outputs"]["prob"]
        expected = np.fromfile(folder / spec["file"], "<f2").astype(np.float32).reshape(spec["shape"])[0, 0]
        assert np.all(np.abs(prob - expected) <= tol["atol"] + tol["rtol"] * np.abs(expected))
        results.append(prob)
    # the second click changed the mask: the chain is not a replay of one prediction
    assert np.abs(results[1] - results[0]).max() > 0.1


def test_frame_format_is_canvas_rgba():
    frame = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    rgba = frame_to_rgba(frame, SIZE)
    assert rgba.shape == (1, *SIZE, 4) and rgba.dtype == np.float32
    assert np.array_equal(rgba[0, ..., :3], frame) and np.all(rgba[..., 3] == 255)


def test_export_without_data_falls_back_to_synthetic_clips(dev_checkpoint, tmp_path):
    caller_threads = torch.get_num_threads()
    path = run_export(
        ExportOptions(
            checkpoint=dev_checkpoint,
            out=tmp_path / "student",
            size=SIZE,
            extra_sizes=(),
            capacities=(2,),
            variants=("fp32", "int8"),
            data=None,
            eval_frames=3,
            eval_sequences=1,
            fixture_frames=3,
            threads=caller_threads + 1,
        )
    )
    # torch's thread count is per calling thread: a leaked count made later PyTorch runs round differently
    assert torch.get_num_threads() == caller_threads
    manifest = load_manifest(path)
    assert manifest["variants"]["int8"]["accuracy"]["clips"].startswith("synthetic")
    assert sorted(g["name"] for g in manifest["graphs"]) == ["student_k2", "student_k2_int8"]
    assert not list(tmp_path.glob(".student-export-*"))  # the staging folder is gone


# --- manifest and command-line errors -------------------------------------------------------------------------------
# Broken manifest contents, shared with the web app's validator: tests/manifest_cases.json (tests/test_runtime.py).


def test_manifest_rejects_changed_or_incomplete_exports(exported, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(exported, copy)
    with open(copy / "student_k1.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match=r"student_k1.*bytes"):
        load_manifest(copy)
    load_manifest(copy, check_files=False)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["memory"]["rule"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"^/memory: 'rule' is a required property"):
        load_manifest(copy, check_files=False)
    with pytest.raises(ManifestError, match="no manifest"):
        load_manifest(tmp_path / "nowhere")


def test_cli_reports_missing_checkpoint(tmp_path, capsys):
    assert export_main(["--checkpoint", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path)]) == 2
    assert "no student checkpoint at" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "65x96"], "multiples of 16"),
        (["--variants", "fp16"], "must include fp32"),
        (["--variants", "fp32,bf16"], "unknown"),
        (["--capacities", "0"], "capacities"),
        (["--opset", "17"], "opset 18 or newer"),
    ],
)
def test_cli_reports_bad_options(dev_checkpoint, tmp_path, capsys, args, message):
    assert export_main(["--checkpoint", str(dev_checkpoint), "--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_one_graph_serves_every_exported_size(exported, net):
    """The graphs' sizes are dynamic: the manifest lists both sizes with parity, FLOPs and CPU time measured at each,
    and the fp32 graph run at the second size gives the PyTorch network's outputs there."""
    import onnxruntime as ort

    from mobilevos.runtime.manifest import at_size

    from export.graphs import StudentGraph, graph_spec, spec_feeds

    manifest = load_manifest(exported)
    sizes = manifest["model"]["sizes"]
    assert [(s["height"], s["width"]) for s in sizes] == [SIZE, EXTRA_SIZE]
    assert manifest["model"]["default_size"] == {**manifest["model"]["default_size"], "wasm": list(SIZE)}
    assert manifest["model"]["default_size"]["webgpu"] == list(EXTRA_SIZE)
    for size in sizes:
        assert size["capacity"] == 1 and size["parity"]["mean_iou"] > 0.99 and size["cpu_ms"] > 0
    assert sizes[1]["flops"]["1"] > sizes[0]["flops"]["1"] * (96 * 128) / (64 * 96)  # the memory read is quadratic
    graph = next(g for g in at_size(manifest, EXTRA_SIZE)["graphs"] if g["capacity"] == 1 and g["variant"] == "fp32")
    spec = graph_spec(net, EXTRA_SIZE, 1)
    assert [t["shape"] for t in graph["inputs"]] == [list(t.shape) for t in spec.inputs]
    feeds = spec_feeds(spec)
    session = ort.InferenceSession(str(exported / graph["file"]), providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)
    with torch.no_grad():
        want = StudentGraph(net.eval())(*(torch.from_numpy(feeds[t.name]) for t in spec.inputs))
    for ours, reference in zip(got, want, strict=True):
        assert ours.shape == tuple(reference.shape)
        np.testing.assert_allclose(ours, reference.numpy(), atol=1e-4)


def test_sizes_outside_the_dynamic_range_are_refused(dev_checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"sides must be 64\.\.1024"):
        run_export(ExportOptions(checkpoint=dev_checkpoint, out=tmp_path / "x", extra_sizes=((48, 64),)))
    with pytest.raises(ValueError, match="multiples of 16"):
        run_export(ExportOptions(checkpoint=dev_checkpoint, out=tmp_path / "x", extra_sizes=((100, 128),)))
