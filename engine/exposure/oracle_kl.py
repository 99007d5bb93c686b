"""The oracle language (task `hmm`): the exact per-step KL(oracle || model) on data prefixes and on the
model's own (sampled) prefixes for one sampling seed, and Arora et al. (2022)'s AccErr(l) =
sum_{t<=l} KL_model(t) - sum_{t<=l} KL_data(t) and %ExAccErr(l) = 100 * AccErr(l) / sum_{t<=l} KL_data(t).
Several seeds, intervals and the verdict: oracle_exposure.py."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..rollout import never_emit_ids, rollout
from ..stats import N_BOOT
from ..tokenizer import BOS, EOS, PAD
from .stats import bootstrap_positions, rounded, rounded_list


def emittable_logp(logits: Tensor, never: Tensor) -> Tensor:
    """The model's log-probabilities over the tokens a free run may emit (the special-token rule), in the
    model's own precision (the exact KL of the oracle against itself is 0 to 1e-9)."""
    return logits.index_fill(-1, never, float("-inf")).log_softmax(-1)


class SymbolMap:
    """Token ids <-> the oracle's columns (symbols 0..V-1, then END = V) for a model's tokenizer."""

    def __init__(self, oracle, tok):
        self.sym_ids = torch.tensor([tok.encode(ch).ids[0] for ch in oracle.symbols])
        self.cols = torch.cat([self.sym_ids, torch.tensor([EOS])])        # oracle column k -> token id
        self.to_sym = torch.full((tok.vocab_size,), -1, dtype=torch.long)
        self.to_sym[self.sym_ids] = torch.arange(len(self.sym_ids))
        self.to_col = self.to_sym.clone()                                 # token id -> column (-1: none)
        self.to_col[EOS] = len(self.sym_ids)


def oracle_dists(oracle, syms: Tensor) -> Tensor:
    """[N, T+1, V+1] exact next-symbol-or-END distributions after every prefix of the symbol rows [N, T]."""
    return torch.from_numpy(oracle._with_end(oracle._forward(syms.numpy()), syms.shape[1]))


def kl_and_nll(o: Tensor, model_lp: Tensor, chosen: Tensor) -> tuple[Tensor, Tensor]:
    """Per step KL(o || model) (>= 0 up to rounding) and -log o(chosen), o: [N, L, V+1] oracle dists,
    model_lp: [N, L, V+1] the model's log-probabilities of the same columns, chosen: [N, L] columns."""
    kl = (torch.xlogy(o, o) - o * model_lp.double()).sum(-1).clamp(min=0.0)
    nll = -o.gather(-1, chosen.clamp(min=0)[..., None]).squeeze(-1).clamp(min=1e-300).log()
    return kl, nll


@torch.no_grad()
def oracle_pass(bundle, n: int = 1000, seed: int = 0, batch_size: int = 500, decoding: str = "sample") -> dict:
    """One sampling seed, per sequence and step l = 1..L: the KL on n fresh oracle samples (data
    prefixes) and on n of the model's own L-step free runs from <bos> (sampled, or greedy), the oracle's
    -log probability of each symbol of both, which own steps count (valid_model: none after an early
    <eos>) and which of them emitted a symbol (symbol_model: an early <eos> has oracle probability 0)."""
    from ..tasks.hmm import HMMOracle
    if bundle.task != "hmm":
        raise ValueError("the oracle KL needs the oracle language (a model of the `hmm` task)")
    oracle = HMMOracle()
    model, tok = bundle.model, bundle.tokenizer
    model.eval()
    L = oracle.length
    never = torch.tensor(never_emit_ids(tok))
    sm = SymbolMap(oracle, tok)
    g = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(np.stack([oracle.encode(s) for s in oracle.sample(n, seed=10_000 + seed)]))
    out = {k: [] for k in ("kl_data", "nll_data", "kl_model", "nll_model", "valid_model", "symbol_model")}
    for lo in range(0, n, batch_size):
        x = data[lo:lo + batch_size]
        b = x.shape[0]
        ids = torch.cat([torch.full((b, 1), BOS), sm.sym_ids[x]], 1)
        lp = emittable_logp(model.decode(ids[:, :L], model.start(batch_size=b)[0]).logits, never)
        kl, nll = kl_and_nll(oracle_dists(oracle, x)[:, :L], lp[..., sm.cols], x)
        out["kl_data"].append(kl)
        out["nll_data"].append(nll)
        # the model's own prefixes: L free-running steps from <bos>
        lps = []
        fr = rollout(model, tok, prompt=torch.full((b, 1), BOS), max_new=L, sample=decoding != "greedy",
                     generators=g, on_step=lambda t, o, raw_logp, chosen, live:
                     lps.append(emittable_logp(o.logits[:, -1], never)))
        short = L - fr.tokens.shape[1]                                  # every row ended before L steps
        cols = sm.to_col[F.pad(fr.tokens, (0, short), value=PAD)]
        lps = F.pad(torch.stack(lps, 1), (0, 0, 0, short))
        bad = cols.ge(len(sm.sym_ids)) | cols.lt(0)                     # <eos> (or no symbol) at a step
        valid = ~(torch.cumsum(bad.long(), 1) - bad.long() > 0)          # nothing counts after it
        kl, nll = kl_and_nll(oracle_dists(oracle, cols.masked_fill(bad, 0))[:, :L], lps[..., sm.cols], cols)
        zero = torch.zeros((), dtype=torch.float64)
        out["kl_model"].append(torch.where(valid, kl, zero))
        out["nll_model"].append(torch.where(valid & ~bad, nll, zero))
        out["valid_model"].append(valid)
        out["symbol_model"].append(valid & ~bad)                        # a symbol emitted (oracle NLL finite)
    res = {k: torch.cat(v) for k, v in out.items()}
    res.update(length=L, examples=n, seed=seed, decoding=decoding)
    return res


def oracle_kl(bundle, n: int = 1000, seed: int = 0, batch_size: int = 500, n_boot: int = N_BOOT,
              decoding: str = "sample") -> dict:
    """One seed: per-step KL(oracle || model) on data and own prefixes with 95% bootstrap bands
    (sequences resampled), and AccErr / %ExAccErr against the length."""
    r = oracle_pass(bundle, n=n, seed=seed, batch_size=batch_size, decoding=decoding)
    kd, km, vm = r["kl_data"], r["kl_model"], r["valid_model"]
    data_mean, data_lo, data_hi = bootstrap_positions(kd, torch.ones_like(vm), n_boot, seed)
    model_mean, model_lo, model_hi = bootstrap_positions(km, vm, n_boot, seed + 1)
    acc, pct = acc_err(data_mean.numpy(), np.nan_to_num(model_mean.numpy()))
    return {"decoding_of_model_prefixes": decoding, "examples": n, "length": r["length"], "seed": seed,
            "kl_data_prefixes": rounded_list(data_mean), "kl_data_lo": rounded_list(data_lo),
            "kl_data_hi": rounded_list(data_hi),
            "kl_model_prefixes": rounded_list(model_mean), "kl_model_lo": rounded_list(model_lo),
            "kl_model_hi": rounded_list(model_hi), "kl_model_examples": vm.sum(0).tolist(),
            "acc_err": [rounded(v) for v in acc], "pct_ex_acc_err": [rounded(v) for v in pct],
            "acc_err_at_length": rounded(acc[-1]), "pct_ex_acc_err_at_length": rounded(pct[-1]),
            "mean_kl_data": rounded(float(data_mean.mean())), "mean_kl_model": rounded(float(model_mean.nanmean()))}


def acc_err(kl_data: Sequence[float], kl_model: Sequence[float], tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """AccErr(l) = sum_{t<=l} KL on own prefixes - sum_{t<=l} KL on data prefixes (= R_<=l - l*eps_<=l)
    and %ExAccErr(l) = 100 * AccErr(l) / (l * eps_<=l), for l = 1..len. Where l * eps_<=l is below
    `tol` (the model is the oracle up to rounding) both are reported as 0."""
    cd = np.cumsum(np.asarray(kl_data, dtype=float))
    cm = np.cumsum(np.asarray(kl_model, dtype=float))
    acc = cm - cd
    big = cd > tol
    acc = np.where(big | (np.abs(cm) > tol), acc, 0.0)
    pct = np.where(big, 100.0 * acc / np.where(big, cd, 1.0), 0.0)
    return acc, pct
