"""The bench page's bundled clip: the synthetic clip `mobilevos bench` tracks (seed `BENCH_SEED`), with its masks.

    python scripts/make_bench_clip.py          # -> web/public/bench/clip/ (DAVIS layout + clip.json)

Frames are JPEGs and masks index PNGs (DAVIS palette, 0 = background, 1..N objects) in the DAVIS layout, so
`mobilevos eval --data web/public/bench/clip ...` scores against exactly the masks the page scores against, and the
page reads a user's DAVIS folder through the same code. `clip.json` lists the files (static hosts cannot list a
folder). The frames are a prefix of `mobilevos bench`'s clip at the same size: the generator is deterministic in the
seed and a longer clip starts with the same frames.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "web" / "public" / "bench" / "clip")
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--size", default="240x432", help="HxW (mobilevos bench's default size)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality")
    args = p.parse_args(argv)
    import numpy as np
    from PIL import Image

    from mobilevos.config import parse_size
    from mobilevos.data.davis import write_mask
    from mobilevos.data.synth import generate_clip
    from mobilevos.eval.bench import BENCH_SEED

    size = parse_size(args.size)
    frames, masks = generate_clip(BENCH_SEED, args.frames, size)
    name = "bench"
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "JPEGImages" / name).mkdir(parents=True)
    files, annotations = [], []
    for t, (frame, mask) in enumerate(zip(frames, masks)):
        Image.fromarray(frame, mode="RGB").save(args.out / "JPEGImages" / name / f"{t:05d}.jpg", quality=args.quality)
        write_mask(args.out / "Annotations" / name / f"{t:05d}.png", mask)
        files.append(f"JPEGImages/{name}/{t:05d}.jpg")
        annotations.append(f"Annotations/{name}/{t:05d}.png")
    info = {
        "what": "MobileVOS bench clip: synthetic, the frames `mobilevos bench` tracks (a prefix), DAVIS layout",
        "generator": "mobilevos.data.synth.generate_clip",
        "seed": BENCH_SEED,
        "height": size[0],
        "width": size[1],
        "objects": int(np.max(masks)),
        "jpeg_quality": args.quality,
        "sequences": [{"name": name, "frames": files, "annotations": annotations}],
        "made_by": "python scripts/make_bench_clip.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    (args.out / "clip.json").write_text(json.dumps(info, indent=1) + "\n")
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(
        f"wrote {args.out} ({args.frames} frames {size[0]}x{size[1]}, {info['objects']} objects, {total // 1024} KiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
