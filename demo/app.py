"""MobileVOS Space: the finite-memory student (the ONNX graphs the browser runs) next to its growing-memory teacher.

    python demo/app.py                                   # http://127.0.0.1:7860, shipped models
    python demo/app.py --host 0.0.0.0 --port 7860 --student-onnx DIR --teacher FILE --max-frames 150

Model paths: --student-onnx / $MOBILEVOS_STUDENT_ONNX (default web/public/models/student), --teacher /
$MOBILEVOS_TEACHER and --prompt-head / $MOBILEVOS_PROMPT_HEAD (default teacher.safetensors and prompt_head.safetensors
on mobilevos's weight search path: $MOBILEVOS_WEIGHTS, else the checkout's models/); $MOBILEVOS_DAVIS (a DAVIS-layout
folder) adds its sequences to the samples. Layout and wiring only: handlers.py holds the callbacks, inputs.py reads
and checks what users bring, inference.py runs the trackers, clicks.py the click-to-mask head, viz.py draws.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
import gradio as gr

import inputs
import viz
from clicks import PromptHeadError, PromptModel, resolve_prompt_head
from handlers import CLICK_HELP, CLICK_KINDS, CLICK_VIEW_HEIGHT, Handlers, size_value
from inference import ModelError, Models, resolve_paths

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
CSS = ".compact-md p { margin: 0.2em 0 !important; }"


def build_demo(
    models: Models, prompts: PromptModel, limits: inputs.Limits, davis_root: str | None = None, concurrency: int = 1
) -> gr.Blocks:
    samples = inputs.sample_names(davis_root)
    handlers = Handlers(models, prompts, limits, davis_root)
    with gr.Blocks(title="MobileVOS: student vs teacher", analytics_enabled=False, delete_cache=(600, 1800)) as demo:
        session = gr.State(None, time_to_live=3600)
        gr.Markdown(
            "# MobileVOS: a finite-memory student next to its teacher\n"
            "Mark objects on the first frame; the **teacher** (PyTorch, memory grows with every 5th frame) and the "
            "**student** (the exact ONNX graphs the web app runs, memory fixed at two frames) track them through "
            "the video. You get both results side by side, how much they agree, their speed and the memory each "
            f"holds. Runs on the CPU: at most **{limits.max_frames} frames** (longer videos are cut), processed at "
            f"a short side of {models.short_side} px (or the model input you pick"
            + (f"; the teacher at its own {models.teacher_short_side}" if models.teacher_short_side else "")
            + f"); uploads up to "
            f"{limits.max_upload_mb} MB; up to {limits.max_objects} objects.",
            elem_classes="compact-md",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=280):
                video = gr.Video(label="1. Upload a short video", sources=["upload"], height=240, elem_id="video-input")
                with gr.Row():
                    sample = gr.Dropdown(samples, value=samples[0], label="… or pick a sample", scale=3)
                    sample_button = gr.Button("Load sample", scale=1, min_width=100)
                size = gr.Dropdown(
                    handlers.size_choices(),
                    value=size_value(models.student_size),
                    label=(
                        f"Model input (student; the teacher runs at short side {models.teacher_short_side})"
                        if models.teacher_short_side
                        else "Model input (student; the teacher runs at the same short side)"
                    ),
                    elem_id="model-size",
                )
                status = gr.Markdown(
                    "Upload a video or load a sample.", elem_classes="compact-md", elem_id="load-status"
                )
            with gr.Column(scale=3, min_width=360):
                colours = ["red", "green", "blue", "yellow"]
                gr.Markdown(
                    "**2. Mark the objects on the first frame**: click on them, or paint with the brush, one colour "
                    "per object: "
                    + ", ".join(f"{colours[i]} = object {i + 1}" for i in range(limits.max_objects))
                    + ".",
                    elem_classes="compact-md",
                )
                with gr.Tabs():
                    with gr.Tab("Click", elem_id="click-tab"):
                        with gr.Row(equal_height=True):
                            click_object = gr.Radio(
                                [(f"{i + 1} ({colours[i]})", i + 1) for i in range(limits.max_objects)],
                                value=1,
                                label="Object",
                                elem_id="click-object",
                                scale=3,
                            )
                            click_kind = gr.Radio(
                                list(CLICK_KINDS), value=next(iter(CLICK_KINDS)), label="A click is", scale=3
                            )
                            clear_button = gr.Button("Clear this object", scale=1, min_width=90)
                        click_image = gr.Image(
                            label="First frame: click on an object",
                            show_label=False,
                            type="numpy",
                            format="png",
                            interactive=False,
                            elem_id="click-image",
                            height=CLICK_VIEW_HEIGHT + 16,  # the view and the frame's padding
                        )
                        click_status = gr.Markdown(CLICK_HELP, elem_classes="compact-md", elem_id="click-status")
                    with gr.Tab("Brush", elem_id="brush-tab"):
                        editor = gr.ImageEditor(
                            label="First frame",
                            show_label=False,
                            elem_id="editor",
                            type="numpy",
                            image_mode="RGBA",
                            sources=[],
                            transforms=[],
                            layers=False,
                            format="png",
                            brush=gr.Brush(
                                colors=viz.BRUSH_COLOURS[: limits.max_objects],
                                default_color=viz.BRUSH_COLOURS[0],
                                color_mode="fixed",
                                default_size=12,
                            ),
                            height=420,
                        )
                use_sample_mask = gr.Checkbox(
                    label="Start from the sample's own first-frame mask", value=False, visible=False
                )
        with gr.Accordion("Optional: annotation as a mask file, ground truth for J&F", open=False):
            with gr.Row():
                mask_file = gr.File(
                    label="First-frame mask: index or palette PNG, 0 = background (replaces the brush strokes)",
                    file_types=[".png"],
                    type="filepath",
                )
                gt_files = gr.File(
                    label="Ground truth: a zip in DAVIS layout (Annotations/<seq>/00000.png …) or PNG files, for J&F",
                    file_types=[".zip", ".png"],
                    file_count="multiple",
                    type="filepath",
                )
        with gr.Row():
            num_frames = gr.Slider(
                3,
                limits.max_frames,
                value=handlers.default_frames,
                step=1,
                label=f"3. Frames to track (at most {limits.max_frames})",
                scale=3,
                elem_id="frames",
            )
            variant = gr.Dropdown(models.variants, value=models.variants[0], label="Student precision", scale=1)
            run_button = gr.Button("Track", variant="primary", scale=1)
        run_status = gr.Markdown(elem_classes="compact-md", elem_id="run-status")
        with gr.Row():
            teacher_video = gr.Video(
                label="Teacher (growing memory)",
                interactive=False,
                autoplay=True,
                loop=True,
                elem_id="teacher-video",
                height=320,
            )
            student_video = gr.Video(
                label="Student (finite memory, ONNX)",
                interactive=False,
                autoplay=True,
                loop=True,
                elem_id="student-video",
                height=320,
            )
        with gr.Row():
            agreement_plot = gr.Plot(label="Agreement per frame", format="png", show_label=False)
            speed_plot = gr.Plot(label="Time per frame", format="png", show_label=False)
            memory_plot = gr.Plot(label="Memory held", format="png", show_label=False)
        with gr.Row():
            table = gr.Dataframe(
                headers=["", "teacher", "student"], label="Summary", interactive=False, scale=3, elem_id="summary"
            )
            results_file = gr.File(label="Masks (DAVIS layout) and per-frame metrics", interactive=False, scale=1)
        frame_slider = gr.Slider(0, 1, value=0, step=1, label="Inspect a frame")
        frame_image = gr.Image(
            label="teacher | student | where they differ", interactive=False, format="png", elem_id="inspect-image"
        )

        loaded = [editor, status, num_frames, use_sample_mask, click_image, click_status, session]
        video.upload(handlers.load_video, [video, size], loaded, api_name="load_video")
        sample_button.click(handlers.load_sample, [sample, size], loaded, api_name="load_sample")
        size.input(handlers.change_size, [size, session], loaded, api_name="change_size")
        use_sample_mask.input(handlers.toggle_sample_mask, [use_sample_mask, session], [editor, status], api_name=False)
        clicked = [click_image, editor, click_status, session]
        click_image.select(
            handlers.click,
            [click_object, click_kind, editor, mask_file, use_sample_mask, session],
            clicked,
            api_name=False,  # needs the click's position, which only the page sends
        )
        clear_button.click(
            handlers.clear_clicks, [click_object, mask_file, use_sample_mask, session], clicked, api_name=False
        )
        mask_inputs = [mask_file, use_sample_mask, session]
        mask_file.upload(handlers.show_mask_file, mask_inputs, [editor, status], api_name="show_mask")
        mask_file.clear(handlers.show_mask_file, mask_inputs, [editor, status], api_name=False)
        run_button.click(
            handlers.run,
            [editor, use_sample_mask, mask_file, gt_files, num_frames, variant, session],
            [
                teacher_video,
                student_video,
                agreement_plot,
                speed_plot,
                memory_plot,
                table,
                results_file,
                frame_slider,
                frame_image,
                run_status,
                session,
            ],
            api_name="run",
            concurrency_limit=concurrency,
            concurrency_id="tracking",
            show_progress_on=[teacher_video, student_video],
        )
        frame_slider.release(handlers.frame_image, [session, frame_slider], frame_image, api_name="show_frame")
    return demo


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--host",
        default=env("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to bind ($GRADIO_SERVER_NAME; 0.0.0.0 to serve others)",
    )
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument(
        "--student-onnx",
        default=None,
        help="exported student folder (manifest.json); $MOBILEVOS_STUDENT_ONNX, else web/public/models/student",
    )
    parser.add_argument(
        "--teacher",
        default=None,
        help="teacher weights (.safetensors); $MOBILEVOS_TEACHER, else teacher.safetensors in "
        "$MOBILEVOS_WEIGHTS or the checkout's models/",
    )
    parser.add_argument(
        "--prompt-head",
        default=None,
        help="click-to-mask head (.safetensors); $MOBILEVOS_PROMPT_HEAD, else prompt_head.safetensors in "
        "$MOBILEVOS_WEIGHTS or the checkout's models/",
    )
    parser.add_argument("--davis", default=env("MOBILEVOS_DAVIS"), help="DAVIS-layout folder offered as samples")
    parser.add_argument("--max-frames", type=int, default=int(env("MOBILEVOS_MAX_FRAMES", "150")))
    parser.add_argument("--max-upload-mb", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=1, help="tracking requests run at once (others queue)")
    parser.add_argument("--queue-size", type=int, default=16, help="requests waiting at most")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per model (default: torch's)")
    args = parser.parse_args(argv)
    if args.max_frames < 3:
        parser.error("--max-frames must be at least 3")
    try:
        models = Models(*resolve_paths(args.student_onnx, args.teacher), threads=args.threads)
        prompts = PromptModel(resolve_prompt_head(args.prompt_head))
    except (ModelError, PromptHeadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    limits = inputs.Limits(max_frames=args.max_frames, max_upload_mb=args.max_upload_mb, max_objects=models.max_objects)
    demo = build_demo(models, prompts, limits, args.davis, args.concurrency)
    demo.queue(max_size=args.queue_size, default_concurrency_limit=args.concurrency)
    theme = gr.themes.Soft(font=SYSTEM_FONTS, font_mono=MONO_FONTS)  # system fonts: no font CDN requests
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=f"{args.max_upload_mb}mb",
        show_error=True,
        share=False,
        ssr_mode=False,
        enable_monitoring=False,
        mcp_server=False,
        theme=theme,
        css=CSS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
