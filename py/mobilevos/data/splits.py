"""The fixed split of the DAVIS 2016 training sequences into *training* and *selection* sequences.

Every choice (checkpoints, ablation arms, hyper-parameters, architectures) is made on the selection sequences, never
on `davis16-val`, which is scored once per shipped model after the choice. Training data paths leave the selection
sequences out by default (`split="train"`), so a model chosen on them has never seen them.

The six were picked once, before any model was scored on them, to look like unseen DAVIS video: small and fast
objects (bmx-bumps 2% of the frame, mallard-fly 3%), large scale changes (drift-turn and motocross-bumps shrink to
1-2%), articulated people and animals (dance-jump, horsejump-low); 404 of the 2,079 training frames.
"""

from __future__ import annotations

from pathlib import Path

from mobilevos.data.davis import list_sequences

SELECTION_SEQUENCES = ("bmx-bumps", "dance-jump", "drift-turn", "horsejump-low", "mallard-fly", "motocross-bumps")
SPLITS = ("train", "selection", "all")
EVAL_ONLY_SPLITS = ("davis16-val",)


def check_training_root(root: str | Path) -> Path:
    """`root` as a Path; ValueError if it is an evaluation-only split."""
    path = Path(root)
    if path.name in EVAL_ONLY_SPLITS or path.resolve().name in EVAL_ONLY_SPLITS:
        raise ValueError(
            f"{path} is an evaluation-only split ({', '.join(EVAL_ONLY_SPLITS)}): never train on it "
            "or sample training data from it"
        )
    return path


def split_sequences(root: str | Path, split: str) -> list[str]:
    """Sequence names of the DAVIS-layout folder `root` in `split`: "train" (all but the selection sequences),
    "selection" (only those; every one must be present) or "all" (the only split of an evaluation-only folder)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    if split != "all":  # training and selection sequences never come from an evaluation-only folder
        check_training_root(root)
    names = list_sequences(root)
    if split == "train":
        return [n for n in names if n not in SELECTION_SEQUENCES]
    if split == "selection":
        missing = [n for n in SELECTION_SEQUENCES if n not in names]
        if missing:
            raise ValueError(
                f"{root} lacks the selection sequences {', '.join(missing)}: the selection split is "
                "part of davis16-train-240p"
            )
        return list(SELECTION_SEQUENCES)
    return names
