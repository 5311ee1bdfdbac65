"""`mobilevos synth`: write procedurally generated clips to disk in DAVIS layout (for tests, fixtures and demos)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mobilevos.config import parse_size
from mobilevos.data.synth import Size, SynthConfig, clip_name, clip_seed, generate_clip


def write_dataset(
    out: Path,
    videos: int,
    frames: int,
    size: Size,
    seed: int,
    cfg: SynthConfig | None = None,
    backgrounds: list[np.ndarray] | None = None,
    progress: bool = False,
) -> list[str]:
    """Write `videos` clips in DAVIS layout (JPEGImages/, Annotations/) under `out`; returns the sequence names.

    Video i is the same clip as SynthClipDataset(..., seed=seed)[i] with the same cfg.
    """
    from tqdm import tqdm

    from mobilevos.data.davis import write_sequence

    if videos < 1 or frames < 1:
        raise ValueError(f"videos and frames must be positive, got videos={videos}, frames={frames}")
    names = []
    for i in tqdm(range(videos), desc="synth", unit="video", disable=not progress):
        clip_frames, clip_masks = generate_clip(clip_seed(seed, i), frames, size, cfg, backgrounds)
        names.append(clip_name(seed, i))
        write_sequence(Path(out), names[-1], clip_frames, clip_masks)
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    default = SynthConfig()
    parser.add_argument("--out", required=True, type=Path, help="output folder (DAVIS layout)")
    parser.add_argument("--videos", type=int, default=10, help="number of videos")
    parser.add_argument("--frames", type=int, default=default.frames, help="frames per video")
    parser.add_argument("--size", default="{}x{}".format(*default.size), help="frame size HxW")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-objects", type=int, default=default.max_objects, help="objects per video, 1..4")
    parser.add_argument(
        "--backgrounds",
        type=Path,
        default=None,
        help="DAVIS-layout training folder whose frames serve as some backgrounds",
    )


def run(args: argparse.Namespace) -> int:
    from mobilevos.data.clips import load_backgrounds

    size = parse_size(args.size)
    cfg = SynthConfig(size=size, frames=args.frames, max_objects=args.max_objects)
    backgrounds = load_backgrounds(args.backgrounds, 64, args.seed) if args.backgrounds is not None else None
    names = write_dataset(args.out, args.videos, args.frames, size, args.seed, cfg, backgrounds, progress=True)
    print(f"wrote {len(names)} videos of {args.frames} frames at {size[0]}x{size[1]} to {args.out}")
    return 0
