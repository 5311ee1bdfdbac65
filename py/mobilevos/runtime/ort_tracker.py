"""Tracking with the exported ONNX graphs in onnxruntime, driven only by what `manifest.json` says.

`OrtTracker` has the interface of `mobilevos.track.Tracker` (`start(frame, mask)`, `step(frame)`), but runs the
exported graph (one per object capacity: `start` is its annotate call, `step` its track call) and holds the memory in
numpy, following the manifest's `calls` section and the memory rule its `memory` section carries
(`mobilevos.memory_rule`). It is the Python twin of the web app's tracker and memory bank, and what the Gradio Space
runs:

    tracker = OrtTracker("web/public/models/student", variant="fp32")
    tracker.start(first_frame, index_mask)        # uint8 HxWx3 RGB, uint8 HxW ids (0 background, 255 void)
    for frame in frames:
        mask, prob = tracker.step(frame)          # HxW ids; [N+1, H, W] probabilities, background first

Frames of any size are resized to the model size (one of the manifest's `model.sizes`, chosen with `size`; aspect
not kept), with the same resize as `mobilevos.track.resize_frame`; results are resized back to the frame's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import onnxruntime as ort

from mobilevos.memory_rule import MemoryRule
from mobilevos.runtime.manifest import at_size, find_graph, load_manifest, pick_capacity, tracking_outputs
from mobilevos.runtime.session import open_session
from mobilevos.track import annotated_objects, resize_frame, resize_mask


class OrtStep(NamedTuple):
    """One tracked frame at the frame's size (unpacks as `mask, prob`)."""

    mask: np.ndarray  # HxW uint8 object ids (0 = background)
    prob: np.ndarray  # [N+1, H, W] float32 probabilities, background first, objects in `OrtTracker.objects` order


def frame_to_rgba(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 HxWx3 RGB -> the graphs' frame input: float32 [1, H', W', 4] RGBA in 0..255 at `size` (H', W'),
    what the browser gets from `new Float32Array(imageData.data)`."""
    rgb = resize_frame(frame, size)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], 2)
    return rgba[None].astype(np.float32)


def resize_prob(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Probabilities [C, h, w] -> [C, H, W], as the PyTorch tracker resizes them (bilinear on logits, then softmax).

    log(prob) differs from the logits by a per-pixel constant, which bilinear interpolation keeps per pixel and the
    softmax removes, so this equals resizing the logits.
    """
    if prob.shape[1:] == tuple(size):
        return prob
    logp = np.log(np.maximum(prob, np.finfo(np.float32).tiny)).transpose(1, 2, 0)
    logp = cv2.resize(logp, (size[1], size[0]), interpolation=cv2.INTER_LINEAR).reshape(*size, -1)
    logp = logp - logp.max(2, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(2, keepdims=True)).transpose(2, 0, 1)


class OrtTracker:
    """Semi-supervised tracking of the objects annotated in one frame, with the exported graphs of one variant."""

    def __init__(
        self,
        model_dir: str | Path,
        variant: str = "fp32",
        providers: list | None = None,
        session_options: ort.SessionOptions | None = None,
        capacity: int | None = None,
        size: tuple[int, int] | None = None,
    ):
        """Load the manifest in `model_dir` (validating file sizes and sha256); sessions open on first use.

        `providers` defaults to onnxruntime's CPU provider; `session_options` e.g. sets the thread count.
        `capacity` forces the graph of one object capacity (default: the smallest that holds the objects).
        `size` (H, W) runs the graphs at another of the manifest's `model.sizes` (default: the first).
        """
        self.model_dir = Path(model_dir)
        self.manifest = load_manifest(self.model_dir)
        if size is not None:
            self.manifest = at_size(self.manifest, size)
        if variant not in self.manifest["variants"]:
            raise ValueError(f"variant {variant!r} not exported (have: {', '.join(self.manifest['variants'])})")
        self.variant = variant
        self.providers = providers or ["CPUExecutionProvider"]
        self.session_options = session_options
        self.forced_capacity = capacity
        model = self.manifest["model"]
        self.size = (model["height"], model["width"])
        self.rule = MemoryRule.from_manifest(self.manifest["memory"])
        self._sessions: dict[str, ort.InferenceSession] = {}
        self.objects: list[int] = []
        self.capacity = 0
        self.frame_index = 0
        self.memory: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # slot name -> (key, value)
        self._valid: np.ndarray | None = None
        self._masks: np.ndarray | None = None  # the annotation's masks [1, K, H, W]
        self._constants: dict[tuple, np.ndarray] = {}  # zero tensors and call flags, made once

    @property
    def graph(self) -> dict:
        """The manifest entry of the graph in use (the current capacity and this variant)."""
        return find_graph(self.manifest, self.capacity, self.variant)

    @property
    def graph_name(self) -> str:
        return self.graph["name"]

    def _session(self) -> tuple[ort.InferenceSession, dict]:
        graph = self.graph
        if graph["file"] not in self._sessions:
            self._sessions[graph["file"]] = open_session(
                self.model_dir / graph["file"], self.session_options, self.providers
            )
        return self._sessions[graph["file"]], graph

    def run_graph(self, call: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on `feeds` as the manifest's `call` ("annotate" or "track") and store its memory entry as
        the memory rule says; returns the tracking outputs by name (`tracking_outputs`). `start`/`step` are built
        on this and on `annotate_feeds`/`track_feeds`."""
        session, _ = self._session()
        names = tracking_outputs(self.manifest)  # not the prompt head's features
        outputs = dict(zip(names, session.run(names, feeds)))
        entry = self.manifest["memory"]["entry"]
        self.frame_index = 0 if call == "annotate" else self.frame_index + 1
        self.rule.store(self.memory, call, (outputs[entry["key"]], outputs[entry["value"]]), self.frame_index)
        return outputs

    def _constant(self, name: str, fill: float) -> np.ndarray:
        """A float32 array of the graph input `name`, filled with `fill` (made once per graph and reused)."""
        graph = self.graph
        key = (graph["file"], name, fill)
        if key not in self._constants:
            spec = next(t for t in graph["inputs"] if t["name"] == name)
            self._constants[key] = np.full(spec["shape"], fill, np.float32)
        return self._constants[key]

    def _feeds(self, call: str, frame: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's inputs for one call, as the manifest's `calls` section says."""
        calls, objects = self.manifest["calls"], self.manifest["objects"]
        spec = calls[call]
        feeds = {
            self.manifest["frame"]["input"]: frame_to_rgba(frame, self.size),
            calls["input"]: self._constant(calls["input"], float(spec["value"])),
            objects["valid_input"]: self._valid,
            objects["masks_input"]: (
                self._masks if spec["masks"] == "annotation" else self._constant(objects["masks_input"], 0.0)
            ),
        }
        for slot in self.manifest["memory"]["slots"]:
            if spec["memory"] == "slots":
                feeds[slot["key"]], feeds[slot["value"]] = self.memory[slot["name"]]
            else:
                feeds[slot["key"]] = self._constant(slot["key"], 0.0)
                feeds[slot["value"]] = self._constant(slot["value"], 0.0)
        return feeds

    def annotate_feeds(self, frame: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """Set the objects of an annotation (index mask: 0 background, 255 void) and return the graph's inputs for
        the annotate call."""
        ids = annotated_objects(frame, mask)
        capacity = pick_capacity(self.manifest, max(len(ids), self.forced_capacity or 0))
        if self.forced_capacity and capacity != self.forced_capacity:
            raise ValueError(f"capacity {self.forced_capacity} is not exported or holds fewer than {len(ids)} objects")
        self.objects, self.capacity = ids, capacity
        small = resize_mask(mask, self.size)
        masks = np.zeros((1, capacity, *self.size), np.float32)  # padding slots stay empty
        masks[0, : len(ids)] = np.stack([small == i for i in ids])
        self._masks = masks
        self._valid = np.zeros((1, capacity), np.float32)
        self._valid[0, : len(ids)] = 1
        return self._feeds("annotate", frame)

    def track_feeds(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's inputs for the track call on the next frame: the frame, the memory slots, the valid flags."""
        if not self.memory:
            raise RuntimeError("call start(frame, mask) before step(frame)")
        return self._feeds("track", frame)

    def start(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Annotate `frame` with an index mask (0 background, 1..254 object ids, 255 void); resets the memory."""
        feeds = self.annotate_feeds(frame, mask)
        self.memory = {}
        self.run_graph("annotate", feeds)

    def step_model(self, frame: np.ndarray) -> np.ndarray:
        """Segment the next frame and update the memory; probabilities [N+1, H, W] at model resolution."""
        outputs = self.run_graph("track", self.track_feeds(frame))
        prob = outputs[self.manifest["output"]["name"]][0, : len(self.objects) + 1]
        return prob / prob.sum(0, keepdims=True)  # drop the padding slots' (negligible) share

    def step(self, frame: np.ndarray) -> OrtStep:
        """Segment the next frame and update the memory; mask and probabilities at the frame's size."""
        prob = resize_prob(self.step_model(frame), frame.shape[:2])
        lut = np.array([0, *self.objects], dtype=np.uint8)
        return OrtStep(lut[prob.argmax(0)], prob)
