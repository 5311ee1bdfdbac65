"""A key encoder for onnxruntime-web's WASM kernels: dense convolutions instead of depthwise ones (issue 18).

onnxruntime-web's WASM build has no depthwise kernel (a depthwise conv runs at a fifth to a sixth of a dense conv's
rate: im2col and a tiny GEMM per channel), while dense 3x3 convs reach the MatMul rate. This encoder keeps
the outputs of the student's EfficientNet-Lite0 key encoder (blocks 0-10: f4 24, f8 40, f16 112 channels at strides
4, 8, 16, same normalised input) so that it drops into `SpaceTimeNetwork.backbone`, and builds them from blocks whose
convolutions are all dense (measurements: docs/bench/encoder-candidates.md):

    stem    dense kxk convolutions down to stride 4 (no layer at full resolution beyond the first)
    stages  (kind, channels, depth, stride, expand, kernel) per stage; the tap of a stride is its last block's output
    kinds   "fused"  kxk conv cin -> expand*cin, 1x1 conv -> cout (EfficientNetV2's fused inverted residual)
            "basic"  two kxk convs (ResNet's basic block)
            "mb"     Lite0's own MBConv (depthwise), for hybrids that reuse Lite0's ImageNet blocks

It is initialised by regressing Lite0's features (`mobilevos.train.encoder_distill`), then fine-tuned with the student.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from mobilevos.models.efficientnet_lite import Conv2dSame, MBConv

TAP_STRIDES = (4, 8, 16)


@dataclass(frozen=True)
class FastEncoderConfig:
    """Architecture of a fast encoder; saved with its checkpoints so it is rebuilt without guessing from weights."""

    # (out channels, kernel, stride) of the dense stem convolutions; their strides multiply to the first stage's input
    stem: tuple[tuple[int, int, int], ...] = ((16, 3, 2), (24, 3, 2))
    # (kind, out channels, depth, stride of the first block, expand ratio, kernel) per stage
    stages: tuple[tuple[str, int, int, int, int, int], ...] = (
        ("basic", 40, 1, 2, 1, 3),
        ("basic", 112, 1, 2, 1, 3),
        ("fused", 112, 1, 1, 1, 3),
    )
    in_channels: int = 3
    # hybrids: for each "mb" layer in order, the Lite0 block (`EfficientNetLite._blocks` index) it starts from
    lite_blocks: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        """The config as plain data (stored as JSON in checkpoint metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FastEncoderConfig:
        """Inverse of `as_dict` (JSON turns the tuples into lists)."""
        return cls(
            stem=tuple(tuple(s) for s in d["stem"]),
            stages=tuple(tuple(s) for s in d["stages"]),
            in_channels=d.get("in_channels", 3),
            lite_blocks=tuple(d.get("lite_blocks", ())),
        )


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, act: bool = True) -> nn.Sequential:
    # TF-SAME padding for stride 2, as Lite0 pads, so the features stay aligned with the distillation targets.
    layers = [Conv2dSame(cin, cout, kernel, stride), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class FusedBlock(nn.Module):
    """Dense kxk expansion then 1x1 projection; residual when the shape is kept."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = max(8, cin * expand)
        self.body = nn.Sequential(_conv_bn(cin, mid, kernel, stride), _conv_bn(mid, cout, 1, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class BasicBlock(nn.Module):
    """Two dense kxk convolutions; residual when the shape is kept (no projection shortcut: it would cost a conv).
    The output is linear (no ReLU after the sum), as Lite0's blocks end: the taps regress Lite0's signed features."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        del expand  # the basic block has no expansion
        self.body = nn.Sequential(_conv_bn(cin, cout, kernel, stride), _conv_bn(cout, cout, kernel, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def _make_block(kind: str, cin: int, cout: int, kernel: int, stride: int, expand: int) -> nn.Module:
    if kind == "fused":
        return FusedBlock(cin, cout, kernel, stride, expand)
    if kind == "basic":
        return BasicBlock(cin, cout, kernel, stride, expand)
    if kind == "mb":
        return MBConv(cin, cout, kernel, stride, expand)
    raise ValueError(f"unknown block kind {kind!r} (fused, basic or mb)")


class FastEncoder(nn.Module):
    """Dense-convolution key encoder with the Lite0 key encoder's outputs (f4, f8, f16)."""

    def __init__(self, cfg: FastEncoderConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or FastEncoderConfig()
        layers, strides, channels = [], [], []
        cin, stride = cfg.in_channels, 1
        for i, (cout, kernel, s) in enumerate(cfg.stem):
            # The stem's last conv is linear like every block output (it is the f4 tap when the stem ends at 4).
            layers.append(_conv_bn(cin, cout, kernel, s, act=i < len(cfg.stem) - 1))
            cin, stride = cout, stride * s
            strides.append(stride)
            channels.append(cout)
        for kind, cout, depth, s, expand, kernel in cfg.stages:
            for j in range(depth):
                layers.append(_make_block(kind, cin, cout, kernel, s if j == 0 else 1, expand))
                cin, stride = cout, stride * (s if j == 0 else 1)
                strides.append(stride)
                channels.append(cout)
        # Stem convolutions and blocks in one list: a stem that ends at stride 4 provides the f4 tap itself.
        self.layers = nn.ModuleList(layers)
        missing = [s for s in TAP_STRIDES if s not in strides]
        if missing or strides[-1] != TAP_STRIDES[-1]:
            raise ValueError(f"layers reach strides {sorted(set(strides))}: need {TAP_STRIDES}, ending at 16")
        # The last layer at each stride is its tap, as `EfficientNetLite.last_block_with_stride` picks Lite0's.
        self.taps = tuple(max(i for i, st in enumerate(strides) if st == s) for s in TAP_STRIDES)
        self.strides = tuple(strides)  # output stride of each layer (what `freeze_early_blocks` reads)
        self.channels = tuple(channels[t] for t in self.taps)

    def forward_features(self, x: torch.Tensor, taps: tuple[int, ...] | None = None) -> list[torch.Tensor]:
        """[f4, f8, f16] of a normalised image (Lite0's normalisation); `taps` is accepted and ignored so that the
        encoder is called exactly as `EfficientNetLite.forward_features` is in `SpaceTimeNetwork.encode_key`."""
        del taps
        out = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Same as `forward_features(x)`."""
        return self.forward_features(x)


# The dense designs of docs/bench/encoder-candidates.md (same names). "e2", the default, is the chosen one: the f4 tap
# is the stem's output (two 3x3 stride-2 convs, as cheap as a 4x4 patch conv on these kernels), two convs at stride 8,
# and three 3x3 convs plus a 1x1 at stride 16, where the key and most of the decoder's input come from.
DESIGNS: dict[str, FastEncoderConfig] = {
    "e1": FastEncoderConfig(stages=(("basic", 40, 1, 2, 1, 3), ("basic", 112, 1, 2, 1, 3))),
    "e2": FastEncoderConfig(),
    "d2": FastEncoderConfig(stages=(("basic", 40, 1, 2, 1, 3), ("basic", 112, 2, 2, 1, 3))),
    # e2 and one more fused block at stride 16 (session 11): capacity where the page has time to spare (a 3x3 conv
    # on the 15x20 grid), grown from a trained e2 by `grow_encoder_state`.
    "e3": FastEncoderConfig(stages=(*FastEncoderConfig().stages, ("fused", 112, 1, 1, 1, 3))),
    # Hybrids (session 13): e2's dense front to stride 8, then Lite0's own blocks at stride 16, which keep their
    # ImageNet-trained weights (the dense e2's regression of Lite0 generalises at f4/f8 but not at f16). h6 keeps all
    # six stride-16 blocks (5-10), h4 drops the residual blocks 7 and 10 to save WASM time, h2 keeps only the two
    # that change shape; h8 keeps e2's stem alone (f4) and Lite0 from block 3 on.
    "h6": FastEncoderConfig(
        stages=(("basic", 40, 1, 2, 1, 3), ("mb", 80, 3, 2, 6, 3), ("mb", 112, 3, 1, 6, 5)),
        lite_blocks=(5, 6, 7, 8, 9, 10),
    ),
    "h4": FastEncoderConfig(
        stages=(("basic", 40, 1, 2, 1, 3), ("mb", 80, 2, 2, 6, 3), ("mb", 112, 2, 1, 6, 5)),
        lite_blocks=(5, 6, 8, 9),
    ),
    "h2": FastEncoderConfig(
        stages=(("basic", 40, 1, 2, 1, 3), ("mb", 80, 1, 2, 6, 3), ("mb", 112, 1, 1, 6, 5)), lite_blocks=(5, 8)
    ),
    "h8": FastEncoderConfig(
        stages=(("mb", 40, 2, 2, 6, 5), ("mb", 80, 3, 2, 6, 3), ("mb", 112, 3, 1, 6, 5)),
        lite_blocks=(3, 4, 5, 6, 7, 8, 9, 10),
    ),
}


def grow_encoder_state(enc: FastEncoder, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights `state` of a smaller design whose layers are `enc`'s first ones (e2 -> e3), completed into a state
    of `enc` that computes the same features: every added layer must be a residual block at the last tap's stride,
    and starts as the identity (the scale of its last BatchNorm at zero, as residual branches are often
    initialised), so fine-tuning starts from the smaller encoder's function."""
    own = enc.state_dict()
    if not set(state) <= set(own) or any(state[k].shape != own[k].shape for k in state):
        raise ValueError("the smaller encoder's layers are not the first layers of this one")
    added = sorted({int(k.split(".")[1]) for k in own if k not in state})
    if any(not getattr(enc.layers[i], "residual", False) or i < enc.taps[1] for i in added):
        raise ValueError(f"layers {added} are not all residual blocks after the f8 tap: they cannot start as identity")
    grown = dict(own) | state
    for i in added:
        last_bn = [n for n, m in enc.layers[i].named_modules() if isinstance(m, nn.BatchNorm2d)][-1]
        grown[f"layers.{i}.{last_bn}.weight"] = torch.zeros_like(own[f"layers.{i}.{last_bn}.weight"])
    return grown


def hybrid_encoder_state(
    enc: FastEncoder, dense: dict[str, torch.Tensor], lite: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """A state of hybrid `enc`: its dense layers (those before the first "mb" layer) from `dense`, the state of a
    distilled fast encoder whose first layers they are (e2 for h6/h4), and its "mb" layers from the Lite0 blocks its
    config names, taken from `lite`, an `EfficientNetLite` state (the Lite student's key encoder)."""
    mb = [i for i, layer in enumerate(enc.layers) if isinstance(layer, MBConv)]
    if not mb or len(mb) != len(enc.cfg.lite_blocks):
        raise ValueError(f"{len(mb)} MBConv layers and lite_blocks {enc.cfg.lite_blocks}: not a hybrid design")
    state = {}
    for key, own in enc.state_dict().items():
        i = int(key.split(".")[1])
        if i in mb:
            block = enc.cfg.lite_blocks[mb.index(i)]
            src, name = lite, key.replace(f"layers.{i}.", f"_blocks.{block}.", 1)
        else:
            src, name = dense, key
        if name not in src or src[name].shape != own.shape:
            raise ValueError(f"{key}: no weight {name} of shape {tuple(own.shape)} to start from")
        state[key] = src[name]
    return state


def build_fast_encoder(name_or_cfg: str | FastEncoderConfig = "e2") -> FastEncoder:
    """A fast encoder from a design name in `DESIGNS` or an explicit config."""
    if isinstance(name_or_cfg, str):
        if name_or_cfg not in DESIGNS:
            raise ValueError(f"unknown fast encoder design {name_or_cfg!r} (known: {', '.join(DESIGNS)})")
        name_or_cfg = DESIGNS[name_or_cfg]
    return FastEncoder(name_or_cfg)
