"""The shipped weights (models/) segment what the annotation says, not the most salient thing in the frame.

Regression for the value paths that ignored their masks: the student and the teacher then returned the same
prediction for the true annotation, an empty one and its inverse (the breakdancer's whole audience came out as the
object). Here each shipped model reads a memory made of one frame annotated with its ground truth, and segments that
same frame: it must give the annotation back, and nothing for an empty annotation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobilevos.data.davis import load_frame, load_mask
from mobilevos.models.checkpoint import load_network
from mobilevos.track import model_size, resize_mask, to_tensor

# breakdance: a dancer in front of a crowd (saliency alone picks the crowd too); blackswan: a dark body on dark water.
SEQUENCES = ("breakdance", "blackswan")


def self_readout(net, davis_val, sequence: str, empty: bool) -> tuple[np.ndarray, np.ndarray]:
    """Prediction (bool, model resolution) for frame 0 from a memory of frame 0 with its (or an empty) annotation."""
    image = load_frame(davis_val / "JPEGImages" / sequence / "00000.jpg")
    gt = load_mask(davis_val / "Annotations" / sequence / "00000.png") > 0
    size = model_size(*image.shape[:2], 240)
    mask = torch.from_numpy(resize_mask(gt, size)).float()[None, None]
    with torch.no_grad():
        feats = net.encode_key(to_tensor(image, size))
        value = net.encode_value(feats, torch.zeros_like(mask) if empty else mask)
        prob = net.segment(feats, torch.stack([feats.key] * 2, 2), torch.stack([value] * 2, 3)).prob[0, 0]
    return prob.numpy() > 0.5, mask[0, 0].numpy() > 0.5


@pytest.mark.parametrize("name", ["student", "teacher", "student_fast", "student_pruned"])
def test_shipped_model_gives_the_annotation_back_and_nothing_for_an_empty_one(name, davis_val):
    net = load_network(name)
    for sequence in SEQUENCES:
        pred, gt = self_readout(net, davis_val, sequence, empty=False)
        iou = (pred & gt).sum() / (pred | gt).sum()
        assert iou > 0.6, f"{name} on {sequence}: IoU {iou:.2f} with its own annotation"
        pred, _ = self_readout(net, davis_val, sequence, empty=True)
        assert pred.mean() < 0.01, f"{name} on {sequence}: {pred.mean():.1%} of the frame for an empty annotation"
