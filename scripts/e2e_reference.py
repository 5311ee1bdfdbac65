"""Scores the browser's tracking against the ground truth and against Python on the very same frames.

    python scripts/e2e_reference.py --clip DIR --model-dir DIR --variant int8 --browser DIR --out result.json

DIR of --clip is scripts/make_fake_webcam.py's output (camera_frames.npy, masks.npy). --browser holds what the page
tracked: run.json ({"annotated": i, "frames": [j1, j2, ...]}: the source-frame index of the annotated frame and of
each tracked frame, as the test mapped them by content) and one label PNG per tracked frame (0000.png, ...). Python
replays exactly that sequence: `mobilevos.runtime.ort_tracker.OrtTracker` (the graphs of the same variant,
onnxruntime CPU) and, when the manifest's checkpoint is there, `mobilevos.track.Tracker` (PyTorch), both annotated
with the ground truth of frame i. Writes mean IoU (J, per object and frame, `mobilevos.eval.metrics.db_eval_iou`) of
each against the ground truth and of the browser against the Python ONNX run. The ONNX replay sees the frames as the
page does: letterboxed into the model's input (`letterbox`, web/src/geometry.js's rule, grey bars of PAD_VALUE), the
annotation with them, and its probabilities cropped back out of the bars and resized to the frame. (A plain resize
squashes a 16:9 frame into 4:3 and shows the model other object sizes: on the 16:9 camera clip both students lose the
small object after some jumps of several frames and keep it after others, and which jumps differs between the two
geometries.)

When run.json also lists "inputs" (the exact RGB the page fed the model for the annotated frame and the tracked
frames, as many as the page kept), Python replays those too: it scores that run against the ground truth and counts the
pixels where its mask differs from the page's although its own probabilities are decisive (top-two gap >
DECISIVE[variant]), which isolates the page's pipeline from camera decoding and from near-ties of the model; and it
measures how far the page's inputs are from the decoded source frames (mean absolute difference in 0..255 levels),
which checks the camera path (YUV->RGB, drawing to the model's canvas) directly. The replay of the source frames is
reported beside it but is not a like-for-like comparison: a one-level difference in a frame changes which pixels are
near-ties, and over ~100 frames of memory the two runs drift apart by a few IoU points either way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from mobilevos.eval.metrics import db_eval_iou

REPO = Path(__file__).resolve().parents[1]
PAD_VALUE = 127  # web/src/geometry.js: the grey of the letterbox bars
# Top-two probability gap above which the argmax must agree on identical inputs. fp32: the runtimes agree to ~5e-5.
# int8: onnxruntime's WASM and native x86 int8 kernels round differently (max |Δprob| 0.07 on the fixture clip).
DECISIVE = {"fp32": 1e-3, "fp16": 0.05, "int8": 0.2}


def mean_iou(preds: list[np.ndarray], refs: list[np.ndarray], objects: list[int]) -> float:
    return float(np.mean([db_eval_iou(r == o, p == o) for p, r in zip(preds, refs, strict=True) for o in objects]))


def letterbox(frame_size: tuple[int, int], model_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(y, x, height, width) of the frame's content in the model input: web/src/geometry.js `letterbox`."""
    (fh, fw), (mh, mw) = frame_size, model_size
    scale = min(mw / fw, mh / fh)
    w, h = min(mw, max(1, round(fw * scale))), min(mh, max(1, round(fh * scale)))
    return (mh - h) // 2, (mw - w) // 2, h, w


class LetterboxedTracker:
    """`OrtTracker` on frames letterboxed into the model input as the page does it; masks at the frame's size."""

    def __init__(self, model_dir: Path, variant: str):
        import cv2

        from mobilevos.runtime.ort_tracker import OrtTracker, resize_prob

        self.cv2, self.resize_prob = cv2, resize_prob
        self.tracker = OrtTracker(model_dir, variant=variant)
        model = self.tracker.manifest["model"]
        self.size = (model["height"], model["width"])

    def model_input(self, image: np.ndarray, interpolation: int | None = None, fill: int = PAD_VALUE) -> np.ndarray:
        """A frame (or, with INTER_NEAREST and fill 0, a label mask) letterboxed into the model input; an image
        already at the model size is the page's own input and is taken as it is."""
        if image.shape[:2] == self.size:
            return image
        y, x, h, w = self.box
        out = np.full((*self.size, *image.shape[2:]), fill, image.dtype)
        out[y : y + h, x : x + w] = self.cv2.resize(image, (w, h), interpolation=interpolation or self.cv2.INTER_LINEAR)
        return out

    def start(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Annotate `frame` (the source frame, or the page's model input for it) with `mask` at the source size."""
        self.frame_size = mask.shape[:2]
        self.box = letterbox(self.frame_size, self.size)
        self.tracker.start(self.model_input(frame), self.model_input(mask, self.cv2.INTER_NEAREST, 0))

    def step(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The label mask and probabilities of the next frame (a source frame or a model input) at the source size."""
        y, x, h, w = self.box
        prob = self.tracker.step(self.model_input(frame)).prob[:, y : y + h, x : x + w]
        prob = self.resize_prob(prob, self.frame_size)
        return np.array([0, *self.tracker.objects], np.uint8)[prob.argmax(0)], prob


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, required=True)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--variant", default="fp32")
    p.add_argument("--browser", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    frames = np.load(args.clip / "camera_frames.npy")
    gt = np.load(args.clip / "masks.npy")
    run = json.loads((args.browser / "run.json").read_text())
    first, sequence = run["annotated"], run["frames"]
    browser = [np.array(Image.open(args.browser / f"{i:04d}.png")) for i in range(len(sequence))]
    objects = [int(o) for o in np.unique(gt[first]) if o not in (0, 255)]
    refs = [gt[j] for j in sequence]
    result = {
        "annotated": first,
        "frames": len(sequence),
        "distinct_frames": len(set(sequence)),
        "objects": objects,
        "variant": args.variant,
        "browser_vs_gt": mean_iou(browser, refs, objects),
    }

    replay = LetterboxedTracker(args.model_dir, args.variant)
    replay.start(frames[first], gt[first])
    ort_masks = [replay.step(frames[j])[0] for j in sequence]
    result["python_onnx_vs_gt"] = mean_iou(ort_masks, refs, objects)
    result["browser_vs_python_onnx"] = mean_iou(browser, ort_masks, objects)
    result["pixels_differing_from_python_onnx"] = float(np.mean([(b != o).mean() for b, o in zip(browser, ort_masks)]))

    if run.get("inputs"):
        exact = LetterboxedTracker(args.model_dir, args.variant)
        rgb = [np.array(Image.open(args.browser / name).convert("RGB")) for name in run["inputs"]]
        exact.start(rgb[0], gt[first])
        decisive_diff, all_diff, decisive_total = 0, 0, 0
        masks = []
        for i, frame in enumerate(rgb[1:]):
            mask, prob = exact.step(frame)
            masks.append(mask)
            top2 = np.sort(prob, 0)[-2:]
            decisive = (top2[1] - top2[0]) > DECISIVE[args.variant]
            differ = mask != browser[i]
            decisive_diff += int((differ & decisive).sum())
            decisive_total += int(decisive.sum())
            all_diff += int(differ.sum())
        pixels = (len(rgb) - 1) * gt.shape[1] * gt.shape[2]
        sources = [exact.model_input(f) for f in (frames[first], *(frames[j] for j in sequence[: len(rgb) - 1]))]
        level_diff = [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in zip(rgb, sources, strict=True)]
        result["exact_inputs"] = {
            "frames": len(rgb) - 1,
            "input_level_diff_mean": float(np.mean(level_diff)),
            "input_level_diff_worst_frame": float(np.max(level_diff)),
            "python_vs_gt": mean_iou(masks, refs[: len(masks)], objects),
            "browser_vs_gt": mean_iou(browser[: len(masks)], refs[: len(masks)], objects),
            "pixels_differing": all_diff / pixels,
            "decisive_fraction": decisive_total / pixels,
            "decisive_gap": DECISIVE[args.variant],
            "decisive_pixels_differing": decisive_diff,
        }

    manifest = replay.tracker.manifest
    checkpoint = Path(manifest["checkpoint"]["path"])
    checkpoint = checkpoint if checkpoint.is_absolute() else REPO / checkpoint
    if checkpoint.is_file():
        import torch

        from mobilevos.models.checkpoint import load_network
        from mobilevos.track import Tracker

        torch.set_num_threads(2)
        tracker = Tracker(load_network(checkpoint).eval(), short_side=manifest["model"]["height"])
        tracker.start(frames[first], gt[first])
        torch_masks = [tracker.step(frames[j]).mask for j in sequence]
        result["python_torch_vs_gt"] = mean_iou(torch_masks, refs, objects)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
