"""A few training steps on tiny synthetic clips: the loss falls, distillation runs, and a stopped run resumes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mobilevos.cli import main
from mobilevos.models.checkpoint import load_network, save_network
from mobilevos.models.network import build_network, student_config, teacher_config
from mobilevos.train import DataConfig, DistillConfig, OptimConfig, TrainConfig, Trainer

TINY = DataConfig(davis=(), davis_weight=0.0, synth_backgrounds=False, clip_len=3, size=(32, 48), workers=0)


def tiny_config(**kw) -> TrainConfig:
    optim = OptimConfig(steps=20, batch_size=2, lr=2e-3, backbone_lr=2e-4, warmup=1, bootstrap_steps=1)
    base = dict(
        model=student_config(pretrained=False),
        data=TINY,
        optim=optim,
        threads=1,
        checkpoint_every=5,
        val_every=1000,
        val_videos=1,
        val_frames=4,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_training_steps_lower_the_loss_on_a_fixed_batch(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(tiny_config(), tmp_path)
    batch = next(iter(torch.utils.data.DataLoader(trainer.data, batch_size=2)))
    first = trainer.train_step(batch)["loss"]
    for _ in range(14):
        last = trainer.train_step(batch)["loss"]
    assert last < 0.8 * first


@pytest.mark.parametrize("loss", ["kd", "unified"])
def test_distillation_losses_run_with_a_teacher(tmp_path, loss):
    torch.manual_seed(0)
    save_network(tmp_path / "teacher.safetensors", build_network(teacher_config(pretrained=False)))
    cfg = tiny_config(teacher=str(tmp_path / "teacher.safetensors"), distill=DistillConfig(loss=loss, omega=0.8))
    trainer = Trainer(cfg, tmp_path / "run")
    batch = next(iter(torch.utils.data.DataLoader(trainer.data, batch_size=2)))
    row = trainer.train_step(batch)
    assert row["kd"] > 0 and (row["repr"] > 0) == (loss == "unified")
    assert all(p.grad is not None for p in trainer.proj.parameters()) == (loss == "unified")


def test_the_teacher_distils_from_twice_the_students_resolution(tmp_path):
    from mobilevos.train import ClipUnroll, teacher_segmentations

    torch.manual_seed(0)
    teacher = build_network(teacher_config(pretrained=False)).eval()
    seen = []
    encode = teacher.encode_key
    teacher.encode_key = lambda image: (seen.append(tuple(image.shape[-2:])), encode(image))[1]
    images, masks = torch.rand(1, 3, 3, 32, 48), torch.zeros(1, 3, 1, 32, 48)
    masks[:, :, 0, 8:20, 10:30] = 1
    segs = teacher_segmentations(
        ClipUnroll(teacher, finite_memory=False), images, masks, torch.ones(1, 1, dtype=bool), scale=2.0
    )
    assert seen == [(64, 96)]  # one pass over the whole clip at twice the size
    assert len(segs) == 2 and segs[0].logits.shape == (1, 2, 32, 48) and segs[0].prob.shape == (1, 1, 32, 48)
    assert segs[0].embed.shape[-2:] == (8, 12)
    cfg = tiny_config(
        teacher=str(tmp_path / "t.safetensors"), distill=DistillConfig(loss="unified", omega=0.8, teacher_scale=2.0)
    )
    save_network(tmp_path / "t.safetensors", teacher)
    trainer = Trainer(cfg, tmp_path / "run")
    row = trainer.train_step(next(iter(torch.utils.data.DataLoader(trainer.data, batch_size=2))))
    assert row["kd"] > 0 and row["repr"] > 0


def test_resize_clip_shrinks_with_binary_labels_and_keeps_void_conservative():
    from mobilevos.train.unroll import resize_clip, scaled_size

    assert scaled_size((224, 400), 0.72) == (160, 288) and scaled_size((32, 48), 0.1) == (16, 16)
    images, masks = torch.rand(1, 2, 3, 64, 96), torch.zeros(1, 2, 1, 64, 96)
    masks[:, :, 0, 8:40, 16:63] = 1  # 32 x 47 pixels: a half-covered column at the right edge after halving
    void = torch.zeros(1, 2, 64, 96, dtype=torch.bool)
    void[:, :, 63, 5] = True  # one void pixel: its whole 2 x 2 cell becomes void
    small_images, small_masks, small_void = resize_clip(images, masks, void, (32, 48))
    assert small_images.shape == (1, 2, 3, 32, 48) and small_masks.shape == (1, 2, 1, 32, 48)
    assert set(small_masks.unique().tolist()) == {0.0, 1.0}
    assert small_masks[0, 0, 0].sum().item() == 16 * 24  # coverage 0.5 counts as inside
    assert small_void.shape == (1, 2, 32, 48) and small_void.sum().item() == 2 and small_void[0, 0, 31, 2]
    assert torch.allclose(small_images.mean(), images.mean(), atol=1e-3)  # antialiased: averages, not samples


def test_the_student_learns_from_a_teacher_that_sees_the_clip_at_a_higher_resolution(tmp_path):
    from mobilevos.train import feature_term

    torch.manual_seed(0)
    teacher = build_network(student_config(pretrained=False))
    save_network(tmp_path / "teacher.safetensors", teacher)
    big = teacher.encode_key(torch.rand(2, 3, 64, 96))
    small = type(big)(*(torch.nn.functional.avg_pool2d(x, 2) for x in big))
    assert feature_term(small, big).item() < 1e-10  # the teacher's features averaged onto the student's grid
    with pytest.raises(ValueError, match="at least the student's"):
        feature_term(big, small)

    distill = DistillConfig(loss="unified", omega=0.8, feature_weight=1.0, student_scale=0.5)
    cfg = tiny_config(teacher=str(tmp_path / "teacher.safetensors"), data=dataclasses.replace(TINY, size=(64, 96)))
    trainer = Trainer(dataclasses.replace(cfg, distill=distill), tmp_path / "run")
    seen = {"student": [], "teacher": []}
    for role, net in (("student", trainer.net), ("teacher", trainer.teacher)):
        encode = net.encode_key
        net.encode_key = lambda image, encode=encode, role=role: (seen[role].append(image.shape[-2:]), encode(image))[1]
    row = trainer.train_step(next(iter(torch.utils.data.DataLoader(trainer.data, batch_size=2))))
    assert seen == {"student": [(32, 48)], "teacher": [(64, 96)]}
    assert row["kd"] > 0 and row["repr"] > 0 and row["feat"] > 0
    with pytest.raises(ValueError, match="student_scale"):
        Trainer(dataclasses.replace(cfg, distill=DistillConfig(student_scale=1.5)), tmp_path / "bad")


def test_feature_matching_pulls_a_dense_key_encoder_towards_its_teachers_features(tmp_path):
    from mobilevos.train import feature_term

    torch.manual_seed(0)
    teacher = build_network(student_config(pretrained=False))
    save_network(tmp_path / "teacher.safetensors", teacher)
    images = torch.rand(2, 3, 32, 48)
    same = teacher.encode_key(images)
    assert feature_term(same, same).item() == 0.0
    cfg = tiny_config(
        model=student_config(pretrained=False, backbone="fast-e2"),
        teacher=str(tmp_path / "teacher.safetensors"),
        distill=DistillConfig(loss="ce", feature_weight=1.0),
        optim=OptimConfig(steps=20, batch_size=2, lr=2e-3, backbone_lr=2e-3, warmup=1, freeze_stride=0),
    )
    trainer = Trainer(cfg, tmp_path / "run")
    batch = next(iter(torch.utils.data.DataLoader(trainer.data, batch_size=2)))
    first = trainer.train_step(batch)
    assert first["feat"] > 0.5 and first["kd"] == 0  # random dense encoder against the teacher's Lite0 features
    assert all(p.grad is not None for p in trainer.net.backbone.parameters())
    for _ in range(9):
        last = trainer.train_step(batch)
    assert last["feat"] < 0.8 * first["feat"]
    with pytest.raises(ValueError, match="teacher_scale=1"):
        Trainer(dataclasses.replace(cfg, distill=DistillConfig(feature_weight=1.0, teacher_scale=2.0)), tmp_path / "x")


def test_the_click_term_teaches_the_key_encoder_to_serve_a_frozen_click_head(tmp_path):
    from mobilevos.models.prompt_head import PromptHead, PromptHeadConfig, load_head, save_head
    from mobilevos.train import click_term

    torch.manual_seed(0)
    save_head(tmp_path / "head.safetensors", PromptHead(PromptHeadConfig()))
    head = load_head(tmp_path / "head.safetensors")
    optim = OptimConfig(steps=20, batch_size=2, lr=2e-3, backbone_lr=2e-3, warmup=1, freeze_stride=0)

    def click_loss_after(weight: float, steps: int = 15) -> tuple[float, float, Trainer]:
        """The click term on a fixed batch with fixed simulated prompts, before and after `steps` steps."""
        torch.manual_seed(0)
        distill = DistillConfig(loss="ce", click_weight=weight, click_head=str(tmp_path / "head.safetensors"))
        trainer = Trainer(tiny_config(distill=distill, optim=optim), tmp_path / f"run{weight}")
        batch = next(iter(torch.utils.data.DataLoader(trainer.data, batch_size=2)))

        def loss() -> float:
            with torch.no_grad():
                feats = trainer.net.eval().encode_key(batch["images"].flatten(0, 1))
            return click_term(head, feats, batch["masks"], batch["valid"], np.random.default_rng(0)).item()

        before = loss()
        for _ in range(steps):
            row = trainer.train_step(batch)
            assert (row["click"] > 0) == (weight > 0) and row["feat"] == 0
        return before, loss(), trainer

    before, trained, trainer = click_loss_after(5.0)
    _, control, untouched = click_loss_after(0.0)  # the same steps without the term
    assert untouched.click_head is None and abs(control - before) < 0.03
    assert trained < before - 0.06 and trained < control - 0.06
    # Only the key encoder moves: the head stays the shipped one.
    assert all(torch.equal(a, b) for a, b in zip(head.parameters(), trainer.click_head.parameters()))
    assert not any(p.requires_grad for p in trainer.click_head.parameters())
    feats = trainer.net.encode_key(torch.rand(3, 3, 32, 48))
    none = torch.zeros(1, 1, dtype=torch.bool)  # no object: nothing to click
    assert click_term(head, feats, torch.ones(1, 3, 1, 32, 48), none, np.random.default_rng(0)).item() == 0.0
    save_head(tmp_path / "narrow.safetensors", PromptHead(PromptHeadConfig(feature_dims=(80, 40, 24))))
    narrow = DistillConfig(click_weight=1.0, click_head=str(tmp_path / "narrow.safetensors"))
    with pytest.raises(ValueError, match="reads features of"):
        Trainer(tiny_config(distill=narrow), tmp_path / "other")


def test_a_stopped_run_resumes_from_its_last_checkpoint(tmp_path):
    cfg = tiny_config()
    out = tmp_path / "run"
    out.mkdir()
    Trainer(cfg, out).fit(steps=5)  # "killed" after the checkpoint at step 5
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert load_network(out / "last.safetensors").cfg.kind == "student"
    resumed = Trainer(cfg, out)
    assert resumed.step == 5
    state = torch.load(out / "last_state.pt", weights_only=False)
    assert state["step"] == 5 and len(state["optimizer"]["state"]) > 0
    resumed.fit(steps=7)
    assert resumed.step == 7 and log  # metrics were written before the stop


def test_train_command_rejects_distillation_without_teacher_and_unknown_keys(tmp_path, capsys):
    assert main(["train", "student", "--out", str(tmp_path), "--loss", "kd", "--set", "data.davis=[]"]) == 2
    assert "needs --teacher" in capsys.readouterr().err
    assert main(["train", "student", "--out", str(tmp_path), "--set", "optim.nope=1"]) == 2
    assert "unknown key 'nope'" in capsys.readouterr().err


def _run_to_ship(tmp_path: Path, monkeypatch, steps: int, val_size: tuple[int, int]) -> tuple[Path, Path]:
    """A tiny trained run folder and a one-video evaluation folder; `mobilevos ship` writes into tmp_path/models."""
    import mobilevos.train.ship as ship
    from mobilevos.data.synth_writer import write_dataset

    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"command": "mobilevos train student --out run", "git_commit": "abc"}))
    Trainer(tiny_config(), out).fit(steps=steps)
    monkeypatch.setattr(ship, "MODELS_DIR", tmp_path / "models")
    (tmp_path / "models").mkdir()
    write_dataset(tmp_path / "val", videos=1, frames=5, size=val_size, seed=9)
    return out, tmp_path / "val"


def test_ship_writes_weights_and_a_record_whose_jf_eval_reproduces(tmp_path, monkeypatch):
    import mobilevos.train.ship as ship
    from mobilevos.eval.command import evaluate_model

    out, val = _run_to_ship(tmp_path, monkeypatch, steps=5, val_size=(48, 64))
    record = ship.ship(out, "student", "fp16", val, short_side=48, synth_videos=1)
    saved = json.loads((tmp_path / "models" / "student.json").read_text())
    assert saved["steps"] == 5 and saved["command"].startswith("mobilevos train") and saved["dtype"] == "fp16"
    assert saved["reproduce"] == "mobilevos train student --out run --stop-at 5"  # stopped at 5 of 20 steps
    assert saved["metrics"]["davis16_val"]["summary"]["J&F"] == pytest.approx(
        record["metrics"]["davis16_val"]["summary"]["J&F"]
    )
    net = load_network(tmp_path / "models" / "student.safetensors")
    again = evaluate_model(net, val, tmp_path / "masks", 48, progress=False)
    assert again["summary"]["J&F"] == pytest.approx(saved["metrics"]["davis16_val"]["summary"]["J&F"], abs=1e-9)


def test_ship_scores_more_short_sides_when_asked(tmp_path, monkeypatch):
    """A model the page runs at several inputs records its J&F at each (`--extra-sides`)."""
    import mobilevos.train.ship as ship
    from mobilevos.eval.command import evaluate_model

    out, val = _run_to_ship(tmp_path, monkeypatch, steps=2, val_size=(96, 128))
    record = ship.ship(out, "student", "fp32", val, short_side=48, synth_videos=1, extra_sides=(64, 32))
    sides = record["metrics"]["sides"]
    assert list(sides) == ["64", "32"] and set(sides["64"]) == {"davis16_val"}
    net = load_network(tmp_path / "models" / "student.safetensors")
    for side in (64, 32):
        again = evaluate_model(net, val, tmp_path / f"masks{side}", side, progress=False)
        assert again["summary"]["J&F"] == pytest.approx(sides[str(side)]["davis16_val"], abs=1e-9)


def test_init_starts_from_given_weights_with_a_fresh_schedule(tmp_path):
    torch.manual_seed(1)
    source = build_network(student_config(pretrained=False))
    save_network(tmp_path / "init.safetensors", source)
    trainer = Trainer(tiny_config(init=str(tmp_path / "init.safetensors")), tmp_path / "run")
    assert trainer.step == 0
    for name, value in source.state_dict().items():
        assert torch.equal(trainer.net.state_dict()[name], value), name
    with pytest.raises(ValueError, match="architecture"):
        Trainer(
            tiny_config(init=str(tmp_path / "init.safetensors"), model=student_config(pretrained=False, key_dim=32)),
            tmp_path / "other",
        )


def test_init_with_a_fast_encoder_keeps_the_heads_and_takes_the_distilled_encoder(tmp_path):
    """Fine-tuning the student around the dense WASM encoder: --init brings every weight but the key encoder,
    --init-encoder brings the distilled encoder; without --init-encoder the swap is an architecture mismatch."""
    from mobilevos.models.fast_encoder import build_fast_encoder
    from mobilevos.train.encoder_distill import EncoderDistillConfig, save_checkpoint

    torch.manual_seed(3)
    source = build_network(student_config(pretrained=False))
    save_network(tmp_path / "init.safetensors", source)
    enc = build_fast_encoder("e1")
    opt = torch.optim.AdamW(enc.parameters())
    save_checkpoint(
        tmp_path / "enc.safetensors",
        EncoderDistillConfig(design="e1"),
        enc,
        opt,
        [torch.ones(c) for c in enc.channels],
        5,
    )
    fast = student_config(pretrained=False, backbone="fast-e1")
    trainer = Trainer(
        tiny_config(
            init=str(tmp_path / "init.safetensors"), init_encoder=str(tmp_path / "enc.safetensors"), model=fast
        ),
        tmp_path / "run",
    )
    state = trainer.net.state_dict()
    for name, value in source.state_dict().items():
        if not name.startswith("backbone."):
            assert torch.equal(state[name], value), name
    for name, value in enc.state_dict().items():
        assert torch.equal(state[f"backbone.{name}"], value), name
    with pytest.raises(ValueError, match="architecture"):
        Trainer(tiny_config(init=str(tmp_path / "init.safetensors"), model=fast), tmp_path / "other")


def test_init_without_the_previous_value_and_gating_paths_grows_into_the_same_function(tmp_path):
    torch.manual_seed(2)
    source = build_network(student_config(pretrained=False, previous_value=False, value_gating=False)).eval()
    save_network(tmp_path / "init.safetensors", source)
    grown = Trainer(tiny_config(init=str(tmp_path / "init.safetensors")), tmp_path / "run").net.eval()
    assert grown.cfg.previous_value and grown.cfg.value_gating and not source.cfg.previous_value
    image, masks = torch.rand(1, 3, 32, 48), (torch.rand(1, 1, 32, 48) > 0.5).float()
    with torch.no_grad():
        probs = []
        for net in (source, grown):
            feats = net.encode_key(image)
            value = net.encode_value(feats, masks)
            # A previous entry unlike the first, so the grown path would show if its new weights were not zero.
            probs.append(net.segment(feats, torch.stack([feats.key] * 2, 2), torch.stack([value, -3 * value], 3)).prob)
    assert torch.allclose(probs[0], probs[1], atol=1e-6)
    assert probs[0].std() > 0  # not a degenerate constant output


def test_ship_of_a_fine_tuning_run_keeps_the_record_of_its_init_weights(tmp_path, monkeypatch):
    import mobilevos.train.ship as ship

    models = tmp_path / "models"
    models.mkdir()
    save_network(models / "student.safetensors", build_network(student_config(pretrained=False)))
    (models / "student.json").write_text(json.dumps({"command": "mobilevos train student --out first", "steps": 5}))
    out = tmp_path / "run"
    out.mkdir()
    Trainer(tiny_config(init=str(models / "student.safetensors")), out).fit(steps=2)
    monkeypatch.setattr(ship, "MODELS_DIR", models)
    record = ship.ship(out, "student", "fp32", None, short_side=48, synth_videos=1)
    assert record["init"]["path"] == str(models / "student.safetensors")
    assert record["init"]["record"] == {"command": "mobilevos train student --out first", "steps": 5}
    assert json.loads((models / "student.json").read_text())["init"]["record"]["steps"] == 5  # shipped over it


def test_ship_of_a_chain_of_fine_tunes_keeps_every_link(tmp_path, monkeypatch):
    """A fine-tune of a fine-tune's checkpoint: the record leads back through the middle run to the first weights."""
    import mobilevos.train.ship as ship

    monkeypatch.chdir(tmp_path)  # relative paths, as the recorded commands use them
    models = tmp_path / "models"
    models.mkdir()
    save_network(models / "student.safetensors", build_network(student_config(pretrained=False)))
    (models / "student.json").write_text(json.dumps({"command": "mobilevos train student --out first", "steps": 5}))
    middle, last = Path("middle"), Path("last")
    for out, init, steps in ((middle, Path("models/student.safetensors"), 2), (last, middle / "last.safetensors", 1)):
        out.mkdir()
        (out / "run.json").write_text(
            json.dumps({"command": f"mobilevos train student --out {out.name}", "git_commit": "abc"})
        )
        Trainer(tiny_config(init=str(init)), out).fit(steps=steps)
    monkeypatch.setattr(ship, "MODELS_DIR", models)
    record = ship.ship(last, "student", "fp32", None, short_side=48, synth_videos=1)
    assert record["command"] == "mobilevos train student --out last" and record["steps"] == 1
    link = record["init"]
    assert link["path"] == str(middle / "last.safetensors")
    assert link["record"]["command"] == "mobilevos train student --out middle" and link["record"]["steps"] == 2
    assert link["record"]["init"]["record"] == {"command": "mobilevos train student --out first", "steps": 5}
    # The first weights were a shipped file that shipping has since replaced: the record says how to get them back.
    assert link["record"]["init"]["restore"] == "git show abc:models/student.safetensors > models/student.safetensors"
    # Trained from a dirty tree, the committed file may not be the one read: no restore command is promised.
    (middle / "run.json").write_text(
        json.dumps({"command": "mobilevos train student --out middle", "git_commit": "abc", "git_dirty": True})
    )
    assert "restore" not in ship.run_record(middle, middle / "last.safetensors")["init"]


def test_teacher_value_stem_learns_its_mask_channels(tmp_path):
    """Regression: with the stem frozen, the teacher's zero-initialised mask channels never changed (masks ignored)."""
    torch.manual_seed(3)
    trainer = Trainer(tiny_config(role="teacher", model=teacher_config(pretrained=False)), tmp_path)
    stem = trainer.net.value_encoder.backbone._conv_stem.weight
    assert stem.requires_grad and not trainer.net.backbone._conv_stem.weight.requires_grad
    in_heads = {id(p) for p in trainer.opt.param_groups[0]["params"]}
    assert id(stem) in in_heads  # new input channels learn at the heads' rate, not the pretrained backbone's
    before = stem.detach()[:, 3:].clone()
    batch = next(iter(torch.utils.data.DataLoader(trainer.data, batch_size=2)))
    trainer.train_step(batch)
    assert (stem.detach()[:, 3:] - before).abs().max() > 1e-5


def test_resuming_a_run_of_another_architecture_says_so(tmp_path):
    Trainer(tiny_config(model=student_config(pretrained=False, value_gating=False)), tmp_path).fit(steps=1)
    with pytest.raises(ValueError, match=r"another architecture.*--fresh"):
        Trainer(tiny_config(), tmp_path)
    assert Trainer(tiny_config(), tmp_path, fresh=True).step == 0
