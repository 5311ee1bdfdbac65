"""Prompt-to-mask head: one object's mask from clicks and/or a box, on the student's frozen key-encoder features.

No second backbone: the head reads the f16/f8/f4 features `SpaceTimeNetwork.encode_key` already computes for
tracking, so marking an object costs a few MFLOPs on top of the frame's encoding (and the encoding is reused when
the user adds a click). Layout follows the student's decoder: fuse at 1/16, refine with skips at 1/8 and 1/4.

Prompt maps [B, 4, H, W] at the model's input resolution (`PROMPT_CHANNELS`): positive clicks and negative clicks
(max of Gaussians, 1 at a click), the box (filled, 1 inside) and the previous prediction (probability, 0 when
none), so each click corrects the mask the user sees. Click maps are max-pooled to each stride (a click must
survive the pooling), the box and previous mask average-pooled.

Only dense 3x3 and 1x1 convs at low resolution: depthwise convs are slow in onnxruntime-web's WASM backend.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from mobilevos.config import from_dict
from mobilevos.models.modules import upsample

PROMPT_CHANNELS = ("positive", "negative", "box", "previous")
_CLICK_CHANNELS = 2  # the first two prompt channels are max-pooled


@dataclass
class PromptHeadConfig:
    """Architecture of the head; stored in its weight file."""

    feature_dims: tuple[int, int, int] = (112, 40, 24)  # the key encoder's f16, f8, f4 channels (student Lite0)
    widths: tuple[int, int, int] = (48, 24, 16)  # channels at 1/16, 1/8, 1/4
    blocks16: int = 2  # residual 3x3 blocks at 1/16 (the second one dilated: the object's extent, cheaply)
    click_sigma: float = 5.0  # Gaussian radius of a click in pixels at the model's input resolution


class _Residual(nn.Module):
    """Two dense 3x3 convs with a skip."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


def pool_prompts(prompts: torch.Tensor, stride: int) -> torch.Tensor:
    """Prompt maps [B, 4, H, W] at 1/`stride`: clicks max-pooled, box and previous mask average-pooled."""
    clicks, rest = prompts[:, :_CLICK_CHANNELS], prompts[:, _CLICK_CHANNELS:]
    return torch.cat([F.max_pool2d(clicks, stride), F.avg_pool2d(rest, stride)], 1)


class PromptHead(nn.Module):
    """Mask logits [B, 1, H, W] from key-encoder features (f16, f8, f4) and prompt maps [B, 4, H, W]."""

    def __init__(self, cfg: PromptHeadConfig):
        super().__init__()
        self.cfg = cfg
        d16, d8, d4 = cfg.feature_dims
        w16, w8, w4 = cfg.widths
        p = len(PROMPT_CHANNELS)
        self.fuse16 = nn.Conv2d(d16 + p, w16, 1)
        self.blocks16 = nn.Sequential(*(_Residual(w16, dilation=1 + (i % 2)) for i in range(cfg.blocks16)))
        self.reduce8 = nn.Conv2d(w16, w8, 1)
        self.skip8 = nn.Conv2d(d8 + p, w8, 1)
        self.block8 = _Residual(w8)
        self.reduce4 = nn.Conv2d(w8, w4, 1)
        self.skip4 = nn.Conv2d(d4 + p, w4, 1)
        self.block4 = _Residual(w4)
        self.out = nn.Conv2d(w4, 1, 3, padding=1)

    def forward(self, f16: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """Logits at the prompts' (the model input's) resolution; the head works at 1/4 and upsamples bilinearly."""
        g = F.relu(self.fuse16(torch.cat([f16, pool_prompts(prompts, 16)], 1)))
        g = self.blocks16(g)
        g = upsample(self.reduce8(g), 2) + self.skip8(torch.cat([f8, pool_prompts(prompts, 8)], 1))
        g = self.block8(F.relu(g))
        g = upsample(self.reduce4(g), 2) + self.skip4(torch.cat([f4, pool_prompts(prompts, 4)], 1))
        g = self.block4(F.relu(g))
        return upsample(self.out(g), 4)


def save_head(path: str | Path, head: PromptHead, metadata: dict | None = None) -> None:
    """Write the head's weights with its config and `metadata` (JSON-serialisable) in the file's metadata."""
    state = {k: v.detach().float().contiguous() for k, v in head.state_dict().items()}
    meta = {"config": json.dumps(dataclasses.asdict(head.cfg)), "extra": json.dumps(metadata or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)


def read_head_metadata(path: str | Path) -> tuple[PromptHeadConfig, dict]:
    """The head config and extra metadata stored in a weight file written by `save_head`."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError(f"{path} has no head config in its metadata: not written by save_head")
    return from_dict(PromptHeadConfig, json.loads(meta["config"])), json.loads(meta.get("extra", "{}"))


def load_head(path: str | Path, device: str = "cpu") -> PromptHead:
    """Rebuild a head from a file written by `save_head`, in eval mode."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no prompt-head weights at {path}")
    cfg, _ = read_head_metadata(path)
    head = PromptHead(cfg)
    head.load_state_dict(load_file(str(path)), strict=True)
    return head.to(device).eval()
