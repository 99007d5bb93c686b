"""Masked means, percentile bootstraps over examples, and the rounding of every reported figure."""
from __future__ import annotations

import math

import torch
from torch import Tensor


def masked_mean(x: Tensor, m: Tensor, dim=0) -> Tensor:
    x = torch.where(m, x.double(), torch.zeros((), dtype=torch.float64))
    return x.sum(dim) / m.sum(dim).clamp(min=1)


def bootstrap_positions(x: Tensor, m: Tensor, n_boot: int = 200, seed: int = 0, q=(0.025, 0.975)) -> tuple:
    """Per-position mean of x over examples (mask m) with a percentile bootstrap band over examples."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(x.shape[0], (n_boot, x.shape[0]), generator=g)
    xs, ms = torch.where(m, x.double(), torch.zeros((), dtype=torch.float64))[idx], m[idx]
    means = xs.sum(1) / ms.sum(1).clamp(min=1)                            # [B, T]
    lo, hi = torch.quantile(means, torch.tensor(q, dtype=torch.float64), dim=0)
    return masked_mean(x, m), lo, hi


def bootstrap_mean(x: Tensor, n_boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    g = torch.Generator().manual_seed(seed)
    x = x.double()
    means = x[torch.randint(len(x), (n_boot, len(x)), generator=g)].mean(1)
    lo, hi = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64))
    return float(x.mean()), float(lo), float(hi)


def rounded(x, digits: int = 5):
    """A reported number: rounded to `digits`, None for None, NaN or infinity (JSON has neither)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def rounded_list(t: Tensor) -> list:
    return [rounded(v) for v in t.tolist()]
