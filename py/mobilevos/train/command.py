"""`mobilevos train` on the command line: arguments, the config they build, the run's provenance."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from mobilevos.config import apply_overrides, from_dict, merge, to_dict
from mobilevos.models.network import student_config, teacher_config
from mobilevos.train.config import TrainConfig
from mobilevos.train.trainer import Trainer


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "role", choices=["teacher", "student", "prompt"], help="prompt: the click/box head (train/prompt.py)"
    )
    p.add_argument("--config", help="JSON file with TrainConfig fields (defaults in mobilevos/train/config.py)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, metrics.jsonl, config.json")
    p.add_argument("--teacher", help="teacher weights for distillation")
    p.add_argument("--init", help="start from these weights (fine-tuning; optimiser and schedule start fresh)")
    p.add_argument(
        "--init-encoder",
        help="a distilled fast key encoder (mobilevos distill-encoder's last.safetensors) for a fast-<design> backbone",
    )
    p.add_argument("--loss", choices=["ce", "kd", "repr", "unified"])
    p.add_argument("--omega", type=float)
    p.add_argument("--steps", type=int, help="total optimiser steps")
    p.add_argument("--stop-at", type=int, help="stop (and checkpoint) at this step without changing the schedule")
    p.add_argument("--device", help="cpu (default) or cuda")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument("--no-pretrained", action="store_true", help="random backbone initialisation (ablation)")
    p.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="dotted config overrides, e.g. --set optim.lr=1e-4 data.size=[240,432]",
    )


def build_config(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig from the role's defaults, then the --config file, then flags, then dotted overrides."""
    model = teacher_config() if args.role == "teacher" else student_config()
    data = to_dict(TrainConfig(role=args.role, model=model))
    if args.config:
        data = merge(data, json.loads(Path(args.config).read_text()), "TrainConfig")
    flags = {
        "teacher": "teacher",
        "init": "init",
        "init_encoder": "init_encoder",
        "loss": "distill.loss",
        "omega": "distill.omega",
        "steps": "optim.steps",
        "device": "device",
    }
    overrides = [
        f"{key}={json.dumps(getattr(args, flag))}" for flag, key in flags.items() if getattr(args, flag) is not None
    ]
    if args.no_pretrained:
        overrides.append("model.pretrained=false")
    return from_dict(TrainConfig, apply_overrides(data, overrides + args.overrides))


def provenance() -> dict:
    """How this run was started: command line, git commit, machine; the shipped models' records quote it."""
    import platform
    import subprocess
    import sys

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(
                ["git", *cmd], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    argv = ["mobilevos", *sys.argv[1:]] if Path(sys.argv[0]).name in ("mobilevos", "cli.py") else sys.argv
    return {
        "command": " ".join(argv),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "started": time.time(),
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "torch": torch.__version__,
    }


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "run.json").exists() or args.fresh:  # provenance of the run, kept across resumes; `ship` quotes it
        (out / "run.json").write_text(json.dumps(provenance(), indent=2))
    if args.role == "prompt":  # the click-to-mask head on the frozen student: its own config and loop
        from mobilevos.train import prompt

        prompt.train(prompt.build_config(args), args.out, args.fresh)
        return
    cfg = build_config(args)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    trainer = Trainer(cfg, out, fresh=args.fresh)
    trainer.fit(args.stop_at)
