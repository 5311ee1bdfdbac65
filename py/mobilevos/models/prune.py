"""Structured pruning of the student's Lite key encoder for onnxruntime-web's WASM kernels (issue 18).

A depthwise convolution costs the same per channel in those kernels whatever its FLOPs (im2col and a small GEMM per
channel), and the expand / project 1x1 convolutions around it scale with the same expanded width. Cutting that width
keeps the block's inputs and outputs (so f4, f8, f16 and everything after them keep their shapes) and keeps the
surviving channels' ImageNet-then-VOS-trained weights, which a dense encoder regressed on ~2,000 DAVIS frames could not
match (docs/experiments.md, "A key encoder for WASM").

Which channels go: for an MBConv, the block's output before its last BatchNorm is `W @ a`, with `a` the expanded
channels after the depthwise conv and its activation. Dropping channel c and adding its mean `m_c` back as a constant
(folded into that BatchNorm's running mean) changes the output by `W[:, c] (a_c - m_c)`, whose energy over the
calibration frames is `|W[:, c]|^2 Var(a_c)`: the channels with the least of it go. What the dropped channels carried
is then refitted onto the kept ones (session 23): the least-squares regression of the dropped channels on the kept
ones, `a_D ~ B a_K + const`, moves `W_D B` into the kept projection weights — exact where a dropped channel is a
linear combination of kept ones, and what took the Accurate student cut to half width from 57.3 to 69.8 J&F untuned
(selection sequences, short side 208). Calibration frames come from the training sequences only (never the selection
sequences or davis16-val). Fine-tuning then recovers what is lost (`mobilevos train student --init <pruned> --set
model.backbone_share=<share>`, distilled from the unpruned network). A pruned encoder can be pruned further (to
smaller widths of the same blocks).

    mobilevos prune --model student --share 0.5 --out runs/pruned-0.5.safetensors

Kernels can be cut too (`--max-kernel 3`): in those kernels a depthwise convolution costs per tap, so a 5x5 costs
~25/9 of a 3x3. The cut keeps each kernel's centre taps (TF-SAME padding keeps the centre's alignment at stride 2
too), fitted by least squares to the full kernel's output on the calibration frames (`fitted_kernel`): the centre
alone scores 6.7 J&F untuned on Balanced, the fitted centre 69.7 (Balanced: 72.5).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mobilevos.models.efficientnet_lite import Conv2dSame, MBConv, capped_kernel
from mobilevos.models.network import SpaceTimeNetwork


class _Moments:
    """Running mean and covariance of samples given as batches [..., D, N] (N samples of D variables, a covariance
    per leading index), accumulated in float64."""

    def __init__(self):
        self.total, self.moment, self.count = 0.0, 0.0, 0

    def add(self, x: torch.Tensor) -> None:
        x = x.double()
        self.total = self.total + x.sum(-1)
        self.moment = self.moment + x @ x.transpose(-1, -2)
        self.count += x.shape[-1]

    def mean_and_covariance(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.total / self.count
        return mean, self.moment / self.count - mean[..., :, None] * mean[..., None, :]


@torch.no_grad()
def expanded_statistics(net: SpaceTimeNetwork, images: list[torch.Tensor]) -> dict[int, tuple[torch.Tensor, ...]]:
    """Per expanding key-encoder block: mean [C] and covariance [C, C] of the expanded channels after the depthwise
    conv and its activation, over `images` (batches [B, 3, H, W] in [0, 1])."""
    blocks = [(i, b) for i, b in enumerate(net.backbone._blocks) if b.has_expand]
    moments = {i: _Moments() for i, _ in blocks}

    def hook(i: int, block: MBConv):
        def record(_module, _inputs, out):
            moments[i].add(block.act(out).transpose(0, 1).flatten(1))  # [C, pixels]

        return record

    handles = [b._bn1.register_forward_hook(hook(i, b)) for i, b in blocks]
    try:
        net.eval()
        for batch in images:
            net.encode_key(batch)
    finally:
        for h in handles:
            h.remove()
    return {i: m.mean_and_covariance() for i, m in moments.items()}


# The parameters and buffers of an MBConv indexed by its expanded channels (along their first axis).
_EXPANDED = ("_expand_conv.", "_bn0.", "_depthwise_conv.", "_bn1.")


@torch.no_grad()
def pruned_block_state(block: MBConv, mean: torch.Tensor, cov: torch.Tensor, width: int) -> dict[str, torch.Tensor]:
    """The state of `block` cut to `width` expanded channels (for an MBConv built with `mid=width`): keep those whose
    removal alone would change the output most, refit what the removed ones carried onto the kept ones (their
    least-squares regression on the kept channels, `mean` and `cov` from `expanded_statistics`) and fold the
    constant that leaves into the projection's BatchNorm."""
    w = block._project_conv.weight[:, :, 0, 0].double()  # [out, mid]
    score = (w * w).sum(0) * cov.diagonal().clamp(min=0)
    keep = score.argsort(descending=True)[:width].sort().values
    drop = torch.ones(w.shape[1], dtype=torch.bool)
    drop[keep] = False
    kept_cov = cov[keep][:, keep]
    # a small ridge: kept channels can be (nearly) constant or duplicates of each other
    ridge = 1e-6 * kept_cov.diagonal().mean().clamp(min=1e-12) * torch.eye(len(keep), dtype=cov.dtype)
    regression = torch.linalg.solve(kept_cov + ridge, cov[keep][:, drop]).T  # [dropped, kept]: a_D ~ B a_K + const
    state = {}
    for name, t in block.state_dict().items():
        if name.startswith(_EXPANDED) and t.dim() > 0:  # not num_batches_tracked
            t = t[keep]
        elif name == "_project_conv.weight":
            t = (w[:, keep] + w[:, drop] @ regression).float()[:, :, None, None]
        state[name] = t.clone()
    state["_bn2.running_mean"] -= (w[:, drop] @ (mean[drop] - regression @ mean[keep])).float()
    return state


def prune_network(
    net: SpaceTimeNetwork, share: float | tuple[float, ...], images: list[torch.Tensor]
) -> SpaceTimeNetwork:
    """A copy of `net` whose Lite key encoder keeps `share` of every expanding block's expanded channels, or of each
    block's when it is one share per block (widths by `pruned_width`, as `NetworkConfig.backbone_share` builds them),
    chosen and refitted on `images`. `net` may be pruned already: blocks whose width does not change keep their
    weights."""
    if net.cfg.backbone.startswith("fast-"):
        raise ValueError(f"only a Lite key encoder can be pruned, not {net.cfg.backbone}")
    pruned = SpaceTimeNetwork(dataclasses.replace(net.cfg, backbone_share=share, pretrained=False))
    for i, (old, new) in enumerate(zip(net.backbone._blocks, pruned.backbone._blocks)):
        if new._project_conv.in_channels > old._project_conv.in_channels:
            raise ValueError(
                f"share {share} gives block {i} {new._project_conv.in_channels} expanded channels, more than the "
                f"{old._project_conv.in_channels} it has: pruning only removes channels"
            )
    stats = expanded_statistics(net, images)
    state = dict(net.state_dict())
    for i, block in enumerate(net.backbone._blocks):
        width = pruned.backbone._blocks[i]._project_conv.in_channels
        if block.has_expand and width < block._project_conv.in_channels:
            cut = pruned_block_state(block, *stats[i], width)
            state |= {f"backbone._blocks.{i}.{k}": v for k, v in cut.items()}
    pruned.load_state_dict(state, strict=True)
    return pruned.eval()


@torch.no_grad()
def fitted_kernel(
    net: SpaceTimeNetwork, index: int, full: Conv2dSame, k: int, images: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The centre k x k kernel that best reproduces the larger depthwise convolution `full` on the inputs that block
    `index` of `net`'s key encoder gets over `images` (least squares per channel: the outer taps' part is folded onto
    the inner ones through their correlation), and the per-channel mean the cut leaves out (for the BatchNorm after)."""
    weight = full.weight.double().flatten(1)  # [C, K*K]
    channels, size, stride = full.weight.shape[0], full.weight.shape[-1], full.stride[0]
    margin = (size - k) // 2
    inner = torch.zeros(size, size, dtype=torch.bool)
    inner[margin : margin + k, margin : margin + k] = True
    inner = inner.flatten()
    inputs = []
    handle = net.backbone._blocks[index]._depthwise_conv.register_forward_pre_hook(
        lambda _m, args: inputs.append(full.padded(args[0]))
    )
    moments = _Moments()
    try:
        net.eval()
        for batch in images:
            net.encode_key(batch)
            x = inputs.pop().double()
            patches = nn.functional.unfold(x, size, stride=stride)  # [B, C*K*K, L]
            moments.add(patches.view(x.shape[0], channels, size * size, -1).permute(1, 2, 0, 3).flatten(2))  # [C,KK,N]
    finally:
        handle.remove()
    mean, cov = moments.mean_and_covariance()  # [C, K*K], [C, K*K, K*K]
    lhs = cov[:, inner][:, :, inner] + 1e-6 * torch.eye(k * k, dtype=cov.dtype)
    rhs = (cov[:, inner] @ weight[:, :, None])[..., 0]
    small = torch.linalg.solve(lhs, rhs)  # [C, k*k]
    left_out = (mean * weight).sum(1) - (mean[:, inner] * small).sum(1)
    return small.view(channels, 1, k, k).float(), left_out.float()


@torch.no_grad()
def crop_kernels(net: SpaceTimeNetwork, max_kernel: int, images: list[torch.Tensor] | None = None) -> SpaceTimeNetwork:
    """A copy of `net` whose Lite key encoder's depthwise kernels larger than `max_kernel` become `max_kernel` x
    `max_kernel` (`NetworkConfig.backbone_max_kernel`): their centre taps, or with calibration `images` the centre
    kernel fitted to the full one's output (`fitted_kernel`), block after block on the already cut network's
    activations, so that each fit also absorbs what the cuts before it changed."""
    if net.cfg.backbone.startswith("fast-"):
        raise ValueError(f"only a Lite key encoder has depthwise kernels to cut, not {net.cfg.backbone}")
    cut = SpaceTimeNetwork(dataclasses.replace(net.cfg, backbone_max_kernel=max_kernel, pretrained=False))
    state = dict(net.state_dict())
    shrunk = []  # (block index, its full depthwise conv, the cut size) where the kernel gets smaller
    for i, block in enumerate(net.backbone._blocks):
        weight = block._depthwise_conv.weight
        k = capped_kernel(weight.shape[-1], max_kernel)
        margin = (weight.shape[-1] - k) // 2
        state[f"backbone._blocks.{i}._depthwise_conv.weight"] = weight[..., margin : margin + k, margin : margin + k]
        if k < weight.shape[-1]:
            shrunk.append((i, block._depthwise_conv, k))
    cut.load_state_dict(state, strict=True)
    if images is not None:
        for i, full, k in shrunk:
            small, left_out = fitted_kernel(cut, i, full, k, images)
            cut.backbone._blocks[i]._depthwise_conv.weight.copy_(small)
            cut.backbone._blocks[i]._bn1.running_mean.sub_(left_out)
    return cut.eval()


def calibration_images(root: str | Path, every: int, size: tuple[int, int], batch: int = 16) -> list[torch.Tensor]:
    """Every `every`-th frame of the training split's sequences under `root`, resized to `size`, in batches."""
    from mobilevos.data.davis import load_frame, read_sequence
    from mobilevos.data.splits import split_sequences

    frames = [
        load_frame(path)
        for name in split_sequences(root, "train")
        for path in read_sequence(root, name).frame_paths[::every]
    ]
    if not frames:
        raise ValueError(f"{root}: no training frames to calibrate on")
    out = []
    for i in range(0, len(frames), batch):
        x = torch.from_numpy(np.stack(frames[i : i + batch])).permute(0, 3, 1, 2).float() / 255
        out.append(nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False))
    return out


def parse_share(text: str) -> float | tuple[float, ...]:
    """`--share`: `0.5` (every expanding block) or `1,0.25,0.5,...` (one per key-encoder block)."""
    values = tuple(float(v) for v in text.split(","))
    return values[0] if len(values) == 1 else values


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`mobilevos prune` arguments."""
    p.add_argument("--model", default="student", help="a shipped name or a .safetensors checkpoint (Lite key encoder)")
    p.add_argument(
        "--share",
        type=parse_share,
        help="share of each block's expanded channels kept, (0, 1]: one for all, or one per block, comma-separated",
    )
    p.add_argument("--max-kernel", type=int, help="cut larger depthwise kernels to their centre (e.g. 3)")
    p.add_argument("--out", required=True, help="the pruned network's .safetensors (then: train --init it)")
    p.add_argument("--data", default="../shared/data/davis16-train-240p", help="DAVIS-layout root: training split")
    p.add_argument("--every", type=int, default=8, help="calibrate on every n-th frame of each training sequence")
    p.add_argument("--size", default="240x432", help="calibration input HxW (multiples of 16)")
    p.add_argument("--threads", type=int, default=2)


def run(args: argparse.Namespace) -> None:
    """Prune, save with a record of how, print the widths and kernels."""
    from mobilevos.config import parse_size
    from mobilevos.models.checkpoint import load_network, save_network
    from mobilevos.train.command import provenance

    if args.share is None and args.max_kernel is None:
        raise SystemExit("mobilevos prune: give --share, --max-kernel or both")
    torch.set_num_threads(args.threads)
    pruned = load_network(args.model)
    # Kept as the file's "record" (command line, commit, machine, as a training run's run.json), so a run fine-tuned
    # from it (`train --init`) ships with how it was made.
    record = {**provenance(), "pruned_from": str(args.model), "share": args.share, "max_kernel": args.max_kernel}
    images = calibration_images(args.data, args.every, parse_size(args.size))
    record["calibration_frames"] = sum(len(b) for b in images)
    if args.share is not None:
        pruned = prune_network(pruned, args.share, images)
    if args.max_kernel is not None:
        pruned = crop_kernels(pruned, args.max_kernel, images)
    save_network(args.out, pruned, {"record": record})
    widths = [b._project_conv.in_channels for b in pruned.backbone._blocks]
    kernels = [b._depthwise_conv.kernel_size[0] for b in pruned.backbone._blocks]
    print(f"wrote {args.out}: expanded widths {widths}, depthwise kernels {kernels}")
