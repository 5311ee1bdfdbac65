"""Opening an exported graph in onnxruntime: one place, so every consumer runs the graphs the same way."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

# The int8 graphs (and the click head's) store Conv weights as int8 + DequantizeLinear. onnxruntime keeps such nodes
# out of constant folding (they look like a QDQ pattern to fuse) and dequantizes the weights again on every run:
# 1.5x fp32's CPU time for Balanced's int8 graph in `mobilevos bench` (36.5 against 24.3 ms). With QDQ handling off
# the weights are dequantized once, at load, and the graph runs at fp32's speed (no exported graph quantizes
# activations, so nothing else changes). The WASM build measured the same with or without it (node, interleaved), so
# the web app leaves it unset.
SESSION_CONFIG = {"session.disable_quant_qdq": "1"}


def session_options(threads: int) -> ort.SessionOptions:
    """onnxruntime options with a fixed intra-op thread count (and no inter-op parallelism): how the project's
    timings and the Space run a graph on a given number of cores."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


def open_session(
    path: str | Path, session_options: ort.SessionOptions | None = None, providers: list | None = None
) -> ort.InferenceSession:
    """An onnxruntime session for the graph at `path` (CPU unless `providers` say otherwise), with `SESSION_CONFIG`
    added to `session_options` (a new one when None; the given one is changed)."""
    options = session_options or ort.SessionOptions()
    for key, value in SESSION_CONFIG.items():
        # Once per options object: callers reuse theirs for several graphs, and onnxruntime warns on every re-add.
        if _config_entry(options, key) != value:
            options.add_session_config_entry(key, value)
    return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])


def _config_entry(options: ort.SessionOptions, key: str) -> str | None:
    """The value of session config entry `key` in `options`, None when it was never set."""
    try:
        return options.get_session_config_entry(key)
    except RuntimeError:  # onnxruntime's only answer for a key that is not set
        return None
