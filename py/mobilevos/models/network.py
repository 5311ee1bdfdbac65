"""The space-time-memory network (STM / STCN / XMem family) behind both the student and the teacher.

The network holds weights only and exposes named stages, which map one-to-one onto the exported ONNX graphs:

    encode_key(image)                 -> Features(key, f16, f8, f4)
    encode_value(image, feats, masks) -> value [B, N, CV, h, w]
    segment(feats, mem_keys, mem_vals)-> Segmentation(probs [B,N+1,H,W], logits [B,N+1,H,W], embed [B,N,C,H/4,W/4])

`forward` is deliberately not the API (it raises): the memory policy lives outside the network
(`mobilevos.track.MemoryBank` at inference, the clip unroll in `mobilevos.train`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from mobilevos.models import memory
from mobilevos.models.efficientnet_lite import PIXEL_MEAN, PIXEL_STD, EfficientNetLite, is_pruned, load_pretrained
from mobilevos.models.fast_encoder import build_fast_encoder
from mobilevos.models.modules import BackboneValueEncoder, Decoder, LightValueEncoder


@dataclass
class NetworkConfig:
    """Architecture of one network; saved in every checkpoint so it can be rebuilt without guessing from weights."""

    kind: str = "student"  # "student" (light value path, finite memory) or "teacher" (value backbone, growing memory)
    # key encoder: an EfficientNet-Lite variant, or "fast-<design>", a dense encoder for WASM (models/fast_encoder.py)
    backbone: str = "lite0"
    backbone_blocks: int = 11  # keep blocks [0, backbone_blocks): 11 = Lite0 up to stride 16 (112 channels)
    # share of each expanding Lite block's expanded channels kept (one for all, or one per block): < 1 is a key encoder
    # pruned for WASM, whose weights come from a trained network (`mobilevos prune`), since no ImageNet weights fit it
    backbone_share: float | tuple[float, ...] = 1.0
    # Lite's 5x5 depthwise kernels cut to this size (e.g. 3; None keeps them): in onnxruntime-web's WASM kernels a
    # depthwise convolution costs per tap (im2col per channel), so 3x3 costs ~9/25 of 5x5. Also from `mobilevos prune`.
    backbone_max_kernel: int | None = None
    value_backbone: str = "lite0"  # teacher only: the value encoder's EfficientNet-Lite ...
    value_backbone_blocks: int = 8  # ... cut after this many blocks (8 = Lite0 to stride 16, 80 channels)
    key_dim: int = 64
    value_dim: int = 128
    decoder_widths: tuple[int, int, int] = (128, 64, 32)  # channels at 1/16, 1/8, 1/4
    separable: bool = True  # depthwise-separable decoder/value convs (student) or plain 3x3 (teacher)
    pretrained: bool = True  # ImageNet-initialised backbones (from the PyPI weight packages)
    # The decoder also reads the newest memory entry's value *in place* (no attention), next to the attention
    # readout, as XMem feeds its sensory memory straight to the decoder: the previous frame's mask, aligned, is the
    # strongest prior a tracker has (copying the previous ground-truth mask scores 80.2 J&F on davis16-val) and the
    # 1/16 attention readout blurs it. Free at inference: the previous entry is already a graph input.
    previous_value: bool = False
    value_gating: bool = False  # mask-gated image features in the value path (see LightValueEncoder)

    def key_encoder_pruned(self) -> bool:
        """Is the Lite key encoder cut (channels or kernels), so that its weights come from `mobilevos prune`?"""
        return is_pruned(self.backbone_share) or self.backbone_max_kernel is not None


# Boolean paths `checkpoint.grow_state` can add to a trained network without changing its function (--init).
GROWABLE_PATHS = ("previous_value", "value_gating")


def student_config(**overrides) -> NetworkConfig:
    """The shipped student's architecture (overrides for ablations)."""
    return NetworkConfig(**{"previous_value": True, "value_gating": True, **overrides})


def teacher_config(**overrides) -> NetworkConfig:
    """The teacher: Lite2 key encoder to stride 16, a truncated Lite0 value encoder, a wider plain-conv decoder, and
    the student's two memory paths (mask-gated values, the previous value in place)."""
    base = dict(
        kind="teacher",
        backbone="lite2",
        backbone_blocks=15,
        value_backbone="lite0",
        key_dim=64,
        value_dim=256,
        decoder_widths=(192, 96, 48),
        separable=False,
        value_gating=True,
        previous_value=True,
    )
    base.update(overrides)
    return NetworkConfig(**base)


class Features(NamedTuple):
    """Per-frame image features: the key and the skip features the decoder and value encoder reuse."""

    key: torch.Tensor  # [B, CK, h, w]
    f16: torch.Tensor
    f8: torch.Tensor
    f4: torch.Tensor
    image: torch.Tensor  # normalised image [B, 3, H, W] (the teacher's value encoder reads it)


class Segmentation(NamedTuple):
    probs: torch.Tensor  # [B, N+1, H, W] probabilities after soft aggregation (softmax of logits), background first
    logits: torch.Tensor  # [B, N+1, H, W] aggregated logits, background first
    embed: torch.Tensor  # [B, N, C, H/4, W/4] decoder embedding (representation distillation)

    @property
    def prob(self) -> torch.Tensor:
        """[B, N, H, W] the objects' probabilities."""
        return self.probs[:, 1:]


class SpaceTimeNetwork(nn.Module):
    """Key encoder + value encoder + memory read + decoder. See the module docstring for the stage API."""

    stride = 16

    def __init__(self, cfg: NetworkConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD), persistent=False)
        if cfg.backbone.startswith("fast-"):
            # no ImageNet weights exist for it: it starts from a feature distillation (`train.init_encoder`)
            self.backbone = build_fast_encoder(cfg.backbone.removeprefix("fast-"))
            self.taps = self.backbone.taps
            f4, f8, f16 = self.backbone.channels
        else:
            self.backbone = EfficientNetLite(
                cfg.backbone, cfg.backbone_blocks, share=cfg.backbone_share, max_kernel=cfg.backbone_max_kernel
            )
            if self.backbone.info[-1].stride != 16:
                raise ValueError(f"backbone_blocks={cfg.backbone_blocks} does not end at stride 16")
            if cfg.pretrained and not cfg.key_encoder_pruned():
                load_pretrained(self.backbone, cfg.backbone)
            self.taps = tuple(self.backbone.last_block_with_stride(s) for s in (4, 8, 16))
            f4, f8, f16 = (self.backbone.info[t].channels for t in self.taps)
        self.feature_dims = (f16, f8, f4)  # channels of Features.f16, f8, f4 (what a prompt head reads)
        self.key_proj = nn.Conv2d(f16, cfg.key_dim, 1)
        if cfg.kind == "student":
            self.value_encoder = LightValueEncoder(f16, f8, f4, cfg.value_dim, cfg.separable, cfg.value_gating)
        elif cfg.kind == "teacher":
            vb = EfficientNetLite(cfg.value_backbone, cfg.value_backbone_blocks, in_channels=5)
            if cfg.pretrained:
                load_pretrained(vb, cfg.value_backbone)
            self.value_encoder = BackboneValueEncoder(vb, f16, cfg.value_dim, cfg.value_gating)
        else:
            raise ValueError(f"unknown network kind {cfg.kind!r} (student or teacher)")
        self.decoder = Decoder(f16, f8, f4, cfg.value_dim, cfg.decoder_widths, cfg.separable, cfg.previous_value)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("use encode_key / encode_value / segment (see mobilevos.track for inference)")

    def encode_key(self, image: torch.Tensor) -> Features:
        """Features of an RGB image [B, 3, H, W] in [0, 1]; H and W must be multiples of 16."""
        if image.shape[-1] % self.stride or image.shape[-2] % self.stride:
            raise ValueError(f"image size {tuple(image.shape[-2:])} is not a multiple of {self.stride}")
        x = (image - self.pixel_mean) / self.pixel_std
        f4, f8, f16 = self.backbone.forward_features(x, self.taps)
        return Features(self.key_proj(f16), f16, f8, f4, x)

    def encode_value(self, feats: Features, masks: torch.Tensor) -> torch.Tensor:
        """Memory values [B, N, CV, h, w] of a frame from its features and per-object masks [B, N, H, W] in [0, 1]."""
        return self.value_encoder(feats.image, feats.f16, feats.f8, feats.f4, masks)

    def segment(
        self,
        feats: Features,
        mem_keys: torch.Tensor,
        mem_values: torch.Tensor,
        valid: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
    ) -> Segmentation:
        """Read memory (keys [B, CK, T, h, w], values [B, N, CV, T, h, w]) for the query frame and decode.

        The last memory entry must be the previous frame's (the order `MemoryBank.read` and training use): with
        `previous_value` the decoder also reads its value in place — or `previous` [B, N, CV, h, w] when given (the
        zoom tracker passes it resampled into the query frame's crop). `valid` [B, N] (optional) zeroes padded
        object slots before aggregation, for fixed-size object batches.
        """
        readout = memory.read_memory(feats.key, mem_keys, mem_values)
        if not self.cfg.previous_value:
            previous = None
        elif previous is None:
            previous = mem_values[:, :, :, -1]
        obj_logits, embed = self.decoder(feats.f16, feats.f8, feats.f4, readout, previous)
        prob = torch.sigmoid(obj_logits)
        if valid is not None:
            prob = prob * valid[:, :, None, None].to(prob.dtype)
        return Segmentation(*memory.aggregate(prob), embed)


def build_network(cfg: NetworkConfig) -> SpaceTimeNetwork:
    """A network from its config (library entry point; `mobilevos.models.checkpoint.load_network` adds the weights)."""
    return SpaceTimeNetwork(cfg)
