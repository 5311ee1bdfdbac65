"""The web bench page's parts that must agree with Python (the J&F parity itself is tests/web/e2e/bench.test.js).

* The bundled clip (web/public/bench/clip, scripts/make_bench_clip.py) is `mobilevos bench`'s clip: its masks are
  exactly `generate_clip(BENCH_SEED, ...)`'s and its JPEG frames decode close to the generator's frames.
* The page's scoring resize (web/src/bench/resize.js) gives the masks of
  `mobilevos.runtime.ort_tracker.resize_prob` + argmax, the Python trackers' resize of `prob` to the frame size,
  except where two classes are tied to rounding.
* The compute probe's ONNX bytes (web/src/bench/matmul-model.js, written by hand in JavaScript) pass onnx's full
  check, and onnxruntime computes X·W·…·W with them.

Needs node (skipped without it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "web" / "public" / "bench" / "clip"
BENCH_SRC = REPO / "web" / "src" / "bench"


def _node(script: str, *args: str) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found on PATH")
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, *args], capture_output=True, timeout=120, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done


def test_bundled_clip_is_the_python_bench_clip():
    from mobilevos.data.davis import read_sequence
    from mobilevos.data.synth import generate_clip
    from mobilevos.eval.bench import BENCH_SEED

    info = json.loads((CLIP / "clip.json").read_text())
    assert info["seed"] == BENCH_SEED
    seq = read_sequence(CLIP, "bench")
    assert seq.size == (info["height"], info["width"])
    assert seq.num_frames == len(info["sequences"][0]["frames"]) == len(seq.mask_paths)
    assert [f"JPEGImages/bench/{p.name}" for p in seq.frame_paths] == info["sequences"][0]["frames"]
    frames, masks = generate_clip(BENCH_SEED, seq.num_frames, seq.size)
    for t in range(seq.num_frames):
        np.testing.assert_array_equal(seq.load_mask(t), masks[t])
        assert np.abs(seq.load_frame(t).astype(np.int16) - frames[t]).mean() < 3  # JPEG quality 90
    assert int(masks.max()) == info["objects"]


@pytest.mark.parametrize("size", [(240, 432), (480, 854), (240, 320), (120, 160)])
def test_scoring_resize_matches_the_python_trackers(tmp_path, size):
    from mobilevos.runtime.ort_tracker import resize_prob

    rng = np.random.default_rng(size[1])
    channels, h, w = 3, 240, 320
    logits = rng.normal(size=(channels, h // 8, w // 8)).astype(np.float32)
    logits = np.kron(logits, np.ones((8, 8), np.float32)) + 0.3 * rng.normal(size=(channels, h, w)).astype(np.float32)
    prob = np.exp(logits - logits.max(0))
    prob = (prob / prob.sum(0)).astype(np.float32)
    prob[:, :4, :4] = [[[1e-40]], [[1.0]], [[0.0]]]  # underflow and exact zeros (log of the float32 floor)
    (tmp_path / "prob.f32").write_bytes(prob.tobytes())
    script = f"""
import {{ readFileSync, writeFileSync }} from 'node:fs';
import {{ probToLabels }} from '{(BENCH_SRC / "resize.js").as_uri()}';
const buf = readFileSync(process.argv[1]);
const prob = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
writeFileSync(process.argv[2], probToLabels(prob, {channels}, {h}, {w}, {size[0]}, {size[1]}));
"""
    _node(script, str(tmp_path / "prob.f32"), str(tmp_path / "labels.u8"))
    ours = np.frombuffer((tmp_path / "labels.u8").read_bytes(), np.uint8).reshape(size)
    resized = resize_prob(prob, size)
    theirs = resized.argmax(0)
    top2 = np.sort(resized, 0)[-2:]
    decisive = (top2[1] - top2[0]) > 1e-4
    assert decisive.mean() > 0.9
    assert np.array_equal(ours[decisive], theirs[decisive])
    assert (ours != theirs).mean() <= 1e-4


def test_probe_model_is_valid_onnx_and_multiplies(tmp_path):
    import onnx
    import onnxruntime as ort

    n, chain = 64, 3
    script = f"""
import {{ writeFileSync }} from 'node:fs';
import {{ matmulModel, probeInput, probeWeights }} from '{(BENCH_SRC / "matmul-model.js").as_uri()}';
writeFileSync(process.argv[1], matmulModel({n}, {chain}).bytes);
writeFileSync(process.argv[2], probeInput({n}));
writeFileSync(process.argv[3], probeWeights({n}));
"""
    paths = [tmp_path / name for name in ("probe.onnx", "x.f32", "w.f32")]
    _node(script, *map(str, paths))
    model = onnx.load(paths[0])
    onnx.checker.check_model(model, full_check=True)
    assert [node.op_type for node in model.graph.node] == ["MatMul"] * chain
    x = np.frombuffer(paths[1].read_bytes(), np.float32).reshape(n, n)
    w = np.frombuffer(paths[2].read_bytes(), np.float32).reshape(n, n)
    (y,) = ort.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    expected = x.astype(np.float64)
    for _ in range(chain):
        expected = expected @ w
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    assert 0.1 < np.abs(expected).max() < 100  # values stay of order one along the chain
