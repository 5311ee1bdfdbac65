"""Parity fixtures for the web tests: a few frames, the annotation, and the outputs every graph call must give.

The JavaScript test replays them with the manifest's rules: load each PNG (already at model resolution) into a
canvas, feed `new Float32Array(imageData.data)`, build `masks` from the annotation, run the annotate call then track
calls while updating the memory slots, and compare each output with the stored one. Layout of `fixtures/`:

    index.json             what to run and compare (schema below, written by `write_fixtures`)
    frame_<t>.png          RGB frames at model resolution
    annotation.png         8-bit grey index mask of frame 0 (0 background, 1..N object ids)
    k<K>/<call>_<output>.bin  expected outputs, float16 little-endian, C order
    prompt/<step>_prob.bin     with a prompt head: the head's prob after each prompt step (float16)

Expected outputs are those of the fp32 graphs in onnxruntime (Python). Each run lists its calls in order, each with
the graph, the call ("annotate" or "track", the manifest's `calls`) and the frame. Track calls store `prob` only (the
memory entries they produce are checked through the next call's `prob`); the annotate call stores `key` and `value`
(its `prob` is not a result).

With a prompt head (the manifest's `prompt`), `index.json` has a `prompt` entry too: on frame 0, a first click at
the centre of object 1, a corrective click on the largest error of that mask (the previous mask fed back), then a
box around the object on its own (no previous mask); coordinates are model pixels (the frame is at model size).
The replay encodes the frame once with the smallest-capacity fp32 graph, builds the maps (`prompt.maps`) and
compares each step's prob.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from mobilevos.data.synth import SynthConfig, clip_seed, generate_clip
from mobilevos.prompts import centre_click, next_click, tight_box
from mobilevos.runtime.ort_prompt import OrtPromptSegmenter
from mobilevos.runtime.ort_tracker import OrtTracker

from export.clips import SYNTH_SEED

FIXTURE_OBJECTS = 2  # objects in the fixture clip; capacity 1 keeps only the first
# Float16 storage rounds by up to 2^-11 relative; the runtimes themselves agree far more closely (fp32).
TOLERANCE = {"atol": 1e-4, "rtol": 2e-3}


def fixture_clip(size: tuple[int, int], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic synthetic clip with FIXTURE_OBJECTS objects: frames [T, H, W, 3], annotation [H, W]."""
    cfg = SynthConfig(max_objects=FIXTURE_OBJECTS)
    for i in range(100):
        video, masks = generate_clip(clip_seed(SYNTH_SEED + 1, i), frames, size, cfg)
        if masks[0].max() == FIXTURE_OBJECTS:
            return video, masks[0]
    raise RuntimeError("no synthetic clip with enough objects in 100 seeds")


def _save(array: np.ndarray, folder: Path, name: str) -> dict:
    """Store one expected output as float16 and describe it for index.json."""
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    array.astype("<f2").tofile(folder / name)
    return {"file": name, "shape": list(array.shape), "dtype": "float16"}


def write_fixtures(model_dir: Path, capacities: list[int], frames: int = 3, folder: str = "fixtures") -> Path:
    """Write the fixtures of every capacity into `model_dir/folder`; returns the index path."""
    out = model_dir / folder
    out.mkdir(parents=True, exist_ok=True)
    tracker = OrtTracker(model_dir, "fp32")
    video, annotation = fixture_clip(tracker.size, frames)
    frame_files = [f"frame_{t}.png" for t in range(frames)]
    for name, frame in zip(frame_files, video):
        Image.fromarray(frame).save(out / name, optimize=True)
    Image.fromarray(annotation).save(out / "annotation.png", optimize=True)
    runs = []
    for k in capacities:
        mask = np.where(annotation <= k, annotation, 0).astype(np.uint8)  # capacity 1: the first object only
        tracker.forced_capacity = k
        entry = tracker.manifest["memory"]["entry"]
        annotated = tracker.run_graph("annotate", tracker.annotate_feeds(video[0], mask))
        calls = [
            {
                "graph": tracker.graph_name,
                "call": "annotate",
                "frame": 0,
                "outputs": {
                    name: _save(annotated[name], out, f"k{k}/annotate0_{name}.bin")
                    for name in (entry["key"], entry["value"])
                },
            }
        ]
        prob = tracker.manifest["output"]["name"]
        for t in range(1, frames):
            tracked = tracker.run_graph("track", tracker.track_feeds(video[t]))
            calls.append(
                {
                    "graph": tracker.graph_name,
                    "call": "track",
                    "frame": t,
                    "outputs": {prob: _save(tracked[prob], out, f"k{k}/track{t}_{prob}.bin")},
                }
            )
        n = len(tracker.objects)
        runs.append({"capacity": k, "objects": tracker.objects, "valid": [1.0] * n + [0.0] * (k - n), "calls": calls})
    index = {
        "variant": "fp32",
        "size": list(tracker.size),
        "frames": frame_files,
        "annotation": "annotation.png",
        "masks": "masks[0, i] = (annotation == objects[i]) for i < len(objects); padding slots zero",
        "tolerance": {**TOLERANCE, "rule": "|actual - expected| <= atol + rtol * |expected|"},
        "runs": runs,
    }
    if "prompt" in tracker.manifest:
        index["prompt"] = _prompt_fixture(model_dir, out, video[0], annotation == 1)
    path = out / "index.json"
    path.write_text(json.dumps(index, indent=1) + "\n")
    return path


def _prompt_fixture(model_dir: Path, out: Path, frame: np.ndarray, target: np.ndarray) -> dict:
    """The prompt steps on `frame` (at model size) for the object `target`, run by the onnxruntime segmenter."""
    segmenter = OrtPromptSegmenter(model_dir, "fp32")
    segmenter.set_image(frame)
    first = centre_click(target, True)
    prob = segmenter.predict([first])
    second = next_click(prob > 0.5, target) or first  # a perfect first mask: the same click again
    steps = [([first], None, "reset"), ([first, second], None, "chain"), ([], tight_box(target), "reset")]
    index = []
    for i, (clicks, box, previous) in enumerate(steps):
        if previous == "reset":
            segmenter.reset()
        prob = segmenter.predict(clicks, box)
        index.append(
            {
                "clicks": [[c.y, c.x, bool(c.positive)] for c in clicks],
                "box": list(box) if box is not None else None,
                "previous": previous,
                "outputs": {segmenter.prompt["output"]: _save(prob[None, None], out, f"prompt/{i}_prob.bin")},
            }
        )
    return {
        "graph": segmenter.graph["name"],
        "frame": 0,
        "previous": "chain: the previous step's prob is this step's previous channel; reset: zeros",
        "steps": index,
    }
