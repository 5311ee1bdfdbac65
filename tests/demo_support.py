"""Shared by the Gradio Space tests (test_demo.py, test_demo_browser.py): development models and a running app.

The models are *untrained* (ImageNet backbones, random heads, fixed seed): the tests check that the app reports what
the two trackers compute, not accuracy. The student is exported once per pytest session (about 20-40 s on 2 busy
cores); set MOBILEVOS_TEST_STUDENT_ONNX to an existing export folder to skip that, and MOBILEVOS_TEST_TEACHER to
use other teacher weights (e.g. for screenshots with trained models).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "demo" / "app.py"


@dataclass
class DevModels:
    student_onnx: Path
    teacher: Path


def make_dev_models(base: Path) -> DevModels:
    """Untrained teacher weights and a fp32 export of an untrained student (240x320, capacities 1 and 4) in `base`
    (reused when already there)."""
    import torch

    from mobilevos.models.checkpoint import save_network
    from mobilevos.models.network import build_network, student_config, teacher_config

    base.mkdir(parents=True, exist_ok=True)
    teacher = Path(os.environ.get("MOBILEVOS_TEST_TEACHER") or base / "teacher_dev.safetensors")
    if not teacher.is_file() and "MOBILEVOS_TEST_TEACHER" in os.environ:
        raise FileNotFoundError(f"MOBILEVOS_TEST_TEACHER={teacher} does not exist")
    if not teacher.is_file():
        torch.manual_seed(0)
        save_network(teacher, build_network(teacher_config()))
    override = os.environ.get("MOBILEVOS_TEST_STUDENT_ONNX")
    if override:
        return DevModels(Path(override), teacher)
    onnx = base / "student_onnx"
    if not (onnx / "manifest.json").is_file():
        ckpt = base / "student_dev.safetensors"
        torch.manual_seed(0)
        save_network(ckpt, build_network(student_config()))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "export",
                "--checkpoint",
                str(ckpt),
                "--out",
                str(onnx),
                "--variants",
                "fp32",
                "--size",
                "240x320",
                "--capacities",
                "1,4",
                "--data",
                str(base / "no-data"),
                "--eval-frames",
                "3",
                "--eval-sequences",
                "1",
                "--fixture-frames",
                "3",
                "--threads",
                "1",
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return DevModels(onnx, teacher)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`python demo/app.py` on a free loopback port, with its own temporary and Gradio cache folders."""

    def __init__(self, models: DevModels, workdir: Path, *extra: str, env: dict | None = None):
        self.tmp = workdir / "tmp"  # TMPDIR of the app: per-request folders appear (and must vanish) here
        self.cache = workdir / "gradio-cache"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = workdir / "app.log"
        environment = {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "GRADIO_TEMP_DIR": str(self.cache),
            "MOBILEVOS_STUDENT_ONNX": str(models.student_onnx),
            "MOBILEVOS_TEACHER": str(models.teacher),
            **(env or {}),
        }
        environment.pop("GRADIO_SERVER_NAME", None)
        self._log = open(self.log_path, "w")  # noqa: SIM115 (the app's log for its lifetime; closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, str(APP), "--port", str(self.port), *extra],
            cwd=REPO,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.url = self._wait()

    def _wait(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}:\n{self.log()}")
            match = re.search(r"Running on local URL:\s*(http://\S+)", self.log())
            if match:
                return match.group(1).rstrip("/")
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"the app did not start in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def request_folders(self) -> list[Path]:
        return sorted(self.tmp.glob("mobilevos-space-*"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
