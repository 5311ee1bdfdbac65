"""The metric core in Pyodide (as the web app's bench page runs it) gives the figures `mobilevos eval --pred` gives.

Runs tests/pyodide/score.mjs with node on label maps written as raw H×W uint8 files. Needs node and the `pyodide`
npm package: <repo>/node_modules/pyodide, or the folder in $MOBILEVOS_PYODIDE_DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mobilevos.data.davis import load_mask
from mobilevos.eval import metrics_core as core
from mobilevos.eval.metrics import evaluate_sequence, score_folder

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "pyodide" / "score.mjs"
TOL = 1e-9


@pytest.fixture(scope="module")
def pyodide_runner():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found on PATH (needed to run Pyodide)")
    pyodide_dir = Path(os.environ.get("MOBILEVOS_PYODIDE_DIR", REPO / "node_modules" / "pyodide"))
    if not (pyodide_dir / "pyodide.mjs").is_file():
        pytest.skip(f"the pyodide npm package is not at {pyodide_dir} (npm install, or set MOBILEVOS_PYODIDE_DIR)")

    def run(manifest: dict, folder: Path) -> dict:
        path = folder / "manifest.json"
        path.write_text(json.dumps(manifest))
        done = subprocess.run(
            [node, str(SCRIPT), str(path), "--pyodide", str(pyodide_dir)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout)

    return run


def _write_sequence(
    folder: Path, name: str, gt: dict[int, np.ndarray], pred: dict[int, np.ndarray], num_frames: int
) -> dict:
    entry = {
        "name": name,
        "height": int(next(iter(gt.values())).shape[0]),
        "width": int(next(iter(gt.values())).shape[1]),
        "num_frames": num_frames,
        "gt": {},
        "pred": {},
    }
    for kind, masks in (("gt", gt), ("pred", pred)):
        for t, mask in masks.items():
            path = folder / f"{name}-{kind}-{t}.u8"
            path.write_bytes(np.ascontiguousarray(mask, np.uint8).tobytes())
            entry[kind][str(t)] = path.name
    return entry


def _assert_same_sequence(ours: dict, theirs: dict):
    """`theirs` came through JSON: object ids are strings."""
    assert theirs["frames"] == ours["frames"]
    assert {int(obj) for obj in theirs["objects"]} == set(ours["objects"])
    for obj, scores in ours["objects"].items():
        other = theirs["objects"][str(obj)]
        for key, value in scores.items():
            assert other[key] == pytest.approx(value, abs=TOL), (obj, key)


def _assert_same_summary(ours: dict, theirs: dict):
    assert set(theirs) == set(ours)
    for key, value in ours.items():
        assert theirs[key] == pytest.approx(value, abs=TOL), key


def _blobs(rng, shape, num_objects):
    labels = np.zeros(shape, np.uint8)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for obj in range(1, num_objects + 1):
        cy, cx, r = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(2, max(shape) / 3)
        labels[(yy - cy) ** 2 + ((xx - cx) * rng.uniform(0.5, 2)) ** 2 < r * r] = obj
    return labels


def test_pyodide_matches_cpython_on_synthetic_sequences(pyodide_runner, tmp_path):
    """Odd widths, objects on the image borders, void pixels, objects that come and go, a frame without GT; frames
    passed as a JS Array (with null and holes), a plain object and a Map."""
    rng = np.random.default_rng(0)
    sequences, expected = [], {}
    for name, shape, num_frames, container in (
        ("odd", (37, 53), 7, "array"),
        ("narrow", (23, 9), 6, "object"),
        ("wide", (16, 131), 5, "map"),
    ):
        gt = {t: _blobs(rng, shape, 3) for t in range(num_frames) if (name, t) != ("odd", 3)}
        for mask in gt.values():
            mask[:, -1] = 2  # object 2 on the right border
            mask[rng.random(shape) < 0.03] = 255
        pred = {
            t: _blobs(rng, shape, 3) if t % 2 else np.where(gt[t] == 255, 0, gt[t]).astype(np.uint8)
            for t in range(1, num_frames - 1)
        }
        sequences.append({**_write_sequence(tmp_path, name, gt, pred, num_frames), "container": container})
        expected[name] = evaluate_sequence(gt, pred, num_frames=num_frames)
    out = pyodide_runner({"sequences": sequences}, tmp_path)
    for name, result in expected.items():
        _assert_same_sequence(result, out["results"][name])
    _assert_same_summary(core.summarize(expected)["summary"], out["summary"])
    assert expected["odd"]["frames"] == [1, 2, 4, 5]


def test_pyodide_matches_score_folder_on_davis16_val(pyodide_runner, davis_val, tmp_path):
    """copy-first-mask predictions on two sequences, scored by `mobilevos eval --pred`'s code and in Pyodide."""
    names = ["blackswan", "libby"]
    pred_dir, raw = tmp_path / "pred", tmp_path / "raw"
    raw.mkdir()
    sequences = []
    for name in names:
        paths = sorted((davis_val / "Annotations" / name).glob("*.png"))
        (pred_dir / name).mkdir(parents=True)
        for path in paths:
            shutil.copyfile(paths[0], pred_dir / name / path.name)
        gt = {t: load_mask(path) for t, path in enumerate(paths)}
        # The bench page decodes its own PNGs; here the written predictions are decoded the way score_folder does.
        pred = {t: load_mask(pred_dir / name / paths[t].name) for t in range(1, len(paths) - 1)}
        sequences.append(_write_sequence(raw, name, gt, pred, len(paths)))

    ours = score_folder(davis_val, pred_dir, names, progress=False)
    out = pyodide_runner({"sequences": sequences}, raw)
    _assert_same_summary(ours["summary"], out["summary"])
    theirs = core.summarize(out["results"])
    for name in names:
        for key in ("J&F", "J", "F"):
            assert theirs["sequences"][name][key] == pytest.approx(ours["sequences"][name][key], abs=TOL)
    assert out["frames"] == sum(len(s["pred"]) for s in sequences)
    assert out["python"].startswith("3.")
