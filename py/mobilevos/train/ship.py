"""`mobilevos ship`: turn a training run into a shipped model in `models/` with its JSON record.

    mobilevos ship runs/student --name student
    mobilevos ship runs/teacher --name teacher --dtype fp16
    mobilevos ship checkpoints/prompt-head --name prompt_head --checkpoint best

The record holds what reproduces and judges the model: the training command, git commit and machine (from the run's
`run.json`), the resolved config, steps, wall time, the training data, and the J&F of the *shipped file itself* on
held-out synthetic clips and on every sequence of the evaluation folder (so `mobilevos eval` prints the same numbers).
A prompt head (`mobilevos train prompt`) is copied byte for byte and judged by `mobilevos.eval.prompt`'s mean IoU
after 1, 3 and 5 clicks and from a box on the first frames of the selection sequences, and of the evaluation folder
(scored once, after the choice).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open

from mobilevos.data.splits import check_training_root
from mobilevos.eval.command import evaluate_model
from mobilevos.models.checkpoint import SHIPPED, SOURCE_MODELS, load_network, read_metadata, save_network
from mobilevos.train.validate import selection_validation, synth_validation

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
MODELS_DIR = SOURCE_MODELS  # shipping writes the files git tracks: the source checkout's models/ (None elsewhere)
NAMES = (*SHIPPED, "prompt_head")
# The prompt head is judged at the web app's input (every frame squeezed to 240x320) and at the tracker's (short side
# 240, aspect kept: 240x432 for DAVIS's 16:9 frames).
PROMPT_HEAD_INPUTS = {"240x320": (240, 320), "short_side_240": 240}
PROVENANCE_KEYS = ("command", "git_commit", "git_dirty", "hardware")  # what else run.json holds is kept as run_notes


def wall_time(metrics_path: Path) -> float | None:
    """Seconds of training logged in metrics.jsonl (sum of the gaps between rows, so pauses across resumes and
    sessions longer than 10 minutes are not counted)."""
    if not metrics_path.exists():
        return None
    times = [json.loads(line)["time"] for line in metrics_path.read_text().splitlines() if '"time"' in line]
    return float(sum(b - a for a, b in itertools.pairwise(times) if 0 < b - a < 600)) if len(times) > 1 else None


def init_record(path: Path) -> dict | None:
    """The record of the weights a run started from: the shipped JSON next to them (with metrics), the record of the
    training run whose checkpoint they are (so a chain of fine-tunes keeps every link), else the record in the
    file's metadata. Read before shipping, which may overwrite that very file."""
    sibling = path.with_suffix(".json")
    if sibling.is_file():
        return json.loads(sibling.read_text())
    if (path.parent / "run.json").is_file():
        return run_record(path.parent, path)
    return read_metadata(path)[1].get("record")


def run_record(run_dir: Path, checkpoint: Path) -> dict:
    """What reproduces `checkpoint` of the training run in `run_dir`: command, git commit, machine, steps, wall time,
    config, data, and (for a fine-tune) the record of its init weights, recursively."""
    with safe_open(str(checkpoint), framework="pt") as f:  # a network's or a prompt head's: both keep "extra"
        extra = json.loads((f.metadata() or {}).get("extra", "{}"))
    train_config = extra.get("train_config") or {}
    provenance = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    record = {
        "command": provenance.get("command"),
        "git_commit": provenance.get("git_commit"),
        "hardware": provenance.get("hardware"),
        "steps": extra.get("step"),
        "wall_time_s": wall_time(run_dir / "metrics.jsonl"),
        "config": extra.get("train_config"),
        "data": train_config.get("data"),
        "run_dir": str(run_dir),
    }
    notes = {k: v for k, v in provenance.items() if k not in (*PROVENANCE_KEYS, "started", "torch")}
    if notes:  # what the person who ran it wrote down (a note on the machine, a continuation not chosen, ...)
        record["run_notes"] = notes
    total = train_config.get("optim", {}).get("steps")
    if record["command"] and record["steps"] is not None and total and record["steps"] < total:
        # Stopped before the end of its schedule (e.g. at the end of a working session): the same command with
        # --stop-at reproduces these weights, learning-rate schedule included.
        record["reproduce"] = f"{record['command']} --stop-at {record['steps']}"
    init = train_config.get("init")
    if init:  # a fine-tuning run: reproducing it starts from the init weights, so keep their record too
        record["init"] = {"path": init, "record": init_record(Path(init))}
        if str(init).startswith(f"{MODELS_DIR.name}/") and record["git_commit"] and not provenance.get("git_dirty"):
            # A shipped file that shipping may since have replaced: git still holds the one this run started from
            # (only a clean tree at training time guarantees the committed file is the one that was read).
            record["init"]["restore"] = f"git show {record['git_commit']}:{init} > {init}"
    return record


def ship(
    run_dir: Path,
    name: str,
    dtype: str,
    val_dir: Path | None,
    short_side: int,
    synth_videos: int,
    selection_dir: Path | None = None,
    checkpoint: str = "last",
    extra_sides: tuple[int, ...] = (),
) -> dict:
    """Write models/<name>.safetensors and models/<name>.json from `run_dir`'s `checkpoint` ("last", or "best": the
    one chosen on the selection sequences during training); returns the record. The record's metrics: synthetic
    clips, the selection sequences of `selection_dir` and every sequence of `val_dir` (scored once, after the
    choice), all at `short_side`; with `extra_sides` (a model the page runs at several inputs), the selection and
    `val_dir` J&F at each of those short sides too, under "sides"."""
    if MODELS_DIR is None:
        raise RuntimeError(
            "mobilevos ship writes into a source checkout's models/: run it from a checkout of the "
            "repository (pip install -e .)"
        )
    if name == "prompt_head":
        if dtype != "fp32":
            raise ValueError("a prompt head ships as trained (fp32, 431 KB): --dtype fp32")
        return ship_prompt_head(run_dir, checkpoint, selection_dir, val_dir)
    checkpoint = run_dir / f"{checkpoint}.safetensors"
    record = {"name": name, "file": f"{name}.safetensors", "dtype": dtype, **run_record(run_dir, checkpoint)}
    out = MODELS_DIR / f"{name}.safetensors"
    save_network(out, load_network(checkpoint), {"record": record}, dtype=DTYPES[dtype])
    net = load_network(out)  # judge the shipped file, rounding included
    finite = net.cfg.kind == "student"
    print(f"wrote {out}; scoring it on {synth_videos} synthetic clips", flush=True)
    metrics = {
        "synthetic_val": synth_validation(net, synth_videos, 24, (240, 432), finite_memory=finite),
        "short_side": short_side,
    }
    for side in (short_side, *extra_sides):
        scores = {}
        if selection_dir is not None:
            print(f"scoring the selection sequences of {selection_dir} at short side {side}", flush=True)
            scores["selection"] = selection_validation(net, selection_dir, side, finite)
        if val_dir is not None:
            print(f"scoring every sequence of {val_dir} at short side {side}, once, after the choice", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                scores["davis16_val"] = evaluate_model(net, val_dir, tmp, side)
        if side == short_side:  # the record's main figures, in full
            metrics.update(scores)
        else:  # davis16_val's result holds its J&F in "summary", selection_validation's at the top
            metrics.setdefault("sides", {})[str(side)] = {k: v.get("summary", v)["J&F"] for k, v in scores.items()}
    record["metrics"] = metrics
    (MODELS_DIR / f"{name}.json").write_text(json.dumps(record, indent=2))
    return record


def prompt_head_scores(head_path: Path, student: str, root: Path, split: str) -> dict:
    """Mean IoU after 1/3/5 clicks and from a box on the first frames of `split` of `root`, at each of
    `PROMPT_HEAD_INPUTS`, with the head at `head_path` (a shipped file in models/) on `student`'s key encoder."""
    from mobilevos.eval.prompt import annotated_frames, evaluate
    from mobilevos.models.prompt_head import load_head
    from mobilevos.prompts import PromptSegmenter

    net, head = load_network(student), load_head(head_path)
    frames = annotated_frames(root, split)
    scores = {}
    for label, size in PROMPT_HEAD_INPUTS.items():
        result = evaluate(PromptSegmenter(net, head, size), frames)
        arg = str(size) if isinstance(size, int) else f"{size[0]}x{size[1]}"
        scores[label] = {
            **{k: round(v, 4) for k, v in result["mean"].items()},
            "objects": len(result["objects"]),
            "command": f"python -m mobilevos.eval.prompt --head models/{head_path.name} --student {student} "
            f"--root {root} --split {split} --size {arg}",
        }
    return scores


def ship_prompt_head(
    run_dir: Path, checkpoint: str, selection_dir: Path | None, val_dir: Path | None, name: str = "prompt_head"
) -> dict:
    """Copy `run_dir`'s `checkpoint` to models/<name>.safetensors byte for byte (weights, config and step as
    trained) and write models/<name>.json: the run's record and the head's scores on the first frames of the selection
    sequences of `selection_dir` and of every sequence of `val_dir` (scored once, after the choice)."""
    source = run_dir / f"{checkpoint}.safetensors"
    record = {"name": name, "file": f"{name}.safetensors", "dtype": "fp32", **run_record(run_dir, source)}
    config = record["config"] or {}
    student = config.get("student", "student")
    record["data"] = {
        "davis": [config.get("root")],
        "split": "train (the selection sequences left out)",
        "synth_prob": config.get("synth_prob"),
    }
    record["features_of"] = f"{student} (frozen key encoder; the head reads its f16/f8/f4)"
    record["choice"] = (
        f"{checkpoint}.safetensors of {run_dir}"
        + (", the checkpoint chosen on the selection sequences" if checkpoint == "best" else ", the end of the run")
        + "; nothing was chosen on the evaluation folder"
    )
    out = MODELS_DIR / f"{name}.safetensors"
    if source.resolve() != out.resolve():
        shutil.copyfile(source, out)
    metrics = {}
    if selection_dir is not None:
        root = check_training_root(selection_dir)
        metrics["selection_first_frames"] = prompt_head_scores(out, student, root, "selection")
    if val_dir is not None:
        metrics["davis16_val_first_frames"] = {
            "note": "scored once, after the choice, with the shipped file",
            **prompt_head_scores(out, student, val_dir, "all"),
        }
    record["metrics"] = metrics
    (MODELS_DIR / f"{name}.json").write_text(json.dumps(record, indent=2))
    return record


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="training run folder (last.safetensors, run.json, metrics.jsonl)")
    p.add_argument("--name", required=True, choices=NAMES, help="prompt_head: a `mobilevos train prompt` run")
    p.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    p.add_argument(
        "--checkpoint",
        default="last",
        choices=["last", "best"],
        help="best: the checkpoint chosen on the selection sequences (J&F during training; a prompt head's by its "
        "selection mIoU)",
    )
    p.add_argument(
        "--selection",
        default="../shared/data/davis16-train-240p",
        help="training folder whose selection sequences are scored ('' to skip)",
    )
    p.add_argument("--val", default="../shared/data/davis16-val", help="evaluation folder ('' to skip)")
    p.add_argument("--short-side", type=int, default=240)
    p.add_argument(
        "--extra-sides",
        type=lambda text: tuple(int(v) for v in text.split(",") if v),
        default=(),
        help="also score the selection sequences and the evaluation folder at these short sides (e.g. 208,176)",
    )
    p.add_argument("--synth-videos", type=int, default=16)


def run(args: argparse.Namespace) -> None:
    record = ship(
        Path(args.run),
        args.name,
        args.dtype,
        Path(args.val) if args.val else None,
        args.short_side,
        args.synth_videos,
        Path(args.selection) if args.selection else None,
        args.checkpoint,
        args.extra_sides,
    )
    metrics = record["metrics"]
    if args.name == "prompt_head":
        print(f"shipped models/{args.name}.safetensors, step {record['steps']}:")
        for where, scores in metrics.items():
            for size, s in scores.items():
                if size != "note":
                    print(
                        f"  {where} at {size}: mean IoU {s['clicks_1']:.3f} / {s['clicks_3']:.3f} / "
                        f"{s['clicks_5']:.3f} after 1 / 3 / 5 clicks, {s['box']:.3f} from a box "
                        f"({s['objects']} objects)"
                    )
        return
    davis = metrics.get("davis16_val", {}).get("summary", {})
    print(
        f"shipped models/{args.name}.safetensors ({args.dtype}), step {record['steps']}: synthetic J&F "
        f"{metrics['synthetic_val']['J&F']:.2f}"
        + (f", selection J&F {metrics['selection']['J&F']:.2f}" if "selection" in metrics else "")
        + (f", davis16-val J&F {davis['J&F']:.2f}" if davis else "")
        + "".join(
            f"; at short side {side}: " + ", ".join(f"{k} J&F {v:.2f}" for k, v in row.items())
            for side, row in metrics.get("sides", {}).items()
        )
    )
