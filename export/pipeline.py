"""The export run: checkpoint -> fp32 graphs -> fp16/int8 variants -> checks -> measurements -> fixtures -> manifest.

Everything is written into a staging folder beside `--out` and moved in only when every check has passed, so a
failed export never leaves a half-written contract behind.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tqdm import tqdm

from mobilevos.models.checkpoint import load_network
from mobilevos.models.network import SpaceTimeNetwork
from mobilevos.models.prompt_head import load_head
from mobilevos.runtime.manifest import MANIFEST_NAME, VARIANTS, at_size, load_manifest, sha256, write_manifest
from mobilevos.runtime.session import open_session, session_options

from export import clips as clip_sources
from export.evaluate import benchmark, fp32_parity_failures, measure_accuracy, random_feeds
from export.fixtures import write_fixtures
from export.graph_stats import flops, op_counts
from export.graphs import (
    GRAPH_PREFIX,
    MAX_CELLS,
    MIN_CELLS,
    MIN_OPSET,
    GraphSpec,
    export_graph,
    graph_spec,
    save_model,
    spec_feeds,
)
from export.manifest_writer import (
    REPO,
    TABLES,
    TARGETS,
    build_manifest,
    cpu_name,
    operator_notes,
    size_entries,
    variant_entry,
    webgpu_default,
)
from export.op_support import check_operators, load_table
from export.prompt import (
    ENCODER_FEATURES_RULE,
    ENCODER_FILE,
    HEAD_FILE,
    MAX_IOU_DROP,
    STUDENT_FEATURES_RULE,
    benchmark_head,
    encoder_entry,
    encoder_specs,
    export_encoder,
    export_head,
    head_entry,
    head_specs,
    measure_prompt,
    strip_provenance,
    trained_on,
)
from export.variants import int8_weights, precision_tail, to_fp16

# The export is a tool of the checkout: its defaults are the checkout's files.
DEFAULT_CHECKPOINT = REPO / "models" / "student.safetensors"
DEFAULT_OUT = REPO / "web" / "public" / "models" / "student"
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_HEAD = REPO / "models" / "prompt_head.safetensors"


@dataclass
class ExportOptions:
    """What `python -m export` does; see `export.__main__` for the command-line flags."""

    checkpoint: Path = DEFAULT_CHECKPOINT
    out: Path = DEFAULT_OUT
    size: tuple[int, int] = (240, 320)  # model resolution (H, W): the WASM default and the fixtures' size
    # further sizes the dynamic graphs are checked and timed at; the largest is WebGPU's default
    extra_sizes: tuple[tuple[int, int], ...] = ((480, 640),)
    capacities: tuple[int, ...] = (1, 2, 4)
    opset: int = 18
    variants: tuple[str, ...] = VARIANTS
    data: Path | None = DEFAULT_DATA  # shared data folder with davis16-train-240p / davis16-val
    eval_frames: int = 20  # accuracy: first frames of each davis16-val sequence
    eval_sequences: int | None = None  # accuracy: how many sequences (None = all)
    fixture_frames: int = 3
    threads: int = 1  # onnxruntime CPU threads for the timings
    prompt_head: Path | None = DEFAULT_HEAD  # click-to-mask head weights (None: no prompt head in the export)
    # The student whose key encoder the head was trained on, when it is not `checkpoint`: its encoder is exported as
    # prompt_encoder.onnx and gives the head its features (None: the student graphs give them).
    prompt_encoder: Path | None = None
    # Only re-measure the model sizes of the export already in `out`, on its own graphs (resize_export).
    resize: bool = False

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """Every model size of the export, `size` first."""
        return [tuple(self.size), *(tuple(s) for s in self.extra_sizes if tuple(s) != tuple(self.size))]

    def validate(self) -> None:
        """Raise ValueError with a clear message for options that cannot work."""
        stride = SpaceTimeNetwork.stride
        for height, width in self.sizes:
            if min(height, width) < MIN_CELLS * stride or max(height, width) > MAX_CELLS * stride:
                raise ValueError(f"size {height}x{width}: sides must be {MIN_CELLS * stride}..{MAX_CELLS * stride}")
            if height % stride or width % stride:
                raise ValueError(
                    f"size {height}x{width}: both sides must be multiples of {stride} (the network's output stride)"
                )
        if not self.capacities or min(self.capacities) < 1 or len(set(self.capacities)) != len(self.capacities):
            raise ValueError(f"--capacities {self.capacities}: need distinct object counts >= 1")
        unknown = set(self.variants) - set(VARIANTS)
        if unknown:
            raise ValueError(f"--variants: unknown {sorted(unknown)} (choose from {', '.join(VARIANTS)})")
        if self.opset < MIN_OPSET:
            raise ValueError(f"--opset {self.opset}: the dynamo exporter produces opset {MIN_OPSET} or newer")
        if "fp32" not in self.variants:
            raise ValueError("--variants must include fp32: the other variants are built from and measured against it")
        if self.prompt_encoder is not None and self.prompt_head is None:
            raise ValueError("--prompt-encoder gives a prompt head its features: it needs --prompt-head")
        if min(self.eval_frames, self.fixture_frames) < 3:
            raise ValueError("need at least 3 evaluation and fixture frames per clip")


def _checkpoint_path(path: Path) -> Path:
    if not path.is_file():
        hint = (
            "train the student first (see the README's training section) or pass --checkpoint PATH"
            if path == DEFAULT_CHECKPOINT
            else "check the --checkpoint path"
        )
        raise FileNotFoundError(f"no student checkpoint at {path}: {hint}")
    return path


def _checked_graph(folder: Path, spec: GraphSpec, variant: str, model: onnx.ModelProto, graph_flops: int) -> dict:
    """Check a graph (onnx.checker, operator tables, one onnxruntime run), save it, and describe it."""
    name = spec.name if variant == "fp32" else f"{spec.name}_{variant}"
    onnx.checker.check_model(model, full_check=True)
    for target in TARGETS[variant]:
        check_operators(model, load_table(TABLES[target]), f"{name}.onnx ({variant}, for {target})")
    path = folder / f"{name}.onnx"
    save_model(model, path)
    entry = {
        "name": name,
        "capacity": spec.capacity,
        "variant": variant,
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": sha256(path),
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "targets": list(TARGETS[variant]),
        "nodes": len(model.graph.node),
        "ops": op_counts(model),
        "flops": graph_flops,
        "inputs": [t.as_dict() for t in spec.inputs],
        "outputs": [t.as_dict() for t in spec.outputs],
    }
    # Loading also proves every node has an onnxruntime CPU kernel (the WASM backend's kernels).
    session = open_session(path)
    outputs = session.run(None, random_feeds(entry))
    for out, spec_out in zip(outputs, spec.outputs):
        if list(out.shape) != list(spec_out.shape) or not np.isfinite(out).all():
            raise RuntimeError(f"{name}: output {spec_out.name} has shape {out.shape} or non-finite values")
    return entry


def _install(staging: Path, out: Path) -> None:
    """Replace the previous export in `out` (only files this command writes) with the staged one."""
    out.mkdir(parents=True, exist_ok=True)
    # Schema 1 exports had init_k*/step_k* pairs; schema 2 has one graph per capacity and variant.
    old_graphs = [*out.glob("init_k*.onnx"), *out.glob("step_k*.onnx"), *out.glob(f"{GRAPH_PREFIX}_k*.onnx")]
    old_graphs.append(out / HEAD_FILE)
    for old in [out / MANIFEST_NAME, out / "fixtures", *old_graphs]:
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    for item in staging.iterdir():
        item.rename(out / item.name)


def _export_graphs(opts: ExportOptions, net: SpaceTimeNetwork, checkpoint: Path, folder: Path, progress: tqdm) -> dict:
    """The graphs of every capacity and variant (fp16 and int8 made from fp32) and the manifest describing them."""
    graphs, tail_nodes = [], 0
    made = {"fp16": to_fp16, "int8": int8_weights}
    for k in sorted(opts.capacities):
        spec = graph_spec(net, opts.size, k)
        model = export_graph(net, spec, opts.opset)
        if k == min(opts.capacities):  # the fp16 entry counts the float32 tail of the smallest graph
            tail_nodes = len(precision_tail(model))
        graph_flops = flops(model, spec_feeds(spec))
        graphs.append(_checked_graph(folder, spec, "fp32", model, graph_flops))
        progress.update()
        for variant in (v for v in made if v in opts.variants):
            graphs.append(_checked_graph(folder, spec, variant, made[variant](model), graph_flops))
            progress.update()
    variants = {"fp32": variant_entry("fp32")}
    if "fp16" in opts.variants:
        variants["fp16"] = variant_entry("fp16", {"float32_nodes": tail_nodes})
    if "int8" in opts.variants:
        variants["int8"] = variant_entry("int8")
    manifest = build_manifest(opts.sizes, opts.capacities, opts.opset, net, checkpoint, graphs, variants)
    write_manifest(folder, manifest)
    return manifest


def _add_prompt(
    opts: ExportOptions, net: SpaceTimeNetwork, encoder: SpaceTimeNetwork, folder: Path, manifest: dict
) -> None:
    """The click-to-mask head's graph (int8 weights) and the manifest's `prompt` section; `encoder` is the network
    whose key encoder gives the head its features: with --prompt-encoder that student's, exported as the head's own
    feature graph (int8 weights too), else the exported student `net` itself."""
    head = load_head(opts.prompt_head)
    if tuple(head.cfg.feature_dims) != encoder.feature_dims:
        raise ValueError(
            f"{opts.prompt_head}: the head reads features of {head.cfg.feature_dims} channels, this student's key "
            f"encoder gives {encoder.feature_dims} (pass --prompt-head for a head trained on it, or '' for none; "
            "or --prompt-encoder the student it was trained on)"
        )
    inputs, outputs = head_specs(encoder, opts.size)
    model = strip_provenance(int8_weights(export_head(head, inputs, outputs, net.stride, opts.opset)))
    for target in TABLES:
        check_operators(model, load_table(TABLES[target]), f"{HEAD_FILE} (for {target})")
    features = tuple(t.name for t in inputs[:-1])
    rule = STUDENT_FEATURES_RULE if opts.prompt_encoder is None else ENCODER_FEATURES_RULE
    manifest["prompt"] = head_entry(folder, model, Path(opts.prompt_head), inputs, outputs, features, rule, opts.opset)
    if opts.prompt_encoder is not None:
        e_inputs, e_outputs = encoder_specs(encoder, opts.size)
        e_model = strip_provenance(int8_weights(export_encoder(encoder, e_inputs, e_outputs, opts.opset)))
        for target in TABLES:
            check_operators(e_model, load_table(TABLES[target]), f"{ENCODER_FILE} (for {target})")
        manifest["prompt"]["encoder"] = encoder_entry(
            folder, e_model, Path(opts.prompt_encoder), e_inputs, e_outputs, opts.opset
        )
    write_manifest(folder, manifest)


def _measure(
    opts: ExportOptions, net: SpaceTimeNetwork, prompt_net: SpaceTimeNetwork, folder: Path, manifest: dict
) -> None:
    """Parity with PyTorch (raises when the fp32 graphs miss it), each variant's accuracy, CPU timings; the click
    head's against `prompt_net`, the network whose key encoder gives it its features."""
    capacities = sorted(opts.capacities)
    variants = list(manifest["variants"])
    clips = clip_sources.clip_set(
        opts.data, clip_sources.EVALUATION_SPLIT, opts.size, opts.eval_frames, opts.eval_sequences, max(capacities)
    )
    accuracy = measure_accuracy(net, folder, variants, capacities, clips, threads=2)
    # davis16 has one object per clip: synthetic clips check the multi-object graphs against PyTorch as well.
    synthetic = clip_sources.ClipSet(
        "synthetic multi-object", clip_sources.synthetic_clips(opts.size, opts.eval_frames, 2, max(capacities))
    )
    multi = measure_accuracy(net, folder, ["fp32"], capacities, synthetic, threads=2)["fp32"]
    failures = fp32_parity_failures(accuracy) + fp32_parity_failures({"fp32": multi})
    if failures:
        raise RuntimeError("fp32 graphs do not match the PyTorch tracker: " + "; ".join(failures))
    for variant in variants:
        manifest["variants"][variant]["accuracy"] = accuracy[variant]
    manifest["variants"]["fp32"]["parity_multi_object"] = multi
    manifest["operator_notes"] = operator_notes(manifest["graphs"])
    _measure_sizes(opts, net, folder, manifest)
    if "prompt" in manifest:
        _measure_prompt(opts, prompt_net, folder, manifest)
    timings = benchmark(folder, manifest["graphs"], threads=opts.threads)
    for graph in manifest["graphs"]:
        graph["cpu_ms"], graph["session_ms"] = timings[graph["name"]]
    manifest["benchmark"] = {
        "what": "graphs[].cpu_ms: median wall time of one tracking call (annotate = 0) in onnxruntime (Python) CPU, "
        "after warm-up; graphs[].session_ms: median time to create its InferenceSession from the file",
        "threads": opts.threads,
        "cpu": cpu_name(),
        "onnxruntime": ort.__version__,
    }


def _measure_prompt(opts: ExportOptions, encoder: SpaceTimeNetwork, folder: Path, manifest: dict) -> None:
    """The head's IoU in onnxruntime against PyTorch on the selection sequences (when the data is there), and the
    CPU time of one click (the head alone). The IoU bound fails the export only for the checkpoint the head was
    trained on: on another student's features its masks mean nothing."""
    prompt = manifest["prompt"]
    root = opts.data / clip_sources.TRAINING_SPLIT if opts.data is not None else None
    if root is not None and root.is_dir():
        accuracy = measure_prompt(encoder, Path(opts.prompt_head), folder, opts.size, root, session_options(2))
        accuracy["enforced"] = trained_on(Path(opts.prompt_head), opts.prompt_encoder or opts.checkpoint)
        if accuracy["enforced"] and accuracy["max_drop"] > MAX_IOU_DROP:
            raise RuntimeError(
                f"{HEAD_FILE}: the exported head loses {accuracy['max_drop']} mean IoU against PyTorch "
                f"(bound {MAX_IOU_DROP}): {accuracy}"
            )
        prompt["accuracy"] = accuracy
    prompt["cpu_ms"] = benchmark_head(folder, prompt, threads=opts.threads)
    if "encoder" in prompt:
        prompt["encoder"]["cpu_ms"] = benchmark_head(folder, prompt["encoder"], threads=opts.threads)


def _measure_sizes(opts: ExportOptions, net: SpaceTimeNetwork, folder: Path, manifest: dict) -> None:
    """At every model size: parity of the smallest capacity's fp32 graph with PyTorch on synthetic clips (raises
    when it misses), FLOPs of each capacity, and the CPU time of a track call; written into `model.sizes`."""
    models = {g["capacity"]: onnx.load(folder / g["file"]) for g in manifest["graphs"] if g["variant"] == "fp32"}
    k = min(opts.capacities)
    for entry in manifest["model"]["sizes"]:
        size = (entry["height"], entry["width"])
        graphs = {g["capacity"]: g for g in at_size(manifest, size)["graphs"] if g["variant"] == "fp32"}
        clips = clip_sources.ClipSet("synthetic", clip_sources.synthetic_clips(size, opts.eval_frames, 2, k))
        parity = measure_accuracy(net, folder, ["fp32"], [k], clips, threads=2, size=size)
        failures = fp32_parity_failures(parity)
        if failures:
            raise RuntimeError(f"fp32 graph at {size[0]}x{size[1]} does not match PyTorch: " + "; ".join(failures))
        entry["capacity"] = k  # of the parity and timing below
        entry["parity"] = parity["fp32"][f"k{k}"]
        entry["flops"] = {str(c): flops(model, random_feeds(graphs[c])) for c, model in models.items()}
        entry["cpu_ms"] = benchmark(folder, [graphs[k]], threads=opts.threads)[graphs[k]["name"]][0]


def run_export(opts: ExportOptions) -> Path:
    """Export, check, measure and write everything; returns the manifest path. Raises on any failed check."""
    opts.validate()
    checkpoint = _checkpoint_path(Path(opts.checkpoint))
    net = load_network(checkpoint)
    if net.cfg.kind != "student":
        raise ValueError(f"{checkpoint} holds a {net.cfg.kind}; only the student's two-slot memory is exported")
    # The caller's thread count is restored afterwards: torch's is per calling thread (OpenMP), so a leaked 1 made a
    # later PyTorch run in this thread round differently from the same run in another thread (tests/test_demo.py).
    caller_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, opts.threads))
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-export-", dir=out.parent))
    try:
        total = len(opts.capacities) * len(opts.variants) + 2
        with tqdm(total=total, desc="export", unit="step") as progress:
            manifest = _export_graphs(opts, net, checkpoint, staging, progress)
            # the network whose key encoder gives the click head its features
            prompt_net = load_network(opts.prompt_encoder) if opts.prompt_encoder is not None else net
            if opts.prompt_head is not None:
                _add_prompt(opts, net, prompt_net, staging, manifest)
            _measure(opts, net, prompt_net, staging, manifest)
            progress.update()
            write_fixtures(staging, sorted(opts.capacities), opts.fixture_frames)
            manifest["fixtures"] = "fixtures/index.json"
            write_manifest(staging, manifest)
            progress.update()
        _install(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        torch.set_num_threads(caller_threads)
    return out / MANIFEST_NAME


def resize_export(opts: ExportOptions) -> Path:
    """Give the export already in `opts.out` the model sizes `opts.sizes` (the first must be its first), each checked
    against PyTorch and costed as run_export checks them, on the export's own graphs: only `model.sizes` and WebGPU's
    default change, so sizes are added to a shipped export without rewriting its graphs' bytes. Raises ValueError when
    `opts.checkpoint` is not the one the export was made from. Returns the manifest path."""
    opts.validate()
    checkpoint = _checkpoint_path(Path(opts.checkpoint))
    folder = Path(opts.out)
    manifest = load_manifest(folder / MANIFEST_NAME)
    if manifest["checkpoint"]["sha256"] != sha256(checkpoint):
        raise ValueError(f"{checkpoint} is not the checkpoint {folder} was exported from")
    first = (manifest["model"]["height"], manifest["model"]["width"])
    if tuple(opts.size) != first:
        raise ValueError(f"--size {opts.size[0]}x{opts.size[1]}: the export's first size is {first[0]}x{first[1]}")
    net = load_network(checkpoint)
    manifest["model"]["sizes"] = size_entries(opts.sizes, net.stride)
    manifest["model"]["default_size"]["webgpu"] = list(webgpu_default(opts.sizes))
    original = (folder / MANIFEST_NAME).read_text()
    caller_threads = torch.get_num_threads()  # restored afterwards, as in run_export
    torch.set_num_threads(max(1, opts.threads))
    try:
        write_manifest(folder, manifest)  # the measurements' trackers read the sizes from the folder
        _measure_sizes(replace(opts, capacities=tuple(manifest["objects"]["capacities"])), net, folder, manifest)
        return write_manifest(folder, manifest)
    except BaseException:
        (folder / MANIFEST_NAME).write_text(original)  # a failed check leaves the export as it was
        raise
    finally:
        torch.set_num_threads(caller_threads)
