"""Score the prompt head: mean IoU after 1, 3 and 5 simulated clicks and from a box, per object, on the first frames
of the selection sequences (never an evaluation split: that is scored once, after the choice).

    python -m mobilevos.eval.prompt --head runs/prompt/last.safetensors --out results/prompt_selection.json
    python -m mobilevos.eval.prompt --size 240x320 --every 10     # the web app's input size; 39 objects, not 6

Clicks follow the NoC protocol, deterministically: the first click at the object's centre (the point farthest from
its boundary), each next one at the centre of the largest error region of the current prediction, positive in a
false negative, negative in a false positive; the previous prediction is fed back with each click. The box is the
object's tight ground-truth box, alone. Void pixels (255) are left out of every IoU and never clicked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from mobilevos.config import parse_size
from mobilevos.data.davis import read_sequence
from mobilevos.data.splits import split_sequences
from mobilevos.prompts import Box, Click, next_click, tight_box

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


def click_ious(
    segmenter: Segmenter, target: np.ndarray, counts=CLICK_COUNTS, ignore: np.ndarray | None = None
) -> dict[int, float]:
    """IoU after each number of clicks in `counts` (the segmenter's image already set); once the prediction is
    perfect no further click is made."""
    segmenter.reset()
    clicks: list[Click] = []
    pred = np.zeros_like(target, dtype=bool)
    out = {}
    for k in range(1, max(counts) + 1):
        click = next_click(pred, target, ignore=ignore)
        if click is not None:
            clicks.append(click)
            pred = segmenter.predict(clicks) > 0.5
        if k in counts:
            out[k] = iou(pred, target, ignore)
    return out


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


def format_table(result: dict) -> str:
    """The per-object IoUs and the means as a text table."""
    keys = list(result["mean"])
    lines = [f"{'sequence':<18}{'obj':>4}" + "".join(f"{k:>10}" for k in keys)]
    for r in result["objects"]:
        lines.append(f"{r['sequence']:<18}{r['object']:>4}" + "".join(f"{r[k]:>10.3f}" for k in keys))
    lines.append(f"{'mean':<22}" + "".join(f"{result['mean'][k]:>10.3f}" for k in keys))
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the prompt-head evaluation."""
    p.add_argument("--head", default="runs/prompt/last.safetensors", help="prompt-head weights")
    p.add_argument("--student", default="student", help="key encoder the head was trained on")
    p.add_argument("--root", default="../shared/data/davis16-train-240p", help="folder with the selection sequences")
    p.add_argument("--size", default="240x432", help="model input HxW (multiples of 16)")
    p.add_argument("--every", type=int, default=0, help="score every N-th annotated frame, not only the first")
    p.add_argument("--out", help="write the result as JSON here")


def run(args: argparse.Namespace) -> dict:
    """Evaluate on the selection sequences' first frames; prints the table, writes JSON with --out."""
    from mobilevos.models.checkpoint import load_network
    from mobilevos.models.prompt_head import load_head, read_head_metadata
    from mobilevos.prompts import PromptSegmenter

    torch.set_num_threads(1)
    segmenter = PromptSegmenter(load_network(args.student), load_head(args.head), parse_size(args.size))
    result = evaluate(segmenter, annotated_frames(args.root, "selection", args.every))
    _, meta = read_head_metadata(args.head)
    result["head"] = {"path": str(args.head), "step": meta.get("step"), "size": args.size, "every": args.every}
    print(format_table(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m mobilevos.eval.prompt", description=__doc__.split("\n")[0])
    add_arguments(parser)
    run(parser.parse_args())
