"""Hidden-state drift: D(s) = ||h_FR - h_TF|| against steps s since the inputs first differed; least
squares D(s) = alpha * D(s-1) + eps gives the amplification alpha (> 1: explosive, < 1: stable drift to
the predicted steady gap eps / (1 - alpha)), compared with the measured plateau.

The regime is named only when the data support it: alpha's 95% percentile bootstrap interval (examples
resampled, engine.stats.N_BOOT resamples) must lie wholly above 1 ("explosive") or below 1 ("stable
drift"), and the fitted recursion iterated from the first measured point must stay a distance (>= 0)
over the measured steps; otherwise the regime is "undetermined" and the reason is given."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..stats import N_BOOT
from .stats import resample_weights, rounded

UNDETERMINED = "undetermined"


def _fit(s: Tensor) -> tuple[Tensor, Tensor]:
    """alpha, eps from the summed normal equations s = [..., (n, Sx, Sy, Sxx, Sxy)]."""
    n, sx, sy, sxx, sxy = s.unbind(-1)
    den = n * sxx - sx * sx
    alpha = torch.where(den > 0, (n * sxy - sx * sy) / den.where(den > 0, torch.ones_like(den)),
                        torch.full_like(den, math.nan))
    return alpha, (sy - alpha * sx) / n.clamp(min=1)


def iterate(alpha: float, eps: float, d0: float, steps: int) -> list[float]:
    """D(0) = d0, D(s) = alpha * D(s-1) + eps for s < steps (the fitted recursion)."""
    out = [d0]
    for _ in range(steps - 1):
        out.append(alpha * out[-1] + eps)
    return out


def regime(alpha, eps, lo, hi, d0, steps: int) -> str:
    """The drift regime the fit supports (module docstring)."""
    if alpha is None or lo is None or hi is None or any(map(math.isnan, (alpha, eps, lo, hi))):
        return f"{UNDETERMINED}: too few consecutive off-path steps to fit with an interval"
    if min(iterate(alpha, eps, d0, max(steps, 2))) < 0:
        return f"{UNDETERMINED}: iterating the fit gives negative distances (eps = {eps:.3f})"
    if lo > 1:
        return f"explosive (alpha above 1: 95% interval [{lo:.3f}, {hi:.3f}])"
    if hi < 1:
        return f"stable drift (alpha below 1: 95% interval [{lo:.3f}, {hi:.3f}])"
    return f"{UNDETERMINED}: the 95% interval of alpha [{lo:.3f}, {hi:.3f}] includes 1"


def drift_fit(drift: Tensor, tin_differs: Tensor, valid_fr: Tensor, min_count: int = 10, n_boot: int = N_BOOT,
              seed: int = 0) -> dict:
    """Hidden-state distance against steps since the FR input first differed from the gold input;
    least-squares D(s) = alpha * D(s-1) + eps over consecutive steps of the same examples, with a
    bootstrap interval of alpha and eps over examples."""
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
    # pairs (D_{s-1}, D_s) of the same example, summed per example for the normal equations
    pair = ok[:, :-1] & ok[:, 1:]
    x = torch.where(pair, drift[:, :-1].double(), torch.zeros((), dtype=torch.float64))
    y = torch.where(pair, drift[:, 1:].double(), torch.zeros((), dtype=torch.float64))
    per_ex = torch.stack([pair.double().sum(1), x.sum(1), y.sum(1), (x * x).sum(1), (x * y).sum(1)], 1)   # [n, 5]
    n_pairs = int(pair.sum())
    alpha = eps = a_lo = a_hi = e_lo = e_hi = None
    if n_pairs >= 3:
        a, e = _fit(per_ex.sum(0))
        if not math.isnan(float(a)):
            alpha, eps = float(a), float(e)
            boot = [torch.stack(_fit(w @ per_ex), 1) for w in resample_weights(n, n_boot, seed)]
            lo, hi = torch.nanquantile(torch.cat(boot), torch.tensor([0.025, 0.975], dtype=torch.float64), dim=0)
            a_lo, e_lo, a_hi, e_hi = float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])
    label = regime(alpha, eps, a_lo, a_hi, float(curve[0]), keep)
    stable = label.startswith("stable")
    tail = curve[-max(1, len(curve) // 4):]
    return {"examples": int((first < t).sum()), "curve": [rounded(v) for v in curve],
            "counts": counts[:keep].tolist(), "alpha": rounded(alpha), "eps": rounded(eps),
            "alpha_lo": rounded(a_lo), "alpha_hi": rounded(a_hi), "eps_lo": rounded(e_lo), "eps_hi": rounded(e_hi),
            "regime": label, "predicted_steady_gap": rounded(eps / (1 - alpha)) if stable else None,
            "measured_plateau": rounded(float(tail.mean())), "fit_pairs": n_pairs}
