"""A video file with a small object and its ground truth, for the browser's model-size test (e2e/size.test.js).

    python scripts/make_small_object_clip.py --out DIR [--frames 24 --size 480x640 --seed 5] [--shrink 3]

A synthetic clip (the generator of `mobilevos synth`, one object whose sprite side is 20-24% of the short side, so it
covers about 1-2% of the frame) encoded as DIR/clip.mp4 (H.264, BT.601 limited range as make_file_clip.py tags
it); DIR/davis/ holds the frames ffmpeg decodes back (PNG) with the ground truth, for `mobilevos eval`; DIR/mask.png
is the first frame's mask; DIR/clip.json says what was made.

--shrink F: the object shrinks instead, as under a camera zooming out on it: the clip is generated F times larger
(each side) and every frame is a window around the object that grows geometrically from the output size to the whole
generated frame, scaled to the output size — so the object's share of the frame falls by about F^2 (see clip.json's
object_area_first / object_area_last).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
from video_tools import decode_frames, encode_frames, write_davis

from mobilevos.data.davis import write_mask
from mobilevos.data.synth import SynthConfig, generate_clip

FPS = 24
NAME = "small-object"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", default="480x640", help="HxW")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--shrink", type=float, default=None, help="zoom out by this factor over the clip (> 1)")
    args = p.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    if args.shrink is not None and args.shrink <= 1:
        raise SystemExit(f"--shrink {args.shrink}: must be above 1")
    # one small object, no distractor and no exit: the test is about seeing it, not about re-detection
    cfg = SynthConfig(max_objects=1, object_scale=(0.2, 0.24), distractor_prob=0.0, exit_prob=0.0, min_visible=0.005)
    if args.shrink is None:
        frames, masks = generate_clip(args.seed, args.frames, (height, width), cfg)
    else:
        big = (round(height * args.shrink), round(width * args.shrink))
        frames, masks = zoom_out(*generate_clip(args.seed, args.frames, big, cfg), (height, width))
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    encode_frames(frames, args.out / "clip.mp4", FPS, "-c:v", "libx264", "-crf", "16", "-preset", "medium")
    decoded = decode_frames(args.out / "clip.mp4", height, width)
    if len(decoded) != len(frames):
        raise SystemExit(f"{len(decoded)} frames decoded, {len(frames)} encoded")
    write_davis(args.out / "davis", NAME, decoded, masks)
    write_mask(args.out / "mask.png", masks[0])
    area = float(np.mean(masks > 0))
    info = {"sequence": NAME, "frames": len(frames), "fps": FPS, "width": width, "height": height, "seed": args.seed}
    info["object_area"] = round(area, 4)
    if args.shrink is not None:
        info["shrink"] = args.shrink
        info["object_area_first"] = round(float(np.mean(masks[0] > 0)), 4)
        info["object_area_last"] = round(float(np.mean(masks[-1] > 0)), 4)
    (args.out / "clip.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}: {len(frames)} frames at {width}x{height}, the object covers {100 * area:.2f}% of them")
    return 0


def zoom_out(frames: np.ndarray, masks: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Frames and masks of `size` (H, W) seen through a window that grows geometrically from `size` at the first frame
    to the whole of `frames` at the last, centred on the object where the frame allows."""
    (height, width), big_h = size, frames.shape[1]
    out_frames = np.empty((len(frames), height, width, 3), np.uint8)
    out_masks = np.empty((len(frames), height, width), np.uint8)
    labels = np.arange(int(masks.max()) + 1)
    for i, (frame, mask) in enumerate(zip(frames, masks)):
        scale = (big_h / height) ** (i / max(len(frames) - 1, 1))
        h, w = round(height * scale), round(width * scale)
        ys, xs = np.nonzero(mask)
        cy, cx = (ys.mean(), xs.mean()) if len(ys) else (frame.shape[0] / 2, frame.shape[1] / 2)
        y0 = int(np.clip(round(cy - h / 2), 0, frame.shape[0] - h))
        x0 = int(np.clip(round(cx - w / 2), 0, frame.shape[1] - w))
        window = (slice(y0, y0 + h), slice(x0, x0 + w))
        out_frames[i] = cv2.resize(frame[window], (width, height), interpolation=cv2.INTER_AREA)
        # each label's coverage area-resized like the frame (nearest neighbour would shift it by up to a pixel)
        onehot = (mask[window][..., None] == labels).astype(np.float32)
        coverage = cv2.resize(onehot, (width, height), interpolation=cv2.INTER_AREA).reshape(height, width, -1)
        out_masks[i] = coverage.argmax(-1)
    return out_frames, out_masks


if __name__ == "__main__":
    sys.exit(main())
