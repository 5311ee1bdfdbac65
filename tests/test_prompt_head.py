"""The prompt head: shapes, the click simulator, a few training steps, and the evaluation's arithmetic."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mobilevos.data.davis import read_sequence
from mobilevos.data.splits import split_sequences
from mobilevos.data.synth import generate_clip
from mobilevos.data.synth_writer import write_dataset
from mobilevos.eval.prompt import annotated_frames, evaluate, track_from_clicks
from mobilevos.models.checkpoint import find_shipped, load_network
from mobilevos.models.network import build_network, student_config
from mobilevos.models.prompt_head import PromptHead, PromptHeadConfig, load_head, read_head_metadata, save_head
from mobilevos.prompts import PromptSegmenter, centre_click, index_mask, next_click, prompt_maps, tight_box
from mobilevos.train.prompt import PromptTrainConfig, mask_loss, render, train, train_step


def test_head_shapes_and_size_budget(tmp_path):
    head = PromptHead(PromptHeadConfig()).eval()
    feats = torch.rand(2, 112, 15, 20), torch.rand(2, 40, 30, 40), torch.rand(2, 24, 60, 80)
    assert head(*feats, torch.rand(2, 4, 240, 320)).shape == (2, 1, 240, 320)
    assert sum(p.numel() for p in head.parameters()) <= 300_000
    save_head(tmp_path / "h.safetensors", head, {"step": 3})
    again = load_head(tmp_path / "h.safetensors")
    assert again.cfg == head.cfg
    torch.testing.assert_close(again(*feats, torch.zeros(2, 4, 240, 320)), head(*feats, torch.zeros(2, 4, 240, 320)))


def test_head_matches_the_student_key_encoder_features():
    net = build_network(student_config(pretrained=False)).eval()
    with torch.no_grad():
        f = net.encode_key(torch.rand(1, 3, 64, 96))
        logits = PromptHead(PromptHeadConfig())(f.f16, f.f8, f.f4, torch.zeros(1, 4, 64, 96))
    assert logits.shape == (1, 1, 64, 96)


def test_clicks_land_inside_the_error_regions():
    target = np.zeros((40, 60), bool)
    target[5:25, 5:35] = True
    pred = np.zeros_like(target)
    pred[5:25, 5:20] = True  # misses the right half: a false negative 20x15
    pred[30:38, 40:58] = True  # and a smaller false positive 8x18
    click = next_click(pred, target)
    assert click.positive and target[click.y, click.x] and not pred[click.y, click.x]
    pred[5:25, 5:35] = True  # fixed: only the false positive is left
    click = next_click(pred, target)
    assert not click.positive and pred[click.y, click.x] and not target[click.y, click.x]
    assert next_click(target, target) is None
    rng = np.random.default_rng(0)
    assert all(target[c.y, c.x] for c in (centre_click(target, True, rng) for _ in range(20)))
    assert centre_click(target, True) == (14, 14, True)  # the first point of the ridge 10 px from every edge
    corner = np.zeros((40, 60), bool)
    corner[:10, :10] = True
    assert centre_click(corner, True) == (4, 4, True)  # the frame's border counts as the region's edge


def test_prompt_maps_put_clicks_and_box_where_they_belong():
    click = centre_click(np.pad(np.ones((4, 4), bool), 6), True)
    maps = prompt_maps([click, click._replace(positive=False)], (2, 3, 5, 7), None, (32, 32), 2.0, scale=(2.0, 2.0))
    assert maps.shape == (4, 32, 32)
    assert maps[0].max() > 0.8 and maps[1].max() > 0.8 and maps[3].max() == 0
    assert maps[2, 4:12, 6:16].min() == 1 and maps[2].sum() == 8 * 10


def test_a_few_training_steps_on_one_synthetic_frame_reduce_the_loss():
    torch.manual_seed(0)
    cfg = PromptTrainConfig(crop=(48, 64), batch=2, box_prob=0.0, max_rounds=1, lr=1e-2)
    frames, masks = generate_clip(3, 1, cfg.crop)
    net = build_network(student_config(pretrained=False)).eval()
    with torch.no_grad():
        f = net.encode_key(torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255))
    feats = [t.expand(cfg.batch, -1, -1, -1) for t in (f.f16, f.f8, f.f4)]
    target = np.repeat(masks[:1] == 1, cfg.batch, 0)
    head = PromptHead(cfg.head)
    fixed = render([[centre_click(m, True)] for m in target], [None] * cfg.batch, None, cfg)

    def loss() -> float:
        with torch.no_grad():
            return mask_loss(head(*feats, fixed), torch.from_numpy(target[:, None]).float()).item()

    before = loss()
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(0)
    for _ in range(10):
        train_step(head, opt, feats, target, cfg, rng)
    assert loss() < 0.8 * before


class _Stub:
    """A segmenter that reads its answer off the index-mask "image": the object under the first click (or the box's
    centre), which is perfect, or every pixel."""

    def __init__(self, everything: bool = False):
        self.everything = everything

    def set_image(self, image):
        self.index = image

    def reset(self):
        pass

    def predict(self, clicks, box=None):
        if self.everything:
            return np.ones(self.index.shape, np.float32)
        y, x = (clicks[0].y, clicks[0].x) if clicks else ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
        return (self.index == self.index[y, x]).astype(np.float32)


def test_evaluation_scores_a_perfect_and_a_constant_predictor():
    index = np.zeros((20, 30), np.uint8)
    index[2:8, 3:9] = 1  # 36 pixels
    index[10:20, 10:30] = 2  # 200 pixels
    index[0, :] = 255  # 30 void pixels: not scored
    perfect = evaluate(_Stub(), [("a", index, index)])
    assert perfect["mean"] == {"clicks_1": 1.0, "clicks_3": 1.0, "clicks_5": 1.0, "box": 1.0}
    assert [(r["sequence"], r["object"]) for r in perfect["objects"]] == [("a", 1), ("a", 2)]
    everything = evaluate(_Stub(everything=True), [("a", index, index)])
    expected = (36 / 570 + 200 / 570) / 2  # 600 pixels, 30 of them void
    assert everything["mean"] == pytest.approx(
        {"clicks_1": expected, "clicks_3": expected, "clicks_5": expected, "box": expected}
    )


class _Replay(_Stub):
    """The stub, handed the index masks of the frames it will be shown, in order (real frames are RGB)."""

    def __init__(self, masks, everything: bool = False):
        super().__init__(everything)
        self.masks = iter(masks)

    def set_image(self, image):
        self.index = next(self.masks)


def test_index_mask_gives_each_pixel_its_most_probable_object():
    a, b = np.array([[0.9, 0.6, 0.2, 0.4]]), np.array([[0.1, 0.7, 0.3, 0.5]])
    assert index_mask({1: a, 3: b}).tolist() == [[1, 3, 0, 0]]  # 0.5 is not above 0.5
    with pytest.raises(ValueError, match="no object"):
        index_mask({})


def test_tracking_from_perfect_clicks_scores_as_tracking_from_the_ground_truth(tmp_path):
    root = tmp_path / "clips"
    write_dataset(root, videos=2, frames=5, size=(48, 64), seed=4)
    firsts = [read_sequence(root, n).load_mask(0) for n in split_sequences(root, "all")]
    assert max(len(np.unique(m)) for m in firsts) > 2  # several objects: index_mask puts each back
    torch.manual_seed(0)
    net = build_network(student_config(pretrained=False)).eval()
    perfect = track_from_clicks(net, _Replay(firsts), root, "all", clicks=3, short_side=48)
    assert set(perfect["first_frame_iou"].values()) == {1.0}
    assert perfect["clicks_3"]["summary"] == pytest.approx(perfect["ground_truth"]["summary"])
    # Clicks that mark every pixel: the first mask is all the last object, and tracking starts from it.
    wrong = track_from_clicks(net, _Replay(firsts, everything=True), root, "all", clicks=3, short_side=48)
    assert max(wrong["first_frame_iou"].values()) < 0.7
    assert wrong["ground_truth"]["summary"] == perfect["ground_truth"]["summary"]
    assert wrong["clicks_3"]["summary"]["J&F"] != pytest.approx(perfect["clicks_3"]["summary"]["J&F"])


def test_tight_box_is_inclusive():
    m = np.zeros((10, 10), bool)
    m[2:5, 3:8] = True
    assert tight_box(m) == (2, 3, 4, 7)


def test_training_checkpoints_and_resumes(tmp_path):
    if find_shipped("student") is None:
        pytest.skip("no student weights on the search path")
    cfg = PromptTrainConfig(crop=(48, 64), pool=4, refresh=1, batch=2, steps=2, warmup=1)
    train(cfg, tmp_path, fresh=True, synth_only=True)
    assert read_head_metadata(tmp_path / "last.safetensors")[1]["step"] == 2
    train(dataclasses.replace(cfg, steps=3), tmp_path, synth_only=True)
    assert read_head_metadata(tmp_path / "last.safetensors")[1]["step"] == 3
    with pytest.raises(ValueError, match="another architecture"):
        train(dataclasses.replace(cfg, head=PromptHeadConfig(widths=(32, 16, 8))), tmp_path, synth_only=True)


def test_mobilevos_train_prompt_dispatches_to_the_prompt_trainer(tmp_path, monkeypatch):
    """`mobilevos train prompt` builds the prompt head's config from the shared flags and runs its trainer."""
    from mobilevos import cli
    from mobilevos.train import prompt

    calls = []
    monkeypatch.setattr(prompt, "train", lambda cfg, out, fresh: calls.append((cfg, out, fresh)))
    assert cli.main(["train", "prompt", "--out", str(tmp_path), "--steps", "7", "--set", "batch=3", "--fresh"]) in (
        0,
        None,
    )
    ((cfg, out, fresh),) = calls
    assert (cfg.steps, cfg.batch, out, fresh) == (7, 3, str(tmp_path), True)
    assert json.loads((tmp_path / "run.json").read_text())["git_commit"]  # provenance, for `mobilevos ship`


def test_ship_copies_a_prompt_head_byte_for_byte_with_a_record_the_evaluation_reproduces(
    tmp_path, monkeypatch, davis_train
):
    import mobilevos.train.ship as ship

    if find_shipped("student") is None:
        pytest.skip("no student weights on the search path")
    run = tmp_path / "run"
    train(PromptTrainConfig(crop=(48, 64), pool=4, refresh=1, batch=2, steps=2, warmup=1), run, True, True)
    (run / "run.json").write_text(
        json.dumps({"command": "mobilevos train prompt --out run", "git_commit": "abc", "note": "tiny"})
    )
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(ship, "MODELS_DIR", models)
    val = tmp_path / "val"
    write_dataset(val, videos=2, frames=3, size=(64, 96), seed=3)
    with pytest.raises(ValueError, match="fp32"):
        ship.ship(run, "prompt_head", "fp16", val, 240, 1, davis_train, "last")
    ship.ship(run, "prompt_head", "fp32", val, 240, 1, davis_train, "last")
    assert (models / "prompt_head.safetensors").read_bytes() == (run / "last.safetensors").read_bytes()
    saved = json.loads((models / "prompt_head.json").read_text())
    assert (saved["steps"], saved["command"], saved["run_notes"]) == (
        2,
        "mobilevos train prompt --out run",
        {"note": "tiny"},
    )
    assert saved["data"]["split"].startswith("train") and "nothing was chosen" in saved["choice"]
    selection = saved["metrics"]["selection_first_frames"]
    assert {k: v["objects"] for k, v in selection.items()} == {"240x320": 6, "short_side_240": 6}
    # The record's numbers are what `python -m mobilevos.eval.prompt` gives for the shipped file.
    head = load_head(models / "prompt_head.safetensors")
    again = evaluate(PromptSegmenter(load_network("student"), head, 240), annotated_frames(val, "all"))
    val_scores = saved["metrics"]["davis16_val_first_frames"]["short_side_240"]
    assert val_scores["clicks_3"] == pytest.approx(again["mean"]["clicks_3"], abs=1e-4)
    assert val_scores["command"].endswith(f"--root {val} --split all --size 240")
