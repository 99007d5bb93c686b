"""The oracle language (task `hmm`): the exact per-step KL(oracle || model) on data prefixes and on the
model's own (sampled) prefixes, and Arora et al. (2022)'s AccErr(l) = sum_{t<=l} KL_model(t) -
sum_{t<=l} KL_data(t) and %ExAccErr(l) = 100 * AccErr(l) / sum_{t<=l} KL_data(t)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..rollout import never_emit_ids, rollout
from ..tokenizer import BOS, EOS, PAD
from .stats import bootstrap_positions, rounded, rounded_list


def emittable_logp(logits: Tensor, never: Tensor) -> Tensor:
    """The model's log-probabilities over the tokens a free run may emit (the special-token rule), in the
    model's own precision (the exact KL of the oracle against itself is 0 to 1e-9)."""
    return logits.index_fill(-1, never, float("-inf")).log_softmax(-1)


@torch.no_grad()
def oracle_kl(bundle, n: int = 1000, seed: int = 0, batch_size: int = 500, n_boot: int = 200,
              decoding: str = "sample") -> dict:
    """Exact per-step KL(oracle || model) on data prefixes (oracle samples) and on the model's own
    prefixes (sampled from the model, or greedy), and Arora et al. (2022)'s AccErr / %ExAccErr."""
    from ..tasks.hmm import HMMOracle
    if bundle.task != "hmm":
        raise ValueError("the oracle KL needs the oracle language (a model of the `hmm` task)")
    oracle = HMMOracle()
    model, tok = bundle.model, bundle.tokenizer
    model.eval()
    L = oracle.length
    never = torch.tensor(never_emit_ids(tok))
    sym_ids = torch.tensor([tok.encode(ch).ids[0] for ch in oracle.symbols])
    cols = torch.cat([sym_ids, torch.tensor([EOS])])                  # oracle column k -> model token id
    to_sym = torch.full((tok.vocab_size,), -1, dtype=torch.long)
    to_sym[sym_ids] = torch.arange(len(sym_ids))
    g = torch.Generator().manual_seed(seed)

    def kl_rows(seqs_sym: np.ndarray, model_lp: Tensor, valid: Tensor) -> Tensor:
        o = torch.from_numpy(oracle._with_end(oracle._forward(seqs_sym), L)[:, :L])    # [N, L, V+1]
        m = model_lp[:, :L][..., cols].double()
        kl = (torch.xlogy(o, o) - o * m).sum(-1).clamp(min=0.0)                    # >= 0 up to rounding
        return torch.where(valid, kl, torch.zeros((), dtype=torch.float64))

    data = np.stack([oracle.encode(s) for s in oracle.sample(n, seed=10_000 + seed)])   # fresh oracle samples
    kl_data, kl_model, valid_model = [], [], []
    for lo in range(0, n, batch_size):
        x = torch.from_numpy(data[lo:lo + batch_size])
        b = x.shape[0]
        ids = torch.cat([torch.full((b, 1), BOS), sym_ids[x]], 1)
        lp = emittable_logp(model.decode(ids[:, :L], model.start(batch_size=b)[0]).logits, never)
        kl_data.append(kl_rows(x.numpy(), lp, torch.ones(b, L, dtype=torch.bool)))
        # the model's own prefixes: L free-running steps from <bos>
        lps = []
        fr = rollout(model, tok, prompt=torch.full((b, 1), BOS), max_new=L, sample=decoding != "greedy",
                     generators=g, on_step=lambda t, out, raw_logp, chosen, live:
                     lps.append(emittable_logp(out.logits[:, -1], never)))
        short = L - fr.tokens.shape[1]                                  # every row ended before L steps
        toks = F.pad(fr.tokens, (0, short), value=PAD)
        lps = F.pad(torch.stack(lps, 1), (0, 0, 0, short))
        sym = to_sym[toks]
        bad_before = torch.cumsum((sym < 0).long(), 1) - (sym < 0).long() > 0          # EOS etc. earlier
        valid = ~bad_before
        kl_model.append(kl_rows(sym.clamp(min=0).numpy(), lps, valid))
        valid_model.append(valid)
    kd, km, vm = torch.cat(kl_data), torch.cat(kl_model), torch.cat(valid_model)
    data_mean, data_lo, data_hi = bootstrap_positions(kd, torch.ones_like(vm), n_boot, seed)
    model_mean, model_lo, model_hi = bootstrap_positions(km, vm, n_boot, seed + 1)
    acc, pct = acc_err(data_mean.numpy(), model_mean.numpy())
    return {"decoding_of_model_prefixes": decoding, "examples": n, "length": L,
            "kl_data_prefixes": rounded_list(data_mean), "kl_data_lo": rounded_list(data_lo),
            "kl_data_hi": rounded_list(data_hi),
            "kl_model_prefixes": rounded_list(model_mean), "kl_model_lo": rounded_list(model_lo),
            "kl_model_hi": rounded_list(model_hi),
            "acc_err": [rounded(v) for v in acc], "pct_ex_acc_err": [rounded(v) for v in pct],
            "acc_err_at_length": rounded(acc[-1]), "pct_ex_acc_err_at_length": rounded(pct[-1]),
            "mean_kl_data": rounded(float(data_mean.mean())), "mean_kl_model": rounded(float(model_mean.mean()))}


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
