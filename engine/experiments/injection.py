"""Per-example runs after an injected error, for the recovery experiment: the model's best wrong token
(not the gold one, not <eos>) is forced at generated step t0 after the gold prefix, then the model
decodes greedily; its twin run takes the gold token at t0 instead. engine.exposure.recovery reports
the shares; this returns the per-example tokens, so intervals can resample examples."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..exposure.passes import Inputs, rows
from ..exposure.recovery import _inject
from ..rollout import rollout
from ..tokenizer import PAD


@torch.no_grad()
def injected_runs(model, inp: Inputs, t0: int, horizon: int, batch_size: int = 500) -> dict:
    """For the examples with at least one gold token after step t0: gold, injected and undisturbed
    tokens at the `horizon` steps after the injection ([N, horizon], PAD where the gold has ended)."""
    model.eval()
    pos = inp.prompt - 1 + t0
    lengths = (inp.tout != PAD).sum(1)
    index = torch.nonzero(lengths > pos + 1).squeeze(1)
    gold_all, inj_all, base_all = [], [], []
    for lo in range(0, index.numel(), batch_size):
        r = index[lo:lo + batch_size]
        tin, tout = inp.tin[r], inp.tout[r]
        src, smask = rows(inp, r)
        fr = rollout(model, inp.tok, src=src, src_mask=smask, prompt=tin[:, :pos + 1], max_new=horizon + 1,
                     rows_per_input=2, processor=_inject(tout[:, pos]))
        gen = F.pad(fr.tokens[:, 1:], (0, horizon + 1 - fr.tokens.shape[1]), value=PAD)[:, :horizon]
        inj_all.append(gen[0::2])
        base_all.append(gen[1::2])
        g = tout[:, pos + 1: pos + 1 + horizon]
        gold_all.append(F.pad(g, (0, horizon - g.shape[1]), value=PAD))
    if not gold_all:
        empty = torch.zeros(0, horizon, dtype=torch.long)
        return {"gold": empty, "injected": empty, "undisturbed": empty}
    return {"gold": torch.cat(gold_all), "injected": torch.cat(inj_all), "undisturbed": torch.cat(base_all)}
