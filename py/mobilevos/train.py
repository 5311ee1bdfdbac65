"""`mobilevos train`: the teacher (supervised), or the student distilled from it.

    mobilevos train teacher --out runs/teacher
    mobilevos train student --teacher runs/teacher/last.safetensors --loss unified --omega 0.8 --out runs/student
    torchrun --nproc-per-node 4 -m mobilevos.cli train student ... --device cuda      # several GPUs, same code

Every clip is unrolled the way inference uses memory: frame 0 is encoded with its ground-truth masks, each later
frame reads memory and its own *predicted* soft masks are encoded for the frames after it. The student reads
[first, previous] (finite memory), the teacher every earlier frame (unbounded). A run resumes from `<out>/last_*`
when it is started again with the same --out; `--fresh` ignores it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mobilevos import losses
from mobilevos.checkpoint import grow_state, load_network, save_network
from mobilevos.config import apply_overrides, from_dict, merge, to_dict
from mobilevos.data.mix import MixedClips
from mobilevos.models.network import (
    GROWABLE_PATHS,
    NetworkConfig,
    Segmentation,
    SpaceTimeNetwork,
    student_config,
    teacher_config,
)
from mobilevos.validate import selection_validation, synth_validation


@dataclass
class DataConfig:
    davis: tuple[str, ...] = ("../shared/data/davis16-train-240p",)  # DAVIS-layout training folders (never val)
    davis_weight: float = 0.7  # share of clips from the folders above; the rest are synthetic
    synth_backgrounds: bool = True  # synthetic clips also use crops of real training frames as backgrounds
    synth_only_steps: int = 0  # curriculum: only synthetic clips for the first steps
    clip_len: int = 3
    size: tuple[int, int] = (192, 320)  # training crop (H, W)
    max_objects: int = 2
    max_gap_start: int = 2  # frame gaps grow linearly from 1..start to 1..end over training
    max_gap_end: int = 12
    workers: int = 1
    paste_prob: float = 0.0  # share of real clips with a pasted distractor object (copy-paste augmentation)
    static_prob: float = 0.0  # share of real clips made from one annotated frame by warps (pseudo-videos)
    split: str = "train"  # "train": the selection sequences (mobilevos.data.splits) are never trained on; "all": the
    # shipped models up to session 4 were trained on every sequence (their records predate this field)


@dataclass
class OptimConfig:
    steps: int = 20000
    batch_size: int = 4
    lr: float = 2e-4  # heads
    backbone_lr: float = 2e-5  # ImageNet-initialised encoder(s)
    weight_decay: float = 0.05
    warmup: int = 200
    grad_clip: float = 3.0
    bootstrap_start: float = 1.0  # fraction of hardest pixels in the CE, annealed (as XMem) to ...
    bootstrap_end: float = 0.15
    bootstrap_steps: int = 2000
    freeze_bn: bool = True  # keep the backbones' ImageNet BatchNorm statistics (batches here are tiny)
    freeze_stride: int = 8  # freeze the backbone stem and blocks up to this output stride (0: train all): the
    # high-resolution early blocks cost most of the backward pass on a CPU (measured 3x faster steps) and are
    # generic ImageNet features anyway


@dataclass
class DistillConfig:
    loss: str = "ce"  # ce | kd (ce + logit KD) | repr (ce + representation loss) | unified (ce + kd + repr)
    omega: float = 0.8  # 0 = supervised contrastive, 1 = pure representation distillation
    temperature: float = 1.0
    kd_weight: float = 1.0
    repr_weight: float = 0.1
    samples: int = 256  # pixels per (frame, object) for the correlation matrices
    boundary: bool = True  # boundary-aware sampling (False: uniform, the ablation)
    band_radius: int = 3  # boundary band half-width, in pixels of the 1/4-scale embedding
    # The teacher sees the clip upsampled by this factor (the paper's teacher runs at a higher resolution than its
    # student); its logits and embeddings are averaged back onto the student's grid for the losses.
    teacher_scale: float = 1.0


@dataclass
class TrainConfig:
    role: str = "student"  # student | teacher
    model: NetworkConfig = field(default_factory=student_config)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    teacher: str = ""  # teacher weights (student role with kd/repr/unified)
    init: str = ""  # start from these weights (same architecture) with a fresh optimiser and schedule: fine-tuning
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    checkpoint_every: int = 100
    val_every: int = 1000
    val_videos: int = 8
    val_frames: int = 24
    # Each validation also tracks the selection sequences of data.davis[0] (never trained on with data.split=train)
    # at this input short side, and keeps the best checkpoint by their J&F in <out>/best.safetensors (0: off).
    val_selection_short_side: int = 240


class ClipUnroll(nn.Module):
    """Training wrapper (DDP wraps this): unrolls a clip through the network with the inference memory rules."""

    def __init__(self, net: SpaceTimeNetwork, finite_memory: bool):
        super().__init__()
        self.net = net
        self.finite_memory = finite_memory

    def forward(self, images: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor) -> list[Segmentation]:
        """images [B, T, 3, H, W], masks [B, T, N, H, W] (only frame 0 is read), valid [B, N] -> T-1 segmentations."""
        b, t = images.shape[:2]
        feats = self.net.encode_key(images.flatten(0, 1))  # one backbone pass for the whole clip
        per_frame = [type(feats)(*(x.view(b, t, *x.shape[1:])[:, i] for x in feats)) for i in range(t)]
        keys = [per_frame[0].key]
        values = [self.net.encode_value(per_frame[0], masks[:, 0])]
        out = []
        for i in range(1, t):
            idx = [0, len(keys) - 1] if self.finite_memory else list(range(len(keys)))
            mk = torch.stack([keys[j] for j in idx], 2)
            mv = torch.stack([values[j] for j in idx], 3)
            seg = self.net.segment(per_frame[i], mk, mv, valid)
            out.append(seg)
            if i < t - 1:
                keys.append(per_frame[i].key)
                values.append(self.net.encode_value(per_frame[i], seg.prob))
        return out


def resize_segmentation(seg: Segmentation, size: tuple[int, int]) -> Segmentation:
    """`seg` averaged (or interpolated, when growing) onto an image grid of `size` (H, W); the embedding onto
    (H/4, W/4)."""
    mode = "area" if seg.logits.shape[-1] >= size[1] else "bilinear"
    resize = lambda x, s: F.interpolate(x, size=s, mode=mode)  # noqa: E731
    quarter = (size[0] // 4, size[1] // 4)
    embed = resize(seg.embed.flatten(1, 2), quarter).view(*seg.embed.shape[:3], *quarter)
    return Segmentation(resize(seg.prob, size), resize(seg.logits, size), embed)


def teacher_segmentations(
    unroll: nn.Module, images: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor, scale: float
) -> list[Segmentation]:
    """The teacher's segmentations of a clip seen at `scale` times the student's resolution (rounded to the
    stride), returned on the student's grid."""
    if scale == 1.0:
        return unroll(images, masks, valid)
    b, t, _, h, w = images.shape
    big = tuple(max(16, round(x * scale / 16) * 16) for x in (h, w))
    up_images = F.interpolate(images.flatten(0, 1), size=big, mode="bilinear", align_corners=False)
    up_masks = F.interpolate(masks.flatten(0, 1), size=big, mode="bilinear", align_corners=False)
    segs = unroll(up_images.view(b, t, *up_images.shape[1:]), up_masks.view(b, t, *up_masks.shape[1:]), valid)
    return [resize_segmentation(seg, (h, w)) for seg in segs]


def make_target(masks: torch.Tensor, void: torch.Tensor) -> torch.Tensor:
    """Index target [B, H, W] (0 background, k = slot k-1, IGNORE on void) from one-hot masks [B, N, H, W]."""
    full = torch.cat([(1 - masks.sum(1, keepdim=True)).clamp(0, 1), masks], 1)
    target = full.argmax(1)
    return target.masked_fill(void, losses.IGNORE)


def representation_term(seg_s, seg_t, masks, valid, void, proj, cfg: DistillConfig, gen) -> torch.Tensor:
    """Mean unified representation loss over the (image, object) pairs of one frame, on sampled 1/4-scale pixels."""
    m4 = F.avg_pool2d(masks, 4) > 0.5  # [B, N, h, w]
    void4 = F.max_pool2d(void[:, None].float(), 4)[:, 0] > 0
    total, count = 0.0, 0
    for b, n in valid.nonzero().tolist():
        idx = losses.sample_pixels(m4[b, n], cfg.samples, cfg.band_radius, cfg.boundary, gen, void4[b])
        z_s = proj(losses.gather_embeddings(seg_s.embed[b, n], idx))
        z_t = losses.gather_embeddings(seg_t.embed[b, n], idx) if seg_t is not None else None
        total = total + losses.representation_loss(z_s, z_t, m4[b, n].flatten()[idx].long(), cfg.omega)
        count += 1
    return total / max(count, 1)


# The value backbone's stem conv reads image + masks; its mask channels start at zero (ImageNet has none), so it is
# never frozen and learns at the heads' rate. (Frozen, as it once was, the teacher never saw its masks at all.)
VALUE_STEM = "value_encoder.backbone._conv_stem."


def freeze_early_blocks(net: SpaceTimeNetwork, stride: int) -> None:
    """Stop gradients into the stem and the blocks whose output stride is <= `stride`, in every backbone (except the
    value backbone's stem conv: see VALUE_STEM)."""
    backbones = [net.backbone] + ([net.value_encoder.backbone] if hasattr(net.value_encoder, "backbone") else [])
    for bb in backbones:
        stem = [bb._conv_stem] if bb is net.backbone else []
        frozen = stem + [bb._bn0] + [blk for blk, info in zip(bb._blocks, bb.info) if info.stride <= stride]
        for module in frozen if stride > 0 else []:
            module.requires_grad_(False)


def lr_factor(step: int, cfg: OptimConfig) -> float:
    """Linear warm-up then cosine decay to zero."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Trainer:
    """Owns the network, optimiser, data and checkpoints of one run."""

    def __init__(self, cfg: TrainConfig, out: Path, fresh: bool = False):
        self.cfg, self.out = cfg, out
        self.rank, self.world = _init_distributed()
        torch.manual_seed(cfg.seed + self.rank)
        torch.set_num_threads(cfg.threads)
        self.device = torch.device(cfg.device)
        self.net = SpaceTimeNetwork(cfg.model).to(self.device)
        if cfg.init:
            self._load_init(cfg.init)
        self.uses_repr = cfg.role == "student" and cfg.distill.loss in ("repr", "unified")
        self.teacher = None
        # The teacher is needed for logit KD, and for the representation loss unless omega = 0 (labels only).
        if cfg.role == "student" and (
            cfg.distill.loss in ("kd", "unified") or (self.uses_repr and cfg.distill.omega > 0)
        ):
            if not cfg.teacher:
                raise ValueError(f"--loss {cfg.distill.loss} needs --teacher CHECKPOINT")
            self.teacher = load_network(cfg.teacher, cfg.device)
            self.teacher_unroll = ClipUnroll(self.teacher, finite_memory=False)
        t_dim = self.teacher.decoder.embed_dim if self.teacher is not None else self.net.decoder.embed_dim
        self.proj = nn.Linear(self.net.decoder.embed_dim, t_dim, bias=False).to(self.device)
        freeze_early_blocks(self.net, cfg.optim.freeze_stride)
        self.unroll = ClipUnroll(self.net, finite_memory=cfg.role == "student")
        if self.world > 1:
            self.unroll = nn.parallel.DistributedDataParallel(self.unroll)
        trainable = [(n, p) for n, p in self.net.named_parameters() if p.requires_grad]
        backbone = [
            p
            for n, p in trainable
            if n.startswith(("backbone.", "value_encoder.backbone.")) and not n.startswith(VALUE_STEM)
        ]
        ids = {id(p) for p in backbone}
        heads = [p for _, p in trainable if id(p) not in ids] + list(self.proj.parameters())
        self.opt = torch.optim.AdamW(
            [{"params": heads, "lr": cfg.optim.lr}, {"params": backbone, "lr": cfg.optim.backbone_lr}],
            weight_decay=cfg.optim.weight_decay,
        )
        self.step = 0
        self.best_selection = -1.0  # selection J&F of <out>/best.safetensors
        if fresh and self.rank == 0:  # a fresh run's log and choice must not mix with those of the run it replaces
            for stale in ("metrics.jsonl", "best.safetensors"):
                (out / stale).unlink(missing_ok=True)
        if not fresh and (out / "last_state.pt").exists():
            self._resume()
        self.data = MixedClips(cfg.data, seed=cfg.seed * 1000 + self.rank, start=self.step * cfg.optim.batch_size)
        self.gen = torch.Generator().manual_seed(cfg.seed + 7919 * (self.rank + 1) + self.step)

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _load_init(self, path: str) -> None:
        init = load_network(path)
        # The architecture changes fine-tuning allows: paths added to the init network (grown, see grow_state).
        same = {k: getattr(self.cfg.model, k) for k in ("pretrained", *GROWABLE_PATHS)}
        if dataclasses.replace(init.cfg, **same) != self.cfg.model:
            raise ValueError(f"--init {path}: its architecture {init.cfg} differs from the run's {self.cfg.model}")
        for name in GROWABLE_PATHS:
            if getattr(init.cfg, name) and not getattr(self.cfg.model, name):
                raise ValueError(f"--init {path} has {name}; the run does not (add --set model.{name}=true)")
        self.net.load_state_dict(grow_state(self.net.state_dict(), init.state_dict()))

    def _resume(self) -> None:
        state = torch.load(self.out / "last_state.pt", map_location=self.device, weights_only=False)
        saved = load_network(self.out / "last.safetensors")
        if dataclasses.replace(saved.cfg, pretrained=self.cfg.model.pretrained) != self.cfg.model:
            raise ValueError(
                f"{self.out} holds a run of another architecture ({saved.cfg}); resuming it as "
                f"{self.cfg.model} is impossible: pass --fresh to start over there, or another --out"
            )
        self.net.load_state_dict(saved.state_dict())
        self.proj.load_state_dict(state["proj"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.best_selection = state.get("best_selection", -1.0)
        if self.rank == 0:
            print(f"resumed {self.out} at step {self.step}")

    def save(self) -> None:
        if self.rank != 0:
            return
        meta = {"step": self.step, "train_config": to_dict(self.cfg)}
        tmp = self.out / "last.safetensors.tmp"
        save_network(tmp, self.net, meta)
        state = {
            "proj": self.proj.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "best_selection": self.best_selection,
        }
        torch.save(state, self.out / "last_state.pt.tmp")
        # Renames are atomic: a run killed while saving still finds the previous complete checkpoint.
        os.replace(tmp, self.out / "last.safetensors")
        os.replace(self.out / "last_state.pt.tmp", self.out / "last_state.pt")

    def log(self, row: dict) -> None:
        if self.rank == 0:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    # -- training ----------------------------------------------------------------------------------------------
    def train_step(self, batch: dict) -> dict:
        cfg = self.cfg
        self.net.train()
        if cfg.optim.freeze_bn:
            for m in self.net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        images, masks = batch["images"].to(self.device), batch["masks"].to(self.device)
        valid, void = batch["valid"].to(self.device), batch["void"].to(self.device)
        segs = self.unroll(images, masks, valid)
        t_segs = None
        if self.teacher is not None:
            with torch.no_grad():
                t_segs = teacher_segmentations(self.teacher_unroll, images, masks, valid, cfg.distill.teacher_scale)
        top_p = cfg.optim.bootstrap_end + (cfg.optim.bootstrap_start - cfg.optim.bootstrap_end) * max(
            0.0, 1 - self.step / max(1, cfg.optim.bootstrap_steps)
        )
        parts = dict.fromkeys(("seg", "kd", "repr"), torch.zeros((), device=self.device))
        for i, seg in enumerate(segs, start=1):
            target = make_target(masks[:, i], void[:, i])
            parts["seg"] = parts["seg"] + losses.segmentation_loss(
                seg.logits, seg.prob, masks[:, i], valid, target, void[:, i], top_p
            )
            if cfg.distill.loss in ("kd", "unified"):
                parts["kd"] = parts["kd"] + cfg.distill.kd_weight * losses.kd_loss(
                    seg.logits, t_segs[i - 1].logits, target, cfg.distill.temperature
                )
            if self.uses_repr:
                parts["repr"] = parts["repr"] + cfg.distill.repr_weight * representation_term(
                    seg,
                    t_segs[i - 1] if t_segs else None,
                    masks[:, i],
                    valid,
                    void[:, i],
                    self.proj,
                    cfg.distill,
                    self.gen,
                )
        loss = sum(parts.values()) / len(segs)
        for g, base in zip(self.opt.param_groups, (cfg.optim.lr, cfg.optim.backbone_lr)):
            g["lr"] = base * lr_factor(self.step, cfg.optim)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.net.parameters()) + list(self.proj.parameters()), cfg.optim.grad_clip)
        self.opt.step()
        self.step += 1
        return {"loss": loss.item(), **{k: v.item() / len(segs) for k, v in parts.items()}}

    def fit(self, steps: int | None = None) -> None:
        """Train until `steps` (default: the config's total), checkpointing and validating on the way."""
        cfg = self.cfg
        end = min(steps or cfg.optim.steps, cfg.optim.steps)
        loader = torch.utils.data.DataLoader(
            self.data,
            batch_size=cfg.optim.batch_size,
            num_workers=cfg.data.workers,
            persistent_workers=cfg.data.workers > 0,
        )
        bar = tqdm(total=end, initial=self.step, disable=self.rank != 0, dynamic_ncols=True, desc=cfg.role)
        started, clips = time.time(), 0
        for batch in loader:
            if self.step >= end:
                break
            self.data.set_progress(self.step, cfg.optim.steps)
            row = self.train_step(batch)
            clips += batch["images"].shape[0]
            speed = clips / (time.time() - started)
            bar.set_postfix(loss=f"{row['loss']:.3f}", clips_s=f"{speed:.2f}")
            bar.update(1)
            if self.step % 10 == 0:
                self.log({"step": self.step, "time": time.time(), "clips_per_s": speed, **row})
            if self.rank == 0 and (self.step % cfg.val_every == 0 or self.step == end):
                self.validate(bar)
            if self.step % cfg.checkpoint_every == 0 or self.step == end:
                self.save()
        bar.close()

    def validate(self, bar: tqdm) -> None:
        """Synthetic and selection-sequence J&F, logged; a new best selection J&F also writes best.safetensors."""
        cfg, finite = self.cfg, self.cfg.role == "student"
        val = synth_validation(self.net, cfg.val_videos, cfg.val_frames, cfg.data.size, finite_memory=finite)
        row = {"step": self.step, "val_synth": val}
        message = f"step {self.step}: synthetic validation J&F {val['J&F']:.2f}"
        if cfg.val_selection_short_side and cfg.data.davis:
            sel = selection_validation(self.net, cfg.data.davis[0], cfg.val_selection_short_side, finite)
            row["val_selection"] = sel
            message += f", selection sequences J&F {sel['J&F']:.2f}"
            if sel["J&F"] > self.best_selection:
                self.best_selection = sel["J&F"]
                save_network(
                    self.out / "best.safetensors.tmp",
                    self.net,
                    {"step": self.step, "train_config": to_dict(cfg), "selection": sel},
                )
                os.replace(self.out / "best.safetensors.tmp", self.out / "best.safetensors")
                message += " (best so far: best.safetensors)"
        self.log(row)
        bar.write(message)


def _init_distributed() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed only when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank() if world > 1 else 0), world


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("role", choices=["teacher", "student"])
    p.add_argument("--config", help="JSON file with TrainConfig fields (defaults in mobilevos/train.py)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, metrics.jsonl, config.json")
    p.add_argument("--teacher", help="teacher weights for distillation")
    p.add_argument("--init", help="start from these weights (fine-tuning; optimiser and schedule start fresh)")
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
    cfg = build_config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    if not (out / "run.json").exists() or args.fresh:  # provenance of the run, kept across resumes
        (out / "run.json").write_text(json.dumps(provenance(), indent=2))
    trainer = Trainer(cfg, out, fresh=args.fresh)
    trainer.fit(args.stop_at)
