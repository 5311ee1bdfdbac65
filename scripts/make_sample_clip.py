"""The page's bundled sample clip: a synthetic video with two objects and the mask of its first frame.

    python scripts/make_sample_clip.py        # -> web/public/sample/sample.mp4 and sample-mask.png

H.264 MP4 (yuv420p, faststart) plays in every browser; the mask is an index PNG (DAVIS palette), which the page loads
when the sample opens so that Track works right away.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "web" / "public" / "sample")
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--size", default="480x640", help="HxW")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--crf", type=int, default=26)
    args = p.parse_args(argv)
    from mobilevos.cli import main as mobilevos_main

    with tempfile.TemporaryDirectory() as tmp:
        code = mobilevos_main(
            [
                "synth",
                "--out",
                tmp,
                "--videos",
                "1",
                "--frames",
                str(args.frames),
                "--size",
                args.size,
                "--seed",
                str(args.seed),
                "--max-objects",
                "2",
            ]
        )
        if code:
            return code
        sequence = sorted(p.name for p in (Path(tmp) / "JPEGImages").iterdir())[0]
        args.out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-framerate",
                "30",
                "-i",
                f"{tmp}/JPEGImages/{sequence}/%05d.jpg",
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
                str(args.out / "sample.mp4"),
            ],
            check=True,
        )
        shutil.copy(Path(tmp) / "Annotations" / sequence / "00000.png", args.out / "sample-mask.png")
    for f in ("sample.mp4", "sample-mask.png"):
        print(f"wrote {args.out / f} ({(args.out / f).stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
