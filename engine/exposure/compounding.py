"""The compounding model of the sources: c = NLL per step on the gold path, d = NLL per step off it,
e = probability of leaving the path per step (all measured); predicted
Delta_NLL(T) = (d - c) * sum_{t=1..T} [1 - (1 - e)^(t-1)] against the measured cumulative gap
sum_{t<=T} (NLL_FR(t) - NLL_TF(t)), with the fit error."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .stats import masked_mean, rounded


def compounding_delta(c: float, d: float, e: float, T: int) -> np.ndarray:
    """Delta_NLL(T') = (d - c) * sum_{t=1..T'} [1 - (1 - e)^(t-1)] for T' = 1..T (the two-state model)."""
    t = np.arange(1, T + 1)
    return (d - c) * np.cumsum(1.0 - (1.0 - e) ** (t - 1))


def fit_compounding(nll_fr: Tensor, nll_tf: Tensor, on_path: Tensor, left: Tensor, valid_fr: Tensor) -> dict:
    """Measure c, d, e from per-step NLLs on / off the gold path and compare the two-state model's
    cumulative gap with the measured one. nll_fr: -log p(gold_t | own prefix); nll_tf: under TF."""
    off = valid_fr & ~on_path
    on = on_path & valid_fr
    c = float(masked_mean(nll_fr, on, dim=None)) if on.any() else float("nan")
    d = float(masked_mean(nll_fr, off, dim=None)) if off.any() else c
    e = float(left.sum() / on_path.sum().clamp(min=1))
    both = valid_fr & torch.isfinite(nll_fr)
    gap_t = masked_mean(nll_fr - nll_tf, both)                          # [T] mean gap per step
    keep = both.sum(0) > 0
    measured = torch.cumsum(gap_t[keep], 0).numpy()
    T = len(measured)
    predicted = compounding_delta(c, d, e, T) if T else np.zeros(0)
    rmse = float(np.sqrt(np.mean((predicted - measured) ** 2))) if T else float("nan")
    scale = float(np.abs(measured).max()) if T else 0.0
    return {"c": rounded(c), "d": rounded(d), "e": rounded(e), "steps": T, "examples": both.sum(0)[keep].tolist(),
            "measured_cumulative_gap": [rounded(x) for x in measured],
            "predicted_cumulative_gap": [rounded(x) for x in predicted],
            "rmse": rounded(rmse), "relative_rmse": rounded(rmse / scale) if scale > 0 else None,
            "final_measured": rounded(measured[-1]) if T else None,
            "final_predicted": rounded(predicted[-1]) if T else None}
