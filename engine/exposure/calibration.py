"""Calibration: expected calibration error and the reliability-diagram bins."""
from __future__ import annotations

import torch
from torch import Tensor

from .stats import rounded


def ece(conf: Tensor, correct: Tensor, n_bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error (equal-width confidence bins) and the reliability-diagram bins."""
    conf, correct = conf.double().flatten(), correct.double().flatten()
    if conf.numel() == 0:
        return float("nan"), []
    b = (conf * n_bins).long().clamp(0, n_bins - 1)
    count = torch.bincount(b, minlength=n_bins).double()
    s_conf = torch.bincount(b, weights=conf, minlength=n_bins)
    s_acc = torch.bincount(b, weights=correct, minlength=n_bins)
    nz = count > 0
    gap = (s_acc - s_conf).abs()
    value = float(gap[nz].sum() / count.sum())
    bins = [{"lo": i / n_bins, "hi": (i + 1) / n_bins, "count": int(count[i]),
             "confidence": rounded(s_conf[i] / count[i]) if nz[i] else None,
             "accuracy": rounded(s_acc[i] / count[i]) if nz[i] else None} for i in range(n_bins)]
    return value, bins
