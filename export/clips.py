"""Short clips at model resolution for the export's accuracy checks (davis16-val).

Frames and masks are resized once to the model resolution with the trackers' own resizes, so the PyTorch tracker
and the ONNX pipeline see identical inputs and compare at model resolution. Without the DAVIS folders, synthetic
clips (`mobilevos.data.synth`) stand in; every clip set says where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobilevos.data.davis import list_sequences, read_sequence
from mobilevos.data.synth import SynthConfig, clip_seed, generate_clip
from mobilevos.track import resize_frame, resize_mask

TRAINING_SPLIT = "davis16-train-240p"  # the click head's IoU is measured on its selection sequences
EVALUATION_SPLIT = "davis16-val"  # accuracy checks: evaluation data only
SYNTH_SEED = 424_242  # not a training stream seed (those are small integers + 1000)


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]  # uint8 [H, W, 3] at model resolution
    mask: np.ndarray  # uint8 [H, W] index mask of frame 0 at model resolution

    @property
    def num_objects(self) -> int:
        return len(self.objects)

    @property
    def objects(self) -> list[int]:
        """Object ids of the annotation (frame 0), increasing (the trackers' slot order)."""
        return [int(i) for i in np.setdiff1d(np.unique(self.mask), [0, 255])]

    def first_objects(self, count: int) -> Clip:
        """This clip with only its first `count` objects annotated (the others become background): a capacity-K
        graph can still be measured on a clip with more than K objects."""
        if self.num_objects <= count:
            return self
        keep = self.objects[:count]
        mask = np.where(np.isin(self.mask, keep) | (self.mask == 255), self.mask, 0).astype(self.mask.dtype)
        return Clip(f"{self.name} (first {count} objects)", self.frames, mask)


@dataclass
class ClipSet:
    source: str  # where the clips come from, as recorded in the manifest
    clips: list[Clip]

    @property
    def num_frames(self) -> int:
        return sum(len(c.frames) for c in self.clips)


def davis_clips(root: Path, size: tuple[int, int], frames: int, sequences: int | None = None) -> list[Clip]:
    """The first `frames` frames of `sequences` sequences (evenly spread; all when None) of a DAVIS-layout split."""
    names = list_sequences(root)
    if sequences is not None and sequences < len(names):
        names = [names[i] for i in np.linspace(0, len(names) - 1, sequences).round().astype(int)]
    clips = []
    for name in names:
        seq = read_sequence(root, name)
        n = min(frames, seq.num_frames)
        clips.append(
            Clip(name, [resize_frame(seq.load_frame(i), size) for i in range(n)], resize_mask(seq.load_mask(0), size))
        )
    return clips


def synthetic_clips(size: tuple[int, int], frames: int, count: int, max_objects: int) -> list[Clip]:
    """`count` synthetic clips with 1..max_objects objects, rendered at model resolution."""
    cfg = SynthConfig(max_objects=max_objects)
    clips = []
    for i in range(count):
        video, masks = generate_clip(clip_seed(SYNTH_SEED, i), frames, size, cfg)
        clips.append(Clip(f"synth-{i}", list(video), masks[0]))
    return clips


def clip_set(
    data: Path | None, split: str, size: tuple[int, int], frames: int, sequences: int | None, synthetic_objects: int
) -> ClipSet:
    """DAVIS clips of `split` under `data` when present, else synthetic clips (the source says which)."""
    root = Path(data) / split if data is not None else None
    if root is not None and (root / "JPEGImages").is_dir():
        clips = davis_clips(root, size, frames, sequences)
        return ClipSet(f"{split}: {len(clips)} sequences, first {frames} frames", clips)
    count = sequences or 4
    clips = synthetic_clips(size, frames, count, synthetic_objects)
    return ClipSet(
        f"synthetic ({split} not found): {count} clips of {frames} frames, up to {synthetic_objects} objects", clips
    )
