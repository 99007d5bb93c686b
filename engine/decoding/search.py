"""The strategies: greedy and sampling (batched over inputs and samples), beam search and diverse beam
search (vectorised: one model call per step for every live hypothesis of every group, the state
reordered with `model.reorder_state`). Every step is recorded through `Recorder`.

Each function returns, per input, the parts of a trace: steps, hypotheses, beam graph, warnings, timing.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

import torch

from ..evaluate import pad_batch
from ..models.base import expand_state
from ..tokenizer import BOS, EOS, PAD
from .common import Prepared, Recorder, g, hypothesis, revive_dead_rows
from .config import GenerationConfig
from .processors import apply_rules, hamming_diversity


def _start(bundle, preps: Sequence[Prepared], rows_per_input: int, want_attn: bool):
    """Encoder pass / empty cache; returns (state, first decoder input, its mask, encoder attention)."""
    model = bundle.model
    if model.is_encoder_decoder:
        src, smask = pad_batch([p.ids for p in preps])
        state, enc_attn = model.start(src, smask, output_attentions=want_attn)
        if rows_per_input > 1:
            state = expand_state(state, rows_per_input)
        n = len(preps) * rows_per_input
        return state, torch.full((n, 1), BOS, dtype=torch.long), None, enc_attn
    n = len(preps) * rows_per_input
    state, _ = model.start(batch_size=n)
    seqs = [[BOS] + p.ids for p in preps for _ in range(rows_per_input)]
    ids, mask = pad_batch(seqs, side="left")
    return state, ids, (mask if not bool(mask.all()) else None), None


def _key_prefix(bundle, prep: Prepared) -> list[str]:
    if bundle.model.is_encoder_decoder:
        return ["<bos>"]
    return ["<bos>"] + prep.tokens


def _context(bundle, prep: Prepared, generated: list[int]) -> list[int]:
    """The ids the repetition rules look at: LM prompt + generated (as HF's input_ids); seq2seq: generated."""
    return generated if bundle.model.is_encoder_decoder else prep.ids + generated


def _needs_context(config: GenerationConfig) -> bool:
    return bool(config.repetition_penalty != 1.0 or config.additive_repetition_penalty or config.no_repeat_ngram_size)


def _generators(config: GenerationConfig, n: int, seeds: Optional[list[int]]):
    return [torch.Generator().manual_seed(int(s)) for s in seeds] if seeds else [None] * n


@torch.no_grad()
def free_run(bundle, preps: Sequence[Prepared], config: GenerationConfig, recorder: Recorder,
             seeds: Optional[list[int]] = None, sample: Optional[bool] = None, rows_per_input: Optional[int] = None):
    """Greedy decoding or ancestral sampling for several inputs at once (num_return_sequences rows each).

    Returns one dict per input: steps, rows (per row: ids, raw log-probs), warnings, steps_s."""
    model = bundle.model
    sample = config.do_sample if sample is None else sample
    warp = config.uses_warpers if sample else False
    R = rows_per_input or config.num_return_sequences
    B = len(preps)
    N = B * R
    row_input = [b for b in range(B) for _ in range(R)]
    gens = _generators(config, B, seeds) if sample else [None] * B
    state, step_in, step_mask, enc_attn = _start(bundle, preps, R, recorder.want_attn)
    limits = [preps[row_input[r]].max_new for r in range(N)]
    generated = [[] for _ in range(N)]
    raw_lps = [[] for _ in range(N)]
    done = [False] * N
    results = [{"steps": [], "warnings": [], "steps_s": [], "rows": []} for _ in range(B)]
    key_prefix = [_key_prefix(bundle, p) for p in preps]
    src_lens = [len(p.ids) for p in preps]
    needs_context = _needs_context(config)
    want_labels = recorder.want_attn and bundle.model.has_self_attention
    for t in range(max(limits)):
        t0 = time.perf_counter()
        out = model.decode(step_in, state, step_mask, output_attentions=recorder.want_attn)
        state = out.state
        logits = out.logits[:, -1].float()
        raw_logp = torch.log_softmax(logits, -1)
        live = [r for r in range(N) if not done[r]]
        contexts = ([_context(bundle, preps[row_input[r]], generated[r]) for r in range(N)]
                    if needs_context else None)
        scores = apply_rules(logits, config, contexts, [len(x) for x in generated], EOS, warp)
        scores, dead = revive_dead_rows(scores, logits)
        for r in dead:
            if not done[r]:
                results[row_input[r]]["warnings"].append(
                    f"step {t}: the decoding rules removed every token; the raw distribution was used")
        proc_logp = raw_logp if scores is logits else torch.log_softmax(scores, -1)
        chosen = [None] * N
        if sample:
            probs = proc_logp.exp()
            for b in range(B):
                rows = [r for r in range(b * R, (b + 1) * R) if not done[r]]
                if rows:
                    draws = torch.multinomial(probs[rows], 1, generator=gens[b])[:, 0].tolist()
                    for r, d in zip(rows, draws):
                        chosen[r] = d
        else:
            am = scores.argmax(-1).tolist()
            for r in live:
                chosen[r] = am[r]
        for r in live:
            f = preps[row_input[r]].forced.get(t)
            if f is not None:
                chosen[r] = f
                if not torch.isfinite(proc_logp[r, f]):
                    results[row_input[r]]["warnings"].append(
                        f"step {t}: the forced token {recorder.name(f)!r} was excluded by the decoding rules")
        # record, per input, its live rows
        for b in range(B):
            rows = [r for r in live if row_input[r] == b]
            if not rows:
                continue
            extra = [{"slot": r - b * R, "node": None, "prefix_ids": list(generated[r])} for r in rows]
            labels = [key_prefix[b] + [recorder.name(i) for i in generated[r]] for r in rows] if want_labels else None
            recs = recorder.steps(rows, raw_logp, proc_logp, out, chosen=[chosen[r] for r in rows],
                                  key_labels=labels, src_lens=[src_lens[b]] * len(rows), extra=extra)
            results[b]["steps"].append({"step": t, "hypotheses": recs})
        raw_chosen = raw_logp.gather(1, torch.as_tensor([c if c is not None else PAD for c in chosen])[:, None])[:, 0].tolist()
        for r in live:
            generated[r].append(chosen[r])
            raw_lps[r].append(raw_chosen[r])
            if chosen[r] == EOS or len(generated[r]) >= limits[r]:
                done[r] = True
        dt = time.perf_counter() - t0
        for b in {row_input[r] for r in live}:
            results[b]["steps_s"].append(round(dt, 6))
        if all(done):
            break
        step_in = torch.as_tensor([c if c is not None else PAD for c in chosen], dtype=torch.long)[:, None]
        step_mask = None if not any(done) else torch.as_tensor([not d for d in done])[:, None]
    for b, p in enumerate(preps):
        for step, tid in sorted(p.forced.items()):
            for r in range(b * R, (b + 1) * R):
                if len(generated[r]) <= step:
                    results[b]["warnings"].append(
                        f"the sequence ended before step {step}; the token forced there was not used")
                    break
        results[b]["rows"] = [(generated[r], raw_lps[r]) for r in range(b * R, (b + 1) * R)]
        if enc_attn is not None:
            results[b]["encoder_attention"] = recorder.encoder_attention(enc_attn, b, src_lens[b])
    return results


def free_hypotheses(bundle, rows, config: GenerationConfig) -> list[dict]:
    hyps = [hypothesis(bundle, ids, lps, config.length_penalty, slot=i) for i, (ids, lps) in enumerate(rows)]
    hyps.sort(key=lambda h: -(h["normalized_score"] if h["normalized_score"] is not None else -1e30))
    return hyps


# -- beam search -------------------------------------------------------------------------------------

class BeamHypotheses:
    """The finished hypotheses of one beam group (Hugging Face's BeamHypotheses, with the same is_done)."""

    def __init__(self, num_beams: int, length_penalty: float, early_stopping, max_new: int):
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.early_stopping, self.max_new = early_stopping, max_new
        self.beams: list[tuple[float, dict]] = []   # (score, payload)
        self.worst_score = 1e9
        self.evicted: list[dict] = []

    def __len__(self):
        return len(self.beams)

    def add(self, sum_logprobs: float, length: int, payload: dict) -> bool:
        score = sum_logprobs / (max(length, 1) ** self.length_penalty)
        if len(self) < self.num_beams or score > self.worst_score:
            self.beams.append((score, payload))
            if len(self) > self.num_beams:
                order = sorted((sc, i) for i, (sc, _) in enumerate(self.beams))
                self.evicted.append(self.beams[order[0][1]][1])
                del self.beams[order[0][1]]
                self.worst_score = order[1][0]
            else:
                self.worst_score = min(score, self.worst_score)
            return True
        return False

    def is_done(self, best_sum_logprobs: float, cur_len: int) -> bool:
        if len(self) < self.num_beams:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping is False:
            highest = best_sum_logprobs / (cur_len ** self.length_penalty)
        elif self.length_penalty > 0.0:            # "never": the best a live beam could still reach
            highest = best_sum_logprobs / (self.max_new ** self.length_penalty)
        else:
            highest = best_sum_logprobs / (cur_len ** self.length_penalty)
        return self.worst_score >= highest


@torch.no_grad()
def beam_search(bundle, prep: Prepared, config: GenerationConfig, recorder: Recorder,
                num_beams: Optional[int] = None, num_return: Optional[int] = None):
    """(Diverse) beam search for one input, Hugging Face semantics: per group and step the 2*group_size
    best candidates (cumulative processed log-probs); an <eos> candidate among the first group_size is
    stored as finished, the first group_size others are kept; the rest are pruned."""
    model = bundle.model
    K = num_beams or config.num_beams
    G = config.num_beam_groups if num_beams is None else 1
    gs = K // G
    lp = config.length_penalty
    max_new = prep.max_new
    state, step_in, step_mask, enc_attn = _start(bundle, [prep], 1, recorder.want_attn)
    nodes = [{"id": 0, "parent": None, "step": -1, "token": "<bos>", "token_id": BOS, "logprob": 0.0,
              "cum_logprob": 0.0, "score": 0.0, "status": "kept", "group": 0}]
    # a live beam: node id, group, generated ids, raw log-probs, cumulative processed log-prob
    beams = [{"node": 0, "group": gi, "ids": [], "raw": [], "cum": 0.0} for gi in range(G)]
    row_of_beam = [0] * G                       # at step 0 every group reads row 0 (the root)
    hyps = [BeamHypotheses(gs, lp, config.early_stopping, max_new) for _ in range(G)]
    done = [False] * G
    steps, steps_s, warnings = [], [], []
    key_prefix = _key_prefix(bundle, prep)
    src_len = len(prep.ids)
    V = bundle.tokenizer.vocab_size
    last_kept: list[int] = []
    needs_context = _needs_context(config)
    want_labels = recorder.want_attn and model.has_self_attention
    for t in range(max_new):
        t0 = time.perf_counter()
        out = model.decode(step_in, state, step_mask, output_attentions=recorder.want_attn)
        step_mask = None
        logits = out.logits[:, -1].float()
        raw_logp = torch.log_softmax(logits, -1)
        n_rows = logits.shape[0]
        # the rows each beam reads, and each row's first beam (for the record)
        rec_logp = None                              # processed distributions of the rows, if any rule acted
        current_tokens: list[int] = []
        new_beams, parent_rows = [], []
        forced = prep.forced.get(t)
        row_done = set()
        for gi in range(G):
            if done[gi]:
                continue
            members = [i for i, bm in enumerate(beams) if bm["group"] == gi]
            if not members:
                done[gi] = True
                continue
            rows = [row_of_beam[i] for i in members]
            ridx = torch.as_tensor(rows, dtype=torch.long)
            sc = raw_logp.index_select(0, ridx)
            if G > 1:
                sc = hamming_diversity(sc, current_tokens, config.diversity_penalty)
            contexts = [_context(bundle, prep, beams[i]["ids"]) for i in members] if needs_context else None
            before = sc
            sc = apply_rules(sc, config, contexts, [len(beams[i]["ids"]) for i in members], EOS, warp=False)
            sc, dead = revive_dead_rows(sc, raw_logp.index_select(0, ridx))
            if dead:
                warnings.append(f"step {t}: the decoding rules removed every token of a beam; its raw distribution was used")
            if sc is not before or G > 1:
                if rec_logp is None:
                    rec_logp = raw_logp.clone()
                for j, r in enumerate(rows):
                    if r not in row_done:
                        rec_logp[r] = torch.log_softmax(sc[j], -1)
                        row_done.add(r)
            if forced is not None:
                keep = sc[:, forced].clone()
                if not bool(torch.isfinite(keep).all()):
                    warnings.append(f"step {t}: the forced token {recorder.name(forced)!r} was excluded by the "
                                    "decoding rules; its raw log-prob is used")
                    keep = torch.where(torch.isfinite(keep), keep, raw_logp.index_select(0, ridx)[:, forced])
                sc = torch.full_like(sc, float("-inf"))
                sc[:, forced] = keep
            cum = torch.as_tensor([beams[i]["cum"] for i in members], dtype=sc.dtype)
            total = (sc + cum[:, None]).reshape(-1)
            k = min(2 * gs, total.numel())
            vals, idx = torch.topk(total, k)
            finite = torch.isfinite(vals)
            vals, idx = vals[finite].tolist(), idx[finite].tolist()
            kept = 0
            for rank, (v, flat) in enumerate(zip(vals, idx)):
                bi, tok = divmod(flat, V)
                parent = beams[members[bi]]
                length = len(parent["ids"]) + 1
                node = {"id": len(nodes), "parent": parent["node"], "step": t, "token": recorder.name(tok),
                        "token_id": tok, "logprob": g(float(sc[bi, tok])), "cum_logprob": g(v),
                        "score": g(v / (length ** lp)), "status": "pruned", "group": gi}
                nodes.append(node)
                if kept >= gs:
                    continue                     # considered, not kept
                raw_tok = float(raw_logp[rows[bi], tok])
                if tok == EOS:
                    if rank >= gs:
                        continue                 # an <eos> worse than the group_size best is not stored
                    payload = {"node": node["id"], "ids": parent["ids"] + [tok], "raw": parent["raw"] + [raw_tok],
                               "cum": v}
                    if hyps[gi].add(v, length, payload):
                        node["status"] = "finished"
                else:
                    node["status"] = "kept"
                    new_beams.append({"node": node["id"], "group": gi, "ids": parent["ids"] + [tok],
                                      "raw": parent["raw"] + [raw_tok], "cum": v})
                    parent_rows.append(rows[bi])
                    current_tokens.append(tok)
                    kept += 1
            if vals:
                done[gi] = done[gi] or hyps[gi].is_done(max(vals), t + 1)
            if kept == 0:
                done[gi] = True
        # record every row (each live hypothesis before this step's choice)
        seen_rows, rec_rows, extra, labels = set(), [], [], []
        for i, bm in enumerate(beams):
            r = row_of_beam[i]
            if r in seen_rows:
                continue
            seen_rows.add(r)
            rec_rows.append(r)
            extra.append({"slot": r, "node": bm["node"], "prefix_ids": list(bm["ids"])})
            if want_labels:
                labels.append(key_prefix + [recorder.name(x) for x in bm["ids"]])
        recs = recorder.steps(rec_rows, raw_logp, raw_logp if rec_logp is None else rec_logp, out, chosen=None,
                              key_labels=labels,
                              src_lens=[src_len] * len(rec_rows), extra=extra)
        steps.append({"step": t, "hypotheses": recs})
        steps_s.append(round(time.perf_counter() - t0, 6))
        # beams of finished groups are not extended
        live_beams = [(bm, r) for bm, r in zip(new_beams, parent_rows) if not done[bm["group"]]]
        for bm in new_beams:
            if done[bm["group"]]:
                nodes[bm["node"]]["status"] = "pruned"   # kept at the step the group finished, never extended
        if not live_beams or t == max_new - 1:
            last_kept = [bm for bm, _ in live_beams]
            break
        beams = [bm for bm, _ in live_beams]
        rows_t = torch.as_tensor([r for _, r in live_beams], dtype=torch.long)
        state = model.reorder_state(out.state, rows_t)
        row_of_beam = list(range(len(beams)))
        step_in = torch.as_tensor([bm["ids"][-1] for bm in beams], dtype=torch.long)[:, None]
    # finalize: live beams of unfinished groups compete with the finished ones (HF finalize)
    for bm in last_kept:
        gi = bm["group"]
        if hyps[gi].add(bm["cum"], len(bm["ids"]), {"node": bm["node"], "ids": bm["ids"], "raw": bm["raw"],
                                                  "cum": bm["cum"]}):
            nodes[bm["node"]]["status"] = "finished"
        else:
            nodes[bm["node"]]["status"] = "pruned"
    for h in hyps:
        for p in h.evicted:
            nodes[p["node"]]["status"] = "pruned"
    final = sorted(((s, p) for h in hyps for s, p in h.beams), key=lambda x: -x[0])
    n_ret = num_return or config.num_return_sequences
    hyp_list = [hypothesis(bundle, p["ids"], p["raw"], lp, node=p["node"], search_score=g(s),
                           search_logprob=g(p["cum"])) for s, p in final[:n_ret]]
    for p in prep.forced:
        if p >= len(steps):
            warnings.append(f"the search ended before step {p}; the token forced there was not used")
    beam = {"num_beams": K, "num_beam_groups": G, "length_penalty": lp, "early_stopping": config.early_stopping,
            "nodes": nodes}
    res = {"steps": steps, "steps_s": steps_s, "warnings": warnings, "hypotheses": hyp_list, "beam": beam}
    if enc_attn is not None:
        res["encoder_attention"] = recorder.encoder_attention(enc_attn, 0, src_len)
    return res
