"""The trainer: network, optimiser, data, checkpoints, validation and the best checkpoint of one run."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from mobilevos.config import to_dict
from mobilevos.data.mix import MixedClips
from mobilevos.models.checkpoint import grow_state, load_network, save_network
from mobilevos.models.fast_encoder import FastEncoder, grow_encoder_state
from mobilevos.models.network import GROWABLE_PATHS, SpaceTimeNetwork
from mobilevos.models.prompt_head import load_head
from mobilevos.train import losses
from mobilevos.train.config import OptimConfig, TrainConfig
from mobilevos.train.encoder_distill import load_encoder
from mobilevos.train.unroll import (
    ClipUnroll,
    click_term,
    feature_term,
    make_target,
    representation_term,
    resize_clip,
    scaled_size,
    teacher_segmentations,
)
from mobilevos.train.validate import click_validation, selection_validation, synth_validation

# The value backbone's stem conv reads image + masks; its mask channels start at zero (ImageNet has none), so it is
# never frozen and learns at the heads' rate. (Frozen, as it once was, the teacher never saw its masks at all.)
VALUE_STEM = "value_encoder.backbone._conv_stem."


def freeze_early_blocks(net: SpaceTimeNetwork, stride: int) -> None:
    """Stop gradients into the stem and the blocks whose output stride is <= `stride`, in every backbone (except the
    value backbone's stem conv: see VALUE_STEM)."""
    backbones = [net.backbone] + ([net.value_encoder.backbone] if hasattr(net.value_encoder, "backbone") else [])
    for bb in backbones:
        if isinstance(bb, FastEncoder):  # a dense key encoder: its layers up to the stride
            for layer in [layer for layer, s in zip(bb.layers, bb.strides) if s <= stride]:
                layer.requires_grad_(False)
            continue
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
        if cfg.model.key_encoder_pruned() and not cfg.init:
            raise ValueError(
                "a pruned key encoder (model.backbone_share < 1 or model.backbone_max_kernel) starts from "
                "`mobilevos prune`: --init it"
            )
        self.net = SpaceTimeNetwork(cfg.model).to(self.device)
        init_backbone = self._load_init(cfg.init) if cfg.init else None
        if cfg.init_encoder:
            load_encoder(self.net, cfg.init_encoder, init_backbone)
        if not 0 < cfg.distill.student_scale <= 1:
            raise ValueError(f"distill.student_scale must be in (0, 1], got {cfg.distill.student_scale}")
        self.uses_repr = cfg.role == "student" and cfg.distill.loss in ("repr", "unified")
        self.teacher = None
        # The teacher is needed for logit KD, for the representation loss unless omega = 0 (labels only), and for
        # feature matching.
        if cfg.role == "student" and (
            cfg.distill.loss in ("kd", "unified")
            or (self.uses_repr and cfg.distill.omega > 0)
            or cfg.distill.feature_weight > 0
        ):
            if not cfg.teacher:
                raise ValueError(f"--loss {cfg.distill.loss} needs --teacher CHECKPOINT")
            if cfg.distill.feature_weight > 0 and cfg.distill.teacher_scale != 1.0:
                raise ValueError("distill.feature_weight needs distill.teacher_scale=1 (features on the same grid)")
            self.teacher = load_network(cfg.teacher, cfg.device)
            self.teacher_unroll = ClipUnroll(self.teacher, finite_memory=False)
        self.click_head = None
        if cfg.distill.click_weight > 0:  # frozen: only the key encoder learns to serve it
            self.click_head = load_head(cfg.distill.click_head, cfg.device).requires_grad_(False)
            if tuple(self.click_head.cfg.feature_dims) != self.net.feature_dims:
                raise ValueError(
                    f"distill.click_head {cfg.distill.click_head} reads features of "
                    f"{self.click_head.cfg.feature_dims} channels; this network's key encoder gives "
                    f"{self.net.feature_dims}"
                )
        t_dim = self.teacher.decoder.embed_dim if self.teacher is not None else self.net.decoder.embed_dim
        self.proj = nn.Linear(self.net.decoder.embed_dim, t_dim, bias=False).to(self.device)
        freeze_early_blocks(self.net, cfg.optim.freeze_stride)
        self.clip_unroll = ClipUnroll(self.net, finite_memory=cfg.role == "student")
        self.unroll = self.clip_unroll
        if self.world > 1:
            self.unroll = nn.parallel.DistributedDataParallel(self.clip_unroll)
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
        self.best_selection = -1.0  # selection J&F of <out>/best.safetensors (mean over the sides validated)
        if fresh and self.rank == 0:  # a fresh run's log and choice must not mix with those of the run it replaces
            for stale in ("metrics.jsonl", "best.safetensors"):
                (out / stale).unlink(missing_ok=True)
        if not fresh and (out / "last_state.pt").exists():
            self._resume()
        self.data = MixedClips(cfg.data, seed=cfg.seed * 1000 + self.rank, start=self.step * cfg.optim.batch_size)
        self.gen = torch.Generator().manual_seed(cfg.seed + 7919 * (self.rank + 1) + self.step)
        self.prompt_rng = np.random.default_rng([cfg.seed, self.rank, self.step])  # simulated clicks (click_term)

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _load_init(self, path: str) -> dict[str, torch.Tensor]:
        """Load the init network's weights (see below); returns its key-encoder state, from which a hybrid fast
        encoder takes its Lite0 blocks."""
        init = load_network(path)
        # The architecture changes fine-tuning allows: paths added to the init network (grown, see grow_state), and
        # a fast key encoder in place of the init's Lite backbone when --init-encoder brings its weights.
        swap = self.cfg.model.backbone.startswith("fast-") and bool(self.cfg.init_encoder)
        # a fast key encoder grown by residual blocks (e2 -> e3), starting as the init's encoder
        grow = not swap and init.cfg.backbone.startswith("fast-") and init.cfg.backbone != self.cfg.model.backbone
        same = {k: getattr(self.cfg.model, k) for k in ("pretrained", *GROWABLE_PATHS)}
        if swap or grow:
            same |= {"backbone": self.cfg.model.backbone, "backbone_blocks": self.cfg.model.backbone_blocks}
        if dataclasses.replace(init.cfg, **same) != self.cfg.model:
            raise ValueError(f"--init {path}: its architecture {init.cfg} differs from the run's {self.cfg.model}")
        for name in GROWABLE_PATHS:
            if getattr(init.cfg, name) and not getattr(self.cfg.model, name):
                raise ValueError(f"--init {path} has {name}; the run does not (add --set model.{name}=true)")
        state = init.state_dict()
        if swap:  # everything but the key encoder, whose weights --init-encoder loads next
            own = self.net.state_dict()
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
            state |= {k: v for k, v in own.items() if k.startswith("backbone.")}
        elif grow:
            if not isinstance(self.net.backbone, FastEncoder):
                raise ValueError(f"--init {path}: a fast key encoder cannot grow into {self.cfg.model.backbone}")
            encoder = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
            state |= {f"backbone.{k}": v for k, v in grow_encoder_state(self.net.backbone, encoder).items()}
        self.net.load_state_dict(grow_state(self.net.state_dict(), state))
        return init.backbone.state_dict()

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
        t_images, t_masks = images, masks  # the teacher's view: the clip as loaded
        if cfg.distill.student_scale != 1.0:
            size = scaled_size(images.shape[-2:], cfg.distill.student_scale, self.net.stride)
            images, masks, void = resize_clip(images, masks, void, size)
        segs = self.unroll(images, masks, valid)
        t_segs = None
        if self.teacher is not None:
            with torch.no_grad():
                t_segs = teacher_segmentations(
                    self.teacher_unroll, t_images, t_masks, valid, cfg.distill.teacher_scale, images.shape[-2:]
                )
        top_p = cfg.optim.bootstrap_end + (cfg.optim.bootstrap_start - cfg.optim.bootstrap_end) * max(
            0.0, 1 - self.step / max(1, cfg.optim.bootstrap_steps)
        )
        parts = dict.fromkeys(("seg", "kd", "repr", "feat", "click"), torch.zeros((), device=self.device))
        if cfg.distill.feature_weight > 0:  # once per clip; scaled by the frame count so the mean below undoes it
            student, teacher = self.clip_unroll.features, self.teacher_unroll.features
            parts["feat"] = cfg.distill.feature_weight * len(segs) * feature_term(student, teacher)
        if self.click_head is not None:  # once per clip too
            click = click_term(self.click_head, self.clip_unroll.features, masks, valid, self.prompt_rng)
            parts["click"] = cfg.distill.click_weight * len(segs) * click
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
        if self.step == end == 0:  # `--steps 0`: score and save the network fine-tuning would start from
            if self.rank == 0:
                self.validate(bar)
            self.save()
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
            sides = {cfg.val_selection_short_side: sel["J&F"]}
            for side in cfg.val_selection_extra_sides:
                sides[side] = selection_validation(self.net, cfg.data.davis[0], side, finite)["J&F"]
            score = sum(sides.values()) / len(sides)
            if cfg.val_selection_extra_sides:
                row["val_selection_sides"] = {"J&F": sides, "mean": score}
                message += " (" + ", ".join(f"{s}: {v:.2f}" for s, v in sides.items()) + f"; mean {score:.2f})"
            if score > self.best_selection:
                self.best_selection = score
                save_network(
                    self.out / "best.safetensors.tmp",
                    self.net,
                    {"step": self.step, "train_config": to_dict(cfg), "selection": sel},
                )
                os.replace(self.out / "best.safetensors.tmp", self.out / "best.safetensors")
                message += " (best so far: best.safetensors)"
            if self.click_head is not None:  # what the click term is for, logged beside what it may cost
                clicks = row["val_clicks"] = click_validation(self.net, self.click_head, cfg.data.davis[0])
                message += ", click mIoU after 1/3/5 clicks " + " / ".join(
                    f"{clicks[f'clicks_{k}']:.3f}" for k in (1, 3, 5)
                )
        self.log(row)
        bar.write(message)


def _init_distributed() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed only when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank() if world > 1 else 0), world
