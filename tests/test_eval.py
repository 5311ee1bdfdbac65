"""`mobilevos eval`: tracking + scoring a DAVIS-layout folder, and scoring another tool's predictions."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from mobilevos.cli import main
from mobilevos.data.synth_writer import write_dataset
from mobilevos.models.checkpoint import save_network
from mobilevos.models.network import build_network, student_config


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, videos=2, frames=6, size=(48, 64), seed=5)
    return root


def test_ground_truth_as_predictions_scores_100(dataset, tmp_path):
    out = tmp_path / "results.json"
    assert main(["eval", "--data", str(dataset), "--pred", str(dataset / "Annotations"), "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["summary"]["J&F"] == pytest.approx(100.0)
    assert set(results["sequences"]) == {"synth5-00000", "synth5-00001"}


def test_tracking_writes_masks_that_score_the_same_through_pred(dataset, tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = tmp_path / "student.safetensors"
    save_network(ckpt, build_network(student_config(pretrained=False)))
    masks, out = tmp_path / "masks", tmp_path / "tracked.json"
    assert (
        main(
            [
                "eval",
                "--data",
                str(dataset),
                "--model",
                str(ckpt),
                "--short-side",
                "48",
                "--save-masks",
                str(masks),
                "--out",
                str(out),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert "ms/frame" in capsys.readouterr().out
    tracked = json.loads(out.read_text())
    assert len(list((masks / "synth5-00000").glob("*.png"))) == 6
    assert tracked["tracking"]["frames"] == 10 and tracked["tracking"]["memory"].startswith("finite")
    rescored = tmp_path / "rescored.json"
    assert main(["eval", "--data", str(dataset), "--pred", str(masks), "--out", str(rescored)]) == 0
    assert json.loads(rescored.read_text())["summary"] == tracked["summary"]


def test_a_model_runs_at_the_short_side_of_its_record(dataset, tmp_path):
    """Without --short-side a model with a shipped record (`<name>.json`, metrics.short_side) runs at the recorded
    short side (the shipped teacher: 480), one without at 240; --short-side overrides both."""
    torch.manual_seed(0)
    ckpt = tmp_path / "student.safetensors"
    save_network(ckpt, build_network(student_config(pretrained=False)))
    out = tmp_path / "results.json"

    def short_side(*flags: str) -> int:
        args = ["eval", "--data", str(dataset), "--model", str(ckpt), "--sequences", "synth5-00000", "--out", str(out)]
        assert main([*args, "--threads", "1", *flags]) == 0
        return json.loads(out.read_text())["tracking"]["short_side"]

    assert short_side() == 240
    ckpt.with_suffix(".json").write_text(json.dumps({"metrics": {"short_side": 64}}))
    assert short_side() == 64
    assert short_side("--short-side", "32") == 32


def test_missing_predictions_and_checkpoints_give_clear_errors(dataset, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(dataset / "Annotations", partial)
    (partial / "synth5-00000" / "00002.png").unlink()
    assert main(["eval", "--data", str(dataset), "--pred", str(partial)]) == 2
    assert "prediction missing" in capsys.readouterr().err
    assert main(["eval", "--data", str(dataset), "--model", str(tmp_path / "nope.safetensors")]) == 2
    assert "no weight file" in capsys.readouterr().err


def test_alternate_switches_the_input_size_mid_video_and_back(dataset, tmp_path, monkeypatch):
    from mobilevos.eval.command import Alternate, evaluate_model
    from mobilevos.track import Tracker
    from mobilevos.zoom import ZoomConfig

    torch.manual_seed(0)
    net = build_network(student_config(pretrained=False)).eval()
    calls, resize = [], Tracker.resize

    def spy(tracker, short_side):
        calls.append((tracker.frame_index, short_side))
        resize(tracker, short_side)

    monkeypatch.setattr(Tracker, "resize", spy)
    results = evaluate_model(net, dataset, tmp_path / "masks", 48, progress=False, alternate=Alternate(32, 2))
    # 6 frames: switched before frames 2 (to 32) and 4 (back to 48), in each video, each starting at 48
    assert calls == [(1, 32), (3, 48)] * 2
    assert results["tracking"]["alternate"] == {"short_side": 32, "every": 2} and results["tracking"]["frames"] == 10
    assert len(list((tmp_path / "masks" / "synth5-00001").glob("*.png"))) == 6
    with pytest.raises(ValueError, match="zoom"):
        evaluate_model(net, dataset, tmp_path / "z", 48, progress=False, zoom=ZoomConfig(), alternate=Alternate(32, 2))
    assert main(["eval", "--data", str(dataset), "--model", "student", "--alternate", "30"]) == 2
