"""The reference tracker: finite vs growing memory, resizing, object ids, and clear errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mobilevos.data.synth import generate_clip
from mobilevos.models.network import build_network, student_config, teacher_config
from mobilevos.track import MemoryBank, Tracker, model_size


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return build_network(student_config(pretrained=False)).eval()


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return build_network(teacher_config(pretrained=False)).eval()


@pytest.fixture(scope="module")
def clip():
    return generate_clip(3, 101, (32, 48))


def test_model_size_keeps_aspect_and_rounds_to_stride():
    assert model_size(480, 854, 240) == (240, 432)
    assert model_size(480, 640, 240) == (240, 320)
    assert model_size(1920, 1080, 240) == (432, 240)  # portrait
    with pytest.raises(ValueError, match="multiple of 16"):
        model_size(480, 854, 250)


def test_student_memory_and_shapes_stay_constant_over_100_steps(student, clip):
    frames, masks = clip
    tracker = Tracker(student, short_side=32)
    tracker.start(frames[0], masks[0])
    sizes, nbytes, shapes = set(), set(), set()
    for t in range(1, 101):
        out = tracker.step(frames[t])
        sizes.add(tracker.memory.num_entries)
        nbytes.add(tracker.memory.nbytes)
        keys, values = tracker.memory.read()
        shapes.add((tuple(keys.shape), tuple(values.shape), out.prob.shape))
    assert sizes == {2} and len(nbytes) == 1 and len(shapes) == 1
    assert out.mask.shape == frames[0].shape[:2] and out.mask.dtype == np.uint8


def test_teacher_memory_grows_every_kth_frame(teacher, clip):
    frames, masks = clip
    tracker = Tracker(teacher, short_side=32, keep_every=5)
    tracker.start(frames[0], masks[0])
    counts, nbytes = [], []
    for t in range(1, 41):
        tracker.step(frames[t])
        counts.append(tracker.memory.num_entries)
        nbytes.append(tracker.memory.nbytes)
    # first frame + every 5th frame + the previous frame
    assert counts[0] == 2 and counts[4] == 3 and counts[-1] == 1 + 8 + 1
    assert all(b >= a for a, b in itertools.pairwise(counts))
    # bytes count distinct tensors: at frame 40 the previous entry *is* the 40th frame's permanent one
    assert nbytes[-1] == nbytes[0] // 2 * 9


def test_object_ids_are_kept_and_output_is_at_frame_size(student):
    frame = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    mask = np.zeros((50, 70), np.uint8)
    mask[5:20, 5:20], mask[30:45, 40:60], mask[0, :] = 3, 7, 255
    tracker = Tracker(student, short_side=32)
    tracker.start(frame, mask)
    out = tracker.step(frame)
    assert tracker.objects == [3, 7]
    assert out.mask.shape == (50, 70) and set(np.unique(out.mask)) <= {0, 3, 7}
    assert out.prob.shape == (3, 50, 70)
    assert np.allclose(out.prob.sum(0), 1, atol=1e-4)


def test_bad_inputs_raise_clear_errors(student):
    tracker = Tracker(student, short_side=32)
    frame = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(RuntimeError, match="start"):
        tracker.step(frame)
    with pytest.raises(ValueError, match="does not match"):
        tracker.start(frame, np.zeros((40, 61), np.uint8))
    with pytest.raises(ValueError, match="no object"):
        tracker.start(frame, np.zeros((40, 60), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        tracker.start(frame.astype(np.float32), np.ones((40, 60), np.uint8))
    with pytest.raises(ValueError, match="keep_every"):
        MemoryBank(0)


def test_resize_carries_the_memory_to_another_input_size(student, teacher, clip):
    frames, masks = clip
    tracker = Tracker(student, short_side=32)
    tracker.start(frames[0], masks[0])
    annotated = [t.clone() for t in tracker.memory.entries()[0]]
    for t in range(1, 4):
        last = tracker.step(frames[t])
    tracker.resize(48)
    assert tracker.size == (48, 64) and tracker.frame_index == 3 and tracker.memory.num_entries == 2
    (k0, _), (k1, v1) = tracker.memory.entries()
    assert k0.shape[-2:] == (3, 4) and v1.shape[-2:] == (3, 4)  # both entries at the new size's grid
    # the previous entry is the latest frame encoded with its predicted mask, as an annotation would be
    reference = Tracker(student, short_side=48)
    reference.start(frames[3], last.mask)
    torch.testing.assert_close(k1, reference.memory.entries()[0][0])
    torch.testing.assert_close(v1, reference.memory.entries()[0][1])
    assert tracker.step(frames[4]).mask.shape == frames[4].shape[:2]
    # back at the start size, the annotated frame's entry is the one start made
    tracker.resize(32)
    torch.testing.assert_close(tracker.memory.entries()[0][0], annotated[0])
    torch.testing.assert_close(tracker.memory.entries()[0][1], annotated[1])

    with pytest.raises(RuntimeError, match="start"):
        Tracker(student, short_side=32).resize(48)
    growing = Tracker(teacher, short_side=32, keep_every=5)
    growing.start(frames[0], masks[0])
    with pytest.raises(ValueError, match="finite memory"):
        growing.resize(48)
