"""Pruning the student's Lite key encoder (`mobilevos.models.prune`): widths, exactness where it must be exact, the
calibration data, the config round trip and the guards."""

from __future__ import annotations

import pytest
import torch

from mobilevos.models.checkpoint import load_network, save_network
from mobilevos.models.efficientnet_lite import MBConv, block_plan, block_shares, is_pruned, pruned_width
from mobilevos.models.network import build_network, student_config
from mobilevos.models.prune import (
    calibration_images,
    crop_kernels,
    expanded_statistics,
    parse_share,
    prune_network,
    pruned_block_state,
)
from test_splits import SELECTION_GREY, TRAIN_GREY, make_folder


def _assert_same_features(ours, theirs, x: torch.Tensor, atol: float) -> None:
    """Two networks' key, f4, f8 and f16 agree on `x` within `atol`."""
    with torch.no_grad():
        a, b = ours.encode_key(x), theirs.encode_key(x)
    for name in ("key", "f4", "f8", "f16"):
        diff = (getattr(a, name) - getattr(b, name)).abs().max()
        assert diff <= atol, (name, diff)


def _round_trip(net, path, x: torch.Tensor):
    """`net` saved to `path` and loaded back, which must compute the same f16 bit for bit; returns the loaded one."""
    save_network(path, net)
    back = load_network(path)
    with torch.no_grad():
        assert torch.equal(back.encode_key(x).f16, net.encode_key(x).f16)
    return back


def test_pruned_widths_are_multiples_of_8_and_share_1_keeps_everything():
    assert [pruned_width(m, 0.5) for m in (96, 144, 240, 480, 672)] == [48, 72, 120, 240, 336]
    assert pruned_width(96, 0.4) == 40 and pruned_width(16, 0.1) == 8 and pruned_width(672, 1.0) == 672
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="share of expanded channels"):
            pruned_width(96, bad)


def test_dropping_constant_channels_changes_nothing_and_the_config_round_trips(tmp_path):
    """Channels whose depthwise weights are zero carry a constant: pruning must pick exactly those, fold their
    constant into the projection's BatchNorm, and leave every feature the same; a varying channel dropped instead
    would change them."""
    torch.manual_seed(0)
    net = build_network(student_config(pretrained=False)).eval()
    with torch.no_grad():
        for block in net.backbone._blocks:
            for bn in (block._bn1, block._bn2) + ((block._bn0,) if block.has_expand else ()):
                bn.running_mean.normal_(0, 0.2)
                bn.bias.normal_(0.5, 0.3)  # constant channels sit above ReLU6's zero: their mean must be folded
            if block.has_expand:
                mid = block._project_conv.in_channels
                block._depthwise_conv.weight[pruned_width(mid, 0.5) :] = 0
    images = [torch.rand(2, 3, 64, 96) for _ in range(2)]
    pruned = prune_network(net, 0.5, images)
    assert pruned.cfg.backbone_share == 0.5
    assert [b._project_conv.in_channels for b in pruned.backbone._blocks[1:4]] == [48, 72, 72]
    x = torch.rand(1, 3, 64, 96)
    _assert_same_features(pruned, net, x, atol=1e-4)
    assert _round_trip(pruned, tmp_path / "pruned.safetensors", x).cfg.backbone_share == 0.5

    # The check has teeth: the same block pruned by the reversed ranking keeps the constant channels, and its
    # output moves by far more than the tolerance above.
    mean, cov = expanded_statistics(net, images)[1]
    var = cov.diagonal()
    wrong = MBConv(16, 24, 3, 2, 6, mid=48).eval()  # Lite0's block 1 at half width
    wrong.load_state_dict(pruned_block_state(net.backbone._blocks[1], mean, torch.diag(var.max() - var), 48))
    with torch.no_grad():
        lite = net.backbone
        h = lite._blocks[0](lite.act(lite._bn0(lite._conv_stem((x - net.pixel_mean) / net.pixel_std))))
        right, moved = lite._blocks[1](h), wrong(h)
    assert (moved - right).abs().mean() > 1e-3


def test_dropped_channels_that_copy_kept_ones_are_refitted_exactly_and_pruning_can_go_on():
    """Block 1's second half of expanded channels duplicates its first (same expand, depthwise and BatchNorm
    weights; projection weights 0.3x, so the first half is kept): the dropped channels are linear in the kept ones,
    so the refit moves their projection onto the kept copies and f16 stays the same — where dropping them and folding
    their mean (the rule before the refit) moves it by far more. The result can be pruned again, to smaller widths
    only."""
    torch.manual_seed(0)
    net = build_network(student_config(pretrained=False))
    images = [torch.rand(4, 3, 128, 192) for _ in range(3)]
    with torch.no_grad():  # BatchNorm statistics of these images, so that activations keep their scale to f16
        for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.reset_running_stats()
            bn.momentum = None
        net.train()
        for batch in images:
            net.encode_key(batch)
        net.eval()
        block = net.backbone._blocks[1]
        for name, t in block.state_dict().items():
            if name.startswith(("_expand_conv.", "_bn0.", "_depthwise_conv.", "_bn1.")) and t.dim() > 0:
                t[48:] = t[:48]
        block._project_conv.weight[:, 48:] = 0.3 * block._project_conv.weight[:, :48]
    shares = (1.0, 0.5) + (1.0,) * 9
    pruned = prune_network(net, shares, images)
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        full, ours = net.encode_key(x).f16, pruned.encode_key(x).f16
        assert torch.allclose(ours, full, atol=1e-4 * full.abs().max()), (ours - full).abs().max()
        mean, cov = expanded_statistics(net, images)[1]
        mean_only = build_network(student_config(backbone_share=shares, pretrained=False)).eval()
        state = dict(pruned.state_dict())
        cut = pruned_block_state(block, mean, torch.diag(cov.diagonal()), 48)  # no covariance: nothing to refit
        mean_only.load_state_dict(state | {f"backbone._blocks.1.{k}": v for k, v in cut.items()})
        assert (mean_only.encode_key(x).f16 - full).abs().max() > 0.05 * full.abs().max()

    again = prune_network(pruned, (1.0, 0.25) + (1.0,) * 9, images)
    assert [b._project_conv.in_channels for b in again.backbone._blocks[1:3]] == [24, 144]
    with pytest.raises(ValueError, match="pruning only removes channels"):
        prune_network(again, 0.5, images)


def test_per_block_shares_cut_only_their_blocks_and_round_trip(tmp_path):
    """One share per block: only the blocks given < 1 are cut (the rest keep their weights bit for bit); a share for
    every block equals the single share; the tuple survives `--share`, `--set` and a checkpoint."""
    from mobilevos.config import apply_overrides, from_dict, to_dict
    from mobilevos.models.network import NetworkConfig

    plan = block_plan("lite0")[:11]
    assert block_shares(0.5, plan) == (1.0,) + (0.5,) * 10  # block 0 has no expansion
    assert parse_share("0.5") == 0.5 and parse_share("1,0.25,1") == (1.0, 0.25, 1.0)
    assert is_pruned((1.0, 0.25)) and not is_pruned((1.0, 1.0)) and not is_pruned(1.0)
    with pytest.raises(ValueError, match="one per block"):
        block_shares((1.0, 0.5), plan)
    with pytest.raises(ValueError, match="block 0 has no expanded channels"):
        block_shares((0.5,) * 11, plan)

    torch.manual_seed(0)
    net = build_network(student_config(pretrained=False)).eval()
    shares = (1.0, 0.25) + (1.0,) * 8 + (0.5,)
    pruned = prune_network(net, shares, [torch.rand(2, 3, 64, 96)])
    widths = [b._project_conv.in_channels for b in pruned.backbone._blocks]
    assert widths == [32, 24, 144, 144, 240, 240, 480, 480, 480, 672, 336]
    ours, theirs = pruned.state_dict(), net.state_dict()
    for i in (0, 2, 9):
        for key in (k for k in theirs if k.startswith(f"backbone._blocks.{i}.")):
            assert torch.equal(ours[key], theirs[key]), key
    uniform = build_network(student_config(backbone_share=(1.0,) + (0.5,) * 10, pretrained=False))
    single = build_network(student_config(backbone_share=0.5, pretrained=False))
    assert [p.shape for p in uniform.parameters()] == [p.shape for p in single.parameters()]

    save_network(tmp_path / "blocks.safetensors", pruned)
    assert load_network(tmp_path / "blocks.safetensors").cfg.backbone_share == shares
    data = apply_overrides(to_dict(NetworkConfig()), [f"backbone_share={list(shares)}"])
    assert from_dict(NetworkConfig, data).backbone_share == shares


def _five_by_five(net) -> list[int]:
    return [i for i, b in enumerate(net.backbone._blocks) if b._depthwise_conv.kernel_size[0] == 5]


def test_cutting_kernels_keeps_their_centre_exactly_and_the_config_round_trips(tmp_path):
    """A 5x5 depthwise kernel whose outer ring is zero is its centre 3x3: the cut network's features must equal the
    full one's at stride 1 and 2 (TF-SAME padding differs between the two sizes); the cut survives a checkpoint."""
    torch.manual_seed(0)
    net = build_network(student_config(backbone_share=0.5, pretrained=False)).eval()
    assert _five_by_five(net) == [3, 4, 8, 9, 10]  # block 3 has stride 2
    ring = torch.ones(5, 5, dtype=torch.bool)
    ring[1:4, 1:4] = False
    with torch.no_grad():
        for i in _five_by_five(net):
            net.backbone._blocks[i]._depthwise_conv.weight[..., ring] = 0
    cut = crop_kernels(net, 3)
    assert cut.cfg.backbone_max_kernel == 3 and _five_by_five(cut) == []
    x = torch.rand(1, 3, 64, 96)
    _assert_same_features(cut, net, x, atol=1e-5)
    assert _round_trip(cut, tmp_path / "cut.safetensors", x).cfg.backbone_max_kernel == 3
    with pytest.raises(ValueError, match="odd"):
        build_network(student_config(backbone_max_kernel=4, pretrained=False))


def test_a_fitted_cut_reproduces_the_full_kernels_better_than_their_centre():
    """With calibration images the 3x3 kernel is fitted to the 5x5 one's output: on smooth inputs (neighbouring taps
    correlated, as in real feature maps) the outer ring's part folds onto the centre, so the first cut block's
    output (block 3, stride 2, after its BatchNorm) must sit well closer to the full network's than the plain centre
    cut's does, on images it was not fitted on."""
    torch.manual_seed(0)
    net = build_network(student_config(backbone_share=0.5, pretrained=False)).eval()
    with torch.no_grad():
        for i in _five_by_five(net):
            net.backbone._blocks[i]._depthwise_conv.weight.normal_(0, 0.3)

    def smooth(n):
        return torch.nn.functional.interpolate(torch.rand(n, 3, 16, 24), size=(64, 96), mode="bilinear")

    def block3(network, x):
        out = []
        handle = network.backbone._blocks[3]._bn1.register_forward_hook(lambda _m, _i, y: out.append(y))
        with torch.no_grad():
            network.encode_key(x)
        handle.remove()
        return out[0]

    x = smooth(2)
    full = block3(net, x)
    centre = (block3(crop_kernels(net, 3), x) - full).pow(2).mean() / full.var()
    fitted = (block3(crop_kernels(net, 3, [smooth(4) for _ in range(2)]), x) - full).pow(2).mean() / full.var()
    assert fitted < 0.6 * centre, (float(fitted), float(centre))  # 0.23 against 0.50 here


def test_calibration_reads_only_the_training_sequences(tmp_path):
    root = make_folder(tmp_path / "davis", frames=5)
    batches = calibration_images(root, every=2, size=(32, 48), batch=4)
    frames = torch.cat(batches)
    assert frames.shape == (2 * 3, 3, 32, 48)  # two training sequences, frames 0, 2, 4
    # the training sequences' background is TRAIN_GREY, the selection ones' SELECTION_GREY
    assert torch.allclose(frames[:, :, 0, 0], torch.full_like(frames[:, :, 0, 0], TRAIN_GREY / 255))
    assert SELECTION_GREY != TRAIN_GREY


def test_what_cannot_be_pruned_or_trained_is_refused(tmp_path):
    from mobilevos.train import DataConfig, TrainConfig, Trainer

    fast = build_network(student_config(backbone="fast-e2", pretrained=False))
    with pytest.raises(ValueError, match="only a Lite key encoder can be pruned"):
        prune_network(fast, 0.5, [])
    data = DataConfig(davis=(), davis_weight=0.0, synth_backgrounds=False, size=(32, 48), workers=0)
    for cut in (dict(backbone_share=0.5), dict(backbone_max_kernel=3)):
        cfg = TrainConfig(model=student_config(**cut, pretrained=False), data=data, threads=1)
        with pytest.raises(ValueError, match="mobilevos prune"):
            Trainer(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="only a Lite key encoder"):
        crop_kernels(fast, 3)


def test_a_pruned_file_records_its_command_and_a_run_from_it_ships_with_that_record(tmp_path, monkeypatch):
    """`mobilevos prune` keeps how it cut in the file, so the shipped record of a fine-tune from it (`train --init`)
    reaches back to the pruning command, the last link before the full student's own record."""
    import argparse
    import sys

    import mobilevos.train.ship as ship
    from mobilevos.models import prune
    from mobilevos.models.checkpoint import read_metadata
    from mobilevos.train import Trainer
    from test_train import tiny_config

    root = make_folder(tmp_path / "davis", frames=3)
    save_network(tmp_path / "full.safetensors", build_network(student_config(pretrained=False)))
    args = argparse.Namespace(
        model=str(tmp_path / "full.safetensors"),
        share=0.5,
        max_kernel=None,
        out=str(tmp_path / "pruned.safetensors"),
        data=str(root),
        every=1,
        size="32x48",
        threads=1,
    )
    argv = ["mobilevos", "prune", "--model", args.model, "--share", "0.5", "--out", args.out, "--data", str(root)]
    monkeypatch.setattr(sys, "argv", [*argv, "--every", "1", "--size", "32x48"])
    prune.run(args)
    made = read_metadata(args.out)[1]["record"]
    assert made["command"] == (
        f"mobilevos prune --model {args.model} --share 0.5 --out {args.out} --data {root} --every 1 --size 32x48"
    )
    assert made["git_commit"] and made["hardware"]["cpus"]
    assert made["share"] == 0.5 and made["calibration_frames"] == 6  # two training sequences of three frames

    run = tmp_path / "run"
    run.mkdir()
    Trainer(tiny_config(init=args.out, model=student_config(backbone_share=0.5, pretrained=False)), run).fit(steps=1)
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(ship, "MODELS_DIR", models)
    record = ship.ship(run, "student_pruned", "fp32", None, short_side=48, synth_videos=1)
    assert record["init"] == {"path": args.out, "record": made}
    assert load_network(models / "student_pruned.safetensors").cfg.backbone_share == 0.5
