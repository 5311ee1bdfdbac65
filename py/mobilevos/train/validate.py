"""Validation during training: held-out synthetic clips, and the selection sequences of davis16-train-240p that
training leaves out (`mobilevos.data.splits`). Never davis16-val, which is scored once per shipped model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from mobilevos.data.splits import check_training_root, split_sequences
from mobilevos.data.synth import SynthConfig, clip_seed, generate_clip
from mobilevos.eval.command import evaluate_model
from mobilevos.eval.metrics import evaluate_sequence
from mobilevos.eval.prompt import annotated_frames, evaluate
from mobilevos.memory_rule import STUDENT, TEACHER
from mobilevos.models.network import SpaceTimeNetwork
from mobilevos.models.prompt_head import PromptHead
from mobilevos.prompts import PromptSegmenter
from mobilevos.track import Tracker

# The click head is scored as the page uses it: its input size, every 10th annotated frame (39 objects).
CLICK_SIZE, CLICK_EVERY = (240, 320), 10

# Validation clips come from a seed no training stream uses (training synth seeds are small integers + 1000).
VAL_SEED = 987_654_321


def synth_validation(
    net: SpaceTimeNetwork, videos: int, frames: int, size: tuple[int, int], finite_memory: bool, max_objects: int = 2
) -> dict:
    """Mean J&F / J / F (percent, averaged over objects) of tracking `videos` held-out synthetic clips."""
    was_training = net.training
    net.eval()
    tracker = Tracker(net, short_side=min(size), keep_every=(STUDENT if finite_memory else TEACHER).keep_every)
    cfg = SynthConfig(max_objects=max_objects)
    j, f = [], []
    for i in range(videos):
        clip, masks = generate_clip(clip_seed(VAL_SEED, i), frames, size, cfg)
        tracker.start(clip[0], masks[0])
        pred = {t: tracker.step(clip[t]).mask for t in range(1, frames)}
        result = evaluate_sequence(dict(enumerate(masks)), pred, num_frames=frames)
        for scores in result["objects"].values():
            j.append(scores["J-mean"])
            f.append(scores["F-mean"])
    net.train(was_training)
    jm, fm = 100 * float(np.mean(j)), 100 * float(np.mean(f))
    return {"J&F": (jm + fm) / 2, "J": jm, "F": fm}


def selection_validation(net: SpaceTimeNetwork, root: str | Path, short_side: int, finite_memory: bool) -> dict:
    """J&F / J / F (percent, mean over objects) and per-sequence J&F of tracking the selection sequences of the
    DAVIS-layout training folder `root` at `short_side`; the teacher keeps every 5th frame as at inference."""
    root = check_training_root(root)  # an evaluation-only split is never used to choose anything
    was_training = net.training
    net.eval()
    with tempfile.TemporaryDirectory() as tmp:
        results = evaluate_model(
            net,
            root,
            tmp,
            short_side,
            split_sequences(root, "selection"),
            keep_every=(STUDENT if finite_memory else TEACHER).keep_every,
            progress=False,
        )
    net.train(was_training)
    return {
        **results["summary"],
        "sequences": {k: v["J&F"] for k, v in results["sequences"].items()},
        "short_side": short_side,
    }


def click_validation(net: SpaceTimeNetwork, head: PromptHead, root: str | Path) -> dict:
    """Mean IoU after 1, 3 and 5 simulated clicks and from the box (`mobilevos.eval.prompt`) of `head` on `net`'s
    key-encoder features, on every 10th annotated frame of the selection sequences of the training folder `root`."""
    root = check_training_root(root)
    was_training = net.training
    net.eval()
    result = evaluate(PromptSegmenter(net, head, CLICK_SIZE), annotated_frames(root, "selection", CLICK_EVERY))
    net.train(was_training)
    return result["mean"]
