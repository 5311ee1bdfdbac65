"""The test clips' makers in scripts/: the shrinking object of make_small_object_clip.py (e2e/size.test.js), and
subsample_davis.py's every-N-th-frame folders."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
make_small_object_clip = pytest.importorskip("make_small_object_clip")
subsample_davis = pytest.importorskip("subsample_davis")


def test_zoom_out_shrinks_the_object_by_the_factor_squared_and_keeps_it_in_view():
    frames_n, (h, w), factor = 5, (48, 64), 3
    big = np.zeros((frames_n, h * factor, w * factor, 3), np.uint8)
    masks = np.zeros((frames_n, h * factor, w * factor), np.uint8)
    masks[:, 20:44, 30:54] = 1  # 24x24, off-centre and near the top-left: the window is clamped to the frame
    big[masks > 0] = 255
    frames, out = make_small_object_clip.zoom_out(big, masks, (h, w))
    assert frames.shape == (frames_n, h, w, 3) and out.shape == (frames_n, h, w)
    areas = (out > 0).sum(axis=(1, 2))
    assert areas[0] == 24 * 24  # the first window is the output size: no scaling
    assert abs(areas[-1] - 24 * 24 / factor**2) <= 16  # the last is the whole frame, scaled down 3x
    assert np.all(np.diff(areas) < 0)
    for frame, mask in zip(frames, out):  # frame and mask went through the same windows (area vs nearest resize)
        bright = np.argwhere(frame[..., 0] > 127).mean(0)
        assert np.abs(bright - np.argwhere(mask > 0).mean(0)).max() < 0.25


def test_subsampled_folder_keeps_every_nth_frame_with_its_mask(tmp_path):
    from mobilevos.data.davis import list_sequences, read_sequence
    from mobilevos.data.synth_writer import write_dataset

    write_dataset(tmp_path / "src", videos=2, frames=7, size=(32, 48), seed=3)
    names = subsample_davis.subsample(tmp_path / "src", tmp_path / "out", 3, "all")
    assert names == list_sequences(tmp_path / "out") and len(names) == 2
    for name in names:
        full, sub = read_sequence(tmp_path / "src", name), read_sequence(tmp_path / "out", name)
        assert [p.name for p in sub.frame_paths] == [full.frame_paths[i].name for i in (0, 3, 6)]
        assert sorted(sub.mask_paths) == [0, 1, 2]  # every kept frame keeps its mask, frame 0 its annotation
        assert np.array_equal(sub.load_mask(1), full.load_mask(3))
    with pytest.raises(ValueError, match="at least 1"):
        subsample_davis.subsample(tmp_path / "src", tmp_path / "zero", 0, "all")
