"""The selection split: fixed, honoured by every training data path, and the only thing choices are made on."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mobilevos.data.clips import VideoClipDataset, load_backgrounds
from mobilevos.data.davis import list_sequences, write_sequence
from mobilevos.data.mix import MixedClips
from mobilevos.data.splits import SELECTION_SEQUENCES, split_sequences
from mobilevos.models.network import student_config
from mobilevos.train import DataConfig, OptimConfig, TrainConfig, Trainer
from mobilevos.train.encoder_distill import FrameSampler
from mobilevos.train.prompt import CropSource, PromptTrainConfig
from mobilevos.train.validate import CLICK_EVERY, CLICK_SIZE, click_validation, selection_validation

SELECTION_GREY, TRAIN_GREY = 200, 40  # frame colours that tell a selection sequence's pixels from a training one's


def make_folder(root: Path, extra: tuple[str, ...] = ("train-a", "train-b"), frames: int = 5) -> Path:
    """A tiny DAVIS-layout folder with the six selection sequences (bright frames) and `extra` ones (dark frames),
    each with a square object that moves one pixel a frame."""
    for name in SELECTION_SEQUENCES + extra:
        grey = SELECTION_GREY if name in SELECTION_SEQUENCES else TRAIN_GREY
        images = np.full((frames, 32, 48, 3), grey, np.uint8)
        masks = np.zeros((frames, 32, 48), np.uint8)
        for t in range(frames):
            masks[t, 8:20, 10 + t : 26 + t] = 1
            images[t][masks[t] == 1] = 255 - grey
        write_sequence(root, name, images, masks)
    return root


def test_the_real_training_folder_splits_into_24_training_and_6_selection_sequences(davis_train):
    train, selection = split_sequences(davis_train, "train"), split_sequences(davis_train, "selection")
    assert len(train) == 24 and selection == list(SELECTION_SEQUENCES)
    assert not set(train) & set(selection)
    assert sorted(train + selection) == split_sequences(davis_train, "all")


def test_training_data_leaves_the_selection_sequences_out_unless_all_is_asked(tmp_path):
    root = make_folder(tmp_path / "davis16-train-240p")
    default = VideoClipDataset([root], clip_len=2, size=(32, 48))
    assert sorted(s.name for s in default.sequences) == ["train-a", "train-b"]
    every = VideoClipDataset([root], clip_len=2, size=(32, 48), split="all")
    assert len(every.sequences) == 8
    # Backgrounds for the synthetic clips come from training sequences only: no bright selection frame among 40.
    frames = load_backgrounds(root, 40, seed=3)
    assert all(np.median(f) == TRAIN_GREY for f in frames)
    assert any(np.median(f) == SELECTION_GREY for f in load_backgrounds(root, 40, seed=3, split="all"))


def test_the_training_stream_never_yields_a_selection_sequence(tmp_path):
    root = make_folder(tmp_path / "davis16-train-240p")
    cfg = DataConfig(davis=(str(root),), davis_weight=1.0, clip_len=2, size=(32, 48), workers=0)
    stream = iter(MixedClips(cfg, seed=0))
    names = {next(stream)["name"] for _ in range(30)}
    assert names and not names & set(SELECTION_SEQUENCES)


def test_no_training_or_selection_path_reads_davis16_val(tmp_path):
    val = make_folder(tmp_path / "davis16-val")
    with pytest.raises(ValueError, match="evaluation-only"):
        VideoClipDataset([val])
    with pytest.raises(ValueError, match="evaluation-only"):
        load_backgrounds(val, 4)
    with pytest.raises(ValueError, match="evaluation-only"):
        MixedClips(DataConfig(davis=(str(val),), workers=0), seed=0)
    with pytest.raises(ValueError, match="evaluation-only"):
        selection_validation(None, val, 32, finite_memory=True)  # refused before the network is touched
    with pytest.raises(ValueError, match="evaluation-only"):
        click_validation(None, None, val)
    with pytest.raises(ValueError, match="evaluation-only"):
        Trainer(
            TrainConfig(model=student_config(pretrained=False), data=DataConfig(davis=(str(val),), workers=0)),
            tmp_path / "run",
        )
    for split in ("train", "selection"):  # the shared mechanism: every path that takes a split goes through it
        with pytest.raises(ValueError, match="evaluation-only"):
            split_sequences(val, split)
    assert split_sequences(val, "all") == list_sequences(val)  # scoring it stays possible
    with pytest.raises(ValueError, match="evaluation-only"):
        FrameSampler(val, "train", (32, 32))  # the dense encoder's feature distillation
    with pytest.raises(ValueError, match="evaluation-only"):
        CropSource(PromptTrainConfig(root=str(val)), np.random.default_rng(0))  # the click head's training


def test_selection_needs_every_selection_sequence(tmp_path):
    root = tmp_path / "other"
    write_sequence(root, "bmx-bumps", np.zeros((2, 16, 16, 3), np.uint8), np.zeros((2, 16, 16), np.uint8))
    with pytest.raises(ValueError, match="lacks the selection sequences dance-jump"):
        split_sequences(root, "selection")
    with pytest.raises(ValueError, match="unknown split"):
        split_sequences(root, "val")


def _selection_run(root: Path, steps: int) -> TrainConfig:
    """A tiny student run on the folder `root` that validates on its selection sequences every 2 steps."""
    data = DataConfig(
        davis=(str(root),), davis_weight=1.0, synth_backgrounds=False, clip_len=2, size=(32, 48), workers=0
    )
    return TrainConfig(
        model=student_config(pretrained=False),
        data=data,
        threads=1,
        checkpoint_every=2,
        val_every=2,
        val_videos=1,
        val_frames=3,
        val_selection_short_side=32,
        optim=OptimConfig(steps=steps, batch_size=1, warmup=1, bootstrap_steps=1),
    )


def test_training_validates_on_the_selection_sequences_and_keeps_the_best_checkpoint(tmp_path):
    cfg = _selection_run(make_folder(tmp_path / "davis16-train-240p"), steps=4)
    Trainer(cfg, tmp_path / "run").fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    sel = [r["val_selection"] for r in rows if "val_selection" in r]
    assert len(sel) == 2 and set(sel[0]["sequences"]) == set(SELECTION_SEQUENCES)
    assert all(0 <= s["J&F"] <= 100 for s in sel)
    assert (tmp_path / "run" / "best.safetensors").exists()
    resumed = Trainer(cfg, tmp_path / "run")
    assert resumed.best_selection == pytest.approx(max(s["J&F"] for s in sel))
    Trainer(cfg, tmp_path / "run", fresh=True)  # starting over forgets the old run's log and choice
    assert not (tmp_path / "run" / "metrics.jsonl").exists() and not (tmp_path / "run" / "best.safetensors").exists()


def test_validation_at_more_sides_chooses_the_best_checkpoint_by_their_mean(tmp_path):
    cfg = dataclasses.replace(
        _selection_run(make_folder(tmp_path / "davis16-train-240p"), steps=4), val_selection_extra_sides=(48,)
    )
    Trainer(cfg, tmp_path / "run").fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    sides = [(r["val_selection"]["J&F"], r["val_selection_sides"]) for r in rows if "val_selection" in r]
    assert len(sides) == 2
    for main, row in sides:
        assert row["J&F"]["32"] == pytest.approx(main) and set(row["J&F"]) == {"32", "48"}
        assert row["mean"] == pytest.approx((row["J&F"]["32"] + row["J&F"]["48"]) / 2)
    assert Trainer(cfg, tmp_path / "run").best_selection == pytest.approx(max(row["mean"] for _, row in sides))


def test_a_run_of_zero_steps_scores_and_saves_the_network_it_starts_from(tmp_path):
    """`--steps 0`: what a fine-tuning starts from (e.g. a swapped key encoder) is scored on the selection sequences
    and saved, so `mobilevos eval` can score it too."""
    from mobilevos.models.checkpoint import load_network

    trainer = Trainer(_selection_run(make_folder(tmp_path / "davis16-train-240p"), steps=0), tmp_path / "run")
    trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0] and set(rows[0]["val_selection"]["sequences"]) == set(SELECTION_SEQUENCES)
    saved = load_network(tmp_path / "run" / "last.safetensors").state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in trainer.net.state_dict().items())


def test_a_run_with_the_click_term_scores_the_click_head_on_the_selection_sequences(tmp_path):
    """With `distill.click_weight`, each validation logs the click head's IoUs on the selection frames (what the
    term is for) beside the tracking J&F (what it may cost)."""
    from mobilevos.eval.prompt import annotated_frames, evaluate
    from mobilevos.models.checkpoint import load_network
    from mobilevos.models.prompt_head import PromptHead, PromptHeadConfig, load_head, save_head
    from mobilevos.prompts import PromptSegmenter

    root = make_folder(tmp_path / "davis16-train-240p", frames=12)
    torch.manual_seed(0)
    save_head(tmp_path / "head.safetensors", PromptHead(PromptHeadConfig()))
    cfg = _selection_run(root, steps=0)
    cfg = dataclasses.replace(
        cfg, distill=dataclasses.replace(cfg.distill, click_weight=1.0, click_head=str(tmp_path / "head.safetensors"))
    )
    Trainer(cfg, tmp_path / "run").fit()
    (row,) = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    net, head = load_network(tmp_path / "run" / "last.safetensors"), load_head(tmp_path / "head.safetensors")
    frames = annotated_frames(root, "selection", CLICK_EVERY)
    assert [name for name, *_ in frames] == [f"{s}/{t}" for s in SELECTION_SEQUENCES for t in (0, 10)]
    expected = evaluate(PromptSegmenter(net, head, CLICK_SIZE), frames)["mean"]
    assert row["val_clicks"] == pytest.approx(expected) and set(expected) == {"clicks_1", "clicks_3", "clicks_5", "box"}
