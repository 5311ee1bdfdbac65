"""Inference with the exported student: what the Gradio Space, `mobilevos bench`, the export's checks and the tests
run, with nothing from the torch -> ONNX build (`export/`) needed.

* `manifest`     `manifest.json`, the contract between the exported graphs and their consumers: `load_manifest`
                 validates one (schema `manifest.schema.json`, shared with the web app, plus the cross-references
                 a schema cannot express);
* `ort_tracker`  `OrtTracker`: tracking with the graphs in onnxruntime, following the manifest's calls and memory
                 rules;
* `ort_prompt`   `OrtPromptSegmenter`: click to mask with the exported head;
* `session`      `open_session`: how every one of them opens a graph in onnxruntime.
"""
