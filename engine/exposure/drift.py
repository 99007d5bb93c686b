"""Hidden-state drift: D(s) = ||h_FR - h_TF|| against steps s since the inputs first differed; least
squares D(s) = alpha * D(s-1) + eps gives the amplification alpha (> 1: explosive, < 1: stable drift to
the predicted steady gap eps / (1 - alpha)), compared with the measured plateau."""
from __future__ import annotations

import torch
from torch import Tensor

from .stats import rounded


def drift_fit(drift: Tensor, tin_differs: Tensor, valid_fr: Tensor, min_count: int = 10) -> dict:
    """Hidden-state distance against steps since the FR input first differed from the gold input;
    least-squares D(s) = alpha * D(s-1) + eps over consecutive steps of the same examples."""
    n, t = drift.shape
    differs = tin_differs & valid_fr
    first = torch.where(differs.any(1), differs.float().argmax(1), torch.full((n,), t))   # first differing input
    s = torch.arange(t)[None, :] - first[:, None]
    ok = (s >= 0) & valid_fr & torch.isfinite(drift)
    if not ok.any():
        return {"examples": 0, "curve": [], "counts": [], "alpha": None, "eps": None, "regime": "no drift: "
                "free running never left the gold inputs"}
    counts = torch.bincount(s[ok], minlength=t)
    sums = torch.bincount(s[ok], weights=drift[ok].double(), minlength=t)
    keep = int((counts >= min_count).sum()) if (counts >= min_count).any() else 1
    curve = (sums / counts.clamp(min=1))[:keep]
    # pairs (D_{s-1}, D_s) of the same example
    prev, cur = drift[:, :-1], drift[:, 1:]
    pair = ok[:, :-1] & ok[:, 1:]
    x, y = prev[pair].double(), cur[pair].double()
    alpha = eps = None
    regime = "too few consecutive off-path steps to fit"
    if x.numel() >= 3 and float(x.var()) > 0:
        A = torch.stack([x, torch.ones_like(x)], 1)
        sol = torch.linalg.lstsq(A, y[:, None]).solution.squeeze(1)
        alpha, eps = float(sol[0]), float(sol[1])
        regime = "explosive (alpha > 1)" if alpha > 1 else "stable drift (alpha < 1)"
    predicted = eps / (1 - alpha) if alpha is not None and alpha < 1 else None
    tail = curve[-max(1, len(curve) // 4):]
    return {"examples": int((first < t).sum()), "curve": [rounded(v) for v in curve],
            "counts": counts[:keep].tolist(), "alpha": rounded(alpha), "eps": rounded(eps), "regime": regime,
            "predicted_steady_gap": rounded(predicted), "measured_plateau": rounded(float(tail.mean())),
            "fit_pairs": int(x.numel())}
