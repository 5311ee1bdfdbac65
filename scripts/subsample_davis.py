"""A DAVIS-layout folder holding every N-th frame (and its mask) of some sequences: the frames a tracker sees when it
runs at 1/N of the video's frame rate and drops the rest, as the page does with a live camera.

    python scripts/subsample_davis.py ../shared/data/davis16-train-240p /tmp/every2 --every 2 --split selection
    mobilevos eval --data /tmp/every2/davis16-train-240p --split selection --model student

The output is DST/<source folder name>, so that evaluation-only data (davis16-val) stays recognisable as such and is
refused by every training path (`mobilevos.data.splits`). Frames and masks are symbolic links to the source files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mobilevos.data.davis import read_sequence
from mobilevos.data.splits import SPLITS, split_sequences


def subsample(src: Path, dst: Path, every: int, split: str) -> list[str]:
    """Link every `every`-th frame (from frame 0, which keeps its annotation) of `src`'s `split` sequences into `dst`;
    returns the sequence names."""
    if every < 1:
        raise ValueError(f"--every {every}: must be at least 1")
    names = split_sequences(src, split)
    for name in names:
        seq = read_sequence(src, name)
        for kind, paths in (("JPEGImages", dict(enumerate(seq.frame_paths))), ("Annotations", seq.mask_paths)):
            out = dst / kind / name
            out.mkdir(parents=True, exist_ok=True)
            for index, path in paths.items():
                if index % every == 0:
                    (out / path.name).symlink_to(path.resolve())
    return names


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="DAVIS-layout folder")
    p.add_argument("dst", type=Path, help="output parent folder: writes DST/<name of SRC>, which must not exist")
    p.add_argument("--every", type=int, required=True, help="keep frames 0, N, 2N, ...")
    p.add_argument("--split", choices=SPLITS, default="selection")
    args = p.parse_args()
    dst = args.dst / args.src.resolve().name
    if dst.exists():
        p.error(f"{dst} exists: choose a new folder")
    names = subsample(args.src, dst, args.every, args.split)
    print(f"wrote {dst}: {len(names)} sequences, every {args.every} frames")


if __name__ == "__main__":
    main()
