"""`mobilevos eval`: semi-supervised evaluation on DAVIS-layout folders.

    mobilevos eval --data ../shared/data/davis16-val --model student --out results.json
    mobilevos eval --data ../shared/data/davis16-val --pred PRED_DIR          # score another tool's masks
    mobilevos eval --data ../shared/data/davis16-train-240p --split selection --model runs/x/last.safetensors
    mobilevos eval --data ../shared/data/davis16-train-240p --split selection --model teacher --tta-steps 20

The tracker gets the annotation of the first frame only; every frame's prediction is written as an index PNG
(`--save-masks`, else a temporary folder) and scored by the same code path as `--pred`, so both agree by construction.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mobilevos.adapt import PARTS, AdaptConfig
from mobilevos.config import parse_size
from mobilevos.data.davis import list_sequences, read_sequence, write_mask
from mobilevos.data.splits import SPLITS, split_sequences
from mobilevos.eval.metrics import score_folder
from mobilevos.models.network import SpaceTimeNetwork
from mobilevos.track import Tracker
from mobilevos.zoom import ZoomConfig, ZoomTracker


@dataclasses.dataclass(frozen=True)
class Alternate:
    """Switch the model input mid-video (Tracker.resize), as the web app's Auto does when the device's speed
    changes: to short side `short_side` at frame `every`, back at 2 x `every`, and so on."""

    short_side: int
    every: int


def track_sequence(
    tracker: Tracker,
    data_dir: Path,
    name: str,
    out_dir: Path,
    progress: bool = True,
    first: np.ndarray | None = None,
    alternate: Alternate | None = None,
) -> int:
    """Track sequence `name` from its first annotated frame, or from `first` (an index mask of frame 0 made another
    way, e.g. from clicks), switching sizes as `alternate` says; write index PNGs to out_dir/name; return frames
    done."""
    seq = read_sequence(data_dir, name)
    if 0 not in seq.mask_paths:
        raise ValueError(f"sequence {name}: frame 0 has no annotation; semi-supervised evaluation starts from it")
    if first is None:
        first = seq.load_mask(0)
    tracker.start(seq.load_frame(0), first)
    write_mask(out_dir / name / f"{seq.frame_paths[0].stem}.png", first)
    sides = (tracker.short_side, alternate.short_side) if alternate else ()
    for t in tqdm(range(1, seq.num_frames), desc=name, leave=False, disable=not progress):
        if alternate and t % alternate.every == 0:
            tracker.resize(sides[(t // alternate.every) % 2])
        write_mask(out_dir / name / f"{seq.frame_paths[t].stem}.png", tracker.step(seq.load_frame(t)).mask)
    return seq.num_frames - 1


def evaluate_model(
    net: SpaceTimeNetwork,
    data_dir: str | Path,
    out_dir: str | Path,
    short_side: int = 240,
    sequences: list[str] | None = None,
    keep_every: int | str | None = "auto",
    progress: bool = True,
    zoom: ZoomConfig | None = None,
    first_masks: dict[str, np.ndarray] | None = None,
    adapt: AdaptConfig | None = None,
    alternate: Alternate | None = None,
) -> dict:
    """Track every sequence with `net` (on the whole frame at `short_side`, or on object-centred crops with
    `zoom`; with `adapt`, each video by a copy of `net` adapted to its first frame), write masks under `out_dir`,
    score them; results in percent + timing (adaptation included). `first_masks` (sequence -> index mask of frame 0)
    replaces the ground-truth annotation the trackers start from."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    names = sequences or list_sequences(data_dir)
    if zoom and adapt and adapt.steps:
        raise ValueError("test-time adaptation is not implemented for the zoom tracker")
    if zoom and alternate:
        raise ValueError("the zoom tracker's input does not change size (--alternate)")
    if zoom:
        tracker = ZoomTracker(net, zoom, keep_every)
    else:
        tracker = Tracker(net, short_side=short_side, keep_every=keep_every, adapt=adapt)
    frames, started = 0, time.perf_counter()
    for name in tqdm(names, desc="tracking", unit="seq", disable=not progress):
        first = (first_masks or {}).get(name)
        frames += track_sequence(tracker, data_dir, name, out_dir, progress, first, alternate)
        tracker.short_side = short_side  # back to the start size for the next video (`alternate` moves it)
    elapsed = time.perf_counter() - started
    results = score_folder(data_dir, out_dir, names, progress=progress)
    keep = tracker.memory.keep_every
    results["tracking"] = {
        "frames": frames,
        "seconds": elapsed,
        "ms_per_frame": 1000 * elapsed / max(frames, 1),
        "seconds_per_video": elapsed / max(len(names), 1),
        "short_side": short_side,
        "alternate": dataclasses.asdict(alternate) if alternate else None,
        "zoom": dataclasses.asdict(zoom) if zoom else None,
        "adapt": dataclasses.asdict(tracker.adapt) if tracker.adapt else None,
        "memory": "finite (first + previous)" if keep is None else f"growing (every {keep})",
    }
    return results


def format_table(results: dict) -> str:
    """Per-sequence and summary J&F / J / F as an aligned text table."""
    lines = [f"{'sequence':<20}{'J&F':>8}{'J':>8}{'F':>8}"]
    for name, row in results["sequences"].items():
        lines.append(f"{name:<20}{row['J&F']:8.2f}{row['J']:8.2f}{row['F']:8.2f}")
    s = results["summary"]
    lines.append(f"{'mean (over objects)':<20}{s['J&F']:8.2f}{s['J']:8.2f}{s['F']:8.2f}")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="DAVIS-layout folder (JPEGImages/, Annotations/)")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--model",
        default="student",
        help="student, teacher, student_fast (the dense key encoder), or a .safetensors file",
    )
    group.add_argument("--pred", help="score existing index-PNG predictions PRED/<seq>/<frame>.png instead")
    p.add_argument("--out", help="write results JSON here")
    p.add_argument("--save-masks", help="keep the predicted masks in this folder")
    p.add_argument(
        "--short-side",
        type=int,
        default=None,
        help="model input short side (multiple of 16; default: the one in the model's shipped record, "
        "e.g. 480 for the teacher, else 240)",
    )
    p.add_argument(
        "--zoom",
        help="track object-centred crops at this model input HxW (e.g. 160x160) instead of "
        "the whole frame (mobilevos.zoom)",
    )
    p.add_argument("--zoom-context", type=float, default=ZoomConfig.context, help="crop side / object box side")
    p.add_argument(
        "--alternate",
        type=int,
        help="switch the model input to this short side mid-video and back, every --alternate-every frames, the "
        "memory carried over (Tracker.resize: what the web app's Auto does when the device's speed changes)",
    )
    p.add_argument("--alternate-every", type=int, default=30, help="frames between switches of --alternate")
    p.add_argument(
        "--keep-every",
        type=int,
        default=None,
        help="growing memory: keep every k-th frame (default: none for the student, 5 for the teacher)",
    )
    p.add_argument(
        "--tta-steps",
        type=int,
        default=AdaptConfig.steps,
        help="test-time adaptation: fine-tune a copy of the network for this many steps on each video's annotated "
        "frame before tracking it (mobilevos.adapt; 0: off)",
    )
    p.add_argument("--tta-lr", type=float, default=AdaptConfig.lr, help="test-time adaptation learning rate (Adam)")
    p.add_argument(
        "--tta-parts",
        default=",".join(AdaptConfig.parts),
        help=f"comma-separated parts that adapt, of {', '.join(PARTS)}",
    )
    p.add_argument("--tta-batch", type=int, default=AdaptConfig.batch, help="pseudo-clips per adaptation step")
    p.add_argument(
        "--tta-motion", type=float, default=AdaptConfig.motion, help="spread of the pseudo-clips' affine motions"
    )
    p.add_argument("--tta-seed", type=int, default=AdaptConfig.seed, help="seed of the pseudo-clips")
    p.add_argument("--sequences", help="comma-separated subset of sequences")
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="the sequences of this split of a training folder "
        "(mobilevos.data.splits: 'selection' = the held-out sequences every choice is made on)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def parse_zoom(size: str | None, context: float) -> ZoomConfig | None:
    """ZoomConfig from "HxW" (None when no size is given)."""
    if not size:
        return None
    h, w = parse_size(size)
    if h % 16 or w % 16 or h <= 0 or w <= 0:
        raise ValueError(f"--zoom {size}: both sides must be positive multiples of 16")
    return ZoomConfig(size=(h, w), context=context)


def parse_alternate(short_side: int | None, every: int) -> Alternate | None:
    """Alternate from --alternate / --alternate-every (None without a short side)."""
    if short_side is None:
        return None
    if short_side % 16 or short_side <= 0 or every < 1:
        raise ValueError(f"--alternate {short_side} must be a positive multiple of 16, --alternate-every ≥ 1")
    return Alternate(short_side, every)


def parse_adapt(args: argparse.Namespace) -> AdaptConfig:
    """The AdaptConfig of the --tta-* flags."""
    parts = tuple(p for p in args.tta_parts.split(",") if p)
    return AdaptConfig(args.tta_steps, args.tta_lr, parts, args.tta_batch, motion=args.tta_motion, seed=args.tta_seed)


def run(args: argparse.Namespace) -> None:
    sequences = args.sequences.split(",") if args.sequences else None
    if args.split:
        in_split = split_sequences(args.data, args.split)
        sequences = [n for n in sequences if n in in_split] if sequences else in_split
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.pred:
        results = score_folder(args.data, args.pred, sequences)
        results["predictions"] = str(args.pred)
    else:
        from mobilevos.models.checkpoint import load_network, recorded_short_side

        net = load_network(args.model, args.device)
        short_side = args.short_side or recorded_short_side(args.model) or 240
        keep = "auto" if args.keep_every is None else args.keep_every
        with tempfile.TemporaryDirectory() as tmp:
            results = evaluate_model(
                net,
                args.data,
                args.save_masks or tmp,
                short_side,
                sequences,
                keep,
                zoom=parse_zoom(args.zoom, args.zoom_context),
                adapt=parse_adapt(args),
                alternate=parse_alternate(args.alternate, args.alternate_every),
            )
        results["model"] = str(args.model)
        t = results["tracking"]
        print(
            f"tracked {t['frames']} frames at {t['ms_per_frame']:.1f} ms/frame, {t['seconds_per_video']:.1f} s/video "
            f"({t['memory']} memory{', adapted: ' + str(t['adapt']) if t['adapt'] else ''})"
        )
    print(format_table(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
