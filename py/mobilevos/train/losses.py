"""Training losses: supervised segmentation, logit distillation, and MobileVOS's unified representation loss on
pixels sampled near object boundaries.

Shapes: aggregated logits [B, N+1, H, W] (background first); targets [B, H, W] long with IGNORE for void pixels;
embeddings [B, N, C, h, w] per object (the decoder's 1/4-scale features).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def bootstrapped_ce(logits: torch.Tensor, target: torch.Tensor, top_p: float = 1.0) -> torch.Tensor:
    """Cross-entropy averaged over the hardest `top_p` fraction of (non-void) pixels of each image."""
    loss = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none").flatten(1)  # [B, HW]
    if top_p >= 1.0:
        valid = (target != IGNORE).flatten(1)
        return (loss.sum(1) / valid.sum(1).clamp(min=1)).mean()
    k = max(1, int(top_p * loss.shape[1]))
    return loss.topk(k, dim=1).values.mean()


def dice_loss(
    prob: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor, void: torch.Tensor | None = None, smooth: float = 1.0
) -> torch.Tensor:
    """1 - soft Dice per object [B, N, H, W], averaged over valid object slots (void pixels excluded)."""
    if void is not None:
        keep = (~void).unsqueeze(1).to(prob.dtype)
        prob, masks = prob * keep, masks * keep
    inter = (prob * masks).flatten(2).sum(-1)
    total = prob.flatten(2).sum(-1) + masks.flatten(2).sum(-1)
    dice = 1 - (2 * inter + smooth) / (total + smooth)
    w = valid.to(dice.dtype)
    return (dice * w).sum() / w.sum().clamp(min=1)


def segmentation_loss(logits, prob, masks, valid, target, void=None, top_p: float = 1.0) -> torch.Tensor:
    """Bootstrapped cross-entropy on the aggregated logits plus Dice on the per-object probabilities."""
    return bootstrapped_ce(logits, target, top_p) + dice_loss(prob, masks, valid, void)


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Per-pixel KL(teacher || student) over the N+1 classes at temperature T (scaled by T^2), void excluded."""
    log_s = F.log_softmax(student_logits / temperature, 1)
    log_t = F.log_softmax(teacher_logits / temperature, 1)
    kl = (log_t.exp() * (log_t - log_s)).sum(1)  # [B, H, W]
    keep = (target != IGNORE).to(kl.dtype)
    return (kl * keep).sum() / keep.sum().clamp(min=1) * temperature**2


def boundary_band(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Pixels within `radius` of a boundary of a binary mask [..., H, W] (dilation minus erosion)."""
    m = mask.float().unsqueeze(0) if mask.dim() == 2 else mask.float()
    k = 2 * radius + 1
    dilated = F.max_pool2d(m, k, stride=1, padding=radius)
    eroded = -F.max_pool2d(-m, k, stride=1, padding=radius)
    band = dilated > eroded
    return band.squeeze(0) if mask.dim() == 2 else band


def sample_pixels(
    mask: torch.Tensor,
    num: int,
    radius: int,
    boundary: bool,
    generator: torch.Generator | None = None,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """`num` flat pixel indices of an [H, W] mask: boundary-band pixels first (random order), topped up at random.

    With `boundary=False` all pixels are drawn uniformly (the ablation). `exclude` (void) pixels are never drawn.
    """
    h, w = mask.shape
    allowed = torch.ones(h * w, dtype=torch.bool, device=mask.device)
    if exclude is not None:
        allowed &= ~exclude.flatten()
    band = boundary_band(mask, radius).flatten() & allowed if boundary else torch.zeros_like(allowed)
    order = torch.randperm(h * w, generator=generator, device="cpu").to(mask.device)
    # A stable sort on the priority puts band pixels first and keeps the random order within each group.
    priority = torch.where(band[order], 0, torch.where(allowed[order], 1, 2))
    ranked = order[torch.sort(priority, stable=True).indices]
    return ranked[: min(num, int(allowed.sum()))]


def representation_loss(
    z_s: torch.Tensor, z_t: torch.Tensor | None, labels: torch.Tensor, omega: float, eps: float = 1e-8
) -> torch.Tensor:
    """MobileVOS's unified loss for P sampled pixels: L = log2 |C_s|_F^2 - log2 |C_s * C_ty|_F^2.

    z_s [P, C] (already projected), z_t [P, C'] (None when omega = 0), labels [P] long class ids. C_s and C_t are
    correlations of L2-normalised embeddings; C_ty = omega C_t + (1 - omega) Y Y^T with Y the one-hot labels.
    omega = 0 is supervised pixel-wise contrastive learning, omega = 1 pure representation distillation.
    """
    zs = F.normalize(z_s, dim=1)
    c_s = zs @ zs.T
    c_y = (labels[:, None] == labels[None, :]).to(c_s.dtype)
    if omega > 0:
        if z_t is None:
            raise ValueError("omega > 0 needs teacher embeddings")
        zt = F.normalize(z_t, dim=1)
        c_ty = omega * (zt @ zt.T) + (1 - omega) * c_y
    else:
        c_ty = c_y
    return torch.log2(c_s.pow(2).sum() + eps) - torch.log2((c_s * c_ty).pow(2).sum() + eps)


def gather_embeddings(embed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Embeddings [C, h, w] at flat pixel indices [P] -> [P, C]."""
    return embed.flatten(1)[:, index].T
