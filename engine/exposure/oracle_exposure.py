"""Exposure bias on the oracle language (task `hmm`) measured against the oracle, over several sampling
seeds, and calibration / free-running NLL relative to the oracle.

On `hmm`, the TF-vs-FR statistics against a "gold" token are not exposure bias: under free running the
gold token is one sample drawn after the *gold* prefix, not a draw from the oracle after the model's own
prefix (the oracle itself, put through that analysis, shows the same TF/FR gap as a trained model). The
valid measures, computed exactly with the forward algorithm:

- oracle_exposure: per-step KL(oracle || model) on data prefixes vs the model's own sampled prefixes
  (bands: 95% percentile bootstrap over the pooled sequences of all seeds); AccErr(l) and %ExAccErr(l)
  (Arora et al., 2022) per seed, their mean and 95% Student t interval over the k seeds; the oracle
  NLL per symbol of the model's free runs against that of oracle samples; and the verdict sentence.
- oracle_calibration: on the lab's TF and greedy FR passes, ECE with the oracle's probability of the
  chosen token in place of "right or wrong against one sampled gold token", and the expected NLL of the
  next symbol under the oracle (cross-entropy) against the oracle's own entropy on the same prefixes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..stats import N_BOOT, t_interval
from .calibration import ece
from .oracle_kl import SymbolMap, acc_err, oracle_dists, oracle_pass
from .stats import bootstrap_mean, bootstrap_positions, rounded, rounded_list

SEEDS = (0, 1, 2, 3, 4)         # sampling seeds of the oracle measures (data samples and the model's free runs)
SMALL_PCT = 10.0                # %ExAccErr whose whole interval lies below this is called "small"
ZERO_KL = 1e-9                  # mean KL below this on both prefix kinds: the model is the oracle


def _interval(values) -> dict:
    m, lo, hi = t_interval(values)
    return {"mean": rounded(m), "lo": rounded(lo), "hi": rounded(hi), "per_seed": [rounded(v) for v in values]}


def verdict(pct: dict, acc: dict, kl_data: float, kl_model: float, length: int, k: int) -> dict:
    """The sentence the page shows, computed from %ExAccErr(L) and its interval over k seeds."""
    per = [v for v in pct["per_seed"] if v is not None]
    spread = f"{min(per):.2f}% to {max(per):.2f}% across the seeds" if per else "no seed"
    if kl_data < ZERO_KL and kl_model < ZERO_KL:
        return {"outcome": "none", "text": f"KL(oracle ‖ model) is 0 (below {ZERO_KL:g}) on data prefixes and on the "
                "model's own prefixes at every step: no exposure bias. This is the oracle itself."}
    m, lo, hi = pct["mean"], pct["lo"], pct["hi"]
    if m is None:                  # no finite %ExAccErr in any seed (e.g. an untrained model: NaN KL sums)
        return {"outcome": "inconclusive", "text": f"%ExAccErr({length}) has no finite value in any seed: no "
                "conclusion."}
    if lo is None or hi is None:
        return {"outcome": "inconclusive", "text": f"%ExAccErr({length}) = {m:.2f}% from one seed: no interval, "
                "so no conclusion (run several seeds)."}
    core = (f"%ExAccErr({length}) = {m:.2f}% (95% t interval over {k} sampling seeds [{lo:.2f}%, {hi:.2f}%]; "
            f"{spread}); AccErr({length}) = {acc['mean']:.4f} nats [{acc['lo']:.4f}, {acc['hi']:.4f}] on top of "
            f"{kl_data * length:.3f} nats accumulated on data prefixes")
    if lo <= 0 <= hi:
        return {"outcome": "inconclusive", "text": f"Inconclusive: {core}. The interval includes 0, so exposure bias "
                f"cannot be told from sampling noise here; if present it is small (at most {hi:.1f}%), as He et al. "
                "(2019) found."}
    if hi < 0:
        return {"outcome": "negative", "text": f"Negative: {core}. The model's own prefixes cost it less KL than data "
                "prefixes: no exposure bias."}
    if hi < SMALL_PCT:
        return {"outcome": "small", "text": f"Small: {core}. Free running on its own prefixes adds less than "
                f"{SMALL_PCT:g}% to the error the model makes on data prefixes, as He et al. (2019) found."}
    return {"outcome": "present", "text": f"Measurable: {core}. The model's own prefixes add at least {lo:.1f}% "
            "to the error it makes on data prefixes."}


def oracle_exposure(bundle, n: int = 1000, seeds: Sequence[int] = SEEDS, batch_size: int = 500,
                    n_boot: int = N_BOOT, decoding: str = "sample") -> dict:
    """The oracle measures of the module docstring over the given sampling seeds."""
    passes = [oracle_pass(bundle, n=n, seed=s, batch_size=batch_size, decoding=decoding) for s in seeds]
    L = passes[0]["length"]
    kd = torch.cat([p["kl_data"] for p in passes])
    km = torch.cat([p["kl_model"] for p in passes])
    vm = torch.cat([p["valid_model"] for p in passes])
    d_mean, d_lo, d_hi = bootstrap_positions(kd, torch.ones_like(vm), n_boot, 0)
    m_mean, m_lo, m_hi = bootstrap_positions(km, vm, n_boot, 1)
    curves, seed_rows = [], []
    for s, p in zip(seeds, passes):
        cnt = p["valid_model"].sum(0).clamp(min=1)
        kd_s, km_s = p["kl_data"].mean(0), p["kl_model"].sum(0) / cnt
        acc, pct = acc_err(kd_s.numpy(), km_s.numpy())
        sym = p["symbol_model"]
        curves.append((acc, pct))
        seed_rows.append({"seed": s, "mean_kl_data": float(kd_s.mean()), "mean_kl_model": float(km_s.mean()),
                          "acc": float(acc[-1]), "pct": float(pct[-1]),
                          "nll_data": float(p["nll_data"].mean()),
                          "nll_model": float(p["nll_model"].sum() / sym.sum().clamp(min=1)),
                          "early_end": float((~sym[:, -1]).double().mean())})
    acc_c = np.stack([c[0] for c in curves])
    pct_c = np.stack([c[1] for c in curves])
    acc_t = [t_interval(acc_c[:, i]) for i in range(L)]
    pct_t = [t_interval(pct_c[:, i]) for i in range(L)]
    col = {k: [r[k] for r in seed_rows] for k in seed_rows[0]}
    acc_L, pct_L = _interval(col["acc"]), _interval(col["pct"])
    out = {"decoding_of_model_prefixes": decoding, "seeds": list(seeds), "examples": n, "length": L,
           "kl_data_prefixes": rounded_list(d_mean), "kl_data_lo": rounded_list(d_lo), "kl_data_hi": rounded_list(d_hi),
           "kl_model_prefixes": rounded_list(m_mean), "kl_model_lo": rounded_list(m_lo),
           "kl_model_hi": rounded_list(m_hi), "kl_data_examples": [kd.shape[0]] * L,
           "kl_model_examples": vm.sum(0).tolist(),
           "acc_err": rounded_list(acc_c.mean(0)), "acc_err_lo": [rounded(t[1]) for t in acc_t],
           "acc_err_hi": [rounded(t[2]) for t in acc_t], "acc_err_per_seed": [rounded_list(c) for c in acc_c],
           "pct_ex_acc_err": rounded_list(pct_c.mean(0)), "pct_ex_acc_err_lo": [rounded(t[1]) for t in pct_t],
           "pct_ex_acc_err_hi": [rounded(t[2]) for t in pct_t],
           "pct_ex_acc_err_per_seed": [rounded_list(c) for c in pct_c],
           "acc_err_at_length": acc_L["mean"], "acc_err_at_length_interval": acc_L,
           "pct_ex_acc_err_at_length": pct_L["mean"], "pct_ex_acc_err_at_length_interval": pct_L,
           "mean_kl_data": rounded(np.mean(col["mean_kl_data"])),
           "mean_kl_data_interval": _interval(col["mean_kl_data"]),
           "mean_kl_model": rounded(np.mean(col["mean_kl_model"])),
           "mean_kl_model_interval": _interval(col["mean_kl_model"]),
           "oracle_nll_of_data": _interval(col["nll_data"]),
           "oracle_nll_of_free_runs": _interval(col["nll_model"]),
           "oracle_nll_excess": _interval([a - b for a, b in zip(col["nll_model"], col["nll_data"])]),
           "free_runs_ending_early": rounded(np.mean(col["early_end"]))}
    out["verdict"] = verdict(pct_L, acc_L, float(np.mean(col["mean_kl_data"])), float(np.mean(col["mean_kl_model"])),
                             L, len(seeds))
    return out


def _chosen_prob(o: torch.Tensor, tokens: torch.Tensor, sm: SymbolMap) -> torch.Tensor:
    """The oracle's probability of each chosen token (0 for a token that is no symbol and not <eos>)."""
    col = sm.to_col[tokens]
    return torch.where(col >= 0, o.gather(-1, col.clamp(min=0)[..., None]).squeeze(-1), torch.zeros((), dtype=o.dtype))


def _ce(o: torch.Tensor, logp: torch.Tensor, sm: SymbolMap) -> tuple[torch.Tensor, torch.Tensor]:
    """Per step the expected NLL of the next symbol-or-END under the oracle (cross-entropy) and the
    oracle's entropy."""
    m = logp[..., sm.cols].double()
    ce = -(o * torch.where(o > 0, m, torch.zeros((), dtype=torch.float64))).sum(-1)
    return ce, -torch.xlogy(o, o).sum(-1)


def oracle_calibration(bundle, inp, r: dict, valid: torch.Tensor, valid_fr: torch.Tensor, n_boot: int = N_BOOT) -> dict:
    """ECE against the oracle and the expected NLL under the oracle, TF and greedy FR (module docstring).
    r: tf_fr_pass(..., full=True) on the hmm examples inp."""
    from ..tasks.hmm import HMMOracle
    oracle = HMMOracle()
    sm = SymbolMap(oracle, bundle.tokenizer)
    p, L = inp.prompt, oracle.length
    gold = sm.to_sym[inp.tin[:, 1:L + 1]]                               # the 48 symbols of each example
    g = r["fr_tok"].shape[1]
    fr = torch.cat([gold[:, :p - 1], sm.to_sym[r["fr_tok"][:, :L - (p - 1)]]], 1)
    out = {}
    for mode, syms, chosen, conf, logp, ok in (
            ("tf", gold, r["tf_arg"], r["tf_conf"], r["tf_logp"], valid),
            ("fr", fr, r["fr_tok"], r["fr_conf"], r["fr_logp"], valid_fr & torch.isfinite(r["fr_conf"]))):
        o = oracle_dists(oracle, syms.clamp(min=0))[:, p - 1:p - 1 + g]
        prob = _chosen_prob(o, chosen, sm)
        value, bins = ece(conf[ok], prob[ok])
        ce, ent = _ce(o, logp.nan_to_num(0.0), sm)
        ex = ok.double().sum(1).clamp(min=1)
        kl_ex = torch.where(ok, ce - ent, torch.zeros((), dtype=torch.float64)).sum(1) / ex
        kl, kl_lo, kl_hi = bootstrap_mean(kl_ex[ok.any(1)], n_boot, 0)
        out.update({f"{mode}_ece_vs_oracle": rounded(value), f"{mode}_bins_vs_oracle": bins,
                    f"{mode}_nll_expected": rounded(float(ce[ok].mean())),
                    f"{mode}_oracle_entropy": rounded(float(ent[ok].mean())),
                    f"{mode}_kl": rounded(kl), f"{mode}_kl_lo": rounded(kl_lo), f"{mode}_kl_hi": rounded(kl_hi)})
    return out
