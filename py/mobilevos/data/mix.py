"""The training stream: synthetic and real clips mixed by weight, with the frame-gap curriculum.

An infinite iterable (each DataLoader worker draws its own independent stream), so that mixing weights, the
synthetic-only warm-up and the growing frame gaps can follow the training step.
"""

from __future__ import annotations

import numpy as np
import torch

from mobilevos.data.clips import VideoClipDataset, load_backgrounds
from mobilevos.data.synth import SynthClipDataset

# Synthetic clips are indexed from a seed stream far from the validation seeds (mobilevos.train.validate).
_SYNTH_SEED_OFFSET = 1_000


class MixedClips(torch.utils.data.IterableDataset):
    """Yields clips in the trainer's format from DAVIS-layout folders (weight `davis_weight`) and the generator."""

    def __init__(self, cfg, seed: int, start: int = 0):
        """`cfg` is a `mobilevos.train.DataConfig`; `start` (clips already drawn) makes a resumed run continue the
        stream instead of replaying it."""
        self.cfg, self.seed, self.start = cfg, seed, start
        self.real = (
            VideoClipDataset(
                list(cfg.davis),
                cfg.clip_len,
                tuple(cfg.size),
                cfg.max_objects,
                cfg.max_gap_start,
                length=2**31 - 1,
                seed=seed,
                paste_prob=cfg.paste_prob,
                split=cfg.split,
                static_prob=cfg.static_prob,
                scale_range=tuple(cfg.scale_range),
            )
            if cfg.davis and cfg.davis_weight > 0
            else None
        )
        backgrounds = (
            load_backgrounds(cfg.davis[0], 64, seed, cfg.split) if cfg.davis and cfg.synth_backgrounds else None
        )
        self.synth = SynthClipDataset(
            2**31 - 1,
            cfg.clip_len,
            tuple(cfg.size),
            cfg.max_objects,
            seed=seed + _SYNTH_SEED_OFFSET,
            backgrounds=backgrounds,
        )
        self.step = torch.zeros(2, dtype=torch.long).share_memory_()  # (step, total): read by the workers

    def set_progress(self, step: int, total: int) -> None:
        """Called by the trainer each step: drives the curriculum in every worker."""
        self.step[0], self.step[1] = step, total

    def _max_gap(self) -> int:
        step, total = (int(x) for x in self.step)
        frac = min(1.0, step / max(1, total))
        return round(self.cfg.max_gap_start + frac * (self.cfg.max_gap_end - self.cfg.max_gap_start))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([self.seed, worker, self.start])
        index = self.start + worker
        while True:
            synth_only = int(self.step[0]) < self.cfg.synth_only_steps
            if self.real is not None and not synth_only and rng.random() < self.cfg.davis_weight:
                self.real.max_gap = self._max_gap()
                item = self.real[int(rng.integers(len(self.real)))]
            else:
                item = self.synth[index % len(self.synth)]
            index += workers
            yield item
