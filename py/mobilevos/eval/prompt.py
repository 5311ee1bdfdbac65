"""Score the prompt head: mean IoU after 1, 3 and 5 simulated clicks and from a box, per object, on the first frames
of the selection sequences; and the J&F of the student tracking from a mask made with clicks against tracking from
the ground-truth mask. Choices are made on the selection sequences only; `davis16-val` is scored once, after.

    python -m mobilevos.eval.prompt --out results/prompt_selection.json             # the shipped head, 240x432
    python -m mobilevos.eval.prompt --size 240x320 --every 10     # the web app's input size; 39 objects, not 6
    python -m mobilevos.eval.prompt --size 240                    # short side 240, aspect kept (the tracker's input)
    python -m mobilevos.eval.prompt --track                       # J&F: tracking from 3 clicks vs from ground truth
    python -m mobilevos.eval.prompt --root ../shared/data/davis16-val --split all [--track]   # once, after choosing

Clicks follow the NoC protocol, deterministically: the first click at the object's centre (the point farthest from
its boundary), each next one at the centre of the largest error region of the current prediction, positive in a
false negative, negative in a false positive; the previous prediction is fed back with each click. The box is the
object's tight ground-truth box, alone. Void pixels (255) are left out of every IoU and never clicked.

`--track` makes frame 0's mask from `--clicks` clicks per object, at the tracker's own input (short side
`--short-side`), and tracks the student from it and from the ground-truth mask with `mobilevos eval`'s tracker and
scorer (`evaluate_model`: frames 1..n-2 scored against the ground truth).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from mobilevos.config import parse_size
from mobilevos.data.davis import read_sequence
from mobilevos.data.splits import split_sequences
from mobilevos.prompts import Box, Click, index_mask, next_click, tight_box

CLICK_COUNTS = (1, 3, 5)
VOID = 255


class Segmenter(Protocol):
    """What the evaluation drives (`mobilevos.prompts.PromptSegmenter`, or a stub in tests)."""

    def set_image(self, image: np.ndarray) -> None: ...
    def reset(self) -> None: ...
    def predict(self, clicks: list[Click], box: Box | None = None) -> np.ndarray: ...


def iou(pred: np.ndarray, target: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """IoU of two boolean masks outside `ignore`; 1.0 when both are empty."""
    if ignore is not None:
        pred, target = pred & ~ignore, target & ~ignore
    union = np.count_nonzero(pred | target)
    return np.count_nonzero(pred & target) / union if union else 1.0


def simulate_clicks(
    segmenter: Segmenter, target: np.ndarray, count: int, ignore: np.ndarray | None = None
) -> list[np.ndarray]:
    """The foreground probability after each of `count` NoC clicks on `target` (the segmenter's image already set);
    once the prediction is perfect no further click is made and the last probability repeats."""
    segmenter.reset()
    clicks: list[Click] = []
    prob = np.zeros(target.shape, np.float32)
    out = []
    for _ in range(count):
        click = next_click(prob > 0.5, target, ignore=ignore)
        if click is not None:
            clicks.append(click)
            prob = segmenter.predict(clicks)
        out.append(prob)
    return out


def click_ious(
    segmenter: Segmenter, target: np.ndarray, counts=CLICK_COUNTS, ignore: np.ndarray | None = None
) -> dict[int, float]:
    """IoU after each number of clicks in `counts` (the segmenter's image already set)."""
    probs = simulate_clicks(segmenter, target, max(counts), ignore)
    return {k: iou(probs[k - 1] > 0.5, target, ignore) for k in counts}


def box_iou(segmenter: Segmenter, target: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """IoU of the prediction from the object's tight box alone."""
    segmenter.reset()
    return iou(segmenter.predict([], tight_box(target)) > 0.5, target, ignore)


def evaluate(segmenter: Segmenter, frames: list[tuple[str, np.ndarray, np.ndarray]], counts=CLICK_COUNTS) -> dict:
    """Per-object IoUs and their means over `frames` (name, RGB uint8 [H, W, 3], index mask [H, W]; every id other
    than 0 and 255 is an object)."""
    rows = []
    for name, image, index in frames:
        segmenter.set_image(image)
        ignore = index == VOID
        for obj in (int(i) for i in np.unique(index) if 0 < i < VOID):
            target = index == obj
            ious = click_ious(segmenter, target, counts, ignore)
            rows.append(
                {
                    "sequence": name,
                    "object": obj,
                    **{f"clicks_{k}": v for k, v in ious.items()},
                    "box": box_iou(segmenter, target, ignore),
                }
            )
    keys = [f"clicks_{k}" for k in counts] + ["box"]
    return {"objects": rows, "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys}}


def annotated_frames(
    root: str | Path, split: str = "selection", every: int = 0
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, frame, its index mask) for the first annotated frame of each sequence of `split`, or with `every` > 0
    for every `every`-th annotated frame (more objects, a less noisy mean; names get the frame index)."""
    out = []
    for name in split_sequences(root, split):
        seq = read_sequence(root, name)
        indices = sorted(seq.mask_paths)
        for t in indices[::every] if every > 0 else indices[:1]:
            out.append((f"{name}/{t}" if every > 0 else name, seq.load_frame(t), seq.load_mask(t)))
    return out


def click_annotation(segmenter: Segmenter, image: np.ndarray, index: np.ndarray, clicks: int) -> np.ndarray:
    """An index mask of `image` made from `clicks` NoC clicks on each object of the ground truth `index` (objects
    that overlap go to the more confident one): what a user who clicks like the simulator gives a tracker."""
    segmenter.set_image(image)
    ignore = index == VOID
    objects = [int(i) for i in np.unique(index) if 0 < i < VOID]
    return index_mask({obj: simulate_clicks(segmenter, index == obj, clicks, ignore)[-1] for obj in objects})


def track_from_clicks(
    net, segmenter: Segmenter, root: str | Path, split: str, clicks: int = 3, short_side: int = 240
) -> dict:
    """J&F of `net` tracking each sequence of `split` from its ground-truth frame-0 mask and from a mask made with
    `clicks` clicks per object (`mobilevos.eval.command.evaluate_model` both times), and the click mask's IoU."""
    from mobilevos.eval.command import evaluate_model

    names = split_sequences(root, split)
    first_masks, first_iou = {}, {}
    for name, image, index in annotated_frames(root, split):
        first_masks[name] = click_annotation(segmenter, image, index, clicks)
        objects = [int(i) for i in np.unique(index) if 0 < i < VOID]
        ignore = index == VOID
        first_iou[name] = float(np.mean([iou(first_masks[name] == o, index == o, ignore) for o in objects]))
    runs = {}
    for start, masks in (("ground_truth", None), (f"clicks_{clicks}", first_masks)):
        with tempfile.TemporaryDirectory() as tmp:
            runs[start] = evaluate_model(net, root, tmp, short_side, names, progress=False, first_masks=masks)
    return {"clicks": clicks, "short_side": short_side, "first_frame_iou": first_iou, **runs}


def format_track_table(result: dict) -> str:
    """Per-sequence J&F from the ground-truth and from the click mask, with the click mask's IoU."""
    gt, cl = result["ground_truth"], result[f"clicks_{result['clicks']}"]
    head = f"{'sequence':<18}{'J&F gt':>9}{'J&F clicks':>12}{'first IoU':>11}"
    lines = [head]
    for name, row in gt["sequences"].items():
        lines.append(
            f"{name:<18}{row['J&F']:>9.2f}{cl['sequences'][name]['J&F']:>12.2f}{result['first_frame_iou'][name]:>11.3f}"
        )
    mean_iou = float(np.mean(list(result["first_frame_iou"].values())))
    lines.append(f"{'mean':<18}{gt['summary']['J&F']:>9.2f}{cl['summary']['J&F']:>12.2f}{mean_iou:>11.3f}")
    return "\n".join(lines)


def format_table(result: dict) -> str:
    """The per-object IoUs and the means as a text table."""
    keys = list(result["mean"])
    lines = [f"{'sequence':<18}{'obj':>4}" + "".join(f"{k:>10}" for k in keys)]
    for r in result["objects"]:
        lines.append(f"{r['sequence']:<18}{r['object']:>4}" + "".join(f"{r[k]:>10.3f}" for k in keys))
    lines.append(f"{'mean':<22}" + "".join(f"{result['mean'][k]:>10.3f}" for k in keys))
    return "\n".join(lines)


def model_input(text: str) -> tuple[int, int] | int:
    """--size: "HxW" (a fixed model input) or one number (the short side, aspect kept)."""
    return int(text) if text.strip().isdigit() else parse_size(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the prompt-head evaluation."""
    p.add_argument("--head", default="models/prompt_head.safetensors", help="prompt-head weights")
    p.add_argument("--student", default="student", help="key encoder the head was trained on (and the tracker)")
    p.add_argument(
        "--head-student",
        help="--track: the student whose key encoder the head reads, when the tracker (--student) is another: "
        "the page's Balanced model makes its click masks with the Accurate student's encoder",
    )
    p.add_argument("--root", default="../shared/data/davis16-train-240p", help="DAVIS-layout folder")
    p.add_argument(
        "--split",
        default="selection",
        choices=["selection", "all"],
        help="selection: the held-out training sequences; all: every sequence of --root (an evaluation folder)",
    )
    p.add_argument("--size", default="240x432", help="model input HxW (multiples of 16), or a short side")
    p.add_argument("--every", type=int, default=0, help="score every N-th annotated frame, not only the first")
    p.add_argument("--track", action="store_true", help="J&F of tracking from a click mask vs the ground truth")
    p.add_argument("--clicks", type=int, default=3, help="--track: clicks per object for frame 0's mask")
    p.add_argument("--short-side", type=int, default=240, help="--track: the tracker's (and the head's) short side")
    p.add_argument("--out", help="write the result as JSON here")


def run(args: argparse.Namespace) -> dict:
    """Evaluate on the first frames of --split (or --track); prints the table, writes JSON with --out."""
    from mobilevos.models.checkpoint import load_network
    from mobilevos.models.prompt_head import load_head, read_head_metadata
    from mobilevos.prompts import PromptSegmenter

    torch.set_num_threads(1)
    net, head = load_network(args.student), load_head(args.head)
    _, meta = read_head_metadata(args.head)
    about = {"path": str(args.head), "step": meta.get("step"), "root": str(args.root), "split": args.split}
    if args.track:
        encoder = load_network(args.head_student) if args.head_student else net
        segmenter = PromptSegmenter(encoder, head, args.short_side)
        result = track_from_clicks(net, segmenter, args.root, args.split, args.clicks, args.short_side)
        result["head_student"] = args.head_student or args.student
        table = format_track_table(result)
    else:
        segmenter = PromptSegmenter(net, head, model_input(args.size))
        result = evaluate(segmenter, annotated_frames(args.root, args.split, args.every))
        about.update(size=args.size, every=args.every)
        table = format_table(result)
    result["head"] = about
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m mobilevos.eval.prompt", description=__doc__.split("\n")[0])
    add_arguments(parser)
    run(parser.parse_args())
