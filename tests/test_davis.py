"""DAVIS-layout I/O (round trip, sparse annotations, clear errors) and the training clip dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mobilevos.data.clips import MIN_KEPT_FRACTION, VideoClipDataset, load_backgrounds
from mobilevos.data.davis import (
    DAVIS_PALETTE,
    list_sequences,
    load_frame,
    load_mask,
    read_sequence,
    write_mask,
    write_sequence,
)


def smooth_frames(t, h, w):
    """Smooth colour gradients, a little brighter each frame: JPEG keeps them within a few levels."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = [np.stack([x * 150 / w + y * 40 / h + 40 * c + 5 * i for c in range(3)], -1) for i in range(t)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def blob_masks(t, h, w):
    masks = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        masks[i, 4 + i : 14 + i, 5:15] = 1
        masks[i, 20:30, 20 + i : 32 + i] = 2
        masks[i, 0:2, :] = 255
    return masks


# --- palette and round trip ----------------------------------------------------------------------------------------


def test_davis_palette():
    assert DAVIS_PALETTE.shape == (256, 3) and DAVIS_PALETTE.dtype == np.uint8
    expected = {
        0: (0, 0, 0),
        1: (128, 0, 0),
        2: (0, 128, 0),
        3: (128, 128, 0),
        4: (0, 0, 128),
        5: (128, 0, 128),
        8: (64, 0, 0),
        255: (224, 224, 192),
    }
    for index, rgb in expected.items():
        assert tuple(DAVIS_PALETTE[index]) == rgb


def test_palette_matches_real_davis_annotation(davis_train):
    with Image.open(davis_train / "Annotations" / "bear" / "00000.png") as image:
        palette = np.array(image.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(palette, DAVIS_PALETTE[: len(palette)])


def test_write_read_round_trip(tmp_path):
    frames, masks = smooth_frames(4, 40, 48), blob_masks(4, 40, 48)
    write_sequence(tmp_path, "seq", frames, masks)
    write_sequence(tmp_path, "frames-only", frames, None)
    assert list_sequences(tmp_path) == ["frames-only", "seq"]

    seq = read_sequence(tmp_path, "seq")
    assert seq.name == "seq" and seq.num_frames == 4 and seq.size == (40, 48)
    assert [p.name for p in seq.frame_paths] == ["00000.jpg", "00001.jpg", "00002.jpg", "00003.jpg"]
    assert sorted(seq.mask_paths) == [0, 1, 2, 3]
    for t in range(4):
        frame = load_frame(seq.frame_paths[t])
        assert frame.dtype == np.uint8 and frame.shape == (40, 48, 3)
        assert np.abs(frame.astype(int) - frames[t]).mean() < 2.0  # JPEG quality 95
        np.testing.assert_array_equal(seq.load_mask(t), masks[t])
        with Image.open(seq.mask_paths[t]) as image:
            assert image.mode == "P"
            assert image.getpalette()[3:6] == [128, 0, 0]
    assert read_sequence(tmp_path, "frames-only").mask_paths == {}


def test_write_mask_accepts_integer_arrays_and_rejects_bad_ones(tmp_path):
    write_mask(tmp_path / "a" / "m.png", np.array([[0, 1], [2, 255]], np.int64))
    np.testing.assert_array_equal(load_mask(tmp_path / "a" / "m.png"), [[0, 1], [2, 255]])
    with pytest.raises(ValueError, match=r"0\.\.255"):
        write_mask(tmp_path / "b.png", np.array([[0, 256]]))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        write_mask(tmp_path / "c.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        write_sequence(tmp_path, "s", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="masks must be"):
        write_sequence(tmp_path, "s", np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 9), np.uint8))


def test_single_channel_mask_is_accepted(tmp_path):
    write_sequence(tmp_path, "s", smooth_frames(2, 16, 16), None)
    Image.fromarray(np.full((16, 16), 3, np.uint8), mode="L").save(tmp_path / "l.png")
    (tmp_path / "Annotations" / "s").mkdir(parents=True)
    (tmp_path / "l.png").rename(tmp_path / "Annotations" / "s" / "00001.png")
    seq = read_sequence(tmp_path, "s")
    assert list(seq.mask_paths) == [1]
    assert (seq.load_mask(1) == 3).all()


def test_partial_annotations_youtube_vos_style(tmp_path):
    # YouTube-VOS: frames every 5th index of the source video, masks on some of them only.
    frames, masks = smooth_frames(4, 24, 32), blob_masks(4, 24, 32)
    for i, stem in enumerate(["00000", "00005", "00010", "00015"]):
        (tmp_path / "JPEGImages" / "v").mkdir(parents=True, exist_ok=True)
        Image.fromarray(frames[i]).save(tmp_path / "JPEGImages" / "v" / f"{stem}.jpg", quality=95)
    write_mask(tmp_path / "Annotations" / "v" / "00000.png", masks[0])
    write_mask(tmp_path / "Annotations" / "v" / "00010.png", masks[2])
    seq = read_sequence(tmp_path, "v")
    assert seq.num_frames == 4
    assert sorted(seq.mask_paths) == [0, 2]  # keyed by frame index, not by file name
    np.testing.assert_array_equal(seq.load_mask(2), masks[2])


# --- clear errors --------------------------------------------------------------------------------------------------


def test_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"dataset root not found: .*nope"):
        read_sequence(tmp_path / "nope", "s")
    with pytest.raises(FileNotFoundError, match="JPEGImages folder not found"):
        list_sequences(tmp_path)
    write_sequence(tmp_path, "s", smooth_frames(1, 8, 8), None)
    with pytest.raises(FileNotFoundError, match=r"sequence 'other' not found: .*JPEGImages/other"):
        read_sequence(tmp_path, "other")
    (tmp_path / "JPEGImages" / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no frames .* in .*JPEGImages/empty"):
        read_sequence(tmp_path, "empty")


def test_mask_without_frame(tmp_path):
    write_sequence(tmp_path, "s", smooth_frames(2, 8, 8), None)
    write_mask(tmp_path / "Annotations" / "s" / "00007.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"mask .*00007.png has no frame 00007"):
        read_sequence(tmp_path, "s")


def test_mask_size_mismatch(tmp_path):
    write_sequence(tmp_path, "s", smooth_frames(2, 8, 8), None)
    write_mask(tmp_path / "Annotations" / "s" / "00001.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match=r"00001.png is \(8, 9\) \(H, W\) but its frames are \(8, 8\)"):
        read_sequence(tmp_path, "s")


def test_rgb_mask_is_rejected(tmp_path):
    write_sequence(tmp_path, "s", smooth_frames(2, 8, 8), None)
    (tmp_path / "Annotations" / "s").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "Annotations" / "s" / "00000.png")
    with pytest.raises(
        ValueError, match=r"00000\.png has mode 'RGB': it must be a palette or single-channel index PNG"
    ):
        read_sequence(tmp_path, "s")
    with pytest.raises(ValueError, match="palette or single-channel"):
        load_mask(tmp_path / "Annotations" / "s" / "00000.png")


def test_corrupt_and_empty_images(tmp_path):
    noise = np.random.default_rng(0).integers(
        0, 256, (3, 32, 32, 3), dtype=np.uint8
    )  # mostly image data, little header
    write_sequence(tmp_path, "s", noise, blob_masks(3, 32, 32))
    frame = tmp_path / "JPEGImages" / "s" / "00001.jpg"
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) * 2 // 3])  # truncated: the header parses, decoding fails
    with pytest.raises(ValueError, match=r"cannot decode image .*00001\.jpg"):
        load_frame(frame)
    (tmp_path / "JPEGImages" / "s" / "00002.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read image .*00002\.jpg"):
        read_sequence(tmp_path, "s")
    with pytest.raises(ValueError, match="cannot read image"):
        load_mask(tmp_path / "JPEGImages" / "s" / "00002.jpg")
    with pytest.raises(FileNotFoundError, match=r"image not found: .*missing\.png"):
        load_mask(tmp_path / "missing.png")


# --- training clips ------------------------------------------------------------------------------------------------


def test_clip_dataset_shapes_and_one_hot(davis_train):
    ds = VideoClipDataset([davis_train], clip_len=3, size=(192, 320), max_objects=2, seed=0)
    assert len(ds) == 2079 - 404  # one item per annotated frame of the training sequences (not the selection ones)
    for index in range(12):
        item = ds[index]
        assert set(item) == {"images", "masks", "void", "valid", "name"}
        assert item["images"].shape == (3, 3, 192, 320) and item["images"].dtype == torch.float32
        assert item["images"].min() >= 0.0 and item["images"].max() <= 1.0
        assert item["masks"].shape == (3, 2, 192, 320) and item["masks"].dtype == torch.float32
        assert item["void"].shape == (3, 192, 320) and item["void"].dtype == torch.bool
        assert item["valid"].shape == (2,) and item["valid"].dtype == torch.bool
        assert isinstance(item["name"], str) and item["name"] in list_sequences(davis_train)
        masks, valid = item["masks"], item["valid"]
        assert set(masks.unique().tolist()) <= {0.0, 1.0}
        assert masks.sum(1).max() <= 1  # one object per pixel
        assert valid[0]  # DAVIS 2016 has one object: slot 0 valid, slot 1 empty
        assert not valid[1] and masks[:, 1].sum() == 0
        assert masks[0, 0].sum() > 0  # the object is visible in the first frame
        assert not (masks.sum(1).bool() & item["void"]).any()


def test_clip_dataset_is_deterministic(davis_train):
    a = VideoClipDataset([davis_train], seed=3)
    b = VideoClipDataset([davis_train], seed=3)
    for index in (0, 7):
        x, y = a[index], b[index]
        for key in ("images", "masks", "void", "valid"):
            assert torch.equal(x[key], y[key])
        assert x["name"] == y["name"]
    b.epoch = 1
    assert not torch.equal(a[0]["images"], b[0]["images"])
    assert not torch.equal(a[0]["images"], VideoClipDataset([davis_train], seed=4)[0]["images"])


def test_clip_dataset_refuses_evaluation_split(davis_val, tmp_path, davis_train):
    with pytest.raises(ValueError, match="evaluation-only"):
        VideoClipDataset([davis_train, davis_val])
    (tmp_path / "innocent-name").symlink_to(davis_val)
    with pytest.raises(ValueError, match="evaluation-only"):
        VideoClipDataset([tmp_path / "innocent-name"])
    with pytest.raises(ValueError, match="evaluation-only"):
        load_backgrounds(davis_val, 2, seed=0)


def test_load_backgrounds(davis_train):
    frames = load_backgrounds(davis_train, 3, seed=1)
    assert len(frames) == 3 and all(f.shape == (240, 427, 3) and f.dtype == np.uint8 for f in frames)
    again = load_backgrounds(davis_train, 3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))


def _coded_sequence(root, num_frames=20):
    """Frame t is a flat grey of level 10·t; only even frames are annotated; object 1 everywhere, 2 and 3 on the
    left, void strip on top."""
    frames = np.repeat(np.arange(num_frames, dtype=np.uint8)[:, None, None, None] * 10, 3, -1)
    frames = np.broadcast_to(frames, (num_frames, 48, 64, 3)).copy()
    write_sequence(root, "coded", frames, None)
    for t in range(0, num_frames, 2):
        mask = np.zeros((48, 64), np.uint8)
        mask[10:40, 5:20], mask[10:40, 25:40], mask[10:40, 45:60], mask[:4] = 1, 2, 3, 255
        write_mask(root / "Annotations" / "coded" / f"{t:05d}.png", mask)


def test_clip_frames_are_annotated_ordered_and_within_max_gap(tmp_path):
    _coded_sequence(tmp_path)
    ds = VideoClipDataset([tmp_path], clip_len=4, size=(48, 64), max_objects=2, max_gap=3, augment=False, length=40)
    directions = set()
    for item in ds:
        levels = item["images"][:, 0, 24, 32].mul(255).round().numpy()
        frames = np.round(levels / 10).astype(int)
        assert (frames % 2 == 0).all(), frames  # only annotated frames
        steps = np.diff(frames) // 2  # in annotated frames
        assert ((np.abs(steps) >= 1) & (np.abs(steps) <= 3)).all() and len(set(np.sign(steps))) == 1, frames
        directions.add(int(np.sign(steps[0])))
        assert item["valid"].tolist() == [True, True]  # 3 objects in the first frame, 2 slots
        assert item["void"][:, :4].all() and not item["void"][:, 4:].any()
    assert directions == {-1, 1}  # played forwards and backwards


def test_clip_dataset_small_frames_are_padded(tmp_path):
    _coded_sequence(tmp_path, num_frames=6)
    ds = VideoClipDataset([tmp_path], clip_len=2, size=(96, 160), max_objects=3, seed=5, length=6)
    for index in range(6):
        item = ds[index]
        assert item["images"].shape == (2, 3, 96, 160)
        assert item["valid"].sum() >= 1
        assert item["masks"].shape == (2, 3, 96, 160)


def test_pasted_distractor_is_unlabelled_moves_rigidly_and_keeps_the_annotation(tmp_path):
    _coded_sequence(tmp_path)  # every source frame is a grey level <= 180; the clip below is 200 everywhere
    ds = VideoClipDataset([tmp_path], clip_len=3, size=(48, 64), max_objects=3, length=1)
    first = ds._load_masks(0)[0]
    images, masks = [np.full((48, 64, 3), 200, np.uint8)] * 3, [first] * 3
    pasted_any = 0
    for seed in range(20):
        new_images, new_masks = ds._paste_distractor(0, images, masks, [1, 2, 3], np.random.default_rng(seed))
        pasted = [np.any(im != 200, axis=-1) for im in new_images]
        counts = {int(p.sum()) for p in pasted}
        assert len(counts) == 1  # the same patch in every frame, only moved
        for p, m in zip(pasted, new_masks):
            assert (m[p] == 0).all()  # the distractor is background in the labels ...
            assert np.array_equal(m[~p], first[~p])  # ... and occludes only what it covers
        for k in (1, 2, 3):  # the annotated frame still shows every object
            assert (new_masks[0] == k).sum() >= MIN_KEPT_FRACTION * (first == k).sum()
        pasted_any += counts.pop() > 0
    assert pasted_any >= 3  # (the others would have hidden too much of an object in this small frame: skipped)


def test_static_pseudo_videos_move_the_object_over_its_own_inpainted_background(tmp_path):
    from mobilevos.data.davis import write_sequence

    images = np.full((3, 64, 96, 3), 40, np.uint8)
    masks = np.zeros((3, 64, 96), np.uint8)
    masks[:, 20:40, 30:60] = 1
    images[masks == 1] = 215
    write_sequence(tmp_path, "still", images, masks)
    ds = VideoClipDataset([tmp_path], clip_len=4, size=(64, 96), max_objects=1, static_prob=1.0, seed=1, length=6)
    moved = 0
    for index in range(6):
        item = ds[index]
        obj = item["masks"][:, 0] > 0.5
        x = item["images"].mean(1)  # grey level per pixel, [T, H, W]
        areas = obj.flatten(1).sum(1).float()
        assert torch.all(areas > 0.4 * areas[0]) and torch.all(areas < 2.5 * areas[0])
        # Labels follow the pixels: the object is bright and the rest (inpainted background) dark, in every frame.
        for t in range(4):
            assert x[t][obj[t]].mean() > 0.6 and x[t][~obj[t]].mean() < 0.35
        moved += int((obj[3] != obj[0]).sum() > 20)
    assert moved >= 5  # the object moves between the first and last frame


def test_scale_range_sets_the_magnification_of_real_frames(tmp_path):
    _coded_sequence(tmp_path, num_frames=2)
    square = np.zeros((48, 64), np.uint8)
    square[20:28, 28:36] = 1  # 64 object pixels
    image = np.zeros((48, 64, 3), np.uint8)
    for scale_range, expected in (((2.0, 2.0), [256]), ((3.0, 3.0), [576]), ((0.8, 1.5), range(40, 145))):
        ds = VideoClipDataset([tmp_path], clip_len=1, size=(48, 64), max_objects=1, length=1, scale_range=scale_range)
        counts = []
        for seed in range(8):
            _, masks = ds._resize_and_crop([image], [square], [1], np.random.default_rng(seed))
            counts.append(int((masks[0] == 1).sum()))
        assert max(counts) in expected and min(counts) > 0, (scale_range, counts)  # a crop may cut the object
    with pytest.raises(ValueError, match="scale_range"):
        VideoClipDataset([tmp_path], scale_range=(1.5, 0.8))
