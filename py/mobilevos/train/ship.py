"""`mobilevos ship`: turn a training run into a shipped model in `models/` with its JSON record.

    mobilevos ship runs/student --name student
    mobilevos ship runs/teacher --name teacher --dtype fp16

The record holds what reproduces and judges the model: the training command, git commit and machine (from the run's
`run.json`), the resolved config, steps, wall time, the training data, and the J&F of the *shipped file itself* on
held-out synthetic clips and on every sequence of the evaluation folder (so `mobilevos eval` prints the same numbers).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import torch

from mobilevos.eval.command import evaluate_model
from mobilevos.models.checkpoint import SOURCE_MODELS, load_network, read_metadata, save_network
from mobilevos.train.validate import selection_validation, synth_validation

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
MODELS_DIR = SOURCE_MODELS  # shipping writes the files git tracks: the source checkout's models/ (None elsewhere)


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
    _, extra = read_metadata(checkpoint)
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
) -> dict:
    """Write models/<name>.safetensors and models/<name>.json from `run_dir`'s `checkpoint` ("last", or "best": the
    one chosen on the selection sequences during training); returns the record. The record's metrics: synthetic
    clips, the selection sequences of `selection_dir` and every sequence of `val_dir` (scored once, after the
    choice), all at `short_side`."""
    if MODELS_DIR is None:
        raise RuntimeError(
            "mobilevos ship writes into a source checkout's models/: run it from a checkout of the "
            "repository (pip install -e .)"
        )
    checkpoint = run_dir / f"{checkpoint}.safetensors"
    record = {"name": name, "file": f"{name}.safetensors", "dtype": dtype, **run_record(run_dir, checkpoint)}
    out = MODELS_DIR / f"{name}.safetensors"
    save_network(out, load_network(checkpoint), {"record": record}, dtype=DTYPES[dtype])
    net = load_network(out)  # judge the shipped file, rounding included
    finite = net.cfg.kind == "student"
    metrics = {
        "synthetic_val": synth_validation(net, synth_videos, 24, (240, 432), finite_memory=finite),
        "short_side": short_side,
    }
    if selection_dir is not None:
        metrics["selection"] = selection_validation(net, selection_dir, short_side, finite)
    if val_dir is not None:
        with tempfile.TemporaryDirectory() as tmp:
            metrics["davis16_val"] = evaluate_model(net, val_dir, tmp, short_side)
    record["metrics"] = metrics
    (MODELS_DIR / f"{name}.json").write_text(json.dumps(record, indent=2))
    return record


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="training run folder (last.safetensors, run.json, metrics.jsonl)")
    p.add_argument("--name", required=True, choices=["student", "teacher"])
    p.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    p.add_argument(
        "--checkpoint",
        default="last",
        choices=["last", "best"],
        help="best: the checkpoint with the best selection-sequence J&F during training",
    )
    p.add_argument(
        "--selection",
        default="../shared/data/davis16-train-240p",
        help="training folder whose selection sequences are scored ('' to skip)",
    )
    p.add_argument("--val", default="../shared/data/davis16-val", help="evaluation folder ('' to skip)")
    p.add_argument("--short-side", type=int, default=240)
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
    )
    metrics = record["metrics"]
    davis = metrics.get("davis16_val", {}).get("summary", {})
    print(
        f"shipped models/{args.name}.safetensors ({args.dtype}), step {record['steps']}: synthetic J&F "
        f"{metrics['synthetic_val']['J&F']:.2f}"
        + (f", selection J&F {metrics['selection']['J&F']:.2f}" if "selection" in metrics else "")
        + (f", davis16-val J&F {davis['J&F']:.2f}" if davis else "")
    )
