"""Measure a fine-tuning remedy against its base and a control, with the declared paired tests of
engine.stats (the results under results/remedies/ come from here).

    python -m engine.training.remedies seq2seq --models addition-gru addition-gru-scst runs/remedies/ctl \
        --out results/remedies/scst-control.json
    python -m engine.training.remedies oracle --models hmm-gpt hmm-gpt-ss --out results/remedies/hmm-gpt-ss.json

seq2seq: greedy exact match of every model on the same fresh test samples (the task's held-out test pool,
one sample of `n` per test seed, disjoint from every training set), then for each pair of models: the
exact McNemar test on the discordant examples of all samples pooled, the paired bootstrap interval of the
difference in exact match (examples resampled in pairs), and the Student t interval of the per-sample
differences over the test seeds.
oracle (task `hmm`): engine.exposure.oracle_kl per model and sampling seed (the oracle's data prefixes
are the same for every model at a seed); mean KL(oracle || model) on data and on own prefixes and
%ExAccErr at the full length, with t intervals over the seeds, and the per-seed paired differences.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Sequence

import numpy as np

from .. import stats
from ..files import atomic_write_text


def _load(name: str):
    from ..checkpoint import load
    return load(name)


def exact_match_table(models: Sequence[str], seeds: Sequence[int], n: int = 2000) -> dict:
    """Per model, per test seed: the list of 0/1 exact-match outcomes on that seed's test sample."""
    from ..tasks import get_task
    from .metrics import greedy_batch
    bundles = {m: _load(m) for m in models}
    task = {b.task for b in bundles.values()}
    if len(task) != 1:
        raise ValueError(f"the models are for different tasks: {', '.join(sorted(task))}")
    task = get_task(task.pop())
    out = {m: {} for m in models}
    for s in seeds:
        test = task.splits(seed=s, sizes={"train": 1, "valid": 1, "test": n})["test"]
        for m, b in bundles.items():
            preds = greedy_batch(b.model, b.tokenizer, [e.src for e in test], b.model.max_len - 1)
            out[m][s] = [int(p == e.tgt) for p, e in zip(preds, test)]
    return out


def compare_pair(a: dict, b: dict, seeds: Sequence[int]) -> dict:
    """b against a (b - a), paired: McNemar, paired bootstrap over the pooled examples, t over the seeds."""
    xa = np.concatenate([a[s] for s in seeds]).astype(float)
    xb = np.concatenate([b[s] for s in seeds]).astype(float)
    est, lo, hi = stats.paired_bootstrap(xa, xb)
    per_seed = [float(np.mean(b[s]) - np.mean(a[s])) for s in seeds]
    t_mean, t_lo, t_hi = stats.t_interval(per_seed)
    return {"difference": est, "bootstrap_lo": lo, "bootstrap_hi": hi,
            "mcnemar_p": stats.mcnemar_exact(xa.astype(bool), xb.astype(bool)),
            "only_a_right": int(((xa == 1) & (xb == 0)).sum()), "only_b_right": int(((xa == 0) & (xb == 1)).sum()),
            "per_seed_difference": per_seed, "t_mean": t_mean, "t_lo": t_lo, "t_hi": t_hi,
            "outcome": "b better" if lo > 0 else "a better" if hi < 0 else "inconclusive"}


def seq2seq_report(models: Sequence[str], seeds: Sequence[int], n: int = 2000) -> dict:
    table = exact_match_table(models, seeds, n)
    acc = {}
    for m in models:
        k = sum(sum(v) for v in table[m].values())
        total = sum(len(v) for v in table[m].values())
        p, lo, hi = stats.wilson(k, total)
        acc[m] = {"exact_match": p, "wilson_lo": lo, "wilson_hi": hi, "examples": total,
                  "per_seed": [float(np.mean(table[m][s])) for s in seeds]}
    pairs = {f"{b} vs {a}": compare_pair(table[a], table[b], seeds)
             for i, a in enumerate(models) for b in models[i + 1:]}
    return {"kind": "seq2seq", "models": list(models), "test_seeds": list(seeds), "examples_per_seed": n,
            "test": (f"greedy exact match on {len(seeds)} fresh test samples of {n} (the task's held-out test pool, "
                     f"seeds {list(seeds)}); per pair (b - a): exact McNemar on the discordant examples pooled, "
                     f"paired bootstrap 95% interval of the difference ({stats.N_BOOT} resamples of the "
                     f"{n * len(seeds)} pairs), Student t 95% interval over the per-sample differences"),
            "accuracy": acc, "pairs": pairs}


def oracle_report(models: Sequence[str], seeds: Sequence[int], n: int = 1000) -> dict:
    from ..exposure.oracle_kl import oracle_kl
    keys = ("mean_kl_data", "mean_kl_model", "pct_ex_acc_err_at_length", "acc_err_at_length")
    per = {m: {k: [] for k in keys} for m in models}
    for m in models:
        b = _load(m)
        for s in seeds:
            r = oracle_kl(b, n=n, seed=s)
            for k in keys:
                per[m][k].append(float(r[k]))
    summary = {m: {k: dict(zip(("mean", "lo", "hi"), stats.t_interval(v)), per_seed=v) for k, v in per[m].items()}
               for m in models}
    pairs = {}
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            pairs[f"{b} vs {a}"] = {k: dict(zip(("mean", "lo", "hi"), stats.t_interval(
                [y - x for x, y in zip(per[a][k], per[b][k])]))) for k in keys}
    return {"kind": "oracle", "models": list(models), "sampling_seeds": list(seeds), "sequences_per_seed": n,
            "test": (f"engine.exposure.oracle_kl with {n} oracle sequences and {n} sampled own prefixes per seed "
                     f"(seeds {list(seeds)}; the data prefixes are the same for every model at a seed): Student "
                     f"t 95% interval over the seeds of each model's mean KL and %ExAccErr(48), and of the "
                     f"per-seed paired differences (b - a)"),
            "summary": summary, "pairs": pairs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.training.remedies", description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=["seq2seq", "oracle"])
    p.add_argument("--models", nargs="+", required=True, help="the base first, then the remedies / controls")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--n", type=int, default=None, help="examples per seed (seq2seq 2000, oracle 1000)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    t0 = time.time()
    if args.kind == "seq2seq":
        rep = seq2seq_report(args.models, args.seeds, args.n or 2000)
    else:
        rep = oracle_report(args.models, args.seeds, args.n or 1000)
    rep["seconds"] = round(time.time() - t0, 1)
    atomic_write_text(args.out, json.dumps(rep, indent=1) + "\n")
    print(json.dumps({k: rep[k] for k in ("accuracy", "summary", "pairs") if k in rep}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
