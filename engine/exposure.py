"""Exposure bias measured on a whole dataset, batched: `python -m engine exposure --model M --n 1000 --json`.

For n held-out examples the model runs twice, in batches: teacher forced (TF: the gold prefix) and
free running (FR: greedy decoding from its own prefix; for a language model after a gold prompt).
Every figure below is computed from the per-example, per-position arrays of these two passes:

- per position t: token error rate and reference NLL, TF vs FR, with bootstrap bands (resampled
  examples); sequence exact match (FR greedy vs TF "every step right"), chrF and BLEU (sacrebleu);
- calibration: expected calibration error (ECE) and reliability-diagram bins under TF and FR contexts;
- recovery: a wrong token injected at step t0 (the model's best non-gold token), then greedy: the share
  of examples back on the gold track / on the uninjected track against steps since the injection;
- the compounding model of the sources: c = NLL per step on the gold path, d = NLL per step off it,
  e = probability of leaving the path per step (all measured); predicted
  Delta_NLL(T) = (d - c) * sum_{t=1..T} [1 - (1 - e)^(t-1)] against the measured cumulative gap
  sum_{t<=T} (NLL_FR(t) - NLL_TF(t)), with the fit error;
- hidden-state drift: D(s) = ||h_FR - h_TF|| against steps s since the inputs first differed;
  least squares D(s) = alpha * D(s-1) + eps gives the amplification alpha (> 1: explosive, < 1:
  stable drift to the predicted steady gap eps / (1 - alpha)), compared with the measured plateau;
- for the oracle language (task `hmm`): the exact per-step KL(oracle || model) on data prefixes and on
  the model's own (sampled) prefixes, and Arora et al. (2022)'s AccErr(l) = sum_{t<=l} KL_model(t) -
  sum_{t<=l} KL_data(t) and %ExAccErr(l) = 100 * AccErr(l) / sum_{t<=l} KL_data(t).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from .evaluate import pad_batch, seq2seq_tensors
from .models import SeqModel
from .tokenizer import BOS, EOS, PAD, UNK, Tokenizer

SPECIALS = (PAD, BOS, UNK)          # never produced by free running


# -- the two passes --------------------------------------------------------------------------------

@dataclass
class Inputs:
    """Decoder inputs of n examples: tin[:, :prompt] is given, positions prompt-1.. are predicted."""
    src: Optional[Tensor]
    smask: Optional[Tensor]
    tin: Tensor                      # [N, T] decoder input (BOS + gold ...)
    tout: Tensor                     # [N, T] gold next tokens (PAD = none)
    prompt: int                      # number of given input positions (1 = BOS only)
    refs: list[str]                  # reference texts of the predicted part
    sources: list[str]


def make_inputs(bundle, n: int = 1000, split: str = "test", prompt_len: int = 8, seed: int = 0) -> Inputs:
    """The first n examples of a split of the model's task, tokenised (LM: a gold prompt of prompt_len)."""
    from .tasks import get_task
    task = get_task(bundle.task)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sizes = None
    if task.name in ("dates", "hmm") or task.name.startswith("addition"):
        sizes = {"train": 0, "valid": n if split == "valid" else 0, "test": n if split == "test" else 0}
    examples = task.splits(seed=seed, sizes=sizes)[split][:n]
    tok, model = bundle.tokenizer, bundle.model
    if model.is_encoder_decoder:
        pairs = [(e.src, e.tgt) for e in examples]
        src, smask, tin, tout = seq2seq_tensors(tok, pairs)
        return Inputs(src, smask, tin, tout, 1, [t for _, t in pairs], [s for s, _ in pairs])
    seqs = [[BOS] + tok.encode(e.tgt).ids + [EOS] for e in examples]
    seqs = [s[: model.max_len + 1] for s in seqs if len(s) > prompt_len + 2]
    if not seqs:
        raise ValueError(f"no {split} example is longer than the prompt of {prompt_len} tokens")
    ids, mask = pad_batch(seqs)
    tin, tout = ids[:, :-1], ids[:, 1:].masked_fill(~mask[:, 1:], PAD)
    p = prompt_len + 1
    refs = [tok.decode(s[p:]) for s in seqs]
    return Inputs(None, None, tin, tout, p, refs, [tok.decode(s[1:p]) for s in seqs])


def _start(model: SeqModel, src, smask, rows: int):
    if model.is_encoder_decoder:
        return model.start(src, smask)[0]
    return model.start(batch_size=rows)[0]


@torch.no_grad()
def tf_fr_pass(model: SeqModel, inp: Inputs, batch_size: int = 500) -> dict:
    """Per example and generated position j (= decoder position prompt-1+j): gold token, TF log-prob of
    gold, TF argmax and confidence, FR greedy token, FR log-prob of gold, FR confidence, and the
    hidden-state distance ||h_FR - h_TF||. Batched over examples."""
    model.eval()
    n, t = inp.tin.shape
    p = inp.prompt
    g = t - p + 1
    keys = ("tf_lp", "tf_arg", "tf_conf", "fr_tok", "fr_lp", "fr_conf", "drift")
    out = {k: [] for k in keys}
    for lo in range(0, n, batch_size):
        sl = slice(lo, lo + batch_size)
        tin, tout = inp.tin[sl], inp.tout[sl]
        b = tin.shape[0]
        src = inp.src[sl] if inp.src is not None else None
        smask = inp.smask[sl] if inp.smask is not None else None
        gold = tout[:, p - 1:]
        # teacher forcing: one parallel call
        o = model.decode(tin, _start(model, src, smask, b))
        lp = o.logits[:, p - 1:].log_softmax(-1)
        h_tf = o.hidden[:, p - 1:]
        out["tf_lp"].append(lp.gather(-1, gold.clamp(min=0)[..., None]).squeeze(-1))
        conf, arg = lp.exp().max(-1)
        out["tf_arg"].append(arg)
        out["tf_conf"].append(conf)
        # free running: greedy after the given prompt
        state = _start(model, src, smask, b)
        o = model.decode(tin[:, :p], state)
        state, logits, hid = o.state, o.logits[:, -1], o.hidden[:, -1]
        toks, lps, confs, drifts = [], [], [], []
        done = torch.zeros(b, dtype=torch.bool)
        for j in range(g):
            lpj = logits.index_fill(1, torch.tensor(SPECIALS), float("-inf")).log_softmax(-1)
            c, nxt = lpj.exp().max(-1)
            nxt = nxt.masked_fill(done, PAD)
            toks.append(nxt)
            lps.append(lpj.gather(1, gold[:, j].clamp(min=0)[:, None]).squeeze(1))
            confs.append(c)
            drifts.append((hid - h_tf[:, j]).norm(dim=-1))
            done = done | (nxt == EOS)
            if j + 1 == g or bool(done.all()):
                break
            o = model.decode(nxt.masked_fill(nxt == PAD, EOS)[:, None], state)
            state, logits, hid = o.state, o.logits[:, -1], o.hidden[:, -1]
        pad = g - len(toks)
        stack = lambda xs, fill: torch.cat([torch.stack(xs, 1), torch.full((b, pad), fill, dtype=xs[0].dtype)], 1)
        out["fr_tok"].append(stack(toks, PAD))
        out["fr_lp"].append(stack(lps, float("nan")))
        out["fr_conf"].append(stack(confs, float("nan")))
        out["drift"].append(stack(drifts, float("nan")))
    res = {k: torch.cat(v, 0) for k, v in out.items()}
    res["gold"] = inp.tout[:, p - 1:]
    return res


def masks(r: dict) -> dict:
    """valid: a gold token exists; valid_fr: also no EOS in the FR output before it; on_path: the FR
    prefix equals the gold prefix (so the FR context is the TF context); left: the step leaves it."""
    gold, fr = r["gold"], r["fr_tok"]
    valid = gold != PAD
    eos_before = torch.cumsum((fr == EOS).long(), 1) - (fr == EOS).long() > 0
    valid_fr = valid & ~eos_before
    match = (fr == gold) | ~valid
    prefix_ok = torch.cat([torch.ones_like(match[:, :1]), torch.cumprod(match.long(), 1)[:, :-1].bool()], 1)
    on_path = prefix_ok & valid
    return {"valid": valid, "valid_fr": valid_fr, "on_path": on_path, "left": on_path & (fr != gold)}


# -- statistics ------------------------------------------------------------------------------------

def masked_mean(x: Tensor, m: Tensor, dim=0) -> Tensor:
    x = torch.where(m, x.double(), torch.zeros((), dtype=torch.float64))
    return x.sum(dim) / m.sum(dim).clamp(min=1)


def bootstrap_positions(x: Tensor, m: Tensor, n_boot: int = 200, seed: int = 0, q=(0.025, 0.975)) -> tuple:
    """Per-position mean of x over examples (mask m) with a percentile bootstrap band over examples."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(x.shape[0], (n_boot, x.shape[0]), generator=g)
    xs, ms = torch.where(m, x.double(), torch.zeros((), dtype=torch.float64))[idx], m[idx]
    means = xs.sum(1) / ms.sum(1).clamp(min=1)                            # [B, T]
    lo, hi = torch.quantile(means, torch.tensor(q, dtype=torch.float64), dim=0)
    return masked_mean(x, m), lo, hi


def bootstrap_mean(x: Tensor, n_boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    g = torch.Generator().manual_seed(seed)
    x = x.double()
    means = x[torch.randint(len(x), (n_boot, len(x)), generator=g)].mean(1)
    lo, hi = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64))
    return float(x.mean()), float(lo), float(hi)


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
             "confidence": _r(s_conf[i] / count[i]) if nz[i] else None,
             "accuracy": _r(s_acc[i] / count[i]) if nz[i] else None} for i in range(n_bins)]
    return value, bins


def compounding_delta(c: float, d: float, e: float, T: int) -> np.ndarray:
    """Delta_NLL(T') = (d - c) * sum_{t=1..T'} [1 - (1 - e)^(t-1)] for T' = 1..T (the two-state model)."""
    t = np.arange(1, T + 1)
    return (d - c) * np.cumsum(1.0 - (1.0 - e) ** (t - 1))


def fit_compounding(nll_fr: Tensor, nll_tf: Tensor, on_path: Tensor, left: Tensor, valid_fr: Tensor) -> dict:
    """Measure c, d, e from per-step NLLs on / off the gold path and compare the two-state model's
    cumulative gap with the measured one. nll_fr: -log p(gold_t | own prefix); nll_tf: under TF."""
    off = valid_fr & ~on_path
    on = on_path & valid_fr
    c = float(masked_mean(nll_fr, on, dim=None)) if on.any() else float("nan")
    d = float(masked_mean(nll_fr, off, dim=None)) if off.any() else c
    e = float(left.sum() / on_path.sum().clamp(min=1))
    both = valid_fr & torch.isfinite(nll_fr)
    gap_t = masked_mean(nll_fr - nll_tf, both)                          # [T] mean gap per step
    keep = both.sum(0) > 0
    measured = torch.cumsum(gap_t[keep], 0).numpy()
    T = len(measured)
    predicted = compounding_delta(c, d, e, T) if T else np.zeros(0)
    rmse = float(np.sqrt(np.mean((predicted - measured) ** 2))) if T else float("nan")
    scale = float(np.abs(measured).max()) if T else 0.0
    return {"c": _r(c), "d": _r(d), "e": _r(e), "steps": T,
            "measured_cumulative_gap": [_r(x) for x in measured],
            "predicted_cumulative_gap": [_r(x) for x in predicted],
            "rmse": _r(rmse), "relative_rmse": _r(rmse / scale) if scale > 0 else None,
            "final_measured": _r(measured[-1]) if T else None, "final_predicted": _r(predicted[-1]) if T else None}


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
    return {"examples": int((first < t).sum()), "curve": [_r(v) for v in curve], "counts": counts[:keep].tolist(),
            "alpha": _r(alpha), "eps": _r(eps), "regime": regime,
            "predicted_steady_gap": _r(predicted), "measured_plateau": _r(float(tail.mean())),
            "fit_pairs": int(x.numel())}


# -- recovery after an injected error --------------------------------------------------------------

@torch.no_grad()
def recovery(model: SeqModel, inp: Inputs, t0: int = 1, horizon: int = 12, batch_size: int = 500) -> dict:
    """Inject the model's best non-gold token at generated step t0 (after the gold prefix), then decode
    greedily; compare with the gold continuation and with the uninjected greedy continuation."""
    model.eval()
    p = inp.prompt
    pos = p - 1 + t0                                                   # decoder position of the injection
    lengths = (inp.tout != PAD).sum(1)
    rows = torch.nonzero(lengths > pos + 1).squeeze(1)
    if rows.numel() == 0:
        return {"t0": t0, "examples": 0, "steps": []}
    horizon = max(1, min(horizon, int(lengths[rows].max()) - pos - 1))
    gold_all, inj_all, base_all = [], [], []
    for lo in range(0, rows.numel(), batch_size):
        r = rows[lo:lo + batch_size]
        b = r.numel()
        tin, tout = inp.tin[r], inp.tout[r]
        src = inp.src[r] if inp.src is not None else None
        smask = inp.smask[r] if inp.smask is not None else None
        state = _start(model, src, smask, b)
        o = model.decode(tin[:, :pos + 1], state)                    # gold prefix through the injection point
        logits = o.logits[:, -1].index_fill(1, torch.tensor(SPECIALS + (EOS,)), float("-inf"))
        gold_tok = tout[:, pos]
        wrong = logits.scatter(1, gold_tok[:, None], float("-inf")).argmax(-1)
        st = {k: torch.cat([v, v], 0) for k, v in o.state.items()}
        x = torch.cat([wrong, gold_tok])[:, None]
        outs = []
        done = torch.zeros(2 * b, dtype=torch.bool)
        for _ in range(horizon):
            o2 = model.decode(x, st)
            st = o2.state
            nxt = o2.logits[:, -1].index_fill(1, torch.tensor(SPECIALS), float("-inf")).argmax(-1)
            nxt = nxt.masked_fill(done, PAD)
            outs.append(nxt)
            done = done | (nxt == EOS)
            x = nxt.masked_fill(nxt == PAD, EOS)[:, None]
        gen = torch.stack(outs, 1)
        inj_all.append(gen[:b])
        base_all.append(gen[b:])
        g = tout[:, pos + 1: pos + 1 + horizon]
        gold_all.append(torch.nn.functional.pad(g, (0, horizon - g.shape[1]), value=PAD))
    gold, inj, base = torch.cat(gold_all), torch.cat(inj_all), torch.cat(base_all)
    has = gold != PAD
    steps = []
    inj_ok = (inj == gold) | ~has
    base_ok = (base == gold) | ~has
    for s in range(horizon):
        m = has[:, s]
        if int(m.sum()) == 0:
            break
        steps.append({"steps_since": s + 1, "examples": int(m.sum()),
                      "injected_matches_gold": _r(float((inj[:, s] == gold[:, s])[m].double().mean())),
                      "uninjected_matches_gold": _r(float((base[:, s] == gold[:, s])[m].double().mean())),
                      "injected_matches_uninjected": _r(float((inj[:, s] == base[:, s])[m].double().mean())),
                      "injected_all_correct_from_here": _r(float(inj_ok[:, s:].all(1)[m].double().mean())),
                      "uninjected_all_correct_from_here": _r(float(base_ok[:, s:].all(1)[m].double().mean()))})
    return {"t0": t0, "examples": int(rows.numel()), "steps": steps,
            "injected_sequence_correct": _r(float(inj_ok.all(1).double().mean())),
            "uninjected_sequence_correct": _r(float(base_ok.all(1).double().mean()))}


# -- the oracle language ---------------------------------------------------------------------------

@torch.no_grad()
def oracle_kl(bundle, n: int = 1000, seed: int = 0, batch_size: int = 500, n_boot: int = 200,
              decoding: str = "sample") -> dict:
    """Exact per-step KL(oracle || model) on data prefixes (oracle samples) and on the model's own
    prefixes (sampled from the model, or greedy), and Arora et al. (2022)'s AccErr / %ExAccErr."""
    from .tasks.hmm import HMMOracle
    if bundle.task != "hmm":
        raise ValueError("the oracle KL needs the oracle language (a model of the `hmm` task)")
    oracle = HMMOracle()
    model, tok = bundle.model, bundle.tokenizer
    model.eval()
    L = oracle.length
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
        lp = model.decode(ids[:, :L], model.start(batch_size=b)[0]).logits
        lp = lp.index_fill(-1, torch.tensor(SPECIALS), float("-inf")).log_softmax(-1)   # as in the sampling
        kl_data.append(kl_rows(x.numpy(), lp, torch.ones(b, L, dtype=torch.bool)))
        # the model's own prefixes
        state = model.start(batch_size=b)[0]
        inp = torch.full((b, 1), BOS)
        lps, toks = [], []
        for t in range(L):
            o = model.decode(inp, state)
            state = o.state
            lpt = o.logits[:, -1].index_fill(1, torch.tensor(SPECIALS), float("-inf")).log_softmax(-1)
            nxt = (lpt.argmax(-1) if decoding == "greedy"
                   else torch.multinomial(lpt.exp(), 1, generator=g).squeeze(1))
            lps.append(lpt)
            toks.append(nxt)
            inp = nxt[:, None]
        toks = torch.stack(toks, 1)
        sym = to_sym[toks]
        bad_before = torch.cumsum((sym < 0).long(), 1) - (sym < 0).long() > 0          # EOS etc. earlier
        valid = ~bad_before
        kl_model.append(kl_rows(sym.clamp(min=0).numpy(), torch.stack(lps, 1), valid))
        valid_model.append(valid)
    kd, km, vm = torch.cat(kl_data), torch.cat(kl_model), torch.cat(valid_model)
    data_mean, data_lo, data_hi = bootstrap_positions(kd, torch.ones_like(vm), n_boot, seed)
    model_mean, model_lo, model_hi = bootstrap_positions(km, vm, n_boot, seed + 1)
    acc, pct = acc_err(data_mean.numpy(), model_mean.numpy())
    return {"decoding_of_model_prefixes": decoding, "examples": n, "length": L,
            "kl_data_prefixes": _rl(data_mean), "kl_data_lo": _rl(data_lo), "kl_data_hi": _rl(data_hi),
            "kl_model_prefixes": _rl(model_mean), "kl_model_lo": _rl(model_lo), "kl_model_hi": _rl(model_hi),
            "acc_err": [_r(v) for v in acc], "pct_ex_acc_err": [_r(v) for v in pct],
            "acc_err_at_length": _r(acc[-1]), "pct_ex_acc_err_at_length": _r(pct[-1]),
            "mean_kl_data": _r(float(data_mean.mean())), "mean_kl_model": _r(float(model_mean.mean()))}


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


class OracleLM(SeqModel):
    """The HMM oracle as a seqscope language model (incremental forward filter in the state), so that
    every measurement can be run on the truth itself: its KL to the oracle is 0 at every prefix."""

    is_encoder_decoder = False
    arch = "oracle"
    has_cross_attention = False
    has_self_attention = False

    def __init__(self, oracle, tok: Tokenizer):
        super().__init__()
        self.oracle, self.vocab = oracle, tok.vocab_size
        self.sym_ids = torch.tensor([tok.encode(ch).ids[0] for ch in oracle.symbols])
        self.to_sym = torch.full((tok.vocab_size,), -1, dtype=torch.long)
        self.to_sym[self.sym_ids] = torch.arange(len(self.sym_ids))
        self.A = torch.from_numpy(oracle.A)
        self.B = torch.from_numpy(oracle.B)
        self.pi = torch.from_numpy(oracle.pi)

    @property
    def max_len(self) -> int:
        return self.oracle.length + 1

    def start(self, src_ids=None, src_mask=None, output_attentions=False, batch_size: int = 1):
        return {"alpha": self.pi.expand(batch_size, -1).clone(), "pos": torch.zeros(batch_size, dtype=torch.long)}, None

    def _logits(self, alpha: Tensor, pos: Tensor) -> Tensor:
        p = torch.zeros(alpha.shape[0], self.vocab, dtype=torch.float64)
        at_end = pos >= self.oracle.length
        p[:, self.sym_ids] = torch.where(at_end[:, None], torch.zeros(()), alpha @ self.B)
        p[:, EOS] = at_end.double()
        return p.clamp(min=1e-30).log()

    def decode(self, input_ids: Tensor, state, input_mask=None, output_attentions=False):
        from .models.base import StepOutput
        alpha, pos = state["alpha"], state["pos"]
        logits, hidden = [], []
        for i in range(input_ids.shape[1]):
            x = self.to_sym[input_ids[:, i]]
            is_sym = x >= 0
            post = alpha * self.B[:, x.clamp(min=0)].T
            post = post / post.sum(1, keepdim=True)
            alpha = torch.where(is_sym[:, None], post @ self.A, alpha)
            pos = pos + is_sym.long()
            logits.append(self._logits(alpha, pos))
            hidden.append(alpha)
        return StepOutput(torch.stack(logits, 1), torch.stack(hidden, 1), {"alpha": alpha, "pos": pos})


# -- everything ------------------------------------------------------------------------------------

def analyze(model_name, n: int = 1000, seed: int = 0, t0: int = 1, n_boot: int = 200, prompt_len: int = 8,
            batch_size: int = 500, oracle: bool = True, bundle=None) -> dict:
    """All the figures of the module docstring for a model name or folder, as a JSON-able dict."""
    import sacrebleu
    from .checkpoint import load
    started = time.time()
    bundle = bundle or load(model_name)
    model, tok = bundle.model, bundle.tokenizer
    inp = make_inputs(bundle, n, prompt_len=prompt_len, seed=seed)
    r = tf_fr_pass(model, inp, batch_size)
    m = masks(r)
    gold, valid, valid_fr = r["gold"], m["valid"], m["valid_fr"]
    tf_err = (r["tf_arg"] != gold).double()
    fr_err = (r["fr_tok"] != gold).double()
    nll_tf, nll_fr = -r["tf_lp"].double(), -r["fr_lp"].double()
    keep = int(valid.sum(0).gt(0).sum())
    per = {}
    for name, x, mk in (("tf_error", tf_err, valid), ("fr_error", fr_err, valid),
                        ("tf_nll", nll_tf, valid), ("fr_nll", nll_fr, valid_fr & torch.isfinite(nll_fr))):
        mean, lo, hi = bootstrap_positions(x[:, :keep], mk[:, :keep], n_boot, seed)
        per[name], per[name + "_lo"], per[name + "_hi"] = _rl(mean), _rl(lo), _rl(hi)
    per["examples"] = valid[:, :keep].sum(0).tolist()
    per["fr_examples"] = valid_fr[:, :keep].sum(0).tolist()
    preds = [tok.decode(row) for row in r["fr_tok"].tolist()]
    em = torch.tensor([float(p == t) for p, t in zip(preds, inp.refs)])
    em_mean, em_lo, em_hi = bootstrap_mean(em, n_boot, seed)
    ece_tf, bins_tf = ece(r["tf_conf"][valid], (r["tf_arg"] == gold)[valid])
    vfr = valid_fr & torch.isfinite(r["fr_conf"])
    ece_fr, bins_fr = ece(r["fr_conf"][vfr], (r["fr_tok"] == gold)[vfr])
    tin_fr = torch.cat([inp.tin[:, inp.prompt - 1:inp.prompt], r["fr_tok"][:, :-1]], 1)
    tin_gold = inp.tin[:, inp.prompt - 1:]
    tin_differs = tin_fr != tin_gold[:, :tin_fr.shape[1]]
    out = {
        "model": bundle.name, "task": bundle.task, "arch": model.arch, "examples": int(inp.tin.shape[0]),
        "seed": seed, "prompt_tokens": inp.prompt - 1 if not model.is_encoder_decoder else 0,
        "per_position": per,
        "sequence": {"fr_exact_match": _r(em_mean), "fr_exact_match_lo": _r(em_lo), "fr_exact_match_hi": _r(em_hi),
                     "chrf": _r(sacrebleu.corpus_chrf(preds, [inp.refs]).score),
                     "bleu": _r(sacrebleu.corpus_bleu(preds, [inp.refs], tokenize="char").score),
                     "tf_token_error": _r(float(masked_mean(tf_err, valid, dim=None))),
                     "fr_token_error": _r(float(masked_mean(fr_err, valid, dim=None))),
                     "tf_nll_per_token": _r(float(masked_mean(nll_tf, valid, dim=None))),
                     "fr_nll_per_token": _r(float(masked_mean(nll_fr, valid_fr & torch.isfinite(nll_fr), dim=None)))},
        "calibration": {"tf_ece": _r(ece_tf), "fr_ece": _r(ece_fr), "tf_bins": bins_tf, "fr_bins": bins_fr},
        "recovery": recovery(model, inp, t0=t0, batch_size=batch_size),
        "compounding": fit_compounding(nll_fr, nll_tf, m["on_path"], m["left"], valid_fr),
        "drift": drift_fit(r["drift"].double(), tin_differs, valid_fr),
        "samples": [{"source": s, "reference": t, "free_running": p}
                    for s, t, p in list(zip(inp.sources, inp.refs, preds))[:8]],
    }
    if oracle and bundle.task == "hmm":
        out["oracle"] = oracle_kl(bundle, n=n, seed=seed, batch_size=batch_size, n_boot=n_boot)
    out["seconds"] = round(time.time() - started, 2)
    return out


def _r(x, digits: int = 5):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def _rl(t: Tensor) -> list:
    return [_r(v) for v in t.tolist()]


def summary_lines(res: dict) -> list[str]:
    s, c, d, cal = res["sequence"], res["compounding"], res["drift"], res["calibration"]
    lines = [f"{res['model']} ({res['task']}, {res['examples']} examples, {res['seconds']} s)",
             f"  exact match (free running, greedy): {s['fr_exact_match']} "
             f"[{s['fr_exact_match_lo']}, {s['fr_exact_match_hi']}]",
             f"  token error TF {s['tf_token_error']}  FR {s['fr_token_error']};  NLL/token TF {s['tf_nll_per_token']}"
             f"  FR {s['fr_nll_per_token']};  chrF {s['chrf']}  BLEU {s['bleu']}",
             f"  ECE TF {cal['tf_ece']}  FR {cal['fr_ece']}",
             f"  compounding: c={c['c']} d={c['d']} e={c['e']}; final gap measured {c['final_measured']} "
             f"predicted {c['final_predicted']} (relative RMSE {c['relative_rmse']})",
             f"  drift: alpha={d.get('alpha')} eps={d.get('eps')} {d.get('regime')}; steady gap predicted "
             f"{d.get('predicted_steady_gap')} measured {d.get('measured_plateau')}"]
    rec = res["recovery"]
    if rec.get("steps"):
        first = rec["steps"][0]
        lines.append(f"  recovery after a wrong token at step {rec['t0']}: next token right "
                     f"{first['injected_matches_gold']} (uninjected {first['uninjected_matches_gold']}); "
                     f"sequence right {rec['injected_sequence_correct']} (uninjected {rec['uninjected_sequence_correct']})")
    if "oracle" in res:
        o = res["oracle"]
        lines.append(f"  oracle: mean KL data prefixes {o['mean_kl_data']}, own prefixes {o['mean_kl_model']}; "
                     f"AccErr({o['length']}) {o['acc_err_at_length']}, %ExAccErr {o['pct_ex_acc_err_at_length']}")
    return lines


def main_exposure(args) -> None:
    from .checkpoint import atomic_write_text
    if args.n < 1 or args.n > 20000:
        raise ValueError(f"--n must be between 1 and 20000, got {args.n}")
    if args.t0 < 0:
        raise ValueError(f"--t0 must be >= 0, got {args.t0}")
    torch.set_num_threads(max(1, args.threads))
    res = analyze(args.model, n=args.n, seed=args.seed, t0=args.t0, n_boot=args.bootstrap)
    text = json.dumps(res, indent=1)
    if args.out:
        from pathlib import Path
        atomic_write_text(Path(args.out), text + "\n")
    print(text if args.json else "\n".join(summary_lines(res)))
