"""Train the prompt head (`mobilevos.models.prompt_head`) on the frozen student's key-encoder features.

    python -m mobilevos.train.prompt --out runs/prompt --steps 6000          # starts, or resumes runs/prompt
    python -m mobilevos.train.prompt --out runs/prompt --fresh --set batch=8 lr=1e-3

Samples are augmented crops (random scale, crop, flip) of annotated frames of the training sequences (never the
selection sequences, never an evaluation split) and frames of synthetic clips (exact masks), one object each. The
encoder is frozen, so its features are computed once per crop into a pool that a few fresh crops replace every
step; each crop is then seen with many different prompts. Prompts are simulated as interactive segmentation
training does: a jittered interior click or a jittered box, then 0..max_rounds rounds of corrective clicks on the
largest error region of the head's own prediction, which is fed back as the previous-mask channel.

Checkpoints: <out>/last.safetensors (the head; config and step in its metadata) and <out>/last_state.pt
(optimiser), written every `save_minutes` and at the end; a run started again with the same --out resumes (the
pool is redrawn).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mobilevos.config import apply_overrides, from_dict, merge, to_dict
from mobilevos.data.clips import load_backgrounds
from mobilevos.data.davis import read_sequence
from mobilevos.data.splits import split_sequences
from mobilevos.data.synth import SynthConfig, clip_seed, generate_clip
from mobilevos.models.checkpoint import load_network
from mobilevos.models.network import SpaceTimeNetwork
from mobilevos.models.prompt_head import PromptHead, PromptHeadConfig, read_head_metadata, save_head
from mobilevos.prompts import centre_click, jitter_box, next_click, prompt_maps, tight_box

MIN_OBJECT_PIXELS = 64  # a crop must keep at least this much of its object


@dataclass
class PromptTrainConfig:
    """Training settings (defaults sized for one CPU thread); `head` is the architecture."""

    root: str = "../shared/data/davis16-train-240p"  # DAVIS-layout training folder (training split only)
    student: str = "student"  # frozen key encoder: shipped name or weight file
    crop: tuple[int, int] = (192, 256)  # training crop (H, W), multiples of 16
    scale: tuple[float, float] = (0.8, 1.33)  # random resize of the frame before cropping
    # Random width/height factor on top: the web app squashes frames to 240x320 (0.75 for 16:9) without keeping the
    # aspect ratio, the Python tracker keeps it.
    aspect: tuple[float, float] = (0.7, 1.1)
    synth_prob: float = 0.3  # fraction of pool crops from synthetic clips
    pool: int = 768  # crops with cached features
    refresh: int = 2  # crops replaced in the pool per step
    batch: int = 16
    steps: int = 6000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    box_prob: float = 0.35  # samples prompted with a box instead of a first click
    box_jitter: float = 0.1
    max_rounds: int = 3  # corrective-click rounds before the graded prediction (uniform in 0..max_rounds)
    save_minutes: float = 3.0
    seed: int = 0
    head: PromptHeadConfig = field(default_factory=PromptHeadConfig)


class CropSource:
    """Random one-object crops (RGB uint8 [h, w, 3], bool mask [h, w]) from training frames and synthetic clips."""

    def __init__(self, cfg: PromptTrainConfig, rng: np.random.Generator, synth_only: bool = False):
        self.cfg, self.rng = cfg, rng
        self.frames: list[tuple] = []
        self.backgrounds = None
        if not synth_only:
            root = Path(cfg.root)
            for name in split_sequences(root, "train"):  # refuses an evaluation-only folder
                seq = read_sequence(root, name)
                self.frames += [(seq, t) for t in seq.mask_paths]
            self.backgrounds = load_backgrounds(root, 32, cfg.seed)
        self.synth_cfg = SynthConfig(max_objects=3)

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """One crop and its object's mask."""
        while True:
            if not self.frames or self.rng.random() < self.cfg.synth_prob:
                sample = self._synthetic()
            else:
                seq, t = self.frames[int(self.rng.integers(len(self.frames)))]
                sample = self._crop(seq.load_frame(t), seq.load_mask(t))
            if sample is not None:
                return sample

    def _synthetic(self) -> tuple[np.ndarray, np.ndarray] | None:
        seed = clip_seed(self.cfg.seed, int(self.rng.integers(2**31)))  # from rng: a resumed run draws new clips
        frames, masks = generate_clip(seed, 1, self.cfg.crop, self.synth_cfg, self.backgrounds)
        obj = int(self.rng.integers(1, int(masks.max()) + 1))
        mask = masks[0] == obj
        return (frames[0], mask) if mask.sum() >= MIN_OBJECT_PIXELS else None

    def _crop(self, image: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        ids = [i for i in np.unique(index) if 0 < i < 255]
        if not ids:
            return None
        ch, cw = self.cfg.crop
        h, w = index.shape
        sy = self.rng.uniform(*self.cfg.scale)
        sx = sy * self.rng.uniform(*self.cfg.aspect)
        size = (max(cw, round(w * sx)), max(ch, round(h * sy)))  # cv2's (W, H), never smaller than the crop
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if min(sx, sy) < 1 else cv2.INTER_LINEAR)
        mask = (index == ids[int(self.rng.integers(len(ids)))]).astype(np.uint8)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        if self.rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        total = int(mask.sum())
        for _ in range(8):  # a crop that keeps a good part of the object
            y, x = int(self.rng.integers(size[1] - ch + 1)), int(self.rng.integers(size[0] - cw + 1))
            kept = int(mask[y : y + ch, x : x + cw].sum())
            if kept >= MIN_OBJECT_PIXELS and kept >= 0.3 * total:
                return np.ascontiguousarray(image[y : y + ch, x : x + cw]), mask[y : y + ch, x : x + cw] > 0
        return None


class FeaturePool:
    """Frozen-encoder features (fp16) and masks of `size` crops; `refresh` replaces random entries with new crops."""

    def __init__(self, net: SpaceTimeNetwork, source: CropSource, size: int, rng: np.random.Generator):
        self.net, self.source, self.size, self.rng = net, source, size, rng
        self.feats: list[torch.Tensor] | None = None
        self.masks = np.zeros((size, *source.cfg.crop), bool)
        for start in tqdm(range(0, size, 16), desc="feature pool", leave=False):
            self._fill(list(range(start, min(start + 16, size))))

    @torch.inference_mode()
    def _fill(self, slots: list[int]) -> None:
        crops = [self.source.draw() for _ in slots]
        images = torch.from_numpy(np.stack([c[0] for c in crops])).permute(0, 3, 1, 2).float().div(255)
        f = self.net.encode_key(images)
        parts = (f.f16, f.f8, f.f4)
        if self.feats is None:
            self.feats = [torch.zeros(self.size, *p.shape[1:], dtype=torch.float16) for p in parts]
        for store, p in zip(self.feats, parts):
            store[slots] = p.half()
        self.masks[slots] = np.stack([c[1] for c in crops])

    def refresh(self, count: int) -> None:
        """Replace `count` random entries with fresh crops."""
        if count:
            self._fill(self.rng.choice(self.size, count, replace=False).tolist())

    def batch(self, count: int) -> tuple[list[torch.Tensor], np.ndarray]:
        """(f16, f8, f4) float32 and bool masks [B, h, w] of `count` random entries."""
        idx = self.rng.choice(self.size, count, replace=False)
        return [f[idx].float() for f in self.feats], self.masks[idx]


def initial_prompts(masks: np.ndarray, cfg: PromptTrainConfig, rng: np.random.Generator) -> tuple[list, list]:
    """Per sample: clicks (a jittered interior click) or a jittered box (with probability `box_prob`)."""
    clicks, boxes = [], []
    for mask in masks:
        if rng.random() < cfg.box_prob:
            clicks.append([])
            boxes.append(jitter_box(tight_box(mask), mask.shape, rng, cfg.box_jitter))
        else:
            clicks.append([centre_click(mask, True, rng)])
            boxes.append(None)
    return clicks, boxes


def render(clicks: list, boxes: list, previous: np.ndarray | None, cfg: PromptTrainConfig) -> torch.Tensor:
    """Prompt maps [B, 4, h, w] of a batch."""
    maps = [
        prompt_maps(c, b, None if previous is None else previous[i], cfg.crop, cfg.head.click_sigma)
        for i, (c, b) in enumerate(zip(clicks, boxes))
    ]
    return torch.from_numpy(np.stack(maps))


def mask_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice (the Dice term keeps small objects from being drowned by background)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    dice = 1 - (2 * (prob * t).sum(1) + 1) / (prob.sum(1) + t.sum(1) + 1)
    return bce + dice.mean()


def simulate_prompts(
    head: PromptHead, feats: list[torch.Tensor], masks: np.ndarray, cfg: PromptTrainConfig, rng: np.random.Generator
) -> torch.Tensor:
    """Prompt maps [B, 4, h, w] a user would have made for `masks` (bool [B, h, w]): a first click or box, then
    0..max_rounds corrective clicks on the head's own predictions (run without gradient, the head in eval mode)."""
    clicks, boxes = initial_prompts(masks, cfg, rng)
    previous = None
    feats = [f.detach() for f in feats]
    head.eval()
    with torch.no_grad():
        for _ in range(int(rng.integers(cfg.max_rounds + 1))):
            previous = torch.sigmoid(head(*feats, render(clicks, boxes, previous, cfg)))[:, 0].numpy()
            for i, mask in enumerate(masks):
                click = next_click(previous[i] > 0.5, mask, rng)
                if click is not None:
                    clicks[i].append(click)
    return render(clicks, boxes, previous, cfg)


def train_step(
    head: PromptHead,
    opt: torch.optim.Optimizer,
    feats: list[torch.Tensor],
    masks: np.ndarray,
    cfg: PromptTrainConfig,
    rng: np.random.Generator,
) -> float:
    """One optimiser step: simulated prompts, corrective rounds without gradient, then the graded prediction."""
    prompts = simulate_prompts(head, feats, masks, cfg, rng)
    head.train()
    logits = head(*feats, prompts)
    loss = mask_loss(logits, torch.from_numpy(masks[:, None]).float())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def lr_factor(step: int, cfg: PromptTrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5% at `steps`."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def train(cfg: PromptTrainConfig, out: str | Path, fresh: bool = False, synth_only: bool = False) -> PromptHead:
    """Train (or resume, unless `fresh`) the prompt head into `out`; returns it. `synth_only` skips the DAVIS
    folder (tests)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net = load_network(cfg.student)
    head = PromptHead(cfg.head)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    if not fresh and (out / "last.safetensors").is_file():
        saved_cfg, _ = read_head_metadata(out / "last.safetensors")
        if saved_cfg != cfg.head:
            raise ValueError(f"{out} holds a head of another architecture ({saved_cfg}); use --fresh or another --out")
        state = torch.load(out / "last_state.pt", weights_only=False)
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed {out} at step {step}")
    # Seeded by the step too, so a resumed run draws new crops and prompts rather than replaying the first ones.
    rng = np.random.default_rng([cfg.seed, step])
    torch.manual_seed(cfg.seed + step)
    if fresh:
        (out / "metrics.jsonl").unlink(missing_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    pool = FeaturePool(net, CropSource(cfg, rng, synth_only), cfg.pool, rng)

    def save() -> None:
        meta = {"step": step, "train_config": to_dict(cfg), "student": cfg.student}
        save_head(out / "last.safetensors.tmp", head, meta)
        torch.save({"head": head.state_dict(), "optimizer": opt.state_dict(), "step": step}, out / "last_state.pt.tmp")
        # Renames are atomic: a run killed while saving still finds the previous complete checkpoint.
        os.replace(out / "last.safetensors.tmp", out / "last.safetensors")
        os.replace(out / "last_state.pt.tmp", out / "last_state.pt")

    last_save, bar = time.time(), tqdm(total=cfg.steps, initial=step, desc="prompt head", dynamic_ncols=True)
    with open(out / "metrics.jsonl", "a") as log:
        while step < cfg.steps:
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_factor(step, cfg)
            pool.refresh(cfg.refresh)
            loss = train_step(head, opt, *pool.batch(cfg.batch), cfg, rng)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            log.write(json.dumps({"step": step, "loss": loss, "time": time.time()}) + "\n")
            if time.time() - last_save > 60 * cfg.save_minutes:
                save()
                log.flush()
                last_save = time.time()
    save()
    bar.close()
    return head.eval()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of the prompt-head training command (for `mobilevos train prompt` too)."""
    p.add_argument("--out", default="runs/prompt", help="run folder: checkpoints, metrics.jsonl, config.json")
    p.add_argument("--config", help="JSON file with PromptTrainConfig fields")
    p.add_argument("--steps", type=int, help="total optimiser steps")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE", help="e.g. batch=8")


def build_config(args: argparse.Namespace) -> PromptTrainConfig:
    """PromptTrainConfig from the defaults, then the --config file, then --steps, then --set overrides."""
    data = to_dict(PromptTrainConfig())
    if args.config:
        data = merge(data, json.loads(Path(args.config).read_text()), "PromptTrainConfig")
    overrides = ([f"steps={args.steps}"] if args.steps is not None else []) + list(args.overrides)
    return from_dict(PromptTrainConfig, apply_overrides(data, overrides))


def run(args: argparse.Namespace) -> None:
    """Train with the config the arguments build, on `--threads` CPU threads."""
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    train(build_config(args), args.out, args.fresh)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m mobilevos.train.prompt", description=__doc__.split("\n")[0])
    add_arguments(parser)
    run(parser.parse_args())
