"""Recovery after an injected error: the model's best wrong token is forced at generated step t0 (after
the gold prefix), then greedy free running (engine.rollout); the share of examples back on the gold
track / on the uninjected track against steps since the injection (the shares matching the gold token
with their Wilson 95% intervals)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models import SeqModel
from ..rollout import StepContext, end_ids, rollout
from ..stats import wilson
from ..tokenizer import EOS
from .passes import Inputs, rows
from .stats import rounded


def _inject(gold: Tensor, ends=(EOS,)):
    """A decoding rule for the two rows of each example at its first step: row 0 takes the best token
    that is neither the gold one nor <eos> (the injected error), row 1 the gold token (uninjected)."""
    def processor(scores: Tensor, ctx: StepContext) -> Tensor:
        if ctx.step:
            return scores
        out = torch.full_like(scores, float("-inf"))
        g = gold.to(scores.device)[:, None]              # the model may run on a GPU (exposure --device)
        ends_t = torch.tensor(ends, dtype=torch.long, device=scores.device)
        out[0::2] = scores[0::2].index_fill(1, ends_t, float("-inf")).scatter(1, g, float("-inf"))
        out[1::2] = out[1::2].scatter(1, g, 0.0)
        return out
    return processor


def _injectable(inp: Inputs, t0: int) -> tuple[int, Tensor, Tensor]:
    """The decoder position of an injection at generated step t0 (after the gold prefix), the gold
    lengths, and the examples with at least one gold token after it."""
    pos = inp.prompt - 1 + t0
    lengths = (inp.tout != inp.no_gold).sum(1)
    return pos, lengths, torch.nonzero(lengths > pos + 1).squeeze(1)


@torch.no_grad()
def injected_rollouts(model: SeqModel, inp: Inputs, t0: int, horizon: int, batch_size: int = 500) -> dict:
    """Per example with at least one gold token after step t0, two greedy runs after the gold prefix:
    the model's best wrong token (not the gold one, not <eos>) forced at t0, and the gold token at t0
    (undisturbed). Returns the gold, injected and undisturbed tokens at the `horizon` steps after the
    injection ([N, horizon] each, PAD where the gold or the run has ended)."""
    model.eval()
    pos, _, index = _injectable(inp, t0)
    gold_all, inj_all, base_all = [], [], []
    for lo in range(0, index.numel(), batch_size):
        r = index[lo:lo + batch_size]
        tin, tout = inp.tin[r], inp.tout[r]
        src, smask = rows(inp, r)
        # two rows per example after the gold prefix: the injected error, then greedy; the gold token, then greedy
        fr = rollout(model, inp.tok, src=src, src_mask=smask, prompt=tin[:, :pos + 1], max_new=horizon + 1,
                     rows_per_input=2, processor=_inject(tout[:, pos], end_ids(inp.tok)),
                     prompt_mask=inp.tmask[r][:, :pos + 1] if inp.tmask is not None else None)
        tokens, lengths = fr.tokens.cpu(), fr.lengths.cpu()          # results on the CPU, wherever the model ran
        toks = tokens.masked_fill(torch.arange(tokens.shape[1]) >= lengths[:, None], inp.no_gold)
        gen = F.pad(toks[:, 1:], (0, horizon + 1 - tokens.shape[1]), value=inp.no_gold)[:, :horizon]
        inj_all.append(gen[0::2])
        base_all.append(gen[1::2])
        g = tout[:, pos + 1: pos + 1 + horizon]
        gold_all.append(F.pad(g, (0, horizon - g.shape[1]), value=inp.no_gold))
    if not gold_all:
        empty = torch.zeros(0, horizon, dtype=torch.long)
        return {"gold": empty, "injected": empty, "undisturbed": empty}
    return {"gold": torch.cat(gold_all), "injected": torch.cat(inj_all), "undisturbed": torch.cat(base_all)}


@torch.no_grad()
def recovery(model: SeqModel, inp: Inputs, t0: int = 1, horizon: int = 12, batch_size: int = 500) -> dict:
    """Inject the model's best non-gold token at generated step t0 (after the gold prefix), then decode
    greedily; compare with the gold continuation and with the uninjected greedy continuation."""
    model.eval()
    pos, lengths, index = _injectable(inp, t0)
    if index.numel() == 0:
        return {"t0": t0, "examples": 0, "steps": []}
    horizon = max(1, min(horizon, int(lengths[index].max()) - pos - 1))
    runs = injected_rollouts(model, inp, t0, horizon, batch_size)
    gold, inj, base = runs["gold"], runs["injected"], runs["undisturbed"]
    has = gold != inp.no_gold
    steps = []
    inj_ok = (inj == gold) | ~has
    base_ok = (base == gold) | ~has
    for s in range(horizon):
        m = has[:, s]
        if int(m.sum()) == 0:
            break
        n = int(m.sum())
        k_inj, k_base = int((inj[:, s] == gold[:, s])[m].sum()), int((base[:, s] == gold[:, s])[m].sum())
        _, inj_lo, inj_hi = wilson(k_inj, n)
        _, base_lo, base_hi = wilson(k_base, n)
        steps.append({"steps_since": s + 1, "examples": n,
                      "injected_matches_gold": rounded(k_inj / n), "injected_matches_gold_lo": rounded(inj_lo),
                      "injected_matches_gold_hi": rounded(inj_hi),
                      "uninjected_matches_gold": rounded(k_base / n), "uninjected_matches_gold_lo": rounded(base_lo),
                      "uninjected_matches_gold_hi": rounded(base_hi),
                      "injected_matches_uninjected": rounded(float((inj[:, s] == base[:, s])[m].double().mean())),
                      "injected_all_correct_from_here": rounded(float(inj_ok[:, s:].all(1)[m].double().mean())),
                      "uninjected_all_correct_from_here": rounded(float(base_ok[:, s:].all(1)[m].double().mean()))})
    return {"t0": t0, "examples": int(index.numel()), "steps": steps,
            "injected_sequence_correct": rounded(float(inj_ok.all(1).double().mean())),
            "uninjected_sequence_correct": rounded(float(base_ok.all(1).double().mean()))}
