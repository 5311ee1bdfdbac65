"""J and F of the DAVIS 2017 benchmark in pure standard-library Python: the one implementation behind
`mobilevos.eval.metrics` (CPython) and the web app's bench page (Pyodide, which has no numpy).

This module imports nothing but the standard library and nothing from `mobilevos`, so its source can be loaded into
Pyodide on its own. See `mobilevos.eval.metrics` for the definitions; the numerics are those of the DAVIS 2017
toolkit and of `vos-benchmark` (same integer pixel counts, same float operations).

Masks are bitsets: a binary H×W mask is one non-negative Python int in which pixel (y, x) is bit y·stride + x. The
stride is the width plus `pad` ≥ max(radius, 1) always-zero columns, so shifting the whole image by up to `pad` bits
moves pixels sideways without carrying them into a neighbouring row, and by k·stride bits moves them k rows. Every
morphological step is then a handful of big-integer shifts and ORs (a radius-8 disk dilation of 480×854 is ~0.4 ms in
CPython, ~2 ms in Pyodide). A `Grid` holds the geometry of one image size and tolerance.

Entry points:

* `frame_from_labels(width, height, labels)`: a label map (bytes-like, H×W uint8, row-major; 0 = background,
  255 = void) split into per-object bitsets: a `Frame`. In Pyodide a JS Uint8Array may be passed directly.
* `evaluate_sequence(gt, pred, ...)`: per-object per-frame J and F plus their statistics for one sequence.
* `evaluate_labels(width, height, gt, pred, ...)`: the same from label maps (the browser's entry point).
* `summarize(results)`: per-sequence and overall figures in percent, as `mobilevos eval` reports them.

From JavaScript (Pyodide), with this file's source in `source` (tests/pyodide/score.mjs does exactly this):

    pyodide.FS.writeFile("/home/pyodide/metrics_core.py", source);
    pyodide.runPython("import importlib, sys; sys.path.insert(0, '/home/pyodide'); importlib.invalidate_caches()");
    const core = pyodide.pyimport("metrics_core");
    const results = pyodide.globals.get("dict")();
    // gt, pred: Map (frame index → Uint8Array of H×W labels), an Array indexed by frame, or a plain object
    results.set(name, core.evaluate_labels.callKwargs(width, height, gt, pred, { num_frames: n }));
    const summary = core.summarize(results).toJs({ dict_converter: Object.fromEntries });
"""

from __future__ import annotations

import math

VOID = 255
DEFAULT_BOUND_TH = 0.008

__all__ = [
    "DEFAULT_BOUND_TH",
    "VOID",
    "Frame",
    "Grid",
    "boundary_f_measure",
    "boundary_radius",
    "dilate",
    "disk_half_widths",
    "evaluate_labels",
    "evaluate_sequence",
    "frame_from_labels",
    "grid",
    "label_bitset",
    "label_ids",
    "region_similarity",
    "seg2bmap",
    "statistics",
    "summarize",
]


# --- geometry ------------------------------------------------------------------------------------------------------


def boundary_radius(width: int, height: int, bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Matching tolerance in pixels: `bound_th` itself when ≥ 1, else ceil(bound_th × image diagonal)."""
    if bound_th >= 1:
        return int(bound_th)
    # sqrt of the exact integer sum, as np.linalg.norm((H, W)) computes it (hypot may differ in the last bit).
    return math.ceil(bound_th * math.sqrt(width * width + height * height))


def disk_half_widths(radius: int) -> list[int]:
    """Half-width of each row dy = −radius … radius of the disk {(dy, dx): dx² + dy² ≤ radius²}.

    This is `skimage.morphology.disk(radius)` (the structuring element of the DAVIS 2017 toolkit and vos-benchmark).
    """
    return [math.isqrt(radius * radius - dy * dy) for dy in range(-radius, radius + 1)]


class Grid:
    """Bit layout of one image size (and boundary tolerance): see the module docstring."""

    __slots__ = ("full", "half_widths", "height", "last_col", "last_row", "pad", "radius", "stride", "width")

    def __init__(self, width: int, height: int, bound_th: float = DEFAULT_BOUND_TH):
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise ValueError(f"image size {width}x{height} is empty")
        self.width, self.height = width, height
        self.radius = boundary_radius(width, height, bound_th)
        self.pad = max(self.radius, 1)
        self.stride = width + self.pad
        # Built from binary strings: the last character is bit 0, so each row reads padding first, then x = W−1 … 0.
        zeros = "0" * self.pad
        self.full = int((zeros + "1" * width) * height, 2)
        self.last_col = int((zeros + "1" + "0" * (width - 1)) * height, 2)
        self.last_row = ((1 << width) - 1) << ((height - 1) * self.stride)
        self.half_widths = disk_half_widths(self.radius)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def __repr__(self) -> str:
        return f"Grid(width={self.width}, height={self.height}, radius={self.radius})"


_GRIDS: dict[tuple[int, int, float], Grid] = {}


def grid(width: int, height: int, bound_th: float = DEFAULT_BOUND_TH) -> Grid:
    """The (cached) `Grid` of a width × height image."""
    key = (int(width), int(height), float(bound_th))
    found = _GRIDS.get(key)
    if found is None:
        found = _GRIDS[key] = Grid(width, height, bound_th)
    return found


# --- per-frame measures --------------------------------------------------------------------------------------------


def region_similarity(gt: int, pred: int, void: int = 0) -> float:
    """J: |gt ∩ pred| / |gt ∪ pred| over pixels outside `void`; 1.0 when the union is empty."""
    care = ~void
    union = ((gt | pred) & care).bit_count()
    if union == 0:
        return 1.0
    return (gt & pred & care).bit_count() / union


def seg2bmap(g: Grid, mask: int) -> int:
    """1-pixel-wide boundary of a mask, offset half a pixel towards the origin (DAVIS `seg2bmap`, Martin et al.).

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour; beyond the last row and
    column the image is taken to continue unchanged, so the image border itself is not a boundary.
    """
    if not mask:
        return 0
    stride, last_col, last_row = g.stride, g.last_col, g.last_row
    east = (mask >> 1) | (mask & last_col)  # bit W−1 of (mask >> 1) is padding (0): replicate the last column
    south = (mask >> stride) | (mask & last_row)  # the row below the last is the last row itself
    south_east = (east >> stride) | (east & last_row)
    return ((mask ^ east) | (mask ^ south) | (mask ^ south_east)) & g.full


def dilate(g: Grid, mask: int) -> int:
    """Dilation of a mask by the disk of radius `g.radius` (pixels outside the image count as 0, as in cv2.dilate)."""
    if not mask:
        return 0
    half = g.half_widths
    radius = g.radius
    # spread[w]: the mask dilated horizontally by [−w, w]; the padding columns absorb what leaves a row.
    spread = [mask]
    current = mask
    for w in range(1, half[radius] + 1):
        current = current | (mask << w) | (mask >> w)
        spread.append(current)
    out = spread[half[radius]]
    stride = g.stride
    for dy in range(1, radius + 1):
        row = spread[half[radius + dy]]  # the disk is symmetric: rows +dy and −dy have the same half-width
        shift = dy * stride
        out |= (row << shift) | (row >> shift)
    return out & g.full


def boundary_f_measure(g: Grid, gt: int, pred: int, void: int = 0) -> float:
    """F: harmonic mean of boundary precision and recall; void pixels are removed from both masks first.

    A boundary pixel matches when the other mask's boundary, dilated by the disk of radius `g.radius`, covers it.
    An empty boundary on one side only gives F = 0; both empty give F = 1.
    """
    if void:
        care = ~void
        gt, pred = gt & care, pred & care
    gt_b, pred_b = seg2bmap(g, gt), seg2bmap(g, pred)
    n_gt, n_pred = gt_b.bit_count(), pred_b.bit_count()
    if n_gt == 0 or n_pred == 0:
        return 1.0 if n_gt == n_pred else 0.0
    if gt_b == pred_b:
        return 1.0  # precision = recall = 1 exactly; skip the dilations
    precision = (pred_b & dilate(g, gt_b)).bit_count() / n_pred
    recall = (gt_b & dilate(g, pred_b)).bit_count() / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


# --- statistics ----------------------------------------------------------------------------------------------------


def _mean(values) -> float:
    values = list(values)
    return math.fsum(values) / len(values)


def statistics(per_frame) -> dict[str, float]:
    """Mean, recall (fraction > 0.5) and decay of per-frame values, as DAVIS `db_statistics` computes them.

    Decay: the frames are split into 4 bins at round(linspace(1, n, 5)) − 1 (bin i runs from edge i to edge i+1
    inclusive, so neighbouring bins share a frame) and decay = mean(first bin) − mean(last bin).
    """
    values = [float(v) for v in per_frame]
    n = len(values)
    if n == 0:
        raise ValueError("no per-frame values to summarise")
    step = (n - 1) / 4  # numpy's linspace: i·step + start, the last point exactly n
    edges = [round(i * step + 1 + 1e-10) - 1 for i in range(4)] + [n - 1]
    first, last = values[edges[0] : edges[1] + 1], values[edges[3] : edges[4] + 1]
    return {"mean": _mean(values), "recall": sum(v > 0.5 for v in values) / n, "decay": _mean(first) - _mean(last)}


# --- label maps ----------------------------------------------------------------------------------------------------


def _as_bytes(labels) -> bytes | bytearray:
    if isinstance(labels, (bytes, bytearray)):
        return labels
    if hasattr(labels, "to_py") and hasattr(labels, "to_bytes"):  # Pyodide JsProxy of a JS Uint8Array
        return labels.to_bytes()
    return bytes(labels)  # memoryview, array('B'), a list of ints …


def label_ids(labels) -> list[int]:
    """The labels present in a label map, other than 0 (background) and 255 (void), in increasing order."""
    rest = _as_bytes(labels).translate(None, bytes((0, VOID)))
    ids = []
    while rest:
        ids.append(rest[0])
        rest = rest.translate(None, rest[:1])
    return sorted(ids)


def _checked_bytes(g: Grid, labels) -> bytes | bytearray:
    data = _as_bytes(labels)
    if len(data) != g.width * g.height:
        raise ValueError(f"label map has {len(data)} values, expected {g.width}x{g.height} = {g.width * g.height}")
    return data


def _padded_reversed(g: Grid, data: bytes | bytearray, fill: int = 0) -> bytes:
    """The label map with `pad` bytes `fill` between rows, reversed: row H−1 first, each row from x = W−1 down."""
    width = g.width
    return (bytes((fill,)) * g.pad).join([data[i : i + width] for i in range(0, len(data), width)])[::-1]


def _bitset_of(g: Grid, padded_reversed: bytes, value: int) -> int:
    # Most significant bit first, as int(…, 2) parses: the last character, pixel (0, 0), becomes bit 0, and the
    # padding bytes (never equal to `value`) become the zero columns between rows.
    table = bytearray(b"0" * 256)
    table[value] = ord("1")
    return int(padded_reversed.translate(table), 2)


def label_bitset(g: Grid, labels, value: int) -> int:
    """Bitset of the pixels of a label map (H×W uint8, row-major) equal to `value`."""
    return _bitset_of(g, _padded_reversed(g, _checked_bytes(g, labels), fill=1 if value == 0 else 0), value)


class Frame:
    """One label map split into bitsets: `objects` {label: mask} (every label present but 0 and 255) and `void`."""

    __slots__ = ("grid", "objects", "void")

    def __init__(self, g: Grid, objects: dict[int, int], void: int = 0):
        self.grid, self.objects, self.void = g, objects, void

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape

    def mask(self, label: int) -> int:
        return self.objects.get(label, 0)


def frame_from_labels(width: int, height: int, labels, bound_th: float = DEFAULT_BOUND_TH) -> Frame:
    """Split an H×W uint8 label map (bytes-like, row-major; a JS Uint8Array in Pyodide) into a `Frame`."""
    g = grid(width, height, bound_th)
    data = _checked_bytes(g, labels)
    padded = _padded_reversed(g, data)  # once per frame, shared by every label (none of them 0)
    objects = {i: _bitset_of(g, padded, i) for i in label_ids(data)}
    return Frame(g, objects, _bitset_of(g, padded, VOID) if VOID in data else 0)


# --- sequences -----------------------------------------------------------------------------------------------------


def evaluate_sequence(
    gt: dict, pred: dict, objects: list[int] | None = None, *, num_frames: int | None = None, load=None
) -> dict:
    """Score one sequence: `gt` and `pred` map frame index → `Frame` (or anything `load` turns into one).

    Scores every frame 1 … n−2 that has ground truth (n = `num_frames`, default one past the last frame index seen in
    either dict); each needs a prediction. `objects` defaults to every label (other than 0 and 255) in the ground
    truth of any frame. Returns fractions (0–1): {"frames": [...], "objects": {id: {"J": per-frame list, "F": ...,
    "J-mean", "J-recall", "J-decay", "F-mean", "F-recall", "F-decay"}}}.
    """
    n = num_frames if num_frames is not None else 1 + max([*gt, *pred], default=-1)
    frames = sorted(t for t in gt if 0 < t < n - 1)
    if not frames:
        raise ValueError(f"no frame with ground truth among frames 1..n-2 (n = {n}); nothing to score")
    missing = [t for t in frames if t not in pred]
    if missing:
        raise ValueError(f"no prediction for frames {missing}")
    loaded: dict[int, Frame] = {}

    def gt_frame(t: int) -> Frame:
        if t not in loaded:
            loaded[t] = gt[t] if load is None else load(gt[t])
        return loaded[t]

    if objects is None:
        objects = sorted({obj for t in sorted(gt) for obj in gt_frame(t).objects})
    objects = [int(obj) for obj in objects]
    per_object = {obj: {"J": [], "F": []} for obj in objects}
    for t in frames:
        g = gt_frame(t)
        p = pred[t] if load is None else load(pred[t])
        if g.shape != p.shape:
            raise ValueError(f"frame {t}: prediction is {p.shape} but ground truth is {g.shape}")
        for obj in objects:
            gm, pm = g.mask(obj), p.mask(obj)
            per_object[obj]["J"].append(region_similarity(gm, pm, g.void))
            per_object[obj]["F"].append(boundary_f_measure(g.grid, gm, pm, g.void))
    for scores in per_object.values():
        for metric in ("J", "F"):
            for stat, value in statistics(scores[metric]).items():
                scores[f"{metric}-{stat}"] = value
    return {"frames": frames, "objects": per_object}


def _by_frame(maps) -> dict[int, object]:
    """Frame index → label map from a dict, a list (index = frame; None for none), or their Pyodide proxies."""
    if hasattr(maps, "to_py"):  # JS Map, Array or plain object
        maps = maps.to_py(depth=1)
    items = maps.items() if hasattr(maps, "items") else enumerate(maps)
    return {int(t): m for t, m in items if m is not None and type(m).__name__ not in ("JsNull", "NoneType")}


def evaluate_labels(
    width: int,
    height: int,
    gt,
    pred,
    objects: list[int] | None = None,
    *,
    num_frames: int | None = None,
    bound_th: float = DEFAULT_BOUND_TH,
) -> dict:
    """`evaluate_sequence` from H×W uint8 label maps (bytes-like, row-major; JS Uint8Arrays in Pyodide).

    `gt` and `pred` map frame index → label map: a dict / JS Map / JS object, or a list / JS Array indexed by frame
    with None (or null / undefined) where a frame has none. Only the frames that are scored are decoded.
    """
    if objects is not None and hasattr(objects, "to_py"):
        objects = objects.to_py()
    return evaluate_sequence(
        _by_frame(gt),
        _by_frame(pred),
        objects,
        num_frames=num_frames,
        load=lambda labels: frame_from_labels(width, height, labels, bound_th),
    )


_STAT_KEYS = ("J-mean", "J-recall", "J-decay", "F-mean", "F-recall", "F-decay")


def summarize(results: dict) -> dict:
    """Figures in percent from {sequence: `evaluate_sequence` result}, as `mobilevos eval` reports them.

    Returns {"summary": {"J&F", "J", "J-recall", "J-decay", "F", "F-recall", "F-decay"},
    "sequences": {seq: {"J&F", "J", "F", "objects": {id: {"J&F", "J", "J-recall", ..., "F-decay"}}}}}.
    Summary figures average over all objects of all sequences (not per sequence first).
    """
    if hasattr(results, "to_py"):
        results = results.to_py()
    all_objects = {key: [] for key in _STAT_KEYS}
    per_sequence = {}
    for name, result in results.items():
        if not result["objects"]:
            raise ValueError(f"sequence {name} has no objects in its ground truth")
        objects = {}
        for obj, scores in result["objects"].items():
            row = {key.replace("-mean", ""): 100.0 * scores[key] for key in _STAT_KEYS}
            row["J&F"] = (row["J"] + row["F"]) / 2
            objects[obj] = row
            for key in _STAT_KEYS:
                all_objects[key].append(scores[key])
        j = _mean(o["J"] for o in objects.values())
        f = _mean(o["F"] for o in objects.values())
        per_sequence[name] = {"J&F": (j + f) / 2, "J": j, "F": f, "objects": objects}
    if not per_sequence:
        raise ValueError("no sequences to summarise")
    summary = {key.replace("-mean", ""): 100.0 * _mean(values) for key, values in all_objects.items()}
    summary = {"J&F": (summary["J"] + summary["F"]) / 2, **summary}
    return {"summary": summary, "sequences": per_sequence}
