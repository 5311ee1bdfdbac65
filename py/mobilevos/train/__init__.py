"""`mobilevos train`: the teacher (supervised), or the student distilled from it.

    mobilevos train teacher --out runs/teacher
    mobilevos train student --teacher runs/teacher/last.safetensors --loss unified --omega 0.8 --out runs/student
    torchrun --nproc-per-node 4 -m mobilevos.cli train student ... --device cuda      # several GPUs, same code

Every clip is unrolled the way inference uses memory: frame 0 is encoded with its ground-truth masks, each later
frame reads memory and its own *predicted* soft masks are encoded for the frames after it. The student reads
[first, previous] (finite memory), the teacher every earlier frame (unbounded). A run resumes from `<out>/last_*`
when it is started again with the same --out; `--fresh` ignores it.
"""

from mobilevos.train.command import add_arguments, build_config, provenance, run
from mobilevos.train.config import DataConfig, DistillConfig, OptimConfig, TrainConfig
from mobilevos.train.trainer import Trainer, freeze_early_blocks, lr_factor
from mobilevos.train.unroll import (
    ClipUnroll,
    click_term,
    feature_term,
    make_target,
    representation_term,
    teacher_segmentations,
)

__all__ = [
    "ClipUnroll",
    "DataConfig",
    "DistillConfig",
    "OptimConfig",
    "TrainConfig",
    "Trainer",
    "add_arguments",
    "build_config",
    "click_term",
    "feature_term",
    "freeze_early_blocks",
    "lr_factor",
    "make_target",
    "provenance",
    "representation_term",
    "run",
    "teacher_segmentations",
]
