"""`mobilevos` command line: one subcommand per job, each implemented by a module with `add_arguments` and `run`."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help). Modules are imported only when their subcommand runs, so `mobilevos synth`
# does not pay for importing the training stack.
COMMANDS = {
    "info": ("mobilevos.info", "parameters and FLOPs per frame of the student or teacher"),
    "synth": ("mobilevos.data.synth_writer", "write procedurally generated videos with exact masks (DAVIS layout)"),
    "eval": ("mobilevos.eval.command", "track DAVIS-layout sequences and score J&F, or score existing predictions"),
    "train": ("mobilevos.train", "train the teacher, or distil the student from it"),
    "distill-encoder": (
        "mobilevos.train.encoder_distill",
        "distil the dense WASM key encoder from the student's Lite0 features (issue 18)",
    ),
    "prune": (
        "mobilevos.models.prune",
        "cut the student's Lite key encoder to a share of its expanded channels for WASM (issue 18)",
    ),
    "ship": ("mobilevos.train.ship", "copy a training run into models/ with its JSON record and measured J&F"),
    "bench": ("mobilevos.eval.bench", "speed and memory of student and teacher in PyTorch and onnxruntime"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported to add its arguments (all of them when None)."""
    parser = argparse.ArgumentParser(prog="mobilevos", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if command in (None, name):
            _module(module_name).add_arguments(p)
    return parser


def _module(name: str):
    return importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
    try:
        return _module(args._module).run(args) or 0
    except (ValueError, FileNotFoundError) as err:
        # Bad input gets one clear line, not a traceback; programming errors still raise.
        print(f"mobilevos {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
