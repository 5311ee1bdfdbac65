"""The runtime package and the layers around it: `mobilevos` never reaches up into `export/`, the shipped weights
are found on the documented search path, and the manifest schema rejects what the web app rejects."""

from __future__ import annotations

import argparse
import ast
import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mobilevos.runtime.manifest import SCHEMA, ManifestError, load_manifest, validate

REPO = Path(__file__).resolve().parents[1]
SHIPPED_EXPORT = REPO / "web" / "public" / "models" / "student"
FAST_EXPORT = REPO / "web" / "public" / "models" / "student_fast"  # the page's Model setting: Fast
PRUNED_EXPORT = REPO / "web" / "public" / "models" / "student_pruned"  # Balanced: the page's default
CASES = json.loads((REPO / "tests" / "manifest_cases.json").read_text())["cases"]


def assert_tracks_alike(onnx, reference, frames, masks) -> None:
    """The ONNX tracker follows the PyTorch one from the first frame's mask: prob within 1e-3 on every later frame."""
    import numpy as np

    onnx.start(frames[0], masks[0])
    reference.start(frames[0], masks[0])
    for frame in frames[1:]:
        ours, theirs = onnx.step(frame), reference.step(frame)
        assert ours.prob.shape == theirs.prob.shape == (int(masks[0].max()) + 1, *frame.shape[:2])
        assert np.abs(ours.prob - theirs.prob).max() < 1e-3


def _imported_modules(path: Path) -> set[str]:
    """Every absolute module a Python file imports, at any depth (function-level imports included)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_module_under_py_imports_export():
    files = sorted((REPO / "py").rglob("*.py"))
    assert len(files) > 20  # the scan sees the package
    offenders = {
        str(path.relative_to(REPO)): sorted(
            m for m in _imported_modules(path) if m == "export" or m.startswith("export.")
        )
        for path in files
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_import_scan_sees_nested_imports(tmp_path):
    source = tmp_path / "nested.py"
    source.write_text("def f():\n    from export.pipeline import run_export\n    import export.graphs as g\n")
    assert _imported_modules(source) == {"export.pipeline", "export.graphs"}


# --- where the shipped weights are found ----------------------------------------------------------------------------


def test_weights_search_path_order(tmp_path, monkeypatch):
    from mobilevos.models import checkpoint

    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for folder in (explicit, env):
        folder.mkdir()
        (folder / "teacher.safetensors").write_bytes(b"")
    monkeypatch.setenv(checkpoint.WEIGHTS_ENV, str(env))
    assert checkpoint.search_path(explicit) == [explicit, env, REPO / "models"]  # tests run from the checkout
    assert checkpoint.resolve("teacher", explicit) == explicit / "teacher.safetensors"
    assert checkpoint.resolve("teacher") == env / "teacher.safetensors"
    # A folder without the file is passed over: the checkout's shipped student comes next.
    assert checkpoint.resolve("student", explicit) == REPO / "models" / "student.safetensors"
    monkeypatch.delenv(checkpoint.WEIGHTS_ENV)
    assert checkpoint.resolve("teacher") == REPO / "models" / "teacher.safetensors"


def test_missing_weights_say_where_they_were_looked_for(tmp_path, monkeypatch):
    from mobilevos.models import checkpoint

    monkeypatch.setenv(checkpoint.WEIGHTS_ENV, str(tmp_path / "env"))
    monkeypatch.setattr(checkpoint, "SOURCE_MODELS", None)  # as an installed package: no checkout to fall back on
    with pytest.raises(
        FileNotFoundError,
        match=f"no student.safetensors found \\(looked in: {tmp_path}/a, {tmp_path}/env\\).*MOBILEVOS_WEIGHTS",
    ):
        checkpoint.load_network("student", models_dir=tmp_path / "a")
    monkeypatch.delenv(checkpoint.WEIGHTS_ENV)
    with pytest.raises(FileNotFoundError, match="looked in: no folder"):
        checkpoint.resolve("teacher")
    with pytest.raises(FileNotFoundError, match="no weight file at"):
        checkpoint.resolve(tmp_path / "other.safetensors")


# --- one manifest schema, two validators ----------------------------------------------------------------------------


def _parent(doc, pointer: str):
    """The container and key (an index for lists; "-" is the end) that a JSON pointer's last part addresses."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    last = parts[-1]
    return doc, (last if isinstance(doc, dict) else len(doc) if last == "-" else int(last))


def apply_patch(doc, patch: list[dict]):
    """A copy of `doc` with a JSON Patch applied (the add, remove, replace and copy operations the cases use).
    tests/web/unit/manifest.test.js applies the same cases the same way."""
    doc = copy.deepcopy(doc)
    for op in patch:
        if op["path"] == "":
            doc = copy.deepcopy(op["value"])
            continue
        parent, key = _parent(doc, op["path"])
        if op["op"] == "remove":
            del parent[key]
        elif op["op"] in ("add", "replace", "copy"):
            if op["op"] == "copy":
                source, source_key = _parent(doc, op["from"])
                value = copy.deepcopy(source[source_key])
            else:
                value = copy.deepcopy(op["value"])
            if isinstance(parent, list) and op["op"] != "replace":
                parent.insert(key, value)
            else:
                parent[key] = value
        else:
            raise ValueError(f"unsupported JSON Patch operation {op['op']!r}")
    return doc


@pytest.mark.parametrize(
    "export", [SHIPPED_EXPORT, FAST_EXPORT, PRUNED_EXPORT], ids=["student", "student_fast", "student_pruned"]
)
def test_the_shipped_manifest_validates_with_its_files(export):
    Draft202012Validator.check_schema(SCHEMA)
    manifest = load_manifest(export)  # schema, cross-references, every graph's size and sha256
    assert manifest["schema_version"] == 3


# (export, shipped weights, the name the page shows, the key encoder's config, has a click head)
OPTION_EXPORTS = [
    (FAST_EXPORT, "student_fast", "mobilevos-student-fast-e2", {"backbone": "fast-e2"}, False),
    (
        PRUNED_EXPORT,
        "student_pruned",
        "mobilevos-student-pruned-0.5",
        {"backbone": "lite0", "backbone_share": 0.5},
        True,
    ),
]


@pytest.mark.parametrize(("export", "weights", "name", "encoder", "prompt"), OPTION_EXPORTS, ids=["fast", "pruned"])
def test_an_option_export_is_its_shipped_student_and_tracks_as_it_does(export, weights, name, encoder, prompt):
    """web/public/models/<name> is models/<name>.safetensors exported (same bytes, its key encoder, a click head
    only where one was trained on its features), and its graphs follow that PyTorch student on a synthetic clip."""
    import hashlib

    from mobilevos.data.synth import generate_clip
    from mobilevos.models.checkpoint import load_network, resolve
    from mobilevos.runtime.ort_tracker import OrtTracker
    from mobilevos.track import Tracker

    manifest = load_manifest(export, check_files=False)
    path = resolve(weights)
    assert manifest["checkpoint"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert encoder.items() <= manifest["checkpoint"]["config"].items()
    assert manifest["name"] == name and ("prompt" in manifest) == prompt
    size = (manifest["model"]["height"], manifest["model"]["width"])
    frames, masks = generate_clip(4, 4, size)
    assert_tracks_alike(OrtTracker(export), Tracker(load_network(path), short_side=size[0]), frames, masks)


def test_the_balanced_models_click_head_reads_the_encoder_it_was_trained_on():
    """The pruned student's export takes the click head's features from the Accurate student's key encoder (the one
    the head was trained on; on the pruned features its first click lost 0.11 IoU): its selection IoUs are the
    Accurate export's in PyTorch, and its int8 graphs keep them within the export's bound."""
    import hashlib

    from mobilevos.models.checkpoint import resolve

    pruned = load_manifest(PRUNED_EXPORT, check_files=False)["prompt"]
    accurate = load_manifest(SHIPPED_EXPORT, check_files=False)["prompt"]
    assert "encoder" not in accurate
    student = resolve("student")
    assert pruned["encoder"]["source"]["sha256"] == hashlib.sha256(student.read_bytes()).hexdigest()
    assert pruned["accuracy"]["enforced"] and pruned["accuracy"]["max_drop"] <= pruned["accuracy"]["bound"]
    assert pruned["accuracy"]["pytorch"] == accurate["accuracy"]["pytorch"]
    assert pruned["accuracy"]["onnx"]["clicks_1"] > 0.65


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_broken_manifests_are_rejected_where_they_break(case):
    manifest = json.loads((SHIPPED_EXPORT / "manifest.json").read_text())
    broken = apply_patch(manifest, case["patch"])
    assert broken != manifest
    with pytest.raises(ManifestError) as error:
        validate(broken)
    where = error.value.where
    assert where == case["where"] or where.startswith(case["where"] + "/"), str(error.value)
    assert str(error.value).startswith(f"{where or '/'}: ")


def test_apply_patch_follows_json_patch():
    doc = {"a": [1, 2], "b": {"c": 3}}
    assert apply_patch(doc, [{"op": "copy", "from": "/a/0", "path": "/a/1"}])["a"] == [1, 1, 2]
    assert apply_patch(doc, [{"op": "add", "path": "/a/-", "value": 9}])["a"] == [1, 2, 9]
    assert apply_patch(doc, [{"op": "replace", "path": "/a/1", "value": 5}])["a"] == [1, 5]
    assert apply_patch(doc, [{"op": "remove", "path": "/b/c"}]) == {"a": [1, 2], "b": {}}
    assert doc == {"a": [1, 2], "b": {"c": 3}}


def test_the_dynamic_graphs_track_at_every_exported_size_as_pytorch_does():
    """One graph, two sizes: at_size rewrites the shapes, and OrtTracker at the large size follows the PyTorch
    tracker at that size (the export checked the same; this is the consumer's side)."""

    from mobilevos.data.synth import generate_clip
    from mobilevos.models.checkpoint import load_network
    from mobilevos.runtime.manifest import at_size, default_size
    from mobilevos.runtime.ort_tracker import OrtTracker
    from mobilevos.track import Tracker

    manifest = load_manifest(SHIPPED_EXPORT, check_files=False)
    size = default_size(manifest, "webgpu")  # the largest of the first size's shape
    large = next(s for s in manifest["model"]["sizes"] if (s["height"], s["width"]) == size)
    assert size != (manifest["model"]["height"], manifest["model"]["width"])
    assert default_size(manifest, "wasm") != size
    assert all(s["height"] * s["width"] <= large["height"] * large["width"] for s in manifest["model"]["sizes"])
    resized = at_size(manifest, size)
    key = next(t for t in resized["graphs"][0]["inputs"] if t["name"] == manifest["memory"]["slots"][0]["key"])
    assert key["shape"][2:] == [large["memory_height"], large["memory_width"]]
    assert resized["frame"]["shape"] == [1, *size, 4]
    assert manifest["frame"]["shape"] == [1, manifest["model"]["height"], manifest["model"]["width"], 4]  # unchanged
    with pytest.raises(ManifestError, match="was not exported"):
        at_size(manifest, (128, 128))

    frames, masks = generate_clip(3, 3, size)
    onnx = OrtTracker(SHIPPED_EXPORT, size=size)
    assert_tracks_alike(onnx, Tracker(load_network("student"), short_side=size[0]), frames, masks)
    assert onnx.memory["first"][0].shape[2:] == (large["memory_height"], large["memory_width"])


def test_bench_runs_the_graphs_at_the_size_asked_for_and_says_when_it_cannot(capsys):
    """`mobilevos bench --size` once ran onnxruntime at the manifest's first size whatever was asked: its rows now say
    the input they ran at, which is --size when the export has it."""
    from mobilevos.eval.bench import markdown_table, run_benchmarks

    def bench(size: str) -> dict:
        args = argparse.Namespace(size=size, frames=2, models=[], onnx=PRUNED_EXPORT, variants=["fp32"], threads=1)
        return run_benchmarks(args)["runs"]["student/onnxruntime-fp32"]

    small, other = bench("208x272"), bench("240x432")
    assert small["model_size"] == [208, 272]
    assert small["memory_bytes"][-1] < bench("240x320")["memory_bytes"][-1]  # the bank holds a smaller grid
    assert other["model_size"] == [240, 320]
    assert "240x432 was not exported (have: 240x320, " in capsys.readouterr().out
    assert "| student/onnxruntime-fp32 | 208x272 |" in markdown_table(
        {
            "runs": {"student/onnxruntime-fp32": small},
            "clip": {"frames": 2, "size": [208, 272]},
            "machine": {"threads": 1, "processor": "x", "cpus": 2, "torch": "t"},
        }
    )
