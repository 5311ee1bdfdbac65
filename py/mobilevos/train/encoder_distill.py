"""Feature distillation of a fast key encoder (`mobilevos.models.fast_encoder`) from the student's Lite0 (issue 18).

Only EfficientNet-Lite0/1/2 have ImageNet weights here, so the dense encoder starts by regressing Lite0's f4, f8 and
f16 on training frames; it then drops into the student (`net.backbone = encoder`) for fine-tuning. The target is the
shipped student's own Lite0 (`--teacher student`, the features its decoder and key projection were trained on) or the
ImageNet one (`--teacher imagenet`). The loss is the MSE per channel normalised by the target's channel std (measured
once at the start), or 1 - cosine over channels (`--loss cosine`), averaged over the three taps.

Data: frames of the DAVIS training sequences under the fixed split (`split_sequences(root, "train")`: the selection
sequences are never trained on; a fixed batch of them is the held-out loss), random scale, crop, flip, colour jitter,
and with `--mix` a share of blends of two frames (mixup).

    python -m mobilevos.train.encoder_distill --out checkpoints/fast-encoder            # starts, or resumes from last
    python -m mobilevos.train.encoder_distill --out checkpoints/fast-encoder --steps 40000   # resume, longer schedule
    python -m mobilevos.train.encoder_distill --out checkpoints/fast-encoder-mix --mix 0.5  # resume a copy, blending
    python -m mobilevos.train.encoder_distill --out checkpoints/fast-encoder --score [--score-baseline]

`--score` tracks the selection sequences with the shipped student whose Lite0 is swapped for the checkpoint's encoder,
without fine-tuning (how much of the student survives the swap), and appends J&F to `<out>/scores.jsonl`.

`<out>/last.safetensors` (written every --save-every-min minutes and at the end) holds the encoder weights
(`model.*`), the target's channel std (`norm.*`) and the AdamW moments (`optim.*`), with the config and step in
its metadata; `<out>/metrics.jsonl` has one line per --log-every steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from mobilevos.data.davis import load_frame
from mobilevos.data.splits import split_sequences
from mobilevos.models.efficientnet_lite import PIXEL_MEAN, PIXEL_STD, EfficientNetLite, load_pretrained
from mobilevos.models.fast_encoder import FastEncoder, FastEncoderConfig, build_fast_encoder, hybrid_encoder_state

TAPS = ("f4", "f8", "f16")


@dataclass
class EncoderDistillConfig:
    """One distillation run; stored in every checkpoint, and used as stored when the run resumes."""

    design: str = "e2"  # a name in mobilevos.models.fast_encoder.DESIGNS
    teacher: str = "student"  # "student": the shipped student's Lite0; "imagenet": Lite0's ImageNet weights
    data: str = "../shared/data/davis16-train-240p"
    crop: tuple[int, int] = (240, 320)  # training crop (H, W), the web app's model input
    batch: int = 8
    steps: int = 20000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    loss: str = "mse"  # "mse" (channel-normalised) or "cosine"
    seed: int = 0
    # Share of training images blended with a second random frame (mixup, weight uniform in [0, 1]). The encoder
    # matches its teacher on whatever image it is given, so blends are extra distinct inputs with exact targets
    # ("function matching", Beyer et al., CVPR 2022): ~2,000 training frames are all the real images here, and the
    # e2 run's f16 loss is 0.45 on them against 0.54 on the held-out frames. Measured at 0.5 (session 12,
    # checkpoints/fast-encoder-mix): f16's held-out loss 0.01 lower, f4's 0.01 higher, the mean unchanged.
    mix: float = 0.0


class FrameSampler:
    """Random augmented crops of single frames: scale 0.8-1.25 around a crop-filling size, flip, colour jitter."""

    def __init__(self, root: str | Path, split: str, crop: tuple[int, int]):
        root = Path(root)
        self.paths = sorted(
            p for seq in split_sequences(root, split) for p in (root / "JPEGImages" / seq).glob("*.jpg")
        )
        if not self.paths:
            raise ValueError(f"no frames in {root} for split {split!r}")
        self.crop = crop

    def _crop(self, path: Path, rng: np.random.Generator | None) -> torch.Tensor:
        img = torch.from_numpy(load_frame(path).copy()).permute(2, 0, 1).float()[None] / 255.0
        (ch, cw), (h, w) = self.crop, img.shape[-2:]
        scale = max(ch / h, cw / w) * (rng.uniform(0.8, 1.25) if rng is not None else 1.0)
        size = (max(ch, round(h * scale)), max(cw, round(w * scale)))
        img = F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        top = rng.integers(0, size[0] - ch + 1) if rng is not None else (size[0] - ch) // 2
        left = rng.integers(0, size[1] - cw + 1) if rng is not None else (size[1] - cw) // 2
        img = img[:, top : top + ch, left : left + cw]
        if rng is None:
            return img
        if rng.random() < 0.5:
            img = img.flip(-1)
        gray = img.mean(0, keepdim=True)
        img = gray + (img - gray) * rng.uniform(0.7, 1.3)  # saturation
        img = img.mean() + (img - img.mean()) * rng.uniform(0.75, 1.25)  # contrast
        return (img * rng.uniform(0.75, 1.25)).clamp(0, 1)  # brightness

    def batch(self, n: int, rng: np.random.Generator, mix: float = 0.0) -> torch.Tensor:
        """[n, 3, H, W] in [0, 1]: random frames, augmented; a share `mix` of them blended with another random
        augmented frame (drawn after the batch, so the unblended images are those of `mix=0` with the same rng)."""
        if not 0 <= mix <= 1:
            raise ValueError(f"mix is the share of blended images, between 0 and 1 (got {mix})")
        images = torch.stack([self._crop(self.paths[i], rng) for i in rng.integers(0, len(self.paths), n)])
        for k in np.flatnonzero(rng.random(n) < mix):
            weight = rng.uniform()
            other = self._crop(self.paths[rng.integers(0, len(self.paths))], rng)
            images[k] = weight * images[k] + (1 - weight) * other
        return images

    def fixed(self, n: int) -> torch.Tensor:
        """[n, 3, H, W]: n frames evenly spread over the split, centre crops, no augmentation (a held-out batch)."""
        return torch.stack(
            [self._crop(self.paths[i], None) for i in np.linspace(0, len(self.paths) - 1, n).astype(int)]
        )


def load_teacher(kind: str) -> torch.nn.Module:
    """Lite0 blocks 0-10 in eval mode whose forward(x) returns [f4, f8, f16] of a normalised image."""
    net = EfficientNetLite("lite0", 11)
    if kind == "student":
        from mobilevos.models.checkpoint import load_network

        student = load_network("student")
        if student.cfg.backbone != "lite0" or student.cfg.backbone_blocks != 11:
            raise ValueError("the shipped student's key encoder is not Lite0 blocks 0-10")
        net = student.backbone
    elif kind == "imagenet":
        load_pretrained(net, "lite0")
    else:
        raise ValueError(f"unknown teacher {kind!r} (student or imagenet)")
    taps = tuple(net.last_block_with_stride(s) for s in (4, 8, 16))

    class Teacher(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.forward_features(x, taps)

    return Teacher().eval().requires_grad_(False)


def normalise(image: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB -> the encoders' input (Lite0's normalisation, as `SpaceTimeNetwork.encode_key` applies it)."""
    return (image - PIXEL_MEAN) / PIXEL_STD


def distill_losses(student, target, std: list[torch.Tensor], kind: str) -> list[torch.Tensor]:
    """One loss per tap: MSE normalised by the target's channel std, or 1 - cosine over channels."""
    out = []
    for s, t, sd in zip(student, target, std):
        if kind == "mse":
            out.append((((s - t) / sd[None, :, None, None]) ** 2).mean())
        elif kind == "cosine":
            out.append((1 - F.cosine_similarity(s, t, dim=1)).mean())
        else:
            raise ValueError(f"unknown loss {kind!r} (mse or cosine)")
    return out


def lr_at(cfg: EncoderDistillConfig, step: int) -> float:
    """Linear warmup, then cosine decay to 1% of cfg.lr at cfg.steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def save_checkpoint(path: Path, cfg, enc: FastEncoder, opt, std: list[torch.Tensor], step: int) -> None:
    """Weights, target std and AdamW moments in one safetensors file (written to a temp name, then renamed)."""
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in enc.state_dict().items()}
    tensors |= {f"norm.{name}": s.contiguous() for name, s in zip(TAPS, std)}
    for idx, state in opt.state_dict()["state"].items():
        tensors |= {f"optim.{idx}.{k}": v.contiguous() for k, v in state.items()}
    meta = {"config": json.dumps(dataclasses.asdict(cfg)), "encoder": json.dumps(enc.cfg.as_dict()), "step": str(step)}
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, tensors) of a checkpoint written by `save_checkpoint`."""
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)


def saved_encoder(path: str | Path) -> FastEncoder:
    """The fast encoder saved in distillation checkpoint `path`, with its weights."""
    meta, tensors = load_checkpoint(Path(path))
    enc = FastEncoder(FastEncoderConfig.from_dict(json.loads(meta["encoder"])))
    enc.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
    return enc


def load_encoder(net, path: str | Path, lite: dict[str, torch.Tensor] | None = None) -> None:
    """Put the fast encoder saved in distillation checkpoint `path` into `net` (whose config names a fast-<design>
    backbone of the same layout; or a hybrid whose dense layers are that encoder's first ones, its Lite0 blocks then
    taken from `lite`, the key-encoder state of a Lite student); ValueError when the designs do not fit."""
    enc = saved_encoder(path)
    own = net.backbone
    if isinstance(own, FastEncoder) and own.cfg.lite_blocks:
        if lite is None:
            raise ValueError(f"{net.cfg.backbone} is a hybrid: its Lite0 blocks need --init, a Lite0 student")
        own.load_state_dict(hybrid_encoder_state(own, enc.state_dict(), lite))
        return
    if not isinstance(own, FastEncoder) or own.cfg != enc.cfg:
        raise ValueError(f"{path} holds the fast encoder {enc.cfg}; the network's backbone is {net.cfg.backbone}")
    own.load_state_dict(enc.state_dict())


def student_with_encoder(path: str | Path, student: str = "student"):
    """The shipped student (or weight file `student`) with its Lite0 key encoder replaced by the fast encoder saved in
    checkpoint `path`, in eval mode, untuned: what `--score` scores."""
    from mobilevos.models.checkpoint import load_network

    net = load_network(student)
    net.backbone = saved_encoder(path).eval()
    return net


def score(args: argparse.Namespace) -> None:
    """J&F on the selection sequences of the student with the checkpoint's encoder (and optionally of the student as
    shipped), appended to <out>/scores.jsonl."""
    import tempfile

    from mobilevos.eval.command import evaluate_model
    from mobilevos.models.checkpoint import load_network

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    meta, _ = load_checkpoint(out / "last.safetensors")
    root = Path(args.data or json.loads(meta["config"])["data"])
    nets = {"fast encoder": lambda: student_with_encoder(out / "last.safetensors")}
    if args.score_baseline:
        nets["lite0 (shipped)"] = lambda: load_network("student")
    with tempfile.TemporaryDirectory() as tmp, (out / "scores.jsonl").open("a") as log:
        for name, make in nets.items():
            res = evaluate_model(
                make(), root, Path(tmp) / name, 240, split_sequences(root, "selection"), progress=False
            )
            record = {"step": int(meta["step"]), "model": name, "J&F": round(res["summary"]["J&F"], 2)}
            print(json.dumps(record))
            log.write(json.dumps(record) + "\n")


def train(args: argparse.Namespace) -> None:
    """Start or resume the run in args.out; train until cfg.steps, checkpointing every args.save_every_min."""
    torch.set_num_threads(args.threads)  # one thread by default: the machine's other core is someone else's
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "last.safetensors"
    resume = ckpt.is_file() and not args.fresh
    if resume:
        meta, tensors = load_checkpoint(ckpt)
        cfg = EncoderDistillConfig(**json.loads(meta["config"]))
        cfg.crop, step = tuple(cfg.crop), int(meta["step"])
    else:
        fields = {f.name for f in dataclasses.fields(EncoderDistillConfig)}
        cfg = EncoderDistillConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None})
        step = 0
    if args.steps is not None:
        cfg.steps = args.steps
    if args.mix is not None:  # may change on resume too: a continuation with blends from a plain run's checkpoint
        cfg.mix = args.mix
    torch.manual_seed(cfg.seed)
    enc = build_fast_encoder(cfg.design)
    teacher = load_teacher(cfg.teacher)
    train = FrameSampler(cfg.data, "train", cfg.crop)
    held_out = normalise(FrameSampler(cfg.data, "selection", cfg.crop).fixed(16))  # scored only, never trained on
    opt = torch.optim.AdamW(enc.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if resume:
        enc.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        std = [tensors[f"norm.{name}"] for name in TAPS]
        state = opt.state_dict()
        for key, v in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state["state"].setdefault(int(idx), {})[name] = v
        opt.load_state_dict(state)
    else:
        with torch.no_grad():  # the target's channel std, measured once on augmented training frames
            feats = teacher(normalise(train.batch(32, np.random.default_rng([cfg.seed, 1 << 30]))))
        std = [f.std((0, 2, 3)).clamp_min(1e-3) for f in feats]
    # written on resume too: --steps and --mix may have changed the stored config
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
    with torch.no_grad():
        held_target = teacher(held_out)

    def held_out_loss() -> list[float]:
        enc.eval()
        with torch.no_grad():
            losses = distill_losses(enc.forward_features(held_out), held_target, std, cfg.loss)
        enc.train()
        return [round(v.item(), 5) for v in losses]

    enc.train()
    saved, t0 = time.monotonic(), time.monotonic()
    log = (out / "metrics.jsonl").open("a")
    bar = tqdm(total=cfg.steps, initial=step, dynamic_ncols=True, desc=f"distill {cfg.design}")
    running = []
    while step < cfg.steps:
        rng = np.random.default_rng([cfg.seed, step])  # per-step seed: a resumed run sees the same batches
        x = normalise(train.batch(cfg.batch, rng, cfg.mix))
        with torch.no_grad():
            target = teacher(x)
        losses = distill_losses(enc.forward_features(x), target, std, cfg.loss)
        loss = sum(losses) / len(losses)
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        running.append([v.item() for v in losses])
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        last = step == cfg.steps
        if step % args.log_every == 0 or last:
            mean = np.mean(running, 0)
            record = {"step": step, "loss": round(float(mean.mean()), 5), **dict(zip(TAPS, mean.round(5).tolist()))}
            record |= {"lr": round(lr_at(cfg, step - 1), 7), "elapsed_s": round(time.monotonic() - t0, 1)}
            if step % (args.log_every * 10) == 0 or last:
                record["held_out"] = held_out_loss()  # f4, f8, f16 on the selection frames
            log.write(json.dumps(record) + "\n")
            log.flush()
            running = []
        if last or time.monotonic() - saved > 60 * args.save_every_min:
            save_checkpoint(ckpt, cfg, enc, opt, std, step)
            saved = time.monotonic()
    bar.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `mobilevos distill-encoder` (and `python -m mobilevos.train.encoder_distill`)."""
    p.add_argument("--out", required=True, help="run folder (resumes from its last.safetensors)")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument("--design", help="fast encoder design (default e2)")
    p.add_argument("--teacher", choices=("student", "imagenet"))
    p.add_argument("--data")
    p.add_argument("--batch", type=int)
    p.add_argument("--steps", type=int, help="total steps (also extends a resumed run)")
    p.add_argument("--lr", type=float)
    p.add_argument("--loss", choices=("mse", "cosine"))
    p.add_argument("--seed", type=int)
    p.add_argument("--mix", type=float, help="share of training images blended with another frame (also on resume)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--save-every-min", type=float, default=5.0)
    p.add_argument("--score", action="store_true", help="score the checkpoint in the student instead of training")
    p.add_argument("--score-baseline", action="store_true", help="with --score: also the student as shipped")


def run(args: argparse.Namespace) -> None:
    """Train (start or resume), or score with --score."""
    (score if args.score else train)(args)


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m mobilevos.train.encoder_distill --out DIR [options]`."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
