"""Training configuration: dataclasses for data, optimiser, distillation and the run (`--set` keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobilevos.models.network import NetworkConfig, student_config


@dataclass
class DataConfig:
    davis: tuple[str, ...] = ("../shared/data/davis16-train-240p",)  # DAVIS-layout training folders (never val)
    davis_weight: float = 0.7  # share of clips from the folders above; the rest are synthetic
    synth_backgrounds: bool = True  # synthetic clips also use crops of real training frames as backgrounds
    synth_only_steps: int = 0  # curriculum: only synthetic clips for the first steps
    clip_len: int = 3
    size: tuple[int, int] = (192, 320)  # training crop (H, W)
    scale_range: tuple[float, float] = (0.8, 1.5)  # real frames are resized by a factor drawn from this range times
    # the smallest scale that covers the crop (above 1.5: the object-centred zoom's magnifications, mobilevos.zoom)
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
    # The student sees the loaded clip downscaled by this factor (<= 1; antialiased, sides rounded to the stride)
    # while the teacher sees it as loaded: resolution distillation, for a student the page runs at small inputs
    # (issue 18). Labels are downscaled with it; the teacher's outputs and features are averaged onto its grid.
    student_scale: float = 1.0
    # Weight of matching the key encoder's features (f4, f8, f16; MSE over the teacher's per-channel std) to the
    # teacher's: for a dense-encoder student taught by the Lite0 student, whose heads it inherits and whose features
    # those heads were trained on (issue 18). Needs equal feature widths and teacher_scale = 1 (its upsampled
    # features would be interpolations, not a larger view).
    feature_weight: float = 0.0
    # Weight of the frozen click head's mask loss on the student's features for simulated prompts (`click_term`):
    # for a pruned student, whose fine-tune kept tracking but weakened the first click (issue 18).
    click_weight: float = 0.0
    click_head: str = "models/prompt_head.safetensors"  # the head it keeps working (trained on the teacher's features)


@dataclass
class TrainConfig:
    role: str = "student"  # student | teacher
    model: NetworkConfig = field(default_factory=student_config)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    teacher: str = ""  # teacher weights (student role with kd/repr/unified)
    init: str = ""  # start from these weights (same architecture) with a fresh optimiser and schedule: fine-tuning
    init_encoder: str = ""  # then a fast key encoder's distilled weights (`mobilevos distill-encoder`'s checkpoint)
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
    # ... and also at these short sides: the best checkpoint is then the one with the highest J&F averaged over every
    # side, for a model the web app runs at more than one input (Auto steps 240 -> 208, and a 16:9 frame at 208x272's
    # cost is seen at 176 rows).
    val_selection_extra_sides: tuple[int, ...] = ()
