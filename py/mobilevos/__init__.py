"""MobileVOS: a finite-memory video object segmentation student distilled from an unbounded-memory teacher.

Conventions used across the package (written once here):

* images are RGB; uint8 HxWx3 at the user-facing API (`mobilevos.track`), float32 Bx3xHxW in [0, 1] inside the
  networks (normalisation happens inside the network, so ONNX graphs take the same input);
* index masks are HxW integer arrays: 0 = background, 1..N = objects, 255 = void (ignored by metrics);
* per-object masks/probabilities are BxNxHxW float32 (N objects, background not included unless said);
* a trailing number on a feature name is its stride: f4, f8, f16.
"""

__version__ = "0.1.0"
