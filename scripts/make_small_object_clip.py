"""A video file with a small object and its ground truth, for the browser's model-size test (e2e/size.test.js).

    python scripts/make_small_object_clip.py --out DIR [--frames 24 --size 480x640 --seed 5]

A synthetic clip (the generator of `mobilevos synth`, one object whose sprite side is 20-24% of the short side, so it
covers about 1-2% of the frame) encoded as DIR/clip.mp4 (H.264, BT.601 limited range as make_file_clip.py tags
it); DIR/davis/ holds the frames ffmpeg decodes back (PNG) with the ground truth, for `mobilevos eval`; DIR/mask.png
is the first frame's mask; DIR/clip.json says what was made.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

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
    args = p.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    # one small object, no distractor and no exit: the test is about seeing it, not about re-detection
    cfg = SynthConfig(max_objects=1, object_scale=(0.2, 0.24), distractor_prob=0.0, exit_prob=0.0, min_visible=0.005)
    frames, masks = generate_clip(args.seed, args.frames, (height, width), cfg)
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
    (args.out / "clip.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}: {len(frames)} frames at {width}x{height}, the object covers {100 * area:.2f}% of them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
