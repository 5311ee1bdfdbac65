"""`mobilevos info`: parameters and FLOPs per frame (steady state: key encoding, memory read, decoding, value
encoding of the new memory entry), counted by torch's FlopCounterMode (2 FLOPs per multiply-add)."""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from mobilevos.config import parse_size
from mobilevos.models.network import SpaceTimeNetwork, build_network, student_config, teacher_config


@torch.inference_mode()
def frame_flops(net: SpaceTimeNetwork, size: tuple[int, int], memory_frames: int = 2, objects: int = 1) -> dict:
    """FLOPs of one tracked frame with `memory_frames` entries in memory, total and per stage."""
    image = torch.rand(1, 3, *size)
    feats = net.encode_key(image)
    value = net.encode_value(feats, torch.rand(1, objects, *size))
    keys, values = torch.stack([feats.key] * memory_frames, 2), torch.stack([value] * memory_frames, 3)
    stages = {}
    for name, fn in [
        ("encode_key", lambda: net.encode_key(image)),
        ("segment", lambda: net.segment(feats, keys, values)),
        ("encode_value", lambda: net.encode_value(feats, value.new_ones(1, objects, *size))),
    ]:
        counter = FlopCounterMode(display=False)
        with counter:
            fn()
        stages[name] = counter.get_total_flops()
    return {"total": sum(stages.values()), **stages}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="student", help="student, teacher, or a .safetensors checkpoint")
    p.add_argument("--size", default="240x432", help="model input HxW (multiples of 16)")
    p.add_argument("--memory-frames", type=int, default=2, help="entries in memory (the student always has 2)")


def run(args: argparse.Namespace) -> None:
    size = parse_size(args.size)
    from mobilevos.models.checkpoint import SHIPPED, find_shipped, load_network

    if args.model in SHIPPED and find_shipped(args.model) is None:  # no weights found: the default architecture
        cfg = (student_config if args.model == "student" else teacher_config)(pretrained=False)
        net = build_network(cfg).eval()
    else:  # the shipped file's own architecture (the teacher was fine-tuned with paths its default lacks)
        net = load_network(args.model)
    params = sum(p.numel() for p in net.parameters())
    backbone = sum(p.numel() for p in net.backbone.parameters())
    flops = frame_flops(net, size, args.memory_frames)
    print(f"model      {args.model} ({net.cfg.kind}, key encoder {net.cfg.backbone})")
    print(f"parameters {params / 1e6:.3f} M (key encoder backbone {backbone / 1e6:.3f} M)")
    print(f"FLOPs/frame at {size[0]}x{size[1]}, {args.memory_frames} memory frames: {flops['total'] / 1e9:.3f} G")
    for stage in ("encode_key", "segment", "encode_value"):
        print(f"  {stage:<13}{flops[stage] / 1e9:.3f} G")
