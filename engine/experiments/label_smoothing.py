"""Experiment 5: label smoothing vs calibration (ECE under TF and FR contexts)."""
from __future__ import annotations

from .. import exposure as ex
from .registry import experiment


@experiment("label-smoothing", "Label smoothing vs calibration",
            "Label smoothing spreads probability away from the top token, which Müller et al. (2019) show reduces "
            "the over-confidence of networks trained with hard targets and so lowers the calibration error, "
            "while a model that was already calibrated can become under-confident. Here expected calibration "
            "error and the reliability diagram are measured under teacher-forced and free-running contexts.")
def label_smoothing(quick: bool, seed: int):
    n = 100 if quick else 1000
    out = {}
    for name in ("addition-gru", "addition-gru-ls"):
        res = ex.analyze(name, n=n, seed=seed, n_boot=50, oracle=False)
        out[name] = {"calibration": res["calibration"], "sequence": res["sequence"]}
    e = {k: (v["calibration"]["tf_ece"], v["calibration"]["fr_ece"]) for k, v in out.items()}
    agrees = e["addition-gru-ls"][0] <= e["addition-gru"][0]
    # is the base over-confident? confidence above accuracy on average over bins, weighted by count
    bins = out["addition-gru"]["calibration"]["tf_bins"]
    tot = sum(b["count"] for b in bins if b["count"])
    over = sum(b["count"] * (b["confidence"] - b["accuracy"]) for b in bins if b["count"]) / max(1, tot)
    verdict = (f"ECE under TF / FR: base {e['addition-gru'][0]:.4f} / {e['addition-gru'][1]:.4f}, label smoothing "
               f"{e['addition-gru-ls'][0]:.4f} / {e['addition-gru-ls'][1]:.4f} (base mean confidence - accuracy "
               f"{over:+.4f}): " + ("agrees (smoothing lowers the calibration error)." if agrees else
                                    "does not agree: the base was not over-confident enough for smoothing to help; "
                                    "it makes the model under-confident."))
    return out, agrees, verdict
