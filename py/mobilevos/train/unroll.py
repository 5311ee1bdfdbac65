"""A clip unrolled through a network with a memory rule (`mobilevos.memory_rule`), the teacher's view of it, and the
loss terms built on it."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mobilevos.memory_rule import STUDENT, TEACHER_TRAINING
from mobilevos.models.network import Features, Segmentation, SpaceTimeNetwork
from mobilevos.models.prompt_head import PromptHead
from mobilevos.track import MemoryBank
from mobilevos.train import losses
from mobilevos.train.config import DistillConfig
from mobilevos.train.prompt import MIN_OBJECT_PIXELS, PromptTrainConfig, mask_loss, simulate_prompts


class ClipUnroll(nn.Module):
    """Training wrapper (DDP wraps this): unrolls a clip through the network with a memory rule, the student's
    inference rule (`finite_memory`) or `TEACHER_TRAINING` (every earlier frame; its note says why).

    `features` holds the key encoder's features of the last clip ([B*T, ...]) for the feature-matching loss.
    """

    def __init__(self, net: SpaceTimeNetwork, finite_memory: bool):
        super().__init__()
        self.net = net
        self.rule = STUDENT if finite_memory else TEACHER_TRAINING
        self.features: Features | None = None

    def forward(self, images: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor) -> list[Segmentation]:
        """images [B, T, 3, H, W], masks [B, T, N, H, W] (only frame 0 is read), valid [B, N] -> T-1 segmentations."""
        b, t = images.shape[:2]
        feats = self.features = self.net.encode_key(images.flatten(0, 1))  # one backbone pass for the whole clip
        per_frame = [type(feats)(*(x.view(b, t, *x.shape[1:])[:, i] for x in feats)) for i in range(t)]
        memory = MemoryBank(self.rule)
        memory.reset(per_frame[0].key, self.net.encode_value(per_frame[0], masks[:, 0]))
        out = []
        for i in range(1, t):
            seg = self.net.segment(per_frame[i], *memory.read(), valid)
            out.append(seg)
            if i < t - 1:
                memory.update(per_frame[i].key, self.net.encode_value(per_frame[i], seg.prob), i)
        return out


def resize_segmentation(seg: Segmentation, size: tuple[int, int]) -> Segmentation:
    """`seg` averaged (or interpolated, when growing) onto an image grid of `size` (H, W); the embedding onto
    (H/4, W/4)."""
    mode = "area" if seg.logits.shape[-1] >= size[1] else "bilinear"
    resize = lambda x, s: F.interpolate(x, size=s, mode=mode)  # noqa: E731
    quarter = (size[0] // 4, size[1] // 4)
    embed = resize(seg.embed.flatten(1, 2), quarter).view(*seg.embed.shape[:3], *quarter)
    return Segmentation(resize(seg.probs, size), resize(seg.logits, size), embed)


def scaled_size(size: tuple[int, int], scale: float, stride: int = 16) -> tuple[int, int]:
    """`size` (H, W) times `scale`, each side rounded to a multiple of `stride` (at least one stride)."""
    return tuple(max(stride, round(x * scale / stride) * stride) for x in size)


def resize_clip(
    images: torch.Tensor, masks: torch.Tensor, void: torch.Tensor | None, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A clip (images [B, T, 3, H, W], masks [B, T, N, H, W], void [B, T, H, W] or None) on a grid of `size`.

    Growing interpolates (bilinear; masks soft). Shrinking antialiases the images, as a camera frame resized to a
    small model input should be, and keeps the masks binary as the data pipeline's are (a pixel is inside where at
    least half its area was) and void wherever any of a pixel's area was void."""
    b, t = images.shape[:2]
    size = tuple(size)
    if size[1] > images.shape[-1]:
        im = F.interpolate(images.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
        m = F.interpolate(masks.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
    else:
        im = F.interpolate(images.flatten(0, 1), size=size, mode="bilinear", align_corners=False, antialias=True)
        m = (F.interpolate(masks.flatten(0, 1), size=size, mode="area") >= 0.5).to(masks.dtype)
    if void is not None:
        void = (F.interpolate(void.flatten(0, 1)[:, None].float(), size=size, mode="area") > 0).view(b, t, *size)
    return im.view(b, t, *im.shape[1:]), m.view(b, t, *m.shape[1:]), void


def teacher_segmentations(
    unroll: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    valid: torch.Tensor,
    scale: float,
    size: tuple[int, int] | None = None,
) -> list[Segmentation]:
    """The teacher's segmentations of a clip seen at `scale` times its resolution (rounded to the stride), returned
    on the student's grid `size` (H, W; default: the clip's)."""
    size = tuple(size or images.shape[-2:])
    if scale != 1.0:
        images, masks, _ = resize_clip(images, masks, None, scaled_size(images.shape[-2:], scale))
    segs = unroll(images, masks, valid)
    if tuple(images.shape[-2:]) == size:
        return segs
    return [resize_segmentation(seg, size) for seg in segs]


def make_target(masks: torch.Tensor, void: torch.Tensor) -> torch.Tensor:
    """Index target [B, H, W] (0 background, k = slot k-1, IGNORE on void) from one-hot masks [B, N, H, W]."""
    full = torch.cat([(1 - masks.sum(1, keepdim=True)).clamp(0, 1), masks], 1)
    target = full.argmax(1)
    return target.masked_fill(void, losses.IGNORE)


def representation_term(seg_s, seg_t, masks, valid, void, proj, cfg: DistillConfig, gen) -> torch.Tensor:
    """Mean unified representation loss over the (image, object) pairs of one frame, on sampled 1/4-scale pixels."""
    m4 = F.avg_pool2d(masks, 4) > 0.5  # [B, N, h, w]
    void4 = F.max_pool2d(void[:, None].float(), 4)[:, 0] > 0
    total, count = 0.0, 0
    for b, n in valid.nonzero().tolist():
        idx = losses.sample_pixels(m4[b, n], cfg.samples, cfg.band_radius, cfg.boundary, gen, void4[b])
        z_s = proj(losses.gather_embeddings(seg_s.embed[b, n], idx))
        z_t = losses.gather_embeddings(seg_t.embed[b, n], idx) if seg_t is not None else None
        total = total + losses.representation_loss(z_s, z_t, m4[b, n].flatten()[idx].long(), cfg.omega)
        count += 1
    return total / max(count, 1)


def feature_term(student: Features, teacher: Features) -> torch.Tensor:
    """Mean over f4, f8 and f16 of the squared difference between student and teacher features, each channel
    divided by the teacher's standard deviation over the batch (so every tap and channel counts alike). A teacher
    that saw the clip at a higher resolution (`distill.student_scale`) has its features averaged onto the
    student's grid: the student learns what the larger view sees."""
    total = 0.0
    for s, t in zip((student.f4, student.f8, student.f16), (teacher.f4, teacher.f8, teacher.f16)):
        if s.shape[:2] != t.shape[:2] or any(a > b for a, b in zip(s.shape[2:], t.shape[2:])):
            raise ValueError(
                f"feature matching needs equal widths and a teacher grid at least the student's: student {s.shape}, "
                f"teacher {t.shape}"
            )
        if s.shape != t.shape:
            t = F.adaptive_avg_pool2d(t, s.shape[-2:])
        std = t.std(dim=(0, 2, 3)).clamp(min=1e-3)[None, :, None, None]
        total = total + (((s - t) / std) ** 2).mean()
    return total / 3


def click_term(
    head: PromptHead, features: Features, masks: torch.Tensor, valid: torch.Tensor, rng: np.random.Generator
) -> torch.Tensor:
    """The frozen prompt head's mask loss on the student's own features, for simulated clicks and boxes (as
    `mobilevos train prompt` makes them) on up to `PromptTrainConfig.batch` of the clip's (frame, object) pairs.

    Its gradient reaches only the key encoder: it keeps what the click head reads in features that tracking
    alone lets drift (a pruned student tracked as well as the one it was fine-tuned from, but its first click lost
    0.11 IoU). features: of the clip's frames [B*T, ...]; masks [B, T, N, H, W]; valid [B, N].
    """
    b, t, n, h, w = masks.shape
    flat = masks.flatten(0, 1)
    pixels = flat.flatten(2).sum(2)  # [B*T, N]
    pairs = [(i, k) for i in range(b * t) for k in range(n) if valid[i // t, k] and pixels[i, k] >= MIN_OBJECT_PIXELS]
    cfg = dataclasses.replace(PromptTrainConfig(), crop=(h, w), head=head.cfg)
    if not pairs:
        return masks.new_zeros(())
    if len(pairs) > cfg.batch:
        pairs = [pairs[j] for j in sorted(rng.choice(len(pairs), cfg.batch, replace=False))]
    frames = torch.tensor([i for i, _ in pairs])
    target = torch.stack([flat[i, k] for i, k in pairs])[:, None]
    feats = [x[frames] for x in (features.f16, features.f8, features.f4)]
    prompts = simulate_prompts(head, feats, target[:, 0].cpu().numpy() > 0.5, cfg, rng).to(masks.device)
    return mask_loss(head(*feats, prompts), target)
