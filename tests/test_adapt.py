"""Test-time adaptation (`mobilevos.adapt`): it learns the annotated frame, leaves the given weights alone, is
reproducible from its seed, adapts only the parts it is told to, and reaches `mobilevos eval` through --tta-*."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mobilevos.adapt import AdaptConfig, adapt_network, adaptation_loss, pseudo_clips
from mobilevos.cli import main
from mobilevos.data.synth import generate_clip
from mobilevos.data.synth_writer import write_dataset
from mobilevos.models.checkpoint import load_network, save_network
from mobilevos.models.network import build_network, student_config
from mobilevos.track import Tracker
from mobilevos.train.unroll import ClipUnroll

FAST = AdaptConfig(steps=10, lr=1e-3)  # few steps at a high rate: a clear effect in a second on 64x96 frames


@pytest.fixture(scope="module")
def student():
    return load_network("student")


@pytest.fixture(scope="module")
def clip():
    """A synthetic clip on which the shipped student loses both objects after frame 1 without adaptation."""
    return generate_clip(4, 6, (64, 96))


def mean_iou(tracker: Tracker, frames: np.ndarray, masks: np.ndarray) -> float:
    tracker.start(frames[0], masks[0])
    ious = []
    for t in range(1, len(frames)):
        pred = tracker.step(frames[t]).mask
        ious += [np.sum((pred == k) & (masks[t] == k)) / max(np.sum((pred == k) | (masks[t] == k)), 1) for k in (1, 2)]
    return float(np.mean(ious))


def test_adaptation_lowers_the_loss_on_unseen_pseudo_clips_of_the_frame(student, clip):
    frames, masks = clip
    held_out = pseudo_clips(frames[0], masks[0], [1, 2], AdaptConfig(batch=4), np.random.default_rng(99))
    tuned = adapt_network(student, frames[0], masks[0], [1, 2], FAST, finite_memory=True)
    with torch.no_grad():
        before = adaptation_loss(ClipUnroll(student, True), held_out, FAST.top_p).item()
        after = adaptation_loss(ClipUnroll(tuned, True), held_out, FAST.top_p).item()
    assert after < 0.5 * before  # measured 3.20 -> 0.99 when written


def test_adapted_tracker_follows_the_objects_the_given_weights_lose(student, clip):
    frames, masks = clip
    plain = mean_iou(Tracker(student, short_side=64), frames, masks)
    adapted = mean_iou(Tracker(student, short_side=64, adapt=FAST), frames, masks)
    assert plain < 0.15 and adapted > plain + 0.25  # measured 0.07 -> 0.51 when written


def test_the_given_weights_are_untouched_and_each_video_adapts_afresh(student, clip):
    frames, masks = clip
    before = {k: v.clone() for k, v in student.state_dict().items()}
    tracker = Tracker(student, short_side=64, adapt=AdaptConfig(steps=2, lr=1e-3))
    tracker.start(frames[0], masks[0])
    first = tracker.net
    tracker.step(frames[1])
    assert first is not student and tracker.weights is student
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in before.items())
    tracker.start(frames[0], masks[0])
    assert tracker.net is not first  # a new copy of the given weights, not a further adaptation of the last one
    assert Tracker(student, adapt=AdaptConfig(steps=0)).adapt is None


def test_the_same_seed_gives_the_same_weights_and_another_seed_others(student, clip):
    frames, masks = clip
    cfg = AdaptConfig(steps=2, lr=1e-3)
    a, b = (adapt_network(student, frames[0], masks[0], [1, 2], cfg, True).state_dict() for _ in range(2))
    c = adapt_network(student, frames[0], masks[0], [1, 2], AdaptConfig(steps=2, lr=1e-3, seed=1), True).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_only_the_named_parts_adapt(student, clip):
    frames, masks = clip
    tuned = adapt_network(student, frames[0], masks[0], [1, 2], AdaptConfig(steps=2, lr=1e-3), True).state_dict()
    original = student.state_dict()
    changed = {k.split(".")[0] for k in original if not torch.equal(original[k], tuned[k])}
    assert changed == {"decoder"}
    with pytest.raises(ValueError, match="parts from"):
        AdaptConfig(parts=("head",))


def test_motion_scales_the_pseudo_clips_warps(clip):
    frames, masks = clip

    def moved(motion: float) -> float:
        """Mean share of pixels whose labels differ between a pseudo-clip's first and last frame."""
        cfg = AdaptConfig(batch=8, motion=motion)
        batch = pseudo_clips(frames[0], masks[0], [1, 2], cfg, np.random.default_rng(0))
        return (batch["masks"][:, -1] != batch["masks"][:, 0]).float().mean().item()

    assert moved(0.0) == 0.0 and 0.0 < moved(1.0) < moved(3.0)


def test_eval_adapts_with_tta_flags_and_records_the_setting(tmp_path, capsys):
    data = tmp_path / "synth"
    write_dataset(data, videos=1, frames=4, size=(48, 64), seed=5)
    torch.manual_seed(0)
    ckpt = tmp_path / "student.safetensors"
    save_network(ckpt, build_network(student_config(pretrained=False)))
    out = tmp_path / "results.json"
    args = ["eval", "--data", str(data), "--model", str(ckpt), "--short-side", "48", "--out", str(out)]
    assert main([*args, "--tta-steps", "2", "--tta-lr", "1e-3", "--tta-parts", "decoder,value_encoder"]) == 0
    assert "s/video" in capsys.readouterr().out
    tracking = json.loads(out.read_text())["tracking"]
    assert tracking["adapt"]["steps"] == 2 and tracking["adapt"]["parts"] == ["decoder", "value_encoder"]
    assert main([*args, "--tta-parts", "head", "--tta-steps", "1"]) == 2
    assert main([*args, "--zoom", "32x32", "--tta-steps", "1"]) == 2
