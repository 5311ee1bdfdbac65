"""Test-time adaptation: before a video is tracked, a copy of the network is fine-tuned on its annotated frame alone,
as OSVOS fine-tunes on the first frame (issue 17: the teacher is the server-side model and may be slow).

The annotated frame is animated into pseudo-clips (`data.clips.animate_static`: the objects and the background drift
by their own random affine motions, then `colour_jitter` and a random flip), frame 0 being the annotated frame
itself. Each clip is unrolled through the copy exactly as in training (`train.unroll.ClipUnroll`: frame 0 encoded
with its annotation, later frames with their own predictions) and scored by the training loss (bootstrapped
cross-entropy + Dice, `train.losses.segmentation_loss`), so the memory read and the decoder learn this object's and
this background's appearance. BatchNorm statistics stay frozen (the copy stays in eval mode), as in training.

The given network is never changed; `Tracker(net, adapt=AdaptConfig(steps=N))` adapts a fresh copy per `start`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from mobilevos.data.clips import VOID, animate_static, colour_jitter
from mobilevos.models.network import SpaceTimeNetwork

if TYPE_CHECKING:
    from mobilevos.train.unroll import ClipUnroll

# The training stack (mobilevos.train) is imported inside the functions that use it: its package imports the trainer,
# whose validation imports `mobilevos.eval.command`, which imports this module for its flags.

# The network's top-level parts, by attribute name, that `AdaptConfig.parts` may name.
PARTS = ("backbone", "key_proj", "value_encoder", "decoder")


@dataclass(frozen=True)
class AdaptConfig:
    """Test-time adaptation of one video's network (`steps=0`: off)."""

    steps: int = 0  # optimiser steps on the annotated frame's pseudo-clips
    lr: float = 1e-4  # Adam, constant over the few steps
    parts: tuple[str, ...] = ("decoder",)  # the parts (of PARTS) whose weights adapt; the rest stay as given
    batch: int = 2  # pseudo-clips per step
    clip_len: int = 3  # frames per pseudo-clip: the annotated frame and clip_len - 1 animated ones
    motion: float = 1.0  # spread of the pseudo-clips' motions, relative to training's static pseudo-videos
    top_p: float = 0.15  # bootstrapped cross-entropy over the hardest fraction of pixels, where training ends
    seed: int = 0  # the pseudo-clips' randomness: the same seed, frame and mask give the same adapted weights

    def __post_init__(self):
        unknown = set(self.parts) - set(PARTS)
        if self.steps < 0 or self.batch < 1 or self.clip_len < 2 or self.motion < 0 or not self.parts or unknown:
            raise ValueError(
                f"adaptation needs steps >= 0, batch >= 1, clip_len >= 2, motion >= 0 and parts from "
                f"{', '.join(PARTS)}: got {self}"
            )


def pseudo_clips(
    image: np.ndarray, mask: np.ndarray, objects: list[int], cfg: AdaptConfig, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """A batch of `cfg.batch` pseudo-clips of the annotated `image` (uint8 HxWx3) and index `mask`, as the training
    data gives them: images [B, T, 3, H, W] in [0, 1], one-hot masks [B, T, N, H, W] of `objects`, void [B, T, H, W]
    and valid [B, N]."""
    images, masks = [], []
    for _ in range(cfg.batch):
        frames, labels = animate_static(image, mask, cfg.clip_len, rng, cfg.motion)
        frames, labels = np.stack(frames).astype(np.float32) / 255.0, np.stack(labels)
        if rng.random() < 0.5:
            frames, labels = frames[:, :, ::-1], labels[:, :, ::-1]
        images.append(colour_jitter(frames, rng))
        masks.append(labels)
    labels = np.stack(masks)  # [B, T, H, W]
    one_hot = np.stack([labels == k for k in objects], 2).astype(np.float32)
    return {
        "images": torch.from_numpy(np.stack(images).transpose(0, 1, 4, 2, 3).copy()),
        "masks": torch.from_numpy(one_hot),
        "void": torch.from_numpy(labels == VOID),
        "valid": torch.ones(cfg.batch, len(objects), dtype=torch.bool),
    }


def adaptation_loss(unroll: ClipUnroll, batch: dict[str, torch.Tensor], top_p: float) -> torch.Tensor:
    """The training segmentation loss (bootstrapped CE + Dice), averaged over the frames after the first."""
    from mobilevos.train import losses
    from mobilevos.train.unroll import make_target

    masks, void, valid = batch["masks"], batch["void"], batch["valid"]
    segs = unroll(batch["images"], masks, valid)
    total = sum(
        losses.segmentation_loss(
            seg.logits, seg.prob, masks[:, i], valid, make_target(masks[:, i], void[:, i]), void[:, i], top_p
        )
        for i, seg in enumerate(segs, start=1)
    )
    return total / len(segs)


def adapt_network(
    net: SpaceTimeNetwork,
    image: np.ndarray,
    mask: np.ndarray,
    objects: list[int],
    cfg: AdaptConfig,
    finite_memory: bool,
) -> SpaceTimeNetwork:
    """A copy of `net`, in eval mode, fine-tuned for `cfg.steps` steps on pseudo-clips of the annotated frame
    (`image` uint8 HxWx3 and index `mask` at the model's input size; `objects` the ids to track, in slot order),
    unrolled with the student's finite memory (`finite_memory`) or the teacher's training rule. `net` is unchanged."""
    from mobilevos.train.unroll import ClipUnroll

    device = next(net.parameters()).device
    rng = np.random.default_rng(cfg.seed)
    with torch.inference_mode(False), torch.enable_grad():  # the tracker's calls run in inference mode
        tuned = copy.deepcopy(net).eval()
        for name, module in tuned.named_children():
            module.requires_grad_(name in cfg.parts)
        opt = torch.optim.Adam([p for p in tuned.parameters() if p.requires_grad], lr=cfg.lr)
        unroll = ClipUnroll(tuned, finite_memory)
        for _ in range(cfg.steps):
            batch = {k: v.to(device) for k, v in pseudo_clips(image, mask, objects, cfg, rng).items()}
            loss = adaptation_loss(unroll, batch, cfg.top_p)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        tuned.requires_grad_(False)
    return tuned
