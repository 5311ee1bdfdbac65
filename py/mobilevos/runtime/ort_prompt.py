"""Click to mask with the exported graphs in onnxruntime, driven by the manifest's `prompt` section.

The onnxruntime twin of `mobilevos.prompts.PromptSegmenter` (same interface, same resize and prompt maps) and of
the web app's Click tool: a student graph (or the head's own encoder graph, `prompt.encoder`) gives the frame's
key-encoder features once (`set_image`), the head graph (`prompt_head.onnx`) turns them and the prompt maps into
the object's probability at each click (`predict`).

    segmenter = OrtPromptSegmenter("web/public/models/student")
    segmenter.set_image(frame)                                  # uint8 HxWx3 RGB
    prob = segmenter.predict([Click(120, 200, True)])           # HxW float32, the object where prob > 0.5
    prob = segmenter.predict([Click(120, 200, True), Click(40, 60, False)])   # corrects the previous mask
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from mobilevos.prompts import Box, Click, prompt_maps
from mobilevos.runtime.manifest import ManifestError, at_size, find_graph, load_manifest
from mobilevos.runtime.ort_tracker import frame_to_rgba, resize_prob
from mobilevos.runtime.session import open_session


class OrtPromptSegmenter:
    """One object's mask on a frame from clicks and/or a box, with the exported student and head graphs."""

    def __init__(
        self,
        model_dir: str | Path,
        variant: str = "fp32",
        providers: list | None = None,
        session_options: ort.SessionOptions | None = None,
        size: tuple[int, int] | None = None,
    ):
        """Load the manifest in `model_dir` (file sizes and sha256 checked) and open the sessions of the smallest
        capacity's student graph of `variant` and of the head; `size` is one of the manifest's `model.sizes`."""
        self.model_dir = Path(model_dir)
        manifest = load_manifest(self.model_dir)
        if "prompt" not in manifest:
            raise ManifestError("this export has no prompt head (re-export with `python -m export`)", "/prompt")
        self.manifest = at_size(manifest, size) if size is not None else manifest
        self.size = (self.manifest["model"]["height"], self.manifest["model"]["width"])
        self.prompt = self.manifest["prompt"]
        # The graph the features come from: the head's own encoder (the student it was trained on) when the export
        # has one, else the smallest capacity's student graph.
        self.graph = self.prompt.get("encoder") or find_graph(
            self.manifest, self.manifest["objects"]["capacities"][0], variant
        )
        self._features, self._head = (
            open_session(self.model_dir / entry["file"], session_options, providers)
            for entry in (self.graph, self.prompt)
        )
        self.features: dict[str, np.ndarray] | None = None
        self.frame_size: tuple[int, int] | None = None
        self.previous: np.ndarray | None = None

    def encode(self, rgba: np.ndarray) -> dict[str, np.ndarray]:
        """The head's feature inputs for a frame input (float32 [1, H, W, 4] RGBA at the model size): one run of the
        encoder graph, or of the student graph with every other input zero, fetching only the feature outputs."""
        feeds = {t["name"]: np.zeros(t["shape"], np.float32) for t in self.graph["inputs"]}
        feeds[self.manifest["frame"]["input"]] = rgba
        names = self.prompt["features"]["outputs"]
        return dict(zip(names, self._features.run(names, feeds)))

    def set_image(self, image: np.ndarray) -> None:
        """Encode an RGB uint8 [H, W, 3] frame (resized to the model size like the tracker's); forgets the
        previous mask."""
        self.set_input(frame_to_rgba(image, self.size), image.shape[:2])

    def set_input(self, rgba: np.ndarray, frame_size: tuple[int, int]) -> None:
        """Encode a model input exactly as given (float32 [1, H, W, 4], e.g. the bytes of the browser's canvas) for
        clicks on a frame of `frame_size` (H, W) resized to it; forgets the previous mask."""
        self.frame_size = tuple(frame_size)
        self.features = self.encode(rgba)
        self.reset()

    def reset(self) -> None:
        """Start a new object: no previous mask."""
        self.previous = None

    def run_head(self, maps: np.ndarray) -> np.ndarray:
        """The head's probability [H, W] at the model size for prompt maps [4, H, W] (features of `set_image`)."""
        if self.features is None:
            raise ValueError("call set_image before predict")
        feeds = {**self.features, self.prompt["prompts_input"]: maps[None]}
        (prob,) = self._head.run([self.prompt["output"]], feeds)
        return prob[0, 0]

    def predict(self, clicks: list[Click], box: Box | None = None) -> np.ndarray:
        """Foreground probability float32 [H, W] at the frame's resolution for these clicks (frame coordinates);
        kept as the previous mask of the next call."""
        if self.frame_size is None:
            raise ValueError("call set_image before predict")
        scale = (self.size[0] / self.frame_size[0], self.size[1] / self.frame_size[1])
        maps = prompt_maps(clicks, box, self.previous, self.size, self.prompt["click_sigma"], scale)
        self.previous = self.run_head(maps)
        return resize_prob(np.stack([1 - self.previous, self.previous]), self.frame_size)[1]
