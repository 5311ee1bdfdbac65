"""Memory read as plain functions, shared by training (clip unroll), the Python tracker and the ONNX step graph.

Shapes: query key `qk` [B, CK, h, w]; memory keys `mk` [B, CK, T, h, w] (T memory frames); memory values `mv`
[B, N, CV, T, h, w] (N objects). Similarity is the negative squared L2 distance (STCN), scaled by 1/sqrt(CK):
-|q - k|^2 = 2 q.k - |k|^2 - |q|^2, and |q|^2 is constant over the memory, so it drops out of the softmax.
"""

from __future__ import annotations

import math

import torch


def similarity(mk: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
    """[B, M, Q] scaled negative squared L2 distance (up to a per-query constant) between memory and query keys."""
    b, ck = qk.shape[:2]
    mk = mk.reshape(b, ck, -1)  # [B, CK, M]
    qk = qk.reshape(b, ck, -1)  # [B, CK, Q]
    a_sq = mk.pow(2).sum(1).unsqueeze(2)  # [B, M, 1]
    ab = mk.transpose(1, 2) @ qk  # [B, M, Q]
    return (2 * ab - a_sq) / math.sqrt(ck)


def affinity(mk: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
    """[B, M, Q] softmax over memory positions of `similarity`."""
    return torch.softmax(similarity(mk, qk), dim=1)


def readout(aff: torch.Tensor, mv: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Per-object memory readout [B, N, CV, h, w] from an affinity [B, M, Q] and memory values [B, N, CV, T, h, w]."""
    b, n, cv = mv.shape[:3]
    out = mv.reshape(b, n * cv, -1) @ aff  # [B, N*CV, Q]
    return out.reshape(b, n, cv, *hw)


def read_memory(qk: torch.Tensor, mk: torch.Tensor, mv: torch.Tensor) -> torch.Tensor:
    """Readout [B, N, CV, h, w] of memory (`mk`, `mv`) for query key `qk`."""
    return readout(affinity(mk, qk), mv, qk.shape[-2:])


def aggregate(prob: torch.Tensor, eps: float = 1e-7) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft aggregation (STM) of per-object probabilities [B, N, H, W] into (probabilities, logits), each
    [B, N+1, H, W] with background first.

    Background is the probability that no object is present; the logits are each channel's log-odds, so every
    object's evidence stays independent of the others, and the probabilities are their softmax — computed as the
    odds over their sum, without a log and an exp per pixel (they cost 8% of the WASM graph at full resolution; the
    graph has no use for the logits, which only the losses read, so they are not exported).
    """
    bg = torch.prod(1 - prob, dim=1, keepdim=True)
    p = torch.cat([bg, prob], 1).clamp(eps, 1 - eps)
    odds = p / (1 - p)
    return odds / odds.sum(1, keepdim=True), torch.log(odds)
