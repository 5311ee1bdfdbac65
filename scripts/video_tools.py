"""What the clip-making scripts share: a synthetic sequence on disk, ffmpeg to encode frames or image sequences and to
decode videos back to RGB, and DAVIS folders of decoded frames (imported by make_fake_webcam.py, make_file_clip.py,
make_sample_clip.py and make_small_object_clip.py)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from mobilevos.data.davis import write_mask
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


def encode_frames(frames: np.ndarray, path: Path, fps: int, *codec_args: str) -> None:
    """uint8 [T, H, W, 3] RGB frames as the yuv420p video `path`, BT.601-tagged, every frame kept (lossless PNGs in
    between, so only the codec touches the pixels)."""
    with tempfile.TemporaryDirectory() as tmp:
        for t, frame in enumerate(frames):
            Image.fromarray(frame).save(Path(tmp) / f"{t:05d}.png")
        encode_images(f"{tmp}/%05d.png", fps, path, *codec_args, "-pix_fmt", "yuv420p", *BT601_TAGS)


def decode_frames(path: Path, height: int, width: int) -> np.ndarray:
    """Every frame of a video as uint8 [T, H, W, 3] RGB the way ffmpeg converts BT.601 limited range (bilinear
    chroma, accurate rounding): the reference frames `mobilevos eval` sees."""
    return decode_rgb(path, height, width, "-sws_flags", "bilinear+accurate_rnd+full_chroma_int")


def write_davis(root: Path, name: str, frames: np.ndarray, masks: np.ndarray) -> None:
    """Frames (PNG, lossless) and index masks as sequence `name` of a DAVIS-layout folder `root`."""
    (root / "JPEGImages" / name).mkdir(parents=True, exist_ok=True)
    for t, (frame, mask) in enumerate(zip(frames, masks, strict=True)):
        Image.fromarray(frame).save(root / "JPEGImages" / name / f"{t:05d}.png")
        write_mask(root / "Annotations" / name / f"{t:05d}.png", mask)


def decode_rgb(path: Path, height: int, width: int, *input_args: str) -> np.ndarray:
    """Every frame of a video as uint8 [T, H, W, 3] RGB; `input_args` go after the input (e.g. -frames:v N)."""
    raw = ffmpeg("-i", str(path), *input_args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
