"""The page's bundled sample clip: a synthetic video with two objects and the mask of its first frame.

    python scripts/make_sample_clip.py        # -> web/public/sample/sample.mp4 and sample-mask.png

H.264 MP4 (yuv420p, faststart) plays in every browser; the mask is an index PNG (DAVIS palette), which the page loads
when the sample opens so that Track works right away.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from video_tools import encode_images, synth_sequence

REPO = Path(__file__).resolve().parents[1]
# the shipped sample's; the click e2e test regenerates its ground truth from them
SAMPLE_SEED, SAMPLE_SIZE, SAMPLE_FRAMES = 2, (480, 640), 150


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "web" / "public" / "sample")
    p.add_argument("--frames", type=int, default=SAMPLE_FRAMES)
    p.add_argument("--size", default="x".join(map(str, SAMPLE_SIZE)), help="HxW")
    p.add_argument("--seed", type=int, default=SAMPLE_SEED)
    p.add_argument("--crf", type=int, default=26)
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        sequence = synth_sequence(Path(tmp), args.frames, size, args.seed, max_objects=2).name
        args.out.mkdir(parents=True, exist_ok=True)
        encode_images(
            f"{tmp}/JPEGImages/{sequence}/%05d.jpg",
            30,
            args.out / "sample.mp4",
            *(
                "-c:v",
                "libx264",
                "-preset",
                "slow",
                "-crf",
                str(args.crf),
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
            ),
        )
        shutil.copy(Path(tmp) / "Annotations" / sequence / "00000.png", args.out / "sample-mask.png")
    for f in ("sample.mp4", "sample-mask.png"):
        print(f"wrote {args.out / f} ({(args.out / f).stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
