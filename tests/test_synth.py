"""Synthetic clip generator: determinism, exact masks, dataset format, DAVIS export and CLI checks."""

import argparse
import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from mobilevos import cli
from mobilevos.data import synth_writer
from mobilevos.data.clips import load_backgrounds
from mobilevos.data.synth import SynthClipDataset, SynthConfig, generate_clip, generate_clip_layers

SIZE = (64, 96)
# Image-only effects off, so the drawn frame must equal the composite of the layers.
CLEAN = SynthConfig(lighting_prob=0.0, blur_prob=0.0, noise_prob=0.0)


def test_deterministic_and_seed_dependent():
    a = generate_clip(7, 4, SIZE)
    b = generate_clip(7, 4, SIZE)
    c = generate_clip(8, 4, SIZE)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_shapes_ids_and_first_frame_visibility():
    cfg = SynthConfig(max_objects=4)
    counts = set()
    for seed in range(12):
        frames, masks = generate_clip(seed, 3, SIZE, cfg)
        assert frames.shape == (3, *SIZE, 3) and frames.dtype == np.uint8
        assert masks.shape == (3, *SIZE) and masks.dtype == np.uint8
        n = int(masks[0].max())
        assert 1 <= n <= 4
        area = np.bincount(masks[0].ravel(), minlength=n + 1)
        assert (area[1:] >= cfg.min_visible * masks[0].size).all(), area  # ids 1..n all clearly visible
        assert masks.max() == n  # no new ids appear later
        counts.add(n)
    assert len(counts) > 1  # the object count varies with the seed


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_masks_are_topmost_visible_layer_and_frames_match_layers(seed):
    cfg = dataclasses.replace(CLEAN, max_objects=3, distractor_prob=1.0)
    clip = generate_clip_layers(seed, 5, SIZE, cfg)
    frames, masks = generate_clip(seed, 5, SIZE, cfg)
    assert np.array_equal(clip.frames, frames) and np.array_equal(clip.masks, masks)
    assert (clip.labels == 0).any()  # distractors present
    ids = clip.labels[clip.labels > 0]
    assert sorted(ids) == list(range(1, len(ids) + 1))
    for t in range(5):
        expected = np.zeros(SIZE, np.uint8)
        composite = clip.background[t].copy()
        for layer, label in enumerate(clip.labels):  # back to front
            alpha = clip.alphas[t, layer]
            expected[alpha >= 0.5] = label
            composite = composite * (1 - alpha[..., None]) + clip.premult[t, layer]
        assert np.array_equal(masks[t], expected)
        assert np.abs(frames[t].astype(np.float32) - composite * 255).max() <= 1.0
    # distractors are drawn (visible on top somewhere) yet never labelled
    top = np.argmax(np.cumsum((clip.alphas >= 0.5)[:, ::-1], axis=1) == 1, axis=1)  # front-most opaque layer
    top = clip.alphas.shape[1] - 1 - top
    covered = (clip.alphas >= 0.5).any(axis=1)
    on_distractor = covered & (clip.labels[top] == 0)
    assert on_distractor.any() and (masks[on_distractor] == 0).all()


def test_ids_are_stable_over_time():
    cfg = dataclasses.replace(CLEAN, exit_prob=0.0, max_objects=3)
    for seed in range(3):
        _, masks = generate_clip(seed, 6, SIZE, cfg)
        for k in range(1, masks[0].max() + 1):
            for t in range(5):
                a, b = masks[t] == k, masks[t + 1] == k
                if a.sum() > 50 and b.sum() > 50:  # fully occluded frames carry no information
                    assert (a & b).sum() / (a | b).sum() > 0.2, (seed, k, t)


def test_effects_change_image_not_masks():
    noisy = SynthConfig(lighting_prob=1.0, blur_prob=1.0, noise_prob=1.0)
    clean = dataclasses.replace(noisy, lighting_prob=0.0, blur_prob=0.0, noise_prob=0.0)
    f_clean, m_clean = generate_clip(3, 3, SIZE, clean)
    f_noisy, m_noisy = generate_clip(3, 3, SIZE, noisy)
    assert np.array_equal(m_clean, m_noisy)
    assert np.abs(f_clean.astype(int) - f_noisy.astype(int)).mean() > 1.0


def test_real_backgrounds_are_used(tmp_path):
    from mobilevos.data.davis import write_sequence

    colour = np.array([200, 30, 120], np.uint8)
    write_sequence(tmp_path / "davis16-train", "flat", np.broadcast_to(colour, (2, 40, 60, 3)).copy())
    backgrounds = load_backgrounds(tmp_path / "davis16-train", 2, seed=0)
    assert len(backgrounds) == 2 and backgrounds[0].shape == (40, 60, 3)
    cfg = dataclasses.replace(CLEAN, real_background_prob=1.0, distractor_prob=0.0)
    frames, masks = generate_clip(0, 2, SIZE, cfg, backgrounds=backgrounds)
    bg = frames[masks == 0].astype(int)
    assert np.abs(np.median(bg, axis=0) - colour).max() <= 4  # JPEG round trip


def test_refuses_validation_split_as_backgrounds(tmp_path):
    (tmp_path / "davis16-val" / "JPEGImages" / "seq").mkdir(parents=True)
    with pytest.raises(ValueError, match="davis16-val"):
        load_backgrounds(tmp_path / "davis16-val", 1)
    args = _args(tmp_path / "out", backgrounds=tmp_path / "davis16-val")
    with pytest.raises(ValueError, match="davis16-val"):
        synth_writer.run(args)


def test_dataset_item_format():
    ds = SynthClipDataset(length=5, clip_len=3, size=SIZE, max_objects=3, seed=1)
    assert len(ds) == 5
    for i in range(3):
        item = ds[i]
        assert item["images"].shape == (3, 3, *SIZE) and item["images"].dtype == torch.float32
        assert item["images"].min() >= 0.0 and item["images"].max() <= 1.0
        masks, valid = item["masks"], item["valid"]
        assert masks.shape == (3, 3, *SIZE) and masks.dtype == torch.float32
        assert valid.shape == (3,) and valid.dtype == torch.bool
        assert masks.sum(1).max() <= 1  # one-hot: at most one object per pixel
        assert torch.equal(masks[0].flatten(1).amax(1) > 0, valid)  # valid slots are exactly the visible objects
        assert valid[: int(valid.sum())].all()  # objects fill slots from the front
        assert isinstance(item["name"], str)
    assert torch.equal(ds[2]["images"], ds[2]["images"])
    assert ds[0]["name"] != ds[1]["name"]
    with pytest.raises(IndexError):
        ds[5]


def test_write_dataset_davis_layout(tmp_path):
    names = synth_writer.write_dataset(tmp_path, videos=2, frames=3, size=SIZE, seed=4)
    assert len(names) == 2 and len(set(names)) == 2
    for name in names:
        jpgs = sorted((tmp_path / "JPEGImages" / name).glob("*.jpg"))
        pngs = sorted((tmp_path / "Annotations" / name).glob("*.png"))
        assert [p.name for p in jpgs] == ["00000.jpg", "00001.jpg", "00002.jpg"]
        assert [p.stem for p in pngs] == [p.stem for p in jpgs]
        ds_item = SynthClipDataset(2, 3, SIZE, max_objects=SynthConfig().max_objects, seed=4)[names.index(name)]
        for t, png in enumerate(pngs):
            image = Image.open(png)
            assert image.mode == "P" and image.size == (SIZE[1], SIZE[0])
            mask = np.array(image)
            n = int(ds_item["valid"].sum())
            assert set(np.unique(mask)) <= set(range(n + 1))
            expected = (ds_item["masks"][t].argmax(0) + 1) * (ds_item["masks"][t].sum(0) > 0)
            assert np.array_equal(mask, expected.numpy())  # the written video is dataset item i
        assert np.array(Image.open(jpgs[0])).shape == (*SIZE, 3)


def _args(out, **kw):
    base = dict(out=out, videos=1, frames=2, size="64x96", seed=0, max_objects=2, backgrounds=None)
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize(
    "bad", [dict(size="64"), dict(size="64x0"), dict(size="axb"), dict(videos=0), dict(frames=-1), dict(max_objects=5)]
)
def test_bad_cli_input_raises_value_error(tmp_path, bad):
    with pytest.raises(ValueError):
        synth_writer.run(_args(tmp_path, **bad))


def test_cli_end_to_end(tmp_path, capsys):
    assert cli.main(["synth", "--out", str(tmp_path), "--videos", "1", "--frames", "2", "--size", "48x64"]) == 0
    assert len(list((tmp_path / "Annotations").glob("*/*.png"))) == 2
    assert cli.main(["synth", "--out", str(tmp_path), "--size", "48by64"]) == 2
    assert "HxW" in capsys.readouterr().err
