"""Object-centred zoom: crop geometry, exact round trips between frame and crop, and a finite-memory tracker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobilevos.data.synth import generate_clip
from mobilevos.eval.command import parse_zoom
from mobilevos.models.network import build_network, student_config
from mobilevos.zoom import ZoomConfig, ZoomTracker, crop_box, crop_frame, resample_value, uncrop_prob

CFG = ZoomConfig(size=(160, 160), context=2.0, max_upscale=2.0, min_fraction=0.2)


def square_mask(shape=(240, 427), top=100, left=200, h=20, w=30) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[top : top + h, left : left + w] = 1
    return mask


def test_crop_is_centred_on_the_object_at_the_models_aspect_and_never_zooms_past_the_limit():
    x0, y0, w, h = crop_box(square_mask(), CFG)
    assert w / h == pytest.approx(1.0)
    # A 30x20 object at context 2 would give 60x60, but 160 model pixels over at most 2 per frame pixel: 80.
    assert h == pytest.approx(80.0)
    assert x0 + w / 2 == pytest.approx(215.0) and y0 + h / 2 == pytest.approx(110.0)
    wide = ZoomConfig(size=(160, 320), context=2.0, max_upscale=1.0)
    x0, y0, w, h = crop_box(square_mask(h=60, w=40), wide)
    assert w == pytest.approx(2 * h) and h == pytest.approx(160.0)  # context 120 < 160 / max_upscale 1.0


def test_crop_stays_inside_the_frame_and_falls_back_to_the_whole_frame():
    x0, y0, w, h = crop_box(square_mask(top=0, left=0, h=10, w=10), CFG)
    assert (x0, y0) == (0, 0)  # shifted in, not padded
    x0, y0, w, h = crop_box(square_mask(top=230, left=417, h=10, w=10), CFG)
    assert x0 + w == pytest.approx(427) and y0 + h == pytest.approx(240)
    # No object (lost): the whole 427x240 frame, letterboxed into the square input.
    assert crop_box(np.zeros((240, 427), np.uint8), CFG) == pytest.approx((0.0, -93.5, 427.0, 427.0))
    # A large object: never more than the letterboxed frame.
    assert crop_box(square_mask(top=10, left=10, h=220, w=400), CFG)[2:] == pytest.approx((427.0, 427.0))


def test_probabilities_map_back_onto_the_frame_exactly_and_outside_is_background():
    mask = square_mask()
    box = crop_box(mask, CFG)
    small = crop_frame(np.repeat(mask[..., None] * 255, 3, 2), box, CFG.size)[..., 0] > 127
    prob = np.stack([1.0 - small, small]).astype(np.float32)
    back = uncrop_prob(prob, box, mask.shape)
    assert back.shape == (2, 240, 427)
    assert np.array_equal(back[1] > 0.5, mask == 1)
    outside = np.ones(mask.shape, bool)
    outside[int(box[1]) + 1 : int(box[1] + box[3]) - 1, int(box[0]) + 1 : int(box[0] + box[2]) - 1] = False
    assert np.all(back[0][outside] == 1.0) and np.allclose(back.sum(0), 1.0, atol=1e-5)


def test_previous_value_is_resampled_into_the_new_crop():
    value = torch.arange(16.0).view(1, 1, 1, 4, 4)
    same = (10.0, 20.0, 40.0, 40.0)
    assert torch.allclose(resample_value(value, same, same), value, atol=1e-5)
    # The new crop is the old one moved right by one feature cell (10 frame pixels): columns shift left by one.
    moved = resample_value(value, same, (20.0, 20.0, 40.0, 40.0))
    assert torch.allclose(moved[..., :3], value[..., 1:], atol=1e-5) and torch.all(moved[..., 3] == 0)


def test_zoom_tracker_keeps_two_memory_entries_and_answers_at_frame_size():
    torch.manual_seed(0)
    net = build_network(student_config(pretrained=False)).eval()
    frames, masks = generate_clip(5, 12, (48, 80))
    tracker = ZoomTracker(net, ZoomConfig(size=(32, 32)))
    tracker.start(frames[0], masks[0])
    for t in range(1, 12):
        out = tracker.step(frames[t])
        assert tracker.memory.num_entries == 2
    assert out.mask.shape == (48, 80) and out.prob.shape[1:] == (48, 80)
    assert np.allclose(out.prob.sum(0), 1.0, atol=1e-4)


def test_zoom_option_parsing():
    assert parse_zoom("192x256", 2.5) == ZoomConfig(size=(192, 256), context=2.5)
    assert parse_zoom(None, 2.0) is None
    with pytest.raises(ValueError, match="multiples of 16"):
        parse_zoom("100x100", 2.0)
    with pytest.raises(ValueError, match="must be HxW"):
        parse_zoom("big", 2.0)
