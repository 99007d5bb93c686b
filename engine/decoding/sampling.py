"""Greedy decoding and ancestral sampling of several inputs at once (num_return_sequences rows each),
through `engine.rollout`: the decoding rules are its processor, the recorder sees every step.

Each input gets its own generator (seeded with the run's seed), so a batch gives the same samples as
one input at a time. Returns, per input, the parts of a trace: steps, rows, warnings, timing."""
from __future__ import annotations

import time
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..rollout import StepContext, end_ids, model_device, rollout
from ..trace import schema
from .config import GenerationConfig
from .forced import excluded, unused
from .inputs import Prepared, key_prefix, needs_context, rule_context, run_inputs
from .recorder import Recorder, hypothesis
from .rules import apply_rules


def rule_eos(tokenizer):
    """The `eos_id` the rules get (min_new_tokens masks it): the end id, or for none or several end ids a
    [k, 1] index tensor (rules index `scores[rows, eos_id]`; this shape broadcasts to every row x end id)."""
    ids = end_ids(tokenizer)
    return ids[0] if len(ids) == 1 else torch.as_tensor(ids, dtype=torch.long).reshape(-1, 1)


def revive_dead_rows(scores: Tensor, fallback: Tensor) -> tuple[Tensor, list[int]]:
    """Rows where the rules removed every token get `fallback` (the raw scores) back; returns their indices."""
    dead = torch.isneginf(scores).all(-1)
    if bool(dead.any()):
        scores = scores.clone()
        scores[dead] = fallback[dead]
        return scores, dead.nonzero()[:, 0].tolist()
    return scores, []


class _FreeRun:
    """The rules as the rollout's processor and the recorder as its on_step, for prepared inputs."""

    def __init__(self, bundle, preps: Sequence[Prepared], config: GenerationConfig, recorder: Recorder,
                 rows_per_input: int, warp: bool):
        self.bundle, self.preps, self.config, self.recorder = bundle, preps, config, recorder
        self.R, self.warp = rows_per_input, warp
        self.context = needs_context(config, warp)
        keys = [key_prefix(bundle, p) for p in preps] if recorder.key_labels else None
        # per row: the self-attention key labels of its next step (prefix + the tokens so far)
        self.labels = [list(keys[r // rows_per_input]) for r in range(len(preps) * rows_per_input)] if keys else None
        self.src_lens = [len(p.ids) for p in preps]
        self.results = [{"steps": [], "warnings": [], "steps_s": [], "rows": []} for _ in preps]
        self.eos = rule_eos(bundle.tokenizer)
        self.ctx: Optional[StepContext] = None
        self.clock = time.perf_counter()

    def processor(self, scores: Tensor, ctx: StepContext) -> Tensor:
        self.ctx = ctx
        n, t = scores.shape[0], ctx.step
        generated = ctx.tokens.tolist() if self.context else None
        contexts = ([rule_context(self.bundle, self.preps[r // self.R], generated[r]) for r in range(n)]
                    if self.context else None)
        out = apply_rules(scores, self.config, contexts, [t] * n, self.eos, self.warp)
        out, dead = revive_dead_rows(out, scores)
        for r in dead:
            if bool(ctx.live[r]):
                self.results[r // self.R]["warnings"].append(
                    f"step {t}: the decoding rules removed every token; the raw distribution was used")
        return out

    def on_step(self, t: int, out, raw_logp: Tensor, chosen: Tensor, live: Tensor) -> None:
        proc_logp, R = self.ctx.logp, self.R
        chosen, live_rows = chosen.tolist(), live.nonzero()[:, 0].tolist()
        generated = self.ctx.tokens.tolist()
        for r in live_rows:
            f = self.preps[r // R].forced.get(t)
            if f is not None and not torch.isfinite(proc_logp[r, f]):
                self.results[r // R]["warnings"].append(excluded(t, self.recorder.name(f)))
        inputs = sorted({r // R for r in live_rows})
        for b in inputs:
            rows = [r for r in live_rows if r // R == b]
            extra = [{"slot": r - b * R, "node": None, "prefix_ids": generated[r]} for r in rows]
            labels = [self.labels[r] for r in rows] if self.labels else None
            recs = self.recorder.steps(rows, raw_logp, proc_logp, out, extra=extra, chosen=[chosen[r] for r in rows],
                                       key_labels=labels, src_lens=[self.src_lens[b]] * len(rows))
            self.results[b]["steps"].append(schema.step_entry(step=t, hypotheses=recs))
        if self.labels:
            for r in live_rows:
                self.labels[r] = self.labels[r] + [self.recorder.name(chosen[r])]
        now = time.perf_counter()
        for b in inputs:
            self.results[b]["steps_s"].append(round(now - self.clock, 6))
        self.clock = now


@torch.no_grad()
def run(bundle, preps: Sequence[Prepared], config: GenerationConfig, recorder: Recorder, *,
        seeds: Optional[list] = None, sample: Optional[bool] = None, rows_per_input: Optional[int] = None) -> list[dict]:
    """Greedy decoding or ancestral sampling for several inputs at once.

    Returns one dict per input: steps, rows (per row: ids, raw log-probs), warnings, steps_s, and
    encoder_attention when recorded."""
    sample = config.do_sample if sample is None else sample
    R = rows_per_input or config.num_return_sequences
    free = _FreeRun(bundle, preps, config, recorder, R, config.uses_warpers if sample else False)
    device = model_device(bundle.model)          # a generator lives where the probabilities are drawn
    generators = [torch.Generator(device=device).manual_seed(int(s)) if s is not None else None
                  for s in (seeds or [None] * len(preps))] if sample else None
    r = rollout(bundle.model, bundle.tokenizer, **run_inputs(bundle, preps), max_new=[p.max_new for p in preps],
                rows_per_input=R, sample=sample, generators=generators, processor=free.processor,
                on_step=free.on_step, forced=[p.forced for p in preps], hooks=recorder.hooks)
    tokens, raws, lengths = r.tokens.tolist(), r.raw_logprobs.tolist(), r.lengths.tolist()
    for b, (prep, res) in enumerate(zip(preps, free.results)):
        rows = range(b * R, (b + 1) * R)
        res["warnings"] += unused(prep, [lengths[i] for i in rows])
        res["rows"] = [(tokens[i][:lengths[i]], raws[i][:lengths[i]]) for i in rows]
        enc = recorder.encoder_attention(r.start_hooks, b, len(prep.ids))
        if enc is not None:
            res["encoder_attention"] = enc
    return free.results


def ranked_hypotheses(bundle, rows, config: GenerationConfig) -> list[dict]:
    """The rows of one input as final hypotheses, best normalized score first (slot = row)."""
    hyps = [hypothesis(bundle, ids, lps, config.length_penalty, slot=i) for i, (ids, lps) in enumerate(rows)]
    hyps.sort(key=lambda h: -(h["normalized_score"] if h["normalized_score"] is not None else -1e30))
    return hyps


__all__ = ["run", "ranked_hypotheses", "revive_dead_rows", "rule_eos"]
