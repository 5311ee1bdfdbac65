"""What the clip-making scripts share: a synthetic sequence on disk, and ffmpeg to encode image sequences and to
decode videos back to RGB (imported by make_fake_webcam.py, make_file_clip.py and make_sample_clip.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from mobilevos.data.synth import SynthConfig, clip_name
from mobilevos.data.synth_writer import write_dataset

# BT.601 limited range, what ffmpeg's RGB conversion assumes: browser and ffmpeg then decode the same YUV alike
BT601_TAGS = (
    *("-colorspace", "smpte170m", "-color_primaries", "smpte170m"),
    *("-color_trc", "smpte170m", "-color_range", "tv"),
)


def synth_sequence(root: Path, frames: int, size: tuple[int, int], seed: int, max_objects: int) -> Path:
    """One synthetic video in DAVIS layout under `root` (as `mobilevos synth --videos 1` writes it); its name."""
    cfg = SynthConfig(size=size, frames=frames, max_objects=max_objects)
    write_dataset(root, 1, frames, size, seed, cfg)
    return Path(clip_name(seed, 0))


def ffmpeg(*args: str) -> bytes:
    """Run ffmpeg quietly (errors still printed); its stdout. Fails loudly on a non-zero exit."""
    return subprocess.run(["ffmpeg", "-loglevel", "error", *args], check=True, stdout=subprocess.PIPE).stdout


def encode_images(pattern: str, fps: int, out: Path, *output_args: str) -> None:
    """An image sequence (`pattern`, e.g. DIR/%05d.png) as the video `out`, with the codec and tags in `output_args`."""
    ffmpeg("-y", "-framerate", str(fps), "-i", pattern, *output_args, str(out))


def decode_rgb(path: Path, height: int, width: int, *input_args: str) -> np.ndarray:
    """Every frame of a video as uint8 [T, H, W, 3] RGB; `input_args` go after the input (e.g. -frames:v N)."""
    raw = ffmpeg("-i", str(path), *input_args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
