"""J and F on hand-computed cases, the bitset core against numpy / OpenCV / skimage on odd sizes and image borders,
and the whole scorer against the independent vos-benchmark on random masks and davis16-val."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from mobilevos.data.davis import write_mask
from mobilevos.eval import metrics_core as core
from mobilevos.eval.metrics import (
    _array,
    _bitset,
    boundary_radius,
    db_eval_boundary,
    db_eval_iou,
    db_statistics,
    evaluate_sequence,
    frame_from_array,
    score_folder,
    seg2bmap,
)


def square(shape, top, left, side):
    mask = np.zeros(shape, bool)
    mask[top : top + side, left : left + side] = True
    return mask


def pixel(shape, y, x):
    mask = np.zeros(shape, bool)
    mask[y, x] = True
    return mask


# --- region similarity J -------------------------------------------------------------------------------------------


def test_iou_both_empty_is_one():
    empty = np.zeros((8, 8), bool)
    assert db_eval_iou(empty, empty) == 1.0


def test_iou_full_and_empty():
    full, empty = np.ones((8, 8), bool), np.zeros((8, 8), bool)
    assert db_eval_iou(full, full) == 1.0
    assert db_eval_iou(full, empty) == 0.0


def test_iou_one_pixel():
    assert db_eval_iou(pixel((10, 10), 5, 5), pixel((10, 10), 5, 5)) == 1.0
    assert db_eval_iou(pixel((10, 10), 5, 5), pixel((10, 10), 5, 6)) == 0.0


def test_iou_shifted_square():
    # 10×10 squares shifted by 5 columns: intersection 10×5 = 50, union 100 + 100 − 50 = 150.
    gt, pred = square((40, 40), 10, 10, 10), square((40, 40), 10, 15, 10)
    assert db_eval_iou(gt, pred) == pytest.approx(50 / 150)


def test_iou_ignores_void_pixels():
    gt = square((40, 40), 10, 10, 10)
    pred = square((40, 40), 10, 10, 20)  # 300 extra pixels, all of them void
    void = pred & ~gt
    assert db_eval_iou(gt, pred) == pytest.approx(100 / 400)
    assert db_eval_iou(gt, pred, void) == 1.0
    # Void inside the object: a prediction missing exactly the void half of the square is perfect.
    half = gt & (np.arange(40) < 15)
    assert db_eval_iou(gt, gt & ~half) == pytest.approx(50 / 100)
    assert db_eval_iou(gt, gt & ~half, half) == 1.0


def test_iou_size_mismatch_raises():
    with pytest.raises(ValueError, match="differ in size"):
        db_eval_iou(np.zeros((4, 4)), np.zeros((4, 5)))


# --- boundaries and F ----------------------------------------------------------------------------------------------


def test_seg2bmap_of_one_pixel_is_its_2x2_upper_left_block():
    # A pixel differs from the right/lower/lower-right neighbours of itself and of its three upper-left neighbours.
    expected = np.zeros((10, 10), bool)
    expected[4:6, 4:6] = True
    np.testing.assert_array_equal(seg2bmap(pixel((10, 10), 5, 5)), expected)


def test_seg2bmap_image_border_is_not_a_boundary():
    assert not seg2bmap(np.ones((6, 7), bool)).any()
    edge = np.zeros((6, 7), bool)
    edge[:, :3] = True  # a left band touching three image borders: only its right side is a boundary
    expected = np.zeros((6, 7), bool)
    expected[:, 2] = True
    np.testing.assert_array_equal(seg2bmap(edge), expected)


def test_boundary_radius():
    assert boundary_radius((480, 854)) == 8  # ceil(0.008 × 979.6) = ceil(7.84)
    assert boundary_radius((10, 10)) == 1  # ceil(0.113)
    assert boundary_radius((10, 10), bound_th=3) == 3  # ≥ 1: taken as pixels


def test_boundary_identical_masks_is_one():
    gt = square((100, 100), 20, 30, 25)
    assert db_eval_boundary(gt, gt.copy()) == 1.0
    assert db_eval_boundary(pixel((10, 10), 5, 5), pixel((10, 10), 5, 5)) == 1.0


def test_boundary_far_away_mask_is_zero():
    # Radius ceil(0.008 × 141.4) = 2 pixels; the squares are 40 pixels apart.
    assert db_eval_boundary(square((100, 100), 10, 10, 20), square((100, 100), 10, 70, 20)) == 0.0


def test_boundary_empty_cases():
    empty, full = np.zeros((10, 10), bool), np.ones((10, 10), bool)
    assert db_eval_boundary(empty, empty) == 1.0
    assert db_eval_boundary(pixel((10, 10), 5, 5), empty) == 0.0
    assert db_eval_boundary(empty, pixel((10, 10), 5, 5)) == 0.0
    # A full mask has no boundary either (the image border is not one), so DAVIS scores full vs empty as F = 1.
    assert db_eval_boundary(full, empty) == 1.0


def test_boundary_partial_match_hand_computed():
    # Radius 1 (a plus-shaped disk). Boundaries: gt {(4,4),(4,5),(5,4),(5,5)}, pred {(4,6),(4,7),(5,6),(5,7)}.
    # Only (4,6),(5,6) lie within 1 pixel of gt's boundary and only (4,5),(5,5) within 1 of pred's:
    # precision = recall = 2/4, F = 0.5.
    assert db_eval_boundary(pixel((10, 10), 5, 5), pixel((10, 10), 5, 7)) == pytest.approx(0.5)


def test_boundary_ignores_void_pixels():
    gt = square((60, 60), 10, 10, 20)
    pred = square((60, 60), 10, 10, 30)
    void = pred & ~gt
    assert db_eval_boundary(gt, pred) < 1.0
    assert db_eval_boundary(gt, pred, void) == 1.0


# --- the bitset core (mobilevos.eval.metrics_core) -----------------------------------------------------------------

ODD_SHAPES = [(1, 1), (1, 9), (5, 1), (3, 7), (8, 8), (7, 9), (13, 16), (11, 17), (37, 53), (64, 63)]


def _random_binary(rng, shape, density):
    return rng.random(shape) < density


@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_bitset_roundtrip_and_layout(shape):
    rng = np.random.default_rng(1)
    g = core.grid(shape[1], shape[0])
    for mask in (_random_binary(rng, shape, 0.3), np.ones(shape, bool), np.zeros(shape, bool)):
        bits = _bitset(mask, g)
        np.testing.assert_array_equal(_array(bits, g), mask)
        assert bits & ~g.full == 0  # nothing in the padding columns
        assert bits.bit_count() == np.count_nonzero(mask)
        for y, x in zip(*np.nonzero(mask)):
            assert bits >> int(y * g.stride + x) & 1
    assert _bitset(np.ones(shape, bool), g) == g.full


def test_grid_geometry():
    g = core.grid(854, 480)
    assert (g.radius, g.pad, g.stride) == (8, 8, 862)
    assert g.full.bit_count() == 854 * 480 and g.last_col.bit_count() == 480 and g.last_row.bit_count() == 854
    assert core.grid(9, 7).pad == 1  # radius ceil(0.008 × 11.4) = 1
    assert core.grid(10, 10, bound_th=5).pad == 5
    assert core.grid(854, 480) is g  # cached
    with pytest.raises(ValueError, match="empty"):
        core.grid(0, 4)


def test_disk_matches_skimage():
    disk = pytest.importorskip("skimage.morphology").disk
    for radius in range(41):
        half = core.disk_half_widths(radius)
        expected = disk(radius).astype(bool)
        built = np.zeros_like(expected)
        for row, w in enumerate(half):
            built[row, radius - w : radius + w + 1] = True
        np.testing.assert_array_equal(built, expected, err_msg=f"radius {radius}")
    # floor(sqrt(64 − dy²)) for dy = 8, 7, …, 0: the disk's rows at 480×854 reach out 0, 3, 5, 6, 6, 7, 7, 7, 8.
    assert core.disk_half_widths(8) == [0, 3, 5, 6, 6, 7, 7, 7, 8, 7, 7, 7, 6, 6, 5, 3, 0]


@pytest.mark.parametrize("shape", [*ODD_SHAPES, (480, 854)])
@pytest.mark.parametrize("radius", [1, 2, 3, 8])
def test_dilate_matches_cv2_with_the_skimage_disk(shape, radius):
    rng = np.random.default_rng(radius)
    g = core.grid(shape[1], shape[0], bound_th=radius)
    offsets = np.arange(-radius, radius + 1)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.uint8)
    corners = np.zeros(shape, bool)
    corners[[0, 0, -1, -1], [0, -1, 0, -1]] = True  # pixels on the image corners spill over every border
    edges = np.zeros(shape, bool)
    edges[:, -1] = edges[-1, :] = True
    for mask in (_random_binary(rng, shape, 0.01), _random_binary(rng, shape, 0.2), corners, edges):
        expected = cv2.dilate(mask.astype(np.uint8), disk).astype(bool)
        np.testing.assert_array_equal(_array(core.dilate(g, _bitset(mask, g)), g), expected)
    assert core.dilate(g, 0) == 0


def test_dilate_of_a_corner_pixel_is_a_quarter_disk():
    g = core.grid(9, 7, bound_th=2)
    got = _array(core.dilate(g, _bitset(pixel((7, 9), 0, 0), g)), g)
    expected = np.zeros((7, 9), bool)
    expected[0, :3] = expected[1, :2] = expected[2, 0] = True  # dx² + dy² ≤ 4
    np.testing.assert_array_equal(got, expected)


def test_seg2bmap_of_a_corner_pixel():
    # The bottom-right pixel differs from nothing (the image continues unchanged beyond it); its three upper-left
    # neighbours differ from it. Width 9 puts the last column in the second byte of each row.
    expected = np.zeros((7, 9), bool)
    expected[5:7, 7:9] = True
    expected[6, 8] = False
    np.testing.assert_array_equal(seg2bmap(pixel((7, 9), 6, 8)), expected)
    np.testing.assert_array_equal(seg2bmap(pixel((7, 9), 0, 0)), pixel((7, 9), 0, 0))
    assert not seg2bmap(np.ones((1, 1), bool)).any()
    np.testing.assert_array_equal(seg2bmap(np.array([[1, 0, 0, 1, 1]], bool)), [[1, 0, 1, 0, 0]])
    np.testing.assert_array_equal(seg2bmap(np.array([[1], [0], [1]], bool)), [[1], [1], [0]])


@pytest.mark.parametrize("shape", [*ODD_SHAPES, (480, 854)])
def test_seg2bmap_matches_vos_benchmark(shape):
    reference = pytest.importorskip("vos_benchmark.utils")._seg2bmap
    rng = np.random.default_rng(2)
    for density in (0.1, 0.5, 0.9):
        mask = _random_binary(rng, shape, density)
        if min(shape) > 1:  # vos-benchmark's version needs 2 rows and 2 columns
            np.testing.assert_array_equal(seg2bmap(mask), reference(mask))
    band = np.zeros(shape, bool)
    band[:, shape[1] // 2 :] = True  # touches the top, right and bottom borders
    expected = np.zeros(shape, bool)
    if shape[1] > 1:
        expected[:, shape[1] // 2 - 1] = True
    np.testing.assert_array_equal(seg2bmap(band), expected)


def test_region_similarity_and_f_on_bitsets():
    g = core.grid(9, 3)  # rows of 9 bits: x = 8 is the first bit of the second byte
    left = _bitset(np.array([[1, 1, 0, 0, 0, 0, 0, 0, 1]] * 3, bool), g)
    right = _bitset(np.array([[0, 1, 1, 0, 0, 0, 0, 0, 1]] * 3, bool), g)
    assert core.region_similarity(left, right) == pytest.approx(6 / 12)
    assert core.region_similarity(left, right, void=_bitset(np.array([[1, 0, 1, 0, 0, 0, 0, 0, 0]] * 3, bool), g)) == 1
    assert core.region_similarity(0, 0) == 1.0
    assert core.boundary_f_measure(g, left, left) == 1.0
    assert core.boundary_f_measure(g, left, 0) == 0.0


def _random_labels(rng, shape, num_objects, void=True):
    labels = _random_index_mask(rng, shape, num_objects)
    if void:
        labels[rng.random(shape) < 0.05] = 255
    return labels


@pytest.mark.parametrize("shape", [*ODD_SHAPES, (480, 854)])
def test_label_maps_split_like_numpy(shape):
    rng = np.random.default_rng(3)
    labels = _random_labels(rng, shape, 3)
    labels[0, 0], labels[-1, -1] = 2, 255  # labels on the corners
    g = core.grid(shape[1], shape[0])
    frame = core.frame_from_labels(shape[1], shape[0], labels.tobytes())
    reference = frame_from_array(labels)
    assert frame.objects == reference.objects and frame.void == reference.void
    present = [i for i in np.unique(labels) if i not in (0, 255)]
    assert sorted(frame.objects) == core.label_ids(labels.tobytes()) == present
    for value in (0, 1, 2, 255, 7):
        assert core.label_bitset(g, labels.tobytes(), value) == _bitset(labels == value, g)
    # bytearray, memoryview and lists are taken as well as bytes
    assert core.frame_from_labels(shape[1], shape[0], bytearray(labels.tobytes())).objects == frame.objects
    assert core.frame_from_labels(shape[1], shape[0], memoryview(labels.tobytes())).objects == frame.objects
    with pytest.raises(ValueError, match="label map has"):
        core.frame_from_labels(shape[1] + 1, shape[0], labels.tobytes())


def test_evaluate_labels_matches_evaluate_sequence():
    rng = np.random.default_rng(4)
    shape = (37, 53)
    gt = {t: _random_labels(rng, shape, 3) for t in range(6)}
    pred = {t: _random_labels(rng, shape, 3, void=False) if t % 2 else gt[t].copy() for t in range(1, 5)}
    expected = evaluate_sequence(gt, pred)
    as_bytes = {t: m.tobytes() for t, m in gt.items()}
    pred_list = [None] + [pred[t].tobytes() for t in range(1, 5)]  # a list indexed by frame, None where none
    assert core.evaluate_labels(53, 37, as_bytes, pred_list, num_frames=6) == expected
    assert core.evaluate_labels(53, 37, as_bytes, {t: m.tobytes() for t, m in pred.items()}) == expected
    assert set(expected["objects"]) == {1, 2, 3} and expected["frames"] == [1, 2, 3, 4]
    # Index masks of other integer types (a tracker's int64 argmax) split the same way.
    wide = evaluate_sequence(
        {t: m.astype(np.int64) for t, m in gt.items()}, {t: m.astype(np.int32) for t, m in pred.items()}
    )
    assert wide == expected


def test_summarize_hand_computed():
    def result(j, f):
        return {
            "objects": {
                obj: {"J-mean": jm, "J-recall": 1.0, "J-decay": 0.0, "F-mean": fm, "F-recall": 0.5, "F-decay": 0.25}
                for obj, (jm, fm) in enumerate(zip(j, f), 1)
            }
        }

    summary = core.summarize({"a": result([0.5], [0.7]), "b": result([1.0, 0.0], [0.9, 0.3])})
    # Over objects, not sequences: J = (0.5 + 1.0 + 0.0) / 3, F = (0.7 + 0.9 + 0.3) / 3.
    assert summary["summary"]["J"] == pytest.approx(50.0)
    assert summary["summary"]["F"] == pytest.approx(190 / 3)
    assert summary["summary"]["J&F"] == pytest.approx((50.0 + 190 / 3) / 2)
    assert summary["summary"]["F-recall"] == pytest.approx(50.0)
    assert summary["sequences"]["b"]["J"] == pytest.approx(50.0)
    assert summary["sequences"]["b"]["objects"][2] == pytest.approx(
        {"J": 0.0, "J-recall": 100.0, "J-decay": 0.0, "F": 30.0, "F-recall": 50.0, "F-decay": 25.0, "J&F": 15.0}
    )
    with pytest.raises(ValueError, match="no objects"):
        core.summarize({"c": {"objects": {}}})


# --- statistics and sequences --------------------------------------------------------------------------------------


def test_db_statistics_hand_computed():
    values = [1.0, 1.0, 0.9, 0.8, 0.5, 0.4, 0.2, 0.0]
    stats = db_statistics(values)
    assert stats["mean"] == pytest.approx(4.8 / 8)
    assert stats["recall"] == pytest.approx(4 / 8)  # 0.5 itself is not > 0.5
    # Bin edges round(linspace(1, 8, 5)) − 1 = [0, 2, 4, 5, 7]: first bin [0..2], last bin [5..7].
    assert stats["decay"] == pytest.approx((1.0 + 1.0 + 0.9) / 3 - (0.4 + 0.2 + 0.0) / 3)


def test_db_statistics_short_and_long():
    assert db_statistics([0.7]) == {"mean": pytest.approx(0.7), "recall": 1.0, "decay": 0.0}
    # 4 frames: edges [0, 1, 2, 2, 3] → first bin frames 0..1, last bin frames 2..3.
    assert db_statistics([1.0, 0.5, 0.5, 0.0])["decay"] == pytest.approx(0.75 - 0.25)
    # More than 256 frames: the DAVIS toolkit's uint8 bin edges would wrap around; ours must not.
    values = np.r_[np.ones(100), np.zeros(200)]
    assert db_statistics(values)["decay"] == pytest.approx(1.0)


def test_evaluate_sequence_scores_frames_1_to_n_minus_2_per_object():
    shape = (20, 20)
    gt = {t: np.zeros(shape, np.uint8) for t in range(5)}
    for t in range(5):
        gt[t][2:8, 2:8] = 1
    gt[2][12:16, 12:16] = 2  # object 2 only in frame 2
    pred = {t: m.copy() for t, m in gt.items()}
    pred[3][:] = 0  # object 1 lost in frame 3
    result = evaluate_sequence(gt, pred)
    assert result["frames"] == [1, 2, 3]
    assert sorted(result["objects"]) == [1, 2]
    assert result["objects"][1]["J"] == [1.0, 1.0, 0.0]
    assert result["objects"][1]["J-mean"] == pytest.approx(2 / 3)
    assert result["objects"][1]["F-recall"] == pytest.approx(2 / 3)
    # Object 2 is absent (in both) on frames 1 and 3: those count as perfect, as in DAVIS 2017.
    assert result["objects"][2]["J"] == [1.0, 1.0, 1.0]


def test_evaluate_sequence_skips_frames_without_ground_truth_and_ignores_void():
    shape = (20, 20)
    gt = {t: np.zeros(shape, np.uint8) for t in (0, 1, 3, 5)}
    for mask in gt.values():
        mask[2:8, 2:8] = 1
        mask[2:8, 8:10] = 255
    pred = {t: np.where(np.isin(gt[t], (1, 255)), 1, 0).astype(np.uint8) for t in gt}  # void painted as object
    result = evaluate_sequence(gt, pred, num_frames=6)
    assert result["frames"] == [1, 3]
    assert list(result["objects"]) == [1]
    assert result["objects"][1]["J"] == [1.0, 1.0]
    assert result["objects"][1]["F"] == [1.0, 1.0]


def test_evaluate_sequence_errors():
    masks = {t: np.zeros((4, 4), np.uint8) for t in range(4)}
    with pytest.raises(ValueError, match=r"no prediction for frames \[2\]"):
        evaluate_sequence(masks, {t: m for t, m in masks.items() if t != 2})
    with pytest.raises(ValueError, match="frame 1"):
        evaluate_sequence(masks, {**masks, 1: np.zeros((4, 5), np.uint8)})
    with pytest.raises(ValueError, match="nothing to score"):
        evaluate_sequence({0: masks[0], 1: masks[1]}, {0: masks[0], 1: masks[1]})


# --- cross-checks against vos-benchmark ----------------------------------------------------------------------------


def _random_index_mask(rng, shape, num_objects):
    mask = np.zeros(shape, np.uint8)
    for obj in range(1, num_objects + 1):
        noise = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), sigmaX=rng.uniform(1, 6))
        mask[noise > np.quantile(noise, rng.uniform(0.6, 0.95))] = obj
    return mask


def test_per_frame_j_and_f_match_vos_benchmark_on_random_masks():
    evaluator_module = pytest.importorskip("vos_benchmark.evaluator")
    rng = np.random.default_rng(0)
    for shape in [(7, 9), (37, 53), (120, 160), (480, 854)]:
        for _ in range(4):
            gt = _random_index_mask(rng, shape, 3)
            pred = _random_index_mask(rng, shape, 3) if rng.random() < 0.5 else np.roll(gt, rng.integers(-4, 5), 1)
            reference = evaluator_module.Evaluator()
            reference.feed_frame(pred, gt)
            for obj, (j_ref,) in reference.object_iou.items():
                assert db_eval_iou(gt == obj, pred == obj) == pytest.approx(j_ref, abs=1e-12)
                assert db_eval_boundary(gt == obj, pred == obj) == pytest.approx(
                    reference.boundary_f[obj][0], abs=1e-12
                )


def _write_predictions(annotations, out_dir, sequences, lag=None):
    """Copy ground truth as predictions: frame 0's mask everywhere (lag None), or the mask `lag` frames back."""
    for name in sequences:
        (out_dir / name).mkdir(parents=True)
        paths = sorted((annotations / name).glob("*.png"))
        for t, path in enumerate(paths):
            shutil.copyfile(paths[0 if lag is None else max(t - lag, 0)], out_dir / name / path.name)


@pytest.mark.parametrize("lag, expected", [(None, 31.67), (1, 80.24)], ids=["copy-frame-0", "previous-gt"])
def test_score_folder_matches_vos_benchmark_on_davis16_val(davis_val, tmp_path, lag, expected):
    benchmark = pytest.importorskip("vos_benchmark.benchmark").benchmark
    annotations = davis_val / "Annotations"
    sequences = sorted(p.name for p in annotations.iterdir() if p.is_dir())
    _write_predictions(annotations, tmp_path / "pred", sequences, lag)

    ours = score_folder(davis_val, tmp_path / "pred", progress=False, workers=2)
    ref_jf, ref_j, ref_f, ref_objects = benchmark(
        [str(annotations)], [str(tmp_path / "pred")], num_processes=2, verbose=False
    )
    summary = ours["summary"]
    assert summary["J&F"] == pytest.approx(expected, abs=0.01)  # the reference scores in shared/data/README.md
    assert summary["J&F"] == pytest.approx(ref_jf[0], abs=1e-6)
    assert summary["J"] == pytest.approx(ref_j[0], abs=1e-6)
    assert summary["F"] == pytest.approx(ref_f[0], abs=1e-6)
    assert summary["J&F"] == pytest.approx((summary["J"] + summary["F"]) / 2)
    for name, (iou, boundary_f) in ref_objects[0].items():
        assert set(ours["sequences"][name]["objects"]) == set(iou)
        for obj in iou:
            assert ours["sequences"][name]["objects"][obj]["J"] == pytest.approx(iou[obj], abs=1e-6)
            assert ours["sequences"][name]["objects"][obj]["F"] == pytest.approx(boundary_f[obj], abs=1e-6)
    assert set(summary) == {"J&F", "J", "J-recall", "J-decay", "F", "F-recall", "F-decay"}
    assert all(0 <= summary[key] <= 100 for key in ("J-recall", "F-recall"))


def test_score_folder_errors(davis_val, tmp_path):
    pred = tmp_path / "pred"
    _write_predictions(davis_val / "Annotations", pred, ["blackswan"])
    (pred / "blackswan" / "00010.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"00010\.png"):
        score_folder(davis_val, pred, sequences=["blackswan"], progress=False)
    write_mask(pred / "blackswan" / "00010.png", np.zeros((240, 427), np.uint8))
    with pytest.raises(ValueError, match=r"00010.png is \(240, 427\)"):
        score_folder(davis_val, pred, sequences=["blackswan"], progress=False)
