"""The fast key encoder: a drop-in for the student's Lite0 (same taps), and its feature distillation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobilevos.models.efficientnet_lite import EfficientNetLite
from mobilevos.models.fast_encoder import DESIGNS, FastEncoderConfig, build_fast_encoder, grow_encoder_state
from mobilevos.models.network import build_network, student_config
from mobilevos.train.encoder_distill import (
    EncoderDistillConfig,
    distill_losses,
    load_checkpoint,
    lr_at,
    save_checkpoint,
    student_with_encoder,
)


def _lite0_features(x: torch.Tensor) -> list[torch.Tensor]:
    lite0 = EfficientNetLite("lite0", 11).eval()
    return lite0.forward_features(x, tuple(lite0.last_block_with_stride(s) for s in (4, 8, 16)))


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_outputs_match_the_lite0_key_encoder(design):
    x = torch.randn(1, 3, 64, 96)
    enc = build_fast_encoder(design).eval()
    with torch.no_grad():
        ours, lite0 = enc.forward_features(x), _lite0_features(x)
    assert [f.shape for f in ours] == [f.shape for f in lite0]
    assert enc.channels == (24, 40, 112)


def test_drops_into_the_student():
    net = build_network(student_config(pretrained=False)).eval()
    net.backbone = build_fast_encoder()
    with torch.no_grad():
        feats = net.encode_key(torch.rand(1, 3, 64, 96))
    assert feats.key.shape == (1, net.cfg.key_dim, 4, 6)


def test_a_config_that_never_reaches_stride_16_is_refused():
    with pytest.raises(ValueError, match="stride"):
        build_fast_encoder(FastEncoderConfig(stages=(("basic", 40, 1, 2, 1, 3),)))


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_one_distillation_step_reduces_the_loss(kind):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        target = _lite0_features(x)
    std = [t.std((0, 2, 3)).clamp_min(1e-3) for t in target]
    enc = build_fast_encoder("e1").train()
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    before = sum(distill_losses(enc.forward_features(x), target, std, kind))
    opt.zero_grad()
    before.backward()
    opt.step()
    after = sum(distill_losses(enc.forward_features(x), target, std, kind))
    assert after.item() < before.item()


def test_checkpoint_round_trip(tmp_path):
    cfg = EncoderDistillConfig(design="e1", steps=10)
    enc = build_fast_encoder(cfg.design)
    opt = torch.optim.AdamW(enc.parameters())
    enc(torch.randn(1, 3, 32, 32))[2].sum().backward()
    opt.step()
    std = [torch.ones(c) for c in enc.channels]
    save_checkpoint(tmp_path / "last.safetensors", cfg, enc, opt, std, 7)
    meta, tensors = load_checkpoint(tmp_path / "last.safetensors")
    assert meta["step"] == "7"
    state = enc.state_dict()
    assert all(torch.equal(tensors[f"model.{k}"], v) for k, v in state.items())
    assert any(k.endswith("exp_avg_sq") for k in tensors)
    assert np.isclose(lr_at(cfg, 0), cfg.lr / cfg.warmup)


def test_a_checkpoint_drops_into_the_shipped_student(tmp_path):
    cfg = EncoderDistillConfig(design="e1")
    enc = build_fast_encoder(cfg.design)
    opt = torch.optim.AdamW(enc.parameters())
    save_checkpoint(tmp_path / "last.safetensors", cfg, enc, opt, [torch.ones(c) for c in enc.channels], 0)
    net = student_with_encoder(tmp_path / "last.safetensors")
    assert isinstance(net.backbone, type(enc)) and not net.backbone.training
    with torch.no_grad():
        assert net.encode_key(torch.rand(1, 3, 64, 96)).f16.shape == (1, 112, 4, 6)


def test_a_fast_backbone_is_a_network_config_and_takes_its_distilled_weights(tmp_path):
    """`model.backbone=fast-e1`: the student is built around the dense encoder (same feature shapes as Lite0's), the
    trainer's freezing reaches its early layers, `load_encoder` puts a distillation checkpoint into it (and refuses
    another design), and the network round-trips through a checkpoint with its config."""
    from mobilevos.models.checkpoint import load_network, save_network
    from mobilevos.train.encoder_distill import load_encoder
    from mobilevos.train.trainer import freeze_early_blocks

    net = build_network(student_config(backbone="fast-e1", pretrained=False))
    lite = build_network(student_config(pretrained=False))
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        ours, theirs = net.encode_key(image), lite.encode_key(image)
    assert [t.shape for t in (ours.key, ours.f16, ours.f8, ours.f4)] == [
        t.shape for t in (theirs.key, theirs.f16, theirs.f8, theirs.f4)
    ]
    freeze_early_blocks(net, 4)
    frozen = [all(not p.requires_grad for p in layer.parameters()) for layer in net.backbone.layers]
    assert frozen == [s <= 4 for s in net.backbone.strides] and any(frozen) and not all(frozen)

    cfg = EncoderDistillConfig(design="e1")
    enc = build_fast_encoder("e1")
    torch.nn.init.normal_(enc.layers[0][0].weight)
    opt = torch.optim.AdamW(enc.parameters())
    save_checkpoint(tmp_path / "e1.safetensors", cfg, enc, opt, [torch.ones(c) for c in enc.channels], 0)
    load_encoder(net, tmp_path / "e1.safetensors")
    assert torch.equal(net.backbone.layers[0][0].weight, enc.layers[0][0].weight)
    with pytest.raises(ValueError, match="holds the fast encoder"):
        load_encoder(build_network(student_config(backbone="fast-e2", pretrained=False)), tmp_path / "e1.safetensors")

    save_network(tmp_path / "student.safetensors", net)
    back = load_network(tmp_path / "student.safetensors")
    assert back.cfg.backbone == "fast-e1"
    assert torch.equal(back.backbone.layers[0][0].weight, enc.layers[0][0].weight)


def test_a_grown_encoder_starts_as_the_smaller_one_and_a_student_run_grows_it(tmp_path):
    from mobilevos.models.checkpoint import save_network
    from mobilevos.train import DataConfig, TrainConfig, Trainer

    torch.manual_seed(0)
    small, big = build_fast_encoder("e2").eval(), build_fast_encoder("e3").eval()
    for p in small.parameters():  # non-trivial BatchNorm scales, so an identity start is not an accident
        p.data.normal_(0, 0.5)
    big.load_state_dict(grow_encoder_state(big, small.state_dict()))
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(small(image), big(image)))
        big.layers[-1].body[1][1].weight.fill_(1.0)  # the added block, switched on, changes f16 only
        grown = big(image)
        assert torch.equal(grown[0], small(image)[0]) and not torch.allclose(grown[2], small(image)[2])
    with pytest.raises(ValueError, match="not the first layers"):
        grow_encoder_state(build_fast_encoder("d2"), small.state_dict())  # d2's stride-16 block is another kind

    student = build_network(student_config(backbone="fast-e2", pretrained=False)).eval()
    save_network(tmp_path / "e2.safetensors", student)
    data = DataConfig(davis=(), davis_weight=0.0, synth_backgrounds=False, size=(32, 48), workers=0)
    init = str(tmp_path / "e2.safetensors")
    cfg = TrainConfig(model=student_config(backbone="fast-e3", pretrained=False), data=data, init=init, threads=1)
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.net.eval()
    with torch.no_grad():
        assert torch.equal(trainer.net.encode_key(image.sigmoid()).key, student.encode_key(image.sigmoid()).key)
    lite = TrainConfig(model=student_config(pretrained=False), data=data, init=init, threads=1)
    with pytest.raises(ValueError, match="cannot grow into lite0"):
        Trainer(lite, tmp_path / "run2")


def test_blended_training_images_share_their_first_frame_with_the_plain_batch(tmp_path):
    """`mix`: the given share of the batch is blended with a second frame, drawn after the batch, so the plain
    images are those of `mix=0` and a resumed plain run's checkpoint can continue with blends (EncoderDistillConfig)."""
    from mobilevos.data.davis import write_sequence
    from mobilevos.data.splits import SELECTION_SEQUENCES
    from mobilevos.train.encoder_distill import FrameSampler

    rng = np.random.default_rng(0)
    for name in (*SELECTION_SEQUENCES, "train-a", "train-b"):
        write_sequence(tmp_path, name, rng.integers(0, 256, (4, 24, 32, 3), np.uint8), np.zeros((4, 24, 32), np.uint8))
    sampler = FrameSampler(tmp_path, "train", (16, 16))
    plain = sampler.batch(64, np.random.default_rng(1))
    assert torch.equal(sampler.batch(64, np.random.default_rng(1), mix=0.0), plain)
    every = sampler.batch(64, np.random.default_rng(1), mix=1.0)
    changed = (every - plain).abs().flatten(1).amax(1) > 1e-3
    assert changed.all() and every.min() >= 0 and every.max() <= 1
    half = sampler.batch(64, np.random.default_rng(1), mix=0.5)
    changed = (half - plain).abs().flatten(1).amax(1) > 1e-3
    assert 16 <= changed.sum() <= 48  # about half (binomial 64, 0.5: outside these with probability < 1e-4)
    assert torch.equal(half[~changed], plain[~changed])
    with pytest.raises(ValueError, match="between 0 and 1"):
        sampler.batch(4, np.random.default_rng(1), mix=1.5)


def test_a_hybrid_takes_its_dense_front_from_e2_and_its_stride_16_blocks_from_the_lite_student(tmp_path):
    """`model.backbone=fast-h6` from `--init` (a Lite0 student) and `--init-encoder` (an e2 distillation): its f4 and
    f8 are e2's, and its f16 is the Lite student's own blocks 5-10 applied to e2's f8; h4 skips blocks 7 and 10;
    without a Lite student, or from a design whose front differs, it is refused."""
    from mobilevos.models.checkpoint import save_network
    from mobilevos.models.fast_encoder import hybrid_encoder_state
    from mobilevos.train import DataConfig, TrainConfig, Trainer
    from mobilevos.train.encoder_distill import load_encoder

    torch.manual_seed(0)
    lite_student = build_network(student_config(pretrained=False)).eval()
    for p in lite_student.backbone.parameters():  # distinct weights per block, so a wrong block would show
        p.data.normal_(0, 0.3)
    save_network(tmp_path / "lite.safetensors", lite_student)
    e2 = build_fast_encoder("e2").eval()
    for p in e2.parameters():
        p.data.normal_(0, 0.3)
    cfg = EncoderDistillConfig(design="e2")
    save_checkpoint(
        tmp_path / "e2.safetensors",
        cfg,
        e2,
        torch.optim.AdamW(e2.parameters()),
        [torch.ones(c) for c in e2.channels],
        0,
    )

    data = DataConfig(davis=(), davis_weight=0.0, synth_backgrounds=False, size=(32, 48), workers=0)
    image = torch.randn(1, 3, 64, 96)
    blocks = lite_student.backbone._blocks
    for design, used in (("h6", (5, 6, 7, 8, 9, 10)), ("h4", (5, 6, 8, 9))):
        model = student_config(backbone=f"fast-{design}", pretrained=False)
        init, init_encoder = str(tmp_path / "lite.safetensors"), str(tmp_path / "e2.safetensors")
        run = TrainConfig(model=model, data=data, init=init, init_encoder=init_encoder)
        hybrid = Trainer(run, tmp_path / design).net.backbone.eval()
        with torch.no_grad():
            f4, f8, f16 = hybrid(image)
            e2_f4, e2_f8, _ = e2(image)
            x = e2_f8
            for i in used:
                x = blocks[i](x)
        assert torch.equal(f4, e2_f4) and torch.equal(f8, e2_f8)
        assert torch.allclose(f16, x, atol=1e-5)

    h6 = build_network(student_config(backbone="fast-h6", pretrained=False))
    with pytest.raises(ValueError, match="need --init"):
        load_encoder(h6, tmp_path / "e2.safetensors")
    fused_front = FastEncoderConfig(stages=(("fused", 40, 1, 2, 2, 3), ("basic", 112, 1, 2, 1, 3)))
    lite_state = lite_student.backbone.state_dict()
    with pytest.raises(ValueError, match="no weight"):  # its stride-8 block is not h6's
        hybrid_encoder_state(h6.backbone, build_fast_encoder(fused_front).state_dict(), lite_state)
