"""A fake-webcam clip with known ground truth for the browser end-to-end test (and for trying the page by hand).

    python scripts/make_fake_webcam.py --out tests/web/.artifacts/webcam [--frames 120 --size 240x320 --seed 7]

1. the generator of `mobilevos synth` writes one synthetic video (JPEG frames + exact index masks, DAVIS layout)
   into OUT/synth;
2. ffmpeg turns it into OUT/clip.y4m for Chromium's `--use-file-for-fake-video-capture`, played forward then backward
   (ping-pong, 2T-2 frames) so the camera's loop never jumps;
3. the y4m is decoded back to RGB (OUT/camera_frames.npy, [T, H, W, 3] uint8: what the page receives, chroma
   subsampling included) next to the ground truth (OUT/masks.npy, [T, H, W] uint8) and OUT/clip.json.

The page gets these frames as they are when the clip is at the model resolution (no resize), so a tracked frame is
mapped back to its source frame by content (see tests/web/e2e/tracking.test.js).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from video_tools import decode_rgb, encode_images, synth_sequence


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--size", default="240x320", help="HxW")
    p.add_argument("--seed", type=int, default=2)  # two objects, both visible throughout
    p.add_argument("--max-objects", type=int, default=2)
    p.add_argument("--fps", type=int, default=30)
    args = p.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    synth = out / "synth"
    sequence = synth_sequence(synth, args.frames, (height, width), args.seed, args.max_objects).name
    jpgs = sorted((synth / "JPEGImages" / sequence).glob("*.jpg"))
    order = list(range(len(jpgs))) + list(range(len(jpgs) - 2, 0, -1))  # ping-pong
    with tempfile.TemporaryDirectory() as tmp:
        for i, src in enumerate(order):
            (Path(tmp) / f"{i:05d}.jpg").symlink_to(jpgs[src].resolve())
        encode_images(f"{tmp}/%05d.jpg", args.fps, out / "clip.y4m", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe")
    camera = decode_rgb(out / "clip.y4m", height, width, "-frames:v", str(len(jpgs)))
    masks = np.stack([np.array(Image.open(synth / "Annotations" / sequence / f"{j.stem}.png")) for j in jpgs])
    np.save(out / "camera_frames.npy", camera)
    np.save(out / "masks.npy", masks.astype(np.uint8))
    info = {
        "sequence": sequence,
        "frames": len(jpgs),
        "height": height,
        "width": width,
        "fps": args.fps,
        "objects": int(masks.max()),
        "seed": args.seed,
        "y4m_order": "ping-pong: 0..T-1 then T-2..1",
        "annotations": str((synth / "Annotations" / sequence).resolve()),
    }
    (out / "clip.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {out}/clip.y4m ({len(order)} frames, {info['objects']} objects) and the ground truth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
