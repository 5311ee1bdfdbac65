"""Backbone weights, network stage shapes, and the memory-read math."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mobilevos.data.davis import load_frame
from mobilevos.models import memory
from mobilevos.models.efficientnet_lite import (
    PIXEL_MEAN,
    PIXEL_STD,
    Conv2dSame,
    EfficientNetLite,
    block_plan,
    load_pretrained,
    pretrained_path,
)
from mobilevos.models.network import SpaceTimeNetwork, build_network, student_config, teacher_config


@pytest.mark.parametrize(
    "variant,params,blocks", [("lite0", 4_652_008, 16), ("lite1", 5_416_680, 21), ("lite2", 6_092_072, 21)]
)
def test_pretrained_weights_load_strictly(variant, params, blocks):
    model = EfficientNetLite(variant)
    state = torch.load(pretrained_path(variant), map_location="cpu", weights_only=True)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model._blocks) == blocks


def test_pretrained_lite0_recognises_a_black_swan(davis_val):
    """TF-SAME padding, BN eps and normalisation must all be right for the ImageNet head to work."""
    frame = load_frame(davis_val / "JPEGImages" / "blackswan" / "00000.jpg")
    x = torch.from_numpy(np.array(frame)).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(x, size=(224, 398), mode="bilinear", antialias=True)[..., 87:311]
    model = EfficientNetLite("lite0")
    load_pretrained(model, "lite0")
    with torch.no_grad():
        probs = model.eval()((x - PIXEL_MEAN) / PIXEL_STD).softmax(1)
    assert probs.argmax().item() == 100  # ImageNet class 100 = black swan
    assert probs.max().item() > 0.5


def test_tf_same_padding_is_asymmetric_for_stride_two():
    assert Conv2dSame(8, 8, 3, 2).same_pad == (0, 1, 0, 1)
    assert Conv2dSame(8, 8, 5, 2).same_pad == (1, 2, 1, 2)
    conv = Conv2dSame(1, 1, 3, 1)
    assert conv.same_pad is None and conv.padding == (1, 1)
    # `padded` is the padding the convolution applies: the unpadded convolution of it gives the same output
    x = torch.randn(1, 4, 10, 12)
    for kernel, stride in ((3, 1), (3, 2), (5, 2)):
        conv = Conv2dSame(4, 4, kernel, stride, groups=4)
        bare = torch.nn.functional.conv2d(conv.padded(x), conv.weight, stride=stride, groups=4)
        assert torch.allclose(bare, conv(x), atol=1e-6), (kernel, stride)


def test_truncated_backbone_keeps_pretrained_blocks_and_extra_channels_start_at_zero():
    model = EfficientNetLite("lite0", 8, in_channels=5)
    load_pretrained(model, "lite0")
    full = torch.load(pretrained_path("lite0"), map_location="cpu", weights_only=True)
    stem = model._conv_stem.weight
    assert torch.equal(stem[:, :3], full["_conv_stem.weight"]) and stem[:, 3:].abs().sum() == 0
    assert torch.equal(model._blocks[7]._project_conv.weight, full["_blocks.7._project_conv.weight"])
    assert model.info[-1].stride == 16 and len(block_plan("lite2")) == 21


@pytest.fixture(scope="module", params=["student", "teacher"])
def net(request) -> SpaceTimeNetwork:
    cfg = (student_config if request.param == "student" else teacher_config)(pretrained=False)
    torch.manual_seed(0)
    return build_network(cfg).eval()


def test_stage_shapes(net):
    b, n, h, w = 2, 3, 64, 96
    with torch.no_grad():
        feats = net.encode_key(torch.rand(b, 3, h, w))
        assert feats.key.shape == (b, net.cfg.key_dim, h // 16, w // 16)
        value = net.encode_value(feats, torch.rand(b, n, h, w))
        assert value.shape == (b, n, net.cfg.value_dim, h // 16, w // 16)
        seg = net.segment(feats, torch.stack([feats.key] * 2, 2), torch.stack([value] * 2, 3))
    assert seg.prob.shape == (b, n, h, w) and seg.logits.shape == (b, n + 1, h, w)
    assert seg.embed.shape == (b, n, net.decoder.embed_dim, h // 4, w // 4)
    total = seg.prob.sum(1)
    assert torch.all(total <= 1 + 1e-5) and torch.all(seg.prob >= 0)
    assert torch.allclose(torch.softmax(seg.logits, 1).sum(1), torch.ones(b, h, w), atol=1e-5)
    # the probabilities, computed as odds over their sum (no log and exp), are the softmax of the logits
    assert torch.allclose(seg.probs, torch.softmax(seg.logits, 1), atol=1e-6) and seg.probs.shape == (b, n + 1, h, w)


def test_padded_object_slots_get_no_probability(net):
    with torch.no_grad():
        feats = net.encode_key(torch.rand(1, 3, 32, 48))
        value = net.encode_value(feats, torch.rand(1, 2, 32, 48))
        seg = net.segment(feats, feats.key[:, :, None], value[:, :, :, None], valid=torch.tensor([[1.0, 0.0]]))
    assert seg.prob[0, 1].max() < 1e-5 and seg.prob[0, 0].max() > 0


def test_student_decoder_reads_the_previous_entry_in_place_and_only_the_last_entry():
    torch.manual_seed(0)
    net = build_network(student_config(pretrained=False)).eval()
    assert net.cfg.previous_value
    with torch.no_grad():
        feats = net.encode_key(torch.rand(1, 3, 32, 48))
        value = net.encode_value(feats, torch.rand(1, 1, 32, 48))
        keys = torch.stack([feats.key] * 2, 2)
        base = net.segment(feats, keys, torch.stack([value, value], 3)).prob
        # Same attention readout (identical keys: equal weights), but the last entry's value mirrored in place.
        mirrored = net.segment(feats, keys, torch.stack([value.flip(-1), value], 3).flip(3)).prob
        swapped_first = net.segment(feats, keys, torch.stack([value.flip(-1), value], 3)).prob
    assert (mirrored - base).abs().max() > 1e-4  # the previous value enters position by position
    assert not torch.allclose(mirrored, swapped_first)  # ... and it is the last entry, not the first


def test_forward_is_not_the_api_and_sizes_must_be_multiples_of_16(net):
    with pytest.raises(NotImplementedError):
        net(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of 16"):
        net.encode_key(torch.rand(1, 3, 40, 48))


def test_similarity_is_negative_squared_distance_up_to_a_query_constant():
    torch.manual_seed(0)
    mk, qk = torch.randn(1, 8, 2, 3, 4), torch.randn(1, 8, 3, 4)
    sim = memory.similarity(mk, qk)  # [1, 24, 12]
    m, q = mk.reshape(8, -1).T, qk.reshape(8, -1).T
    dist = -((m[:, None] - q[None]) ** 2).sum(-1) / math.sqrt(8)
    # The difference is the same for every memory position (|q|^2 / sqrt(CK)), so the softmax is unchanged.
    diff = sim[0] - dist
    assert torch.allclose(diff, diff[:1].expand_as(diff), atol=1e-4)
    assert torch.allclose(memory.affinity(mk, qk)[0], torch.softmax(dist, 0), atol=1e-5)


def test_readout_of_a_single_identical_memory_frame_returns_values_where_keys_are_far_apart():
    key = torch.zeros(1, 2, 1, 2)
    key[0, 0, 0, 0], key[0, 1, 0, 1] = 50.0, 50.0  # two positions with very different keys
    value = torch.tensor([3.0, -1.0]).view(1, 1, 1, 1, 1, 2)
    out = memory.read_memory(key, key[:, :, None], value)
    assert torch.allclose(out.flatten(), torch.tensor([3.0, -1.0]), atol=1e-4)


def test_soft_aggregation_keeps_background_first_and_sums_to_one():
    prob = torch.tensor([0.9, 0.2]).view(1, 2, 1, 1)
    probs, logits = memory.aggregate(prob)
    assert torch.allclose(probs, torch.softmax(logits, 1), atol=1e-7)
    out = probs.flatten()
    assert out.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert out.argmax().item() == 1 and out[0] < out[1] and out[2] < out[1]
