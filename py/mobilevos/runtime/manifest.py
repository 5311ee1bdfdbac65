"""`manifest.json`: the one contract between the exported graphs and their consumers (web app, Gradio Space, tests).

Everything a consumer needs is in the manifest, so nothing about the interface is hard-coded elsewhere: the graphs
(file, capacity K, precision variant, size, sha256, inputs and outputs with name/shape/dtype/meaning; one graph per
K and variant), the model resolution and stride, the frame format and the normalisation done in the graph, the two
calls of the graph (annotate / track) and what each feeds, the memory slots and the rule that updates them (the
student's memory rule, `mobilevos.memory_rule.STUDENT`), the object capacities, the source checkpoint, library
versions and each variant's measured accuracy.

Schema history: 1 had an init and a step graph per K and variant (the weights twice); 2 has one graph that does
both, told apart by its `annotate` input (the `calls` section); 3 makes the graphs' height and width dynamic:
`model.sizes` lists the sizes checked at export (the first is the one the listed shapes describe), each
size-dependent tensor says which axes scale (`spatial_axes`, `spatial_stride`), and `at_size` gives the manifest as
it reads at another size.

Optional `prompt` section (since the click-to-mask head): the head's graph file, its tensors, the student graphs'
feature outputs it reads, and how the prompt maps are built (`mobilevos.runtime.ort_prompt` drives it).

`load_manifest` reads and validates one; `write_manifest` validates before writing. The schema is
`manifest.schema.json` beside this file, which the web app validates with too (`web/src/manifest.js`); what a JSON
Schema cannot express, cross-references between sections and the files themselves, is checked here
(`_check_references`, `_check_file`) and, for the references, in the same order by the web app, so that both reject
the same manifests with the same locations (`tests/manifest_cases.json`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
SCHEMA = json.loads(SCHEMA_PATH.read_text())
SCHEMA_VERSION = SCHEMA["properties"]["schema_version"]["const"]
VARIANTS = tuple(SCHEMA["$defs"]["variant"]["enum"])
MANIFEST_NAME = "manifest.json"
_VALIDATOR = Draft202012Validator(SCHEMA)


class ManifestError(ValueError):
    """A manifest that is missing, malformed, or does not match the files beside it. `where` is the JSON pointer
    of the part at fault ("" for the whole manifest), or None when the manifest could not be read at all."""

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message if where is None else f"{where or '/'}: {message}")
        self.where = where


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pointer(path: Iterable) -> str:
    """A JSON pointer ("/memory/slots/0") from a path of keys and indices."""
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in path)


def validate(manifest: dict, folder: str | Path | None = None) -> None:
    """Check `manifest` against the schema, then the cross-references between its sections; with `folder`, also each
    graph file's size and sha256. Raises ManifestError (with `where`) for the first problem found."""
    error = best_match(_VALIDATOR.iter_errors(manifest))
    if error is not None:
        raise ManifestError(error.message, _pointer(error.absolute_path))
    _check_references(manifest)
    if folder is not None:
        for i, graph in enumerate(manifest["graphs"]):
            _check_file(Path(folder), graph, f"/graphs/{i}")
        if "prompt" in manifest:
            _check_file(Path(folder), manifest["prompt"], "/prompt")
            if "encoder" in manifest["prompt"]:
                _check_file(Path(folder), manifest["prompt"]["encoder"], "/prompt/encoder")


def _check_references(manifest: dict) -> None:
    """What the schema cannot say: sizes against the stride, capacities in order, one graph per capacity and
    variant, every graph with the inputs and outputs the sections name, update rules naming existing slots.
    `checkReferences` in web/src/manifest.js makes the same checks in the same order."""
    model, capacities = manifest["model"], manifest["objects"]["capacities"]
    if model["height"] % model["stride"] or model["width"] % model["stride"]:
        raise ManifestError(
            f"model size {model['height']}x{model['width']} is not a multiple of the stride {model['stride']}", "/model"
        )
    stride, sizes = model["stride"], model["sizes"]
    for i, size in enumerate(sizes):
        if size["height"] % stride or size["width"] % stride:
            raise ManifestError(
                f"size {size['height']}x{size['width']} is not a multiple of the stride {stride}", f"/model/sizes/{i}"
            )
        if (size["memory_height"], size["memory_width"]) != (size["height"] // stride, size["width"] // stride):
            raise ManifestError(
                f"size {size['height']}x{size['width']}: memory grid is not the size / stride", f"/model/sizes/{i}"
            )
    if (sizes[0]["height"], sizes[0]["width"]) != (model["height"], model["width"]):
        raise ManifestError(
            "the first size must be model.height x model.width (the size the shapes describe)", "/model/sizes/0"
        )
    for backend in ("wasm", "webgpu"):
        pair = model["default_size"][backend]
        if not any([s["height"], s["width"]] == pair for s in sizes):
            raise ManifestError(
                f"the default size {pair[0]}x{pair[1]} is not among the sizes", f"/model/default_size/{backend}"
            )
    if any(b <= a for a, b in itertools.pairwise(capacities)):
        raise ManifestError(f"capacities must be increasing, got {capacities}", "/objects/capacities")
    memory, calls = manifest["memory"], manifest["calls"]
    inputs = [
        manifest["frame"]["input"],
        manifest["objects"]["masks_input"],
        manifest["objects"]["valid_input"],
        calls["input"],
        *(name for slot in memory["slots"] for name in (slot["key"], slot["value"])),
    ]
    outputs = [manifest["output"]["name"], memory["entry"]["key"], memory["entry"]["value"]]
    seen = set()
    for i, graph in enumerate(manifest["graphs"]):
        key = (graph["capacity"], graph["variant"])
        if key in seen:
            raise ManifestError(f"{graph['name']}: duplicate capacity/variant {key[0]}/{key[1]}", f"/graphs/{i}")
        seen.add(key)
        _check_spatial_shapes(graph, model, f"/graphs/{i}")
        for kind, needed, tensors in (("inputs", inputs, graph["inputs"]), ("outputs", outputs, graph["outputs"])):
            have = {t["name"] for t in tensors}
            missing = [name for name in needed if name not in have]
            if missing:
                raise ManifestError(
                    f"{graph['name']} lacks the {kind} {', '.join(missing)} that the manifest names", f"/graphs/{i}"
                )
    for variant in manifest["variants"]:
        for k in capacities:
            if (k, variant) not in seen:
                raise ManifestError(f"variant {variant} has no graph for capacity {k}", f"/variants/{variant}")
    slot_names = [slot["name"] for slot in memory["slots"]]
    for call, slots in memory["update"].items():
        unknown = [s for s in slots if s not in slot_names]
        if unknown:
            raise ManifestError(f"{call} fills unknown slots {', '.join(unknown)}", f"/memory/update/{call}")
    if calls["annotate"]["memory"] == "zeros" and set(memory["update"]["annotate"]) != set(slot_names):
        raise ManifestError("the annotate call must refill every slot (it reads none)", "/memory/update/annotate")
    if "prompt" in manifest:
        _check_prompt(manifest["prompt"], manifest["graphs"], model)


def _check_spatial_shapes(entry: dict, model: dict, path: str) -> None:
    """Every input and output of a graph entry with spatial axes holds the model size there."""
    for kind in ("inputs", "outputs"):
        for j, tensor in enumerate(entry[kind]):
            if "spatial_axes" in tensor and not _spatial_shape_matches(tensor, model):
                raise ManifestError(
                    f"{tensor['name']}: shape {tensor['shape']} does not hold the model size at its spatial axes",
                    f"{path}/{kind}/{j}",
                )


def _check_prompt(prompt: dict, graphs: list[dict], model: dict) -> None:
    """The prompt head's cross-references: the graphs that give its features (its own encoder graph when it has
    one, else every student graph) have the feature outputs, the head takes them and its prompt maps (one channel
    per listed channel) and gives its output, its tensors (and the encoder's) hold the model size."""
    features = prompt["features"]["outputs"]
    sources = [prompt["encoder"]] if "encoder" in prompt else graphs
    for graph in sources:
        missing = [name for name in features if name not in {t["name"] for t in graph["outputs"]}]
        if missing:
            raise ManifestError(
                f"{graph['name']} lacks the feature outputs {', '.join(missing)} the prompt head reads",
                "/prompt/features/outputs",
            )
    _check_spatial_shapes(prompt, model, "/prompt")
    if "encoder" in prompt:
        _check_spatial_shapes(prompt["encoder"], model, "/prompt/encoder")
    inputs = {t["name"]: t for t in prompt["inputs"]}
    missing = [name for name in [*features, prompt["prompts_input"]] if name not in inputs]
    if missing or prompt["output"] not in {t["name"] for t in prompt["outputs"]}:
        raise ManifestError(f"the head lacks the inputs or output the prompt section names ({missing})", "/prompt")
    maps = inputs[prompt["prompts_input"]]["shape"]
    if len(maps) != 4 or maps[1] != len(prompt["channels"]):
        raise ManifestError(
            f"{prompt['prompts_input']} has shape {maps}: not [1, {len(prompt['channels'])}, H, W] for the channels",
            "/prompt/channels",
        )


def _spatial_shape_matches(tensor: dict, model: dict) -> bool:
    """Does a size-dependent tensor's listed shape hold model.height x model.width (over its stride) at its axes?"""
    shape, axes, stride = tensor["shape"], tensor["spatial_axes"], tensor["spatial_stride"]
    expected = (model["height"] // stride, model["width"] // stride)
    return all(a < len(shape) for a in axes) and tuple(shape[a] for a in axes) == expected


def at_size(manifest: dict, size: tuple[int, int] | list[int]) -> dict:
    """The manifest as it reads at model size `size` (H, W), one of `model.sizes`: the model section's size and
    memory grid and every size-dependent tensor's shape (`spatial_axes`) rewritten, the rest shared. Consumers
    that take shapes from the manifest then run the (dynamic) graphs at that size unchanged."""
    model = manifest["model"]
    height, width = (int(v) for v in size)
    entry = next((s for s in model["sizes"] if (s["height"], s["width"]) == (height, width)), None)
    if entry is None:
        have = ", ".join(f"{s['height']}x{s['width']}" for s in model["sizes"])
        raise ManifestError(f"model size {height}x{width} was not exported (have: {have})")

    flops = entry.get("flops", {})  # FLOPs per capacity at this size, when the export measured them

    def resized(tensor: dict) -> dict:
        if "spatial_axes" not in tensor:
            return tensor
        shape = list(tensor["shape"])
        for axis, side in zip(tensor["spatial_axes"], (height, width)):
            shape[axis] = side // tensor["spatial_stride"]
        return {**tensor, "shape": shape}

    def with_resized_tensors(entry: dict) -> dict:
        return {
            **entry,
            "inputs": [resized(t) for t in entry["inputs"]],
            "outputs": [resized(t) for t in entry["outputs"]],
        }

    graphs = [
        {
            **with_resized_tensors(g),
            **({"flops": flops[str(g["capacity"])]} if str(g["capacity"]) in flops else {}),
        }
        for g in manifest["graphs"]
    ]
    prompt = manifest.get("prompt")
    if prompt is not None:
        prompt = with_resized_tensors(prompt)
        if "encoder" in prompt:
            prompt["encoder"] = with_resized_tensors(prompt["encoder"])
    frame_shape = next(t["shape"] for t in graphs[0]["inputs"] if t["name"] == manifest["frame"]["input"])
    return {
        **manifest,
        "model": {
            **model,
            "height": height,
            "width": width,
            "memory_height": entry["memory_height"],
            "memory_width": entry["memory_width"],
        },
        "frame": {**manifest["frame"], "shape": frame_shape},
        "graphs": graphs,
        **({"prompt": prompt} if prompt is not None else {}),
    }


def default_size(manifest: dict, backend: str) -> tuple[int, int]:
    """The model size the manifest suggests for `backend` ("wasm" or "webgpu"; the CPU runs as WASM does)."""
    height, width = manifest["model"]["default_size"]["webgpu" if backend == "webgpu" else "wasm"]
    return height, width


SAME_SHAPE = 1.15  # aspect ratios within this factor are one shape (web/src/size-fit.js: the same rule)


def same_shape(a: tuple[int, int] | list[int], b: tuple[int, int] | list[int]) -> bool:
    """Do model sizes (H, W) `a` and `b` have one shape: 4:3 with 224x288 and 208x272, 16:9 with 176x320, ...? An
    export's sizes of other shapes than its first are for frames of those shapes (the web app's sizeForFrame)."""
    return abs(math.log(a[1] / a[0] / (b[1] / b[0]))) < math.log(SAME_SHAPE)


def _check_file(folder: Path, graph: dict, where: str) -> None:
    """The graph's file exists with the recorded size and sha256 (a schema sees only the manifest)."""
    path = folder / graph["file"]
    if not path.is_file():
        raise ManifestError(f"{graph['name']}: file {path} is missing", where)
    if path.stat().st_size != graph["bytes"]:
        raise ManifestError(
            f"{graph['name']}: {path} is {path.stat().st_size} bytes, manifest says {graph['bytes']}", where
        )
    if sha256(path) != graph["sha256"]:
        raise ManifestError(f"{graph['name']}: sha256 of {path} does not match the manifest", where)


def tracking_outputs(manifest: dict) -> list[str]:
    """The graph outputs a tracking call uses (prob and the memory entry): what the trackers fetch, leaving the
    prompt head's feature outputs on the graph's side."""
    entry = manifest["memory"]["entry"]
    return [manifest["output"]["name"], entry["key"], entry["value"]]


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
    raise ManifestError(
        f"no graph for capacity {capacity}, variant {variant} "
        f"(exported variants: {', '.join(manifest['variants'])}; "
        f"capacities: {manifest['objects']['capacities']})"
    )


def pick_capacity(manifest: dict, num_objects: int) -> int:
    """The smallest exported object capacity that holds `num_objects`."""
    for k in manifest["objects"]["capacities"]:
        if k >= num_objects:
            return k
    raise ManifestError(
        f"{num_objects} objects exceed the largest exported capacity "
        f"{manifest['objects']['capacities'][-1]} (export with a larger --capacities)"
    )
