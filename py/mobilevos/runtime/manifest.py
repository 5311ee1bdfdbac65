"""`manifest.json`: the one contract between the exported graphs and their consumers (web app, Gradio Space, tests).

Everything a consumer needs is in the manifest, so nothing about the interface is hard-coded elsewhere: the graphs
(file, capacity K, precision variant, size, sha256, inputs and outputs with name/shape/dtype/meaning; one graph per
K and variant), the model resolution and stride, the frame format and the normalisation done in the graph, the two
calls of the graph (annotate / track) and what each feeds, the memory slots and the rule that updates them, the
object capacities, the source checkpoint, library versions and each variant's measured accuracy.

Schema history: 1 had an init and a step graph per K and variant (the weights twice); 2 has one graph that does
both, told apart by its `annotate` input (the `calls` section).

`load_manifest` reads and validates one; `write_manifest` validates before writing. Field by field, the schema is
the `_REQUIRED` table below plus the cross-checks in `validate`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

SCHEMA_VERSION = 2
MANIFEST_NAME = "manifest.json"
VARIANTS = ("fp32", "fp16", "int8")
CALLS = ("annotate", "track")  # the two ways the graph is called (manifest section `calls`)
# What each call feeds and does with the outputs: the tokens a consumer interprets, per call field.
CALL_TOKENS = {"masks": ("annotation", "zeros"), "memory": ("zeros", "slots"), "prob": ("ignore", "result")}

# Top-level sections and the keys each must have.
_REQUIRED = {
    "schema_version": None,
    "model": ("height", "width", "stride", "key_dim", "value_dim", "memory_height", "memory_width"),
    "frame": ("input", "shape", "dtype", "layout", "channels", "range", "browser", "resize", "normalisation"),
    "objects": ("capacities", "masks_input", "valid_input", "rule"),
    "calls": ("input", *CALLS, "rule"),
    "output": ("name", "channels", "mask", "resize"),
    "memory": ("slots", "entry", "update", "rule"),
    "graphs": None,
    "variants": None,
    "checkpoint": ("path", "sha256", "bytes", "config", "training"),
    "versions": ("torch", "onnx", "onnxruntime", "opset"),
}
_GRAPH_KEYS = ("name", "capacity", "variant", "file", "bytes", "sha256", "opset", "nodes", "ops", "inputs",
               "outputs")
_TENSOR_KEYS = ("name", "shape", "dtype", "meaning")
_CALL_KEYS = ("value", *CALL_TOKENS, "meaning")


class ManifestError(ValueError):
    """A manifest that is missing, malformed, or does not match the files beside it."""


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _require(section: dict, keys, where: str) -> None:
    if not isinstance(section, dict):
        raise ManifestError(f"{where} must be an object")
    missing = [k for k in keys if k not in section]
    if missing:
        raise ManifestError(f"{where} lacks {', '.join(missing)}")


def validate(manifest: dict, folder: str | Path | None = None) -> None:
    """Check structure and cross-references; with `folder`, also each graph file's size and sha256.

    Raises ManifestError with the first problem found.
    """
    _require(manifest, _REQUIRED, "manifest")
    if manifest["schema_version"] != SCHEMA_VERSION:
        raise ManifestError(f"schema_version {manifest['schema_version']} is not {SCHEMA_VERSION} (this reader)")
    for key, fields in _REQUIRED.items():
        if fields:
            _require(manifest[key], fields, key)
    model, capacities = manifest["model"], manifest["objects"]["capacities"]
    if model["height"] % model["stride"] or model["width"] % model["stride"]:
        raise ManifestError(f"model size {model['height']}x{model['width']} is not a multiple of the stride")
    if not capacities or capacities != sorted(set(capacities)):
        raise ManifestError(f"objects.capacities must be increasing and non-empty, got {capacities}")
    graphs = manifest["graphs"]
    if not isinstance(graphs, list) or not graphs:
        raise ManifestError("manifest lists no graphs")
    seen = set()
    for i, graph in enumerate(graphs):
        _require(graph, _GRAPH_KEYS, f"graphs[{i}]")
        key = (graph["capacity"], graph["variant"])
        if graph["variant"] not in VARIANTS or key in seen:
            raise ManifestError(f"graphs[{i}] ({graph['name']}): bad or duplicate capacity/variant {key}")
        seen.add(key)
        for tensor in graph["inputs"] + graph["outputs"]:
            _require(tensor, _TENSOR_KEYS, f"{graph['name']} tensor")
        _check_names(manifest, graph)
        if folder is not None:
            _check_file(Path(folder), graph)
    for variant in manifest["variants"]:
        if variant not in VARIANTS:
            raise ManifestError(f"unknown variant {variant!r}")
        for k in capacities:
            if (k, variant) not in seen:
                raise ManifestError(f"variant {variant} has no graph for capacity {k}")
    _check_calls(manifest)


def _check_names(manifest: dict, graph: dict) -> None:
    """Every input and output the manifest's sections name must be one of the graph's."""
    memory = manifest["memory"]
    inputs = {t["name"] for t in graph["inputs"]}
    outputs = {t["name"] for t in graph["outputs"]}
    needed = [manifest["frame"]["input"], manifest["objects"]["masks_input"], manifest["objects"]["valid_input"],
              manifest["calls"]["input"]]
    for slot in memory["slots"]:
        _require(slot, ("name", "key", "value", "meaning"), "memory slot")
        needed += [slot["key"], slot["value"]]
    missing = [n for n in needed if n not in inputs]
    if missing:
        raise ManifestError(f"{graph['name']} lacks the inputs {', '.join(missing)} that the manifest names")
    _require(memory["entry"], ("key", "value"), "memory.entry")
    missing = [n for n in (manifest["output"]["name"], memory["entry"]["key"], memory["entry"]["value"])
               if n not in outputs]
    if missing:
        raise ManifestError(f"{graph['name']} lacks the outputs {', '.join(missing)} that the manifest names")


def _check_calls(manifest: dict) -> None:
    """The calls section (annotate / track) and the memory update rule keyed by it."""
    calls = manifest["calls"]
    for name in CALLS:
        call = calls[name]
        _require(call, _CALL_KEYS, f"calls.{name}")
        if call["value"] not in (0, 1):
            raise ManifestError(f"calls.{name}.value must be 0 or 1, got {call['value']!r}")
        for field, tokens in CALL_TOKENS.items():
            if call[field] not in tokens:
                raise ManifestError(f"calls.{name}.{field} = {call[field]!r} is not one of {', '.join(tokens)}")
    if calls["annotate"]["value"] == calls["track"]["value"]:
        raise ManifestError("calls.annotate and calls.track have the same annotate value")
    memory = manifest["memory"]
    slot_names = {s["name"] for s in memory["slots"]}
    update = memory["update"]
    if set(update) != set(CALLS):
        raise ManifestError(f"memory.update must have exactly the calls {', '.join(CALLS)}, got {sorted(update)}")
    for call, slots in update.items():
        if not slots or not set(slots) <= slot_names:
            raise ManifestError(f"memory.update[{call!r}] = {slots} refers to no or unknown slots")
    if calls["annotate"]["memory"] == "zeros" and set(update["annotate"]) != slot_names:
        raise ManifestError("memory.update['annotate'] must refill every slot (the annotate call reads none)")


def _check_file(folder: Path, graph: dict) -> None:
    path = folder / graph["file"]
    if not path.is_file():
        raise ManifestError(f"{graph['name']}: file {path} is missing")
    if path.stat().st_size != graph["bytes"]:
        raise ManifestError(f"{graph['name']}: {path} is {path.stat().st_size} bytes, manifest says {graph['bytes']}")
    if sha256(path) != graph["sha256"]:
        raise ManifestError(f"{graph['name']}: sha256 of {path} does not match the manifest")


def load_manifest(path: str | Path, check_files: bool = True) -> dict:
    """Read and validate the manifest at `path` (a manifest.json or the folder holding it).

    With `check_files`, every graph file beside it must exist with the recorded size and sha256.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no manifest at {path} (run `python -m export` to produce the graphs and manifest)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}") from e
    validate(manifest, path.parent if check_files else None)
    return manifest


def write_manifest(folder: str | Path, manifest: dict) -> Path:
    """Validate `manifest` against the files in `folder` and write it there as manifest.json."""
    validate(manifest, folder)
    path = Path(folder) / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def find_graph(manifest: dict, capacity: int, variant: str) -> dict:
    """The manifest entry of the graph of one capacity and variant; ManifestError if it was not exported."""
    for graph in manifest["graphs"]:
        if (graph["capacity"], graph["variant"]) == (capacity, variant):
            return graph
    raise ManifestError(f"no graph for capacity {capacity}, variant {variant} "
                        f"(exported variants: {', '.join(manifest['variants'])}; "
                        f"capacities: {manifest['objects']['capacities']})")


def pick_capacity(manifest: dict, num_objects: int) -> int:
    """The smallest exported object capacity that holds `num_objects`."""
    for k in manifest["objects"]["capacities"]:
        if k >= num_objects:
            return k
    raise ManifestError(f"{num_objects} objects exceed the largest exported capacity "
                        f"{manifest['objects']['capacities'][-1]} (export with a larger --capacities)")
