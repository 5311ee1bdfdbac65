"""ONNX export of the MobileVOS student for the browser (onnxruntime-web) and the Gradio Space.

Run from the repository root: `python -m export --help`. Modules, in the order the export uses them:

* `graphs`       the export-only wrapper (one graph per object capacity, annotate and track calls) around the
                 network's stages, and the torch -> ONNX step;
* `variants`     fp16 (WebGPU shader-f16) and int8-weight (WASM) versions of the fp32 graphs;
* `op_support`   the operator tables of onnxruntime-web (webgpu_ops.json, wasm_ops.json) and the check against them;
* `evaluate`     parity/accuracy of every variant against PyTorch / fp32, and CPU timings;
* `fixtures`     frames and expected outputs the web tests replay;
* `manifest_writer` what the manifest says of the export: the graphs' contract, variants, checkpoint, versions;
* `pipeline`     the whole run, staged and installed only when every check passes.

Running the graphs is not here: the manifest and the onnxruntime tracker are `mobilevos.runtime`, which the export
checks use like every other consumer.
"""
