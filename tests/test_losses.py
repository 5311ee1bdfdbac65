"""Losses on hand-built tensors: the unified representation loss, boundary sampling, CE/Dice and KD."""

from __future__ import annotations

import pytest
import torch

from mobilevos.train import losses


def onehot_embeddings(labels: torch.Tensor, dim: int = 4) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, dim).float()


def test_representation_loss_is_zero_when_student_matches_label_target_and_higher_otherwise():
    labels = torch.tensor([0, 0, 1, 1, 1, 0])
    matched = losses.representation_loss(onehot_embeddings(labels), None, labels, omega=0.0)
    assert matched.item() == pytest.approx(0.0, abs=1e-5)
    torch.manual_seed(0)
    random = losses.representation_loss(torch.randn(6, 4), None, labels, omega=0.0)
    collapsed = losses.representation_loss(torch.ones(6, 4), None, labels, omega=0.0)
    assert random.item() > 0.3 and collapsed.item() > matched.item() + 0.5
    # All pairs equally correlated: |C_s|^2 = 36, |C_s * YY^T|^2 = 18 same-label pairs -> log2(36/18) = 1
    assert collapsed.item() == pytest.approx(1.0, abs=1e-5)


def test_omega_moves_the_target_from_labels_to_teacher():
    labels = torch.tensor([0, 0, 1, 1])
    teacher = torch.tensor([[1.0, 0], [0, 1], [0, 1], [1, 0]])  # the teacher groups pixels 1,2 and 0,3
    student_like_teacher = teacher.clone()
    student_like_labels = onehot_embeddings(labels)
    # omega = 1: pure distillation, the student that copies the teacher wins
    assert losses.representation_loss(student_like_teacher, teacher, labels, 1.0) < losses.representation_loss(
        student_like_labels, teacher, labels, 1.0
    )
    # omega = 0: supervised contrastive, the student that follows the labels wins (teacher ignored)
    assert losses.representation_loss(student_like_labels, teacher, labels, 0.0) < losses.representation_loss(
        student_like_teacher, teacher, labels, 0.0
    )
    assert losses.representation_loss(student_like_teacher, teacher, labels, 1.0).item() == pytest.approx(0, abs=1e-5)
    with pytest.raises(ValueError, match="teacher"):
        losses.representation_loss(student_like_labels, None, labels, 0.5)


def test_boundary_sampling_returns_only_band_pixels_when_enough_exist():
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[8:24, 8:24] = True
    band = losses.boundary_band(mask, 2)
    gen = torch.Generator().manual_seed(0)
    idx = losses.sample_pixels(mask, 64, 2, True, gen)
    assert len(idx) == 64 and len(set(idx.tolist())) == 64
    assert band.flatten()[idx].all()
    # the band (20x20 dilated square minus the 12x12 eroded one) has 256 pixels: asking for more tops up
    n_band = int(band.sum())
    idx = losses.sample_pixels(mask, n_band + 50, 2, True, gen)
    assert int(band.flatten()[idx].sum()) == n_band and len(idx) == n_band + 50
    uniform = losses.sample_pixels(mask, 64, 2, False, gen)
    assert band.flatten()[uniform].float().mean() < 0.6  # uniform draws mostly miss a 25% band


def test_sampling_skips_excluded_pixels_and_handles_empty_masks():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    exclude = torch.zeros(8, 8, dtype=torch.bool)
    exclude[:4] = True
    idx = losses.sample_pixels(mask, 100, 1, True, torch.Generator().manual_seed(1), exclude)
    assert len(idx) == 32 and not exclude.flatten()[idx].any()


def test_losses_are_finite_and_differentiable_without_objects():
    logits = torch.randn(1, 2, 8, 8, requires_grad=True)
    prob = torch.softmax(logits, 1)[:, 1:]
    masks = torch.zeros(1, 1, 8, 8)
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    valid = torch.tensor([[True]])
    z = torch.randn(16, 4, requires_grad=True)
    total = (
        losses.segmentation_loss(logits, prob, masks, valid, target, top_p=0.2)
        + losses.kd_loss(logits, torch.randn(1, 2, 8, 8), target, 2.0)
        + losses.representation_loss(z, torch.randn(16, 4), torch.zeros(16, dtype=torch.long), 0.8)
    )
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logits.grad).all() and torch.isfinite(z.grad).all()


def test_kd_is_zero_for_identical_logits_and_ignores_void():
    logits = torch.randn(2, 3, 4, 4)
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    assert losses.kd_loss(logits, logits, target).item() == pytest.approx(0, abs=1e-6)
    other = logits.clone()
    other[:, :, 0, 0] += 5
    target[:, 0, 0] = losses.IGNORE
    assert losses.kd_loss(logits, other, target).item() == pytest.approx(0, abs=1e-6)


def test_bootstrapped_ce_averages_the_hardest_pixels():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 1, 0, :2] = 10.0  # two confident correct pixels, two uncertain ones
    target = torch.ones(1, 1, 4, dtype=torch.long)
    full = losses.bootstrapped_ce(logits, target, 1.0)
    hard = losses.bootstrapped_ce(logits, target, 0.5)
    assert hard.item() == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=1e-4)
    assert full.item() < hard.item()


def test_dice_counts_only_valid_slots():
    prob = torch.zeros(1, 2, 4, 4)
    masks = torch.zeros(1, 2, 4, 4)
    prob[0, 0], masks[0, 0] = 1.0, 1.0  # slot 0 perfect
    prob[0, 1] = 1.0  # slot 1 wrong, but padding
    assert losses.dice_loss(prob, masks, torch.tensor([[True, False]])).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.dice_loss(prob, masks, torch.tensor([[True, True]])).item() > 0.4
