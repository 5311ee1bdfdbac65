"""Building blocks of the space-time-memory networks: conv blocks, value encoders and the mask decoder.

Naming: `f4`, `f8`, `f16` are image features at that stride (shared by all objects); `g*` are per-object features
with the objects folded into the batch dimension ([B*N, C, h, w]); `v` is a value [B, N, CV, h, w].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilevos.models.efficientnet_lite import EfficientNetLite


class ConvBlock(nn.Module):
    """Residual 3x3 block; depthwise-separable (the student's budget) or plain (the teacher's capacity)."""

    def __init__(self, channels: int, separable: bool):
        super().__init__()
        if separable:
            self.body = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                nn.Conv2d(channels, channels, 1),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
                nn.Conv2d(channels, channels, 1),
            )
        else:
            self.body = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels, 3, padding=1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear upsampling by an integer factor (align_corners=False everywhere, as ONNX Resize exports it)."""
    return F.interpolate(x, scale_factor=float(factor), mode="bilinear", align_corners=False)


def fold(x: torch.Tensor) -> torch.Tensor:
    """[B, N, ...] -> [B*N, ...]."""
    return x.flatten(0, 1)


def repeat_objects(x: torch.Tensor, n: int) -> torch.Tensor:
    """Image features [B, C, h, w] repeated per object: [B*N, C, h, w]."""
    return x.unsqueeze(1).expand(-1, n, -1, -1, -1).flatten(0, 1)


def others_mask(masks: torch.Tensor) -> torch.Tensor:
    """For each object, the union (sum, clipped) of the other objects' masks: [B, N, H, W]."""
    return (masks.sum(1, keepdim=True) - masks).clamp(0, 1)


class Decoder(nn.Module):
    """Per-object mask decoder: memory readout + query features at 1/16, refined with skips at 1/8 and 1/4.

    With `previous_value`, the previous frame's value [B, N, CV, h, w] is concatenated *last*, so a decoder without it
    is the same function as one with it whose extra `fuse16` input weights are zero (`checkpoint.grow_state`).
    Returns logits at input resolution and the 1/4-scale embedding the representation loss compares.
    """

    def __init__(
        self,
        f16_dim: int,
        f8_dim: int,
        f4_dim: int,
        value_dim: int,
        widths: tuple[int, int, int],
        separable: bool,
        previous_value: bool = False,
    ):
        super().__init__()
        w16, w8, w4 = widths
        self.fuse16 = nn.Conv2d(value_dim * (2 if previous_value else 1) + f16_dim, w16, 1)
        self.block16 = ConvBlock(w16, separable)
        self.reduce8 = nn.Conv2d(w16, w8, 1)
        self.skip8 = nn.Conv2d(f8_dim, w8, 1)
        self.block8 = ConvBlock(w8, separable)
        self.reduce4 = nn.Conv2d(w8, w4, 1)
        self.skip4 = nn.Conv2d(f4_dim, w4, 1)
        self.block4 = ConvBlock(w4, separable)
        self.embed_dim = w4
        self.head = nn.Conv2d(w4, 1, 3, padding=1)

    def forward(
        self, f16, f8, f4, readout: torch.Tensor, previous: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """logits [B, N, H, W] and embedding [B, N, C, H/4, W/4] from features, readout [B, N, CV, h, w] and (with
        `previous_value`) the previous frame's value [B, N, CV, h, w]."""
        b, n = readout.shape[:2]
        parts = [fold(readout), repeat_objects(f16, n)] + ([fold(previous)] if previous is not None else [])
        g = self.fuse16(torch.cat(parts, 1))
        g = self.block16(F.relu(g))
        g = upsample(self.reduce8(g), 2) + repeat_objects(self.skip8(f8), n)
        g = self.block8(g)
        g = upsample(self.reduce4(g), 2) + repeat_objects(self.skip4(f4), n)
        g = self.block4(g)
        logits = upsample(self.head(g), 4)
        return logits.view(b, n, *logits.shape[-2:]), g.view(b, n, *g.shape[1:])


class LightValueEncoder(nn.Module):
    """The student's value path: no second backbone; the masks are encoded at 1/4 and fused with the key encoder's
    f4/f8/f16 features on the way down to 1/16 (depthwise-separable, a few MFLOPs per object).

    `gated`: each stage also gets its image features multiplied by the object's mask at that scale. Without it the
    0/1 mask is a few channels next to features ~8x larger, and training found it cheaper to ignore the mask and
    segment the salient object (a value 0.1% away from the same frame's value with an empty mask); gated features
    cannot be separated from the mask. They come last, so `checkpoint.grow_state` can add them to an ungated model.
    """

    def __init__(
        self, f16_dim: int, f8_dim: int, f4_dim: int, value_dim: int, separable: bool = True, gated: bool = False
    ):
        super().__init__()
        self.gated = gated
        extra = 2 if gated else 1
        self.down8 = _down(2 + f4_dim * extra, 32)
        self.down16 = _down(32 + f8_dim * extra, 64)
        self.fuse16 = nn.Conv2d(64 + f16_dim * extra, value_dim, 1)
        self.block = ConvBlock(value_dim, separable)

    def forward(self, image: torch.Tensor, f16, f8, f4, masks: torch.Tensor) -> torch.Tensor:
        """Values [B, N, CV, h, w] from image features and per-object masks [B, N, H, W] (the image is unused)."""
        b, n = masks.shape[:2]
        m = torch.stack([masks, others_mask(masks)], 2).flatten(0, 1)  # [B*N, 2, H, W]
        m = F.avg_pool2d(m, 4)

        def with_features(g: torch.Tensor, f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            f = repeat_objects(f, n)
            return torch.cat([g, f, f * m[:, :1]] if self.gated else [g, f], 1)

        g = self.down8(with_features(m, f4, m))
        m = F.avg_pool2d(m, 2)
        g = self.down16(with_features(g, f8, m))
        m = F.avg_pool2d(m, 2)
        g = self.block(F.relu(self.fuse16(with_features(g, f16, m))))
        return g.view(b, n, *g.shape[1:])


def _down(cin: int, cout: int) -> nn.Sequential:
    """Stride-2 depthwise-separable conv + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride=2, padding=1, groups=cin), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True)
    )


class BackboneValueEncoder(nn.Module):
    """The teacher's value path: a second (smaller) EfficientNet-Lite on image + mask + other objects' masks, as XMem
    pairs a ResNet-18 value encoder with its ResNet-50 key encoder; fused with the key encoder's f16."""

    def __init__(self, backbone: EfficientNetLite, f16_dim: int, value_dim: int, gated: bool = False):
        super().__init__()
        self.backbone = backbone
        self.gated = gated  # also the key encoder's f16 multiplied by the mask at 1/16 (see LightValueEncoder)
        self.tap = backbone.last_block_with_stride(16)
        self.fuse16 = nn.Conv2d(backbone.info[self.tap].channels + f16_dim * (2 if gated else 1), value_dim, 1)
        self.block = ConvBlock(value_dim, separable=False)

    def forward(self, image: torch.Tensor, f16, f8, f4, masks: torch.Tensor) -> torch.Tensor:
        """Values [B, N, CV, h, w]; `image` is the normalised image [B, 3, H, W]."""
        b, n = masks.shape[:2]
        x = torch.cat([repeat_objects(image, n), fold(masks).unsqueeze(1), fold(others_mask(masks)).unsqueeze(1)], 1)
        g = self.backbone.forward_features(x, (self.tap,))[0]
        f = repeat_objects(f16, n)
        parts = [g, f, f * F.avg_pool2d(fold(masks).unsqueeze(1), 16)] if self.gated else [g, f]
        g = self.block(F.relu(self.fuse16(torch.cat(parts, 1))))
        return g.view(b, n, *g.shape[1:])
