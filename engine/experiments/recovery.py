"""Experiment 3: a wrong token injected at step t0 and the share of examples that recover."""
from __future__ import annotations

from .. import exposure as ex
from ..checkpoint import load
from .registry import experiment


@experiment("recovery", "Error injection and recovery",
            "Under teacher forcing a model never sees its own mistakes, so the sources predict it has not learned "
            "to recover from a wrong token, while training on its own tokens (scheduled sampling) should help. "
            "Here the model's best wrong token is forced at step t0 and the share back on the gold track is "
            "measured against the steps since the injection.")
def recovery(quick: bool, seed: int):
    n = 100 if quick else 1000
    out = {}
    for name in ("addition-gru", "addition-gru-ss"):
        b = load(name)
        inp = ex.make_inputs(b, n, seed=seed)
        out[name] = {f"t0={t0}": ex.recovery(b.model, inp, t0=t0) for t0 in ((1,) if quick else (0, 1, 2, 3))}

    def score(name):
        vals = [r["injected_sequence_correct"] for r in out[name].values() if r.get("injected_sequence_correct") is not None]
        return sum(vals) / len(vals) if vals else float("nan")

    tf, ss = score("addition-gru"), score("addition-gru-ss")
    agrees = ss >= tf
    base = [r["uninjected_sequence_correct"] for r in out["addition-gru"].values()]
    verdict = (f"rest of the sequence right after an injected error (mean over t0): TF-trained {tf:.3f}, "
               f"SS-trained {ss:.3f} (TF-trained without injection {sum(base) / len(base):.3f}): "
               + ("agrees (the SS-trained model recovers at least as often)." if agrees
                  else "does not agree (the TF-trained model recovers more often)."))
    return out, agrees, verdict
