"""Video files with known masks for the browser's file test (tests/web/e2e/file.test.js), from a DAVIS sequence.

    python scripts/make_file_clip.py --data ../shared/data/davis16-val --sequence blackswan --frames 30 --out DIR

Writes into DIR:

* clip-4x3.mp4 (H.264): the first FRAMES frames cropped to 640x480 around the object — the model input's own aspect,
  so the page's letterbox is a plain 2x downscale and `mobilevos eval --short-side 240` sees the same 240x320 input;
* clip-16x9.webm (VP9): the same frames uncropped (854x480), which the page letterboxes;
* davis-4x3/ and davis-16x9/: DAVIS layouts of what each file holds — every frame decoded back by ffmpeg (PNG, so
  the reference sees the codec's pixels too) and the ground truth cropped alike — for `mobilevos eval`;
* mask-half.png (the 4:3 first-frame mask at 320x240: same aspect, other size) and mask-other-aspect.png (the
  uncropped 854x480 one: another aspect than the 4:3 file's frames), and clip.json.

Both files are tagged BT.601 limited range (what ffmpeg's RGB conversion assumes), so the browser and ffmpeg turn
the same decoded YUV into RGB alike up to rounding and chroma filtering.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from video_tools import decode_frames, encode_frames, write_davis

from mobilevos.data.davis import read_sequence, write_mask

FPS = 24  # DAVIS's frame rate
CODECS = {
    ".mp4": ["-c:v", "libx264", "-crf", "16", "-preset", "medium"],
    ".webm": ["-c:v", "libvpx-vp9", "-crf", "20", "-b:v", "0", "-deadline", "good", "-cpu-used", "4"],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--sequence", default="blackswan")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    seq = read_sequence(args.data, args.sequence)
    count = min(args.frames, seq.num_frames)
    frames = np.stack([seq.load_frame(t) for t in range(count)])
    masks = np.stack([seq.load_mask(t) for t in range(count)])
    height, width = frames.shape[1:3]
    if (height, width) != (480, 854):
        raise SystemExit(f"{args.sequence}: expected 854x480 DAVIS frames, got {width}x{height}")
    cols = np.nonzero((masks > 0).any((0, 1)))[0]
    x0 = int(np.clip((cols.min() + cols.max()) // 2 - 320, 0, width - 640))  # a 640-wide window around the object
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)

    clips = {"4x3": (frames[:, :, x0 : x0 + 640], masks[:, :, x0 : x0 + 640], ".mp4"), "16x9": (frames, masks, ".webm")}
    info = {"sequence": args.sequence, "frames": count, "fps": FPS, "crop_x": x0, "files": {}}
    for key, (clip, gt, suffix) in clips.items():
        path = args.out / f"clip-{key}{suffix}"
        encode_frames(clip, path, FPS, *CODECS[path.suffix])
        decoded = decode_frames(path, *clip.shape[1:3])
        if len(decoded) != count:
            raise SystemExit(f"{path}: {len(decoded)} frames decoded, {count} encoded")
        write_davis(args.out / f"davis-{key}", args.sequence, decoded, gt)
        info["files"][key] = {
            "file": path.name,
            "width": clip.shape[2],
            "height": clip.shape[1],
            "davis": f"davis-{key}",
        }
    first = masks[0, :, x0 : x0 + 640]
    write_mask(args.out / "mask-half.png", np.array(Image.fromarray(first).resize((320, 240), Image.NEAREST)))
    write_mask(args.out / "mask-other-aspect.png", masks[0])
    (args.out / "clip.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}: {count} frames of {args.sequence} as 640x480 mp4 (crop x {x0}) and 854x480 webm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
