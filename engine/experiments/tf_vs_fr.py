"""Experiment 1: teacher forcing vs free running, TF-trained vs SS-trained adders, decided by a paired
test over held-out sums (several seeds of the test sample)."""
from __future__ import annotations

import numpy as np

from .. import exposure as ex
from ..checkpoint import load
from ..exposure.passes import make_inputs, masks, tf_fr_pass
from ..stats import N_BOOT, bootstrap_ci, mcnemar_exact, paired_bootstrap, wilson
from .registry import experiment
from .verdict import make_verdict

MODELS = ("addition-gru", "addition-gru-ss")          # TF-trained, SS-trained
PREDICTION = ("Scheduled sampling narrows the gap between free-running and teacher-forced error: the "
              "SS-trained adder makes fewer extra errors on its own prefixes than the TF-trained one.")


def per_example(bundle, n: int, seed: int) -> dict:
    """Per held-out sum (the test sample of this seed): TF and FR error tokens and FR exact match."""
    inp = make_inputs(bundle, n, seed=seed)
    r = tf_fr_pass(bundle.model, inp)
    gold, valid = r["gold"], masks(r)["valid"]
    tf_err = ((r["tf_arg"] != gold) & valid).sum(1).numpy().astype(float)
    fr_err = ((r["fr_tok"] != gold) & valid).sum(1).numpy().astype(float)
    preds = [bundle.tokenizer.decode(row) for row in r["fr_tok"].tolist()]
    em = np.array([p == t for p, t in zip(preds, inp.refs)])
    return {"tf_err": tf_err, "fr_err": fr_err, "em": em, "tokens": int(valid.sum())}


def _sel(res: dict) -> dict:
    keep = ("per_position", "sequence", "calibration")
    return {k: res[k] for k in keep if k in res}


@experiment("tf-vs-fr", "Teacher forcing vs free running, per position (TF-trained vs SS-trained)",
            "Bengio et al. (2015) predict that a teacher-forced model's errors grow when it runs on its own "
            "prefixes, and that scheduled sampling narrows the gap between teacher-forced and free-running "
            "error. Here both addition models are measured on the same held-out sums (a fresh test sample per "
            "seed), and the per-sum gap of the two models is compared by a paired bootstrap.")
def tf_vs_fr(quick: bool, seeds: tuple, progress):
    n = 100 if quick else 1000
    bundles = {m: load(m) for m in MODELS}
    pooled = {m: {"tf_err": [], "fr_err": [], "em": []} for m in MODELS}
    per_seed, tokens = [], 0
    for s in seeds:
        progress(f"tf-vs-fr: seed {s} (test sample of {n} sums, both models)")
        row = {"seed": s}
        for m, b in bundles.items():
            e = per_example(b, n, s)
            for k in pooled[m]:
                pooled[m][k].append(e[k])
            row[m] = {"tf_errors": int(e["tf_err"].sum()), "fr_errors": int(e["fr_err"].sum()),
                      "exact_match": float(e["em"].mean())}
            tokens = e["tokens"] if m == MODELS[0] else tokens
        d_tf = row[MODELS[0]]["fr_errors"] - row[MODELS[0]]["tf_errors"]
        d_ss = row[MODELS[1]]["fr_errors"] - row[MODELS[1]]["tf_errors"]
        row["gap_difference_per_sum"] = (d_tf - d_ss) / n
        per_seed.append(row)
    cat = {m: {k: np.concatenate(v) for k, v in d.items()} for m, d in pooled.items()}
    gap = {m: cat[m]["fr_err"] - cat[m]["tf_err"] for m in MODELS}        # extra FR error tokens per sum
    est, lo, hi = paired_bootstrap(gap[MODELS[1]], gap[MODELS[0]], n_boot=N_BOOT, seed=0)   # TF gap - SS gap
    p = mcnemar_exact(cat[MODELS[0]]["em"], cat[MODELS[1]]["em"])
    total = len(gap[MODELS[0]])
    models = {}
    for m in MODELS:
        k = int(cat[m]["em"].sum())
        em, em_lo, em_hi = wilson(k, total)
        g, g_lo, g_hi = bootstrap_ci(gap[m], seed=1)
        models[m] = {"exact_match": em, "exact_match_lo": em_lo, "exact_match_hi": em_hi,
                     "tf_errors": int(cat[m]["tf_err"].sum()), "fr_errors": int(cat[m]["fr_err"].sum()),
                     "gap_per_sum": g, "gap_per_sum_lo": g_lo, "gap_per_sum_hi": g_hi}
    a, b = MODELS
    text = (f"Over {len(seeds)} test samples ({total:,} sums): free running adds {models[a]['fr_errors'] - models[a]['tf_errors']} "
            f"error tokens to teacher forcing for the TF-trained adder and {models[b]['fr_errors'] - models[b]['tf_errors']} "
            f"for the SS-trained one; the difference per sum is {est:.4f} [{lo:.4f}, {hi:.4f}]. Free-running exact "
            f"match {models[a]['exact_match']:.3f} vs {models[b]['exact_match']:.3f} (McNemar exact p = {p:.2g}).")
    verdict = make_verdict(
        prediction=PREDICTION,
        test=(f"paired bootstrap ({N_BOOT} resamples) over held-out sums, pooled over {len(seeds)} seeds of the test "
              f"sample ({n} sums each), of (FR − TF error tokens of {a}) − (FR − TF error tokens of {b}); 95% "
              "percentile interval; McNemar's exact test on free-running exact match beside it"),
        estimate=est, lo=lo, hi=hi, text=text, p=p, n=total)
    progress("tf-vs-fr: per-position analysis of the first seed for the charts")
    charts = {m: _sel(ex.analyze(m, n=n, seed=seeds[0], n_boot=N_BOOT, oracle=False, bundle=bundles[m]))
              for m in MODELS}
    data = {"examples_per_seed": n, "tokens_per_seed": tokens, "models": models, "per_seed": per_seed,
            "charts_seed": seeds[0], "analysis": charts}
    return data, verdict
