"""Beam search and diverse beam search for one input, Hugging Face semantics (transformers 5.24's
`_beam_search`), vectorised: one model call per step for every live hypothesis of every group, the
state reordered with `model.reorder_state`.

Per group and step the max(2, 1 + number of end ids) * group_size best candidates (cumulative
processed log-probs) are considered: an end-token candidate among the first group_size is stored as
finished, the first group_size others are kept, the rest are pruned. Every candidate is a node of the
beam graph; every step is recorded. The special-token rule of `engine.rollout` holds (`EmitMask`:
never_emit ids masked and ids past the tokenizer's vocabulary cut off before any rule). A group stops
as `_check_early_stop_heuristic` says (BeamHypotheses.is_done with the best still-running beam)."""
from __future__ import annotations

import math
import time
from typing import Optional

import torch
from torch import Tensor

from ..rollout import EmitMask, begin, end_ids
from ..trace import schema
from .config import GenerationConfig
from .forced import force_scores, unused
from .inputs import Prepared, key_prefix, needs_context, rule_context, run_inputs
from .recorder import Recorder, g, hypothesis
from .rules import apply_rules, hamming_diversity, length_normalized
from .sampling import revive_dead_rows, rule_eos


class BeamHypotheses:
    """The finished hypotheses of one beam group: the best num_beams, and `is_done`, transformers 5.24's
    `_check_early_stop_heuristic` (called with the best still-running beam's cumulative score)."""

    def __init__(self, num_beams: int, length_penalty: float, early_stopping, max_new: int):
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.early_stopping, self.max_new = early_stopping, max_new
        self.beams: list[tuple[float, dict]] = []   # (score, payload)
        self.worst_score = 1e9
        self.evicted: list[dict] = []

    def __len__(self):
        return len(self.beams)

    def add(self, sum_logprobs: float, length: int, payload: dict) -> bool:
        score = length_normalized(sum_logprobs, length, self.length_penalty)
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
        """Can no running beam beat the worst stored hypothesis any more? `best_sum_logprobs`: the best
        still-running beam's cumulative score (not the best of all candidates: that was HF <= 4.49);
        cur_len: the tokens generated so far. True: as soon as num_beams are stored; False: that beam
        at its current length; "never": at max_new tokens when the length penalty is > 0."""
        if len(self) < self.num_beams:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping is False:
            highest = length_normalized(best_sum_logprobs, cur_len, self.length_penalty)
        elif self.length_penalty > 0.0:            # "never": the best a live beam could still reach
            highest = length_normalized(best_sum_logprobs, self.max_new, self.length_penalty)
        else:
            highest = length_normalized(best_sum_logprobs, cur_len, self.length_penalty)
        return self.worst_score >= highest


class _Search:
    """One beam search: the live beams, the graph's nodes, the finished hypotheses per group."""

    def __init__(self, bundle, prep: Prepared, config: GenerationConfig, recorder: Recorder, num_beams, num_return):
        self.bundle, self.prep, self.config, self.recorder = bundle, prep, config, recorder
        K = num_beams or config.num_beams
        self.G = config.num_beam_groups if num_beams is None else 1
        self.K, self.gs, self.lp = K, K // self.G, config.length_penalty
        self.n_return = num_return or config.num_return_sequences
        tok = bundle.tokenizer
        self.eos = frozenset(end_ids(tok))
        self.rule_eos = rule_eos(tok)
        root = prep.prefix[0]                    # the decoder start (seq2seq) or the prompt's first token
        self.nodes = [schema.beam_node(id=0, parent=None, step=-1, token=recorder.name(root), token_id=root,
                                       logprob=0.0, cum_logprob=0.0, score=0.0, status="kept")]
        self.width = max(2, 1 + len(self.eos)) * self.gs  # candidates per group and step (HF's beams_to_keep)
        # a live beam: node id, group, generated ids, raw log-probs, cumulative processed log-prob
        # labels: the self-attention key labels of the beam's next step (prefix + its tokens), when recorded
        keys = key_prefix(bundle, prep) if recorder.key_labels else None
        self.beams = [{"node": 0, "group": gi, "ids": [], "raw": [], "cum": 0.0, "labels": keys}
                      for gi in range(self.G)]
        self.row_of_beam = [0] * self.G          # at step 0 every group reads row 0 (the root)
        self.hyps = [BeamHypotheses(self.gs, self.lp, config.early_stopping, prep.max_new) for _ in range(self.G)]
        self.done = [False] * self.G
        self.steps, self.steps_s, self.warnings = [], [], []
        self.context = needs_context(config, False)
        self.mask = EmitMask(tok)
        self._rows: list = []

    def run(self) -> dict:
        model, kw = self.bundle.model, {"hooks": self.recorder.hooks} if self.recorder.hooks else {}
        state, step_in, step_mask, start_hooks = begin(model, **run_inputs(self.bundle, [self.prep]),
                                                       hooks=self.recorder.hooks)
        device = step_in.device
        last_kept = []
        for t in range(self.prep.max_new):
            t0 = time.perf_counter()
            out = model.decode(step_in, state, step_mask, **kw)
            step_mask = None
            raw_logp = self.mask(out.logits[:, -1]).log_softmax(-1)
            self.rec_logp, self.rec_rows = None, set()   # processed distributions of the rows, if a rule acted
            self.tokens_now, self.new_beams, self.parent_rows = [], [], []
            for gi in range(self.G):
                if not self.done[gi]:
                    self.expand_group(gi, t, raw_logp)
            self.record(t, out, raw_logp)
            self.steps_s.append(round(time.perf_counter() - t0, 6))
            live = self.retire_finished_groups()
            if not live or t == self.prep.max_new - 1:
                last_kept = [bm for bm, _ in live]
                break
            self.beams = [bm for bm, _ in live]
            state = model.reorder_state(out.state, torch.as_tensor([r for _, r in live], dtype=torch.long,
                                                                   device=device))
            self.row_of_beam = list(range(len(self.beams)))
            step_in = torch.as_tensor([bm["ids"][-1] for bm in self.beams], dtype=torch.long, device=device)[:, None]
        self.finalize(last_kept)
        return self.result(start_hooks)

    def group_scores(self, gi: int, members: list, rows: list, raw_logp: Tensor, t: int) -> tuple[Tensor, Tensor]:
        """The scores of a group's beams after diversity, the rules and a forced token, and the group's raw
        log-probs (its rows of raw_logp)."""
        every = rows == self.all_rows(raw_logp.shape[0])          # the group reads every row, in order
        ridx = None if every else torch.as_tensor(rows, dtype=torch.long, device=raw_logp.device)
        raw = raw_logp if every else raw_logp.index_select(0, ridx)
        sc = hamming_diversity(raw, self.tokens_now, self.config.diversity_penalty) if self.G > 1 else raw
        contexts = ([rule_context(self.bundle, self.prep, self.beams[i]["ids"]) for i in members]
                    if self.context else None)
        before = sc
        sc = apply_rules(sc, self.config, contexts, [len(self.beams[i]["ids"]) for i in members], self.rule_eos,
                         warp=False)
        sc, dead = revive_dead_rows(sc, raw)
        if dead:
            self.warnings.append(f"step {t}: the decoding rules removed every token of a beam; its raw "
                                 "distribution was used")
        new = [j for j, r in enumerate(rows) if r not in self.rec_rows] if (sc is not before or self.G > 1) else []
        if new:                                       # the recorded distribution of a row: its first group's
            if every and self.rec_logp is None:       # (rows are distinct within a step: all new)
                self.rec_logp = torch.log_softmax(sc, -1)
            else:
                if self.rec_logp is None:
                    self.rec_logp = raw_logp.clone()
                if ridx is None:
                    ridx = torch.as_tensor(rows, dtype=torch.long, device=raw_logp.device)
                if len(new) == len(rows):
                    self.rec_logp.index_copy_(0, ridx, torch.log_softmax(sc, -1))
                else:
                    self.rec_logp[ridx[new]] = torch.log_softmax(sc[new], -1)
            self.rec_rows.update(rows[j] for j in new)
        forced = self.prep.forced.get(t)
        if forced is not None:
            sc = force_scores(sc, raw, forced, t, self.recorder.name(forced), self.warnings)
        return sc, raw

    def all_rows(self, n: int) -> list:
        """[0, 1, ..., n - 1] (made once per width)."""
        if len(self._rows) != n:
            self._rows = list(range(n))
        return self._rows

    def expand_group(self, gi: int, t: int, raw_logp: Tensor) -> None:
        """Consider the 2*group_size best continuations of group gi: new nodes, kept beams, finished ones."""
        members = [i for i, bm in enumerate(self.beams) if bm["group"] == gi]
        if not members:
            self.done[gi] = True
            return
        rows = [self.row_of_beam[i] for i in members]
        sc, raw = self.group_scores(gi, members, rows, raw_logp, t)
        width = sc.shape[-1]
        cum = torch.as_tensor([self.beams[i]["cum"] for i in members], dtype=sc.dtype, device=sc.device)
        total = (sc + cum[:, None]).reshape(-1)
        vals, idx = torch.topk(total, min(self.width, total.numel()))
        # one conversion: the candidates' cumulative scores, step log-probs (after the rules) and raw log-probs
        cand = torch.stack([vals, sc.reshape(-1).index_select(0, idx), raw.reshape(-1).index_select(0, idx)]).tolist()
        kept, best_running, lp, eos, nodes, rank = 0, None, self.lp, self.eos, self.nodes, -1
        for v, flat_i, step_lp, raw_lp in zip(cand[0], idx.tolist(), cand[1], cand[2]):
            if not math.isfinite(v):
                continue                              # a removed token (-inf) is never a candidate
            rank += 1
            bi, tok = divmod(flat_i, width)
            parent = self.beams[members[bi]]
            length = len(parent["ids"]) + 1
            name = self.recorder.name(tok)
            node = schema.beam_node(id=len(nodes), parent=parent["node"], step=t, token=name, token_id=tok,
                                    logprob=g(step_lp), cum_logprob=g(v), score=g(length_normalized(v, length, lp)),
                                    status="pruned", group=gi)
            nodes.append(node)
            end = tok in eos
            if kept >= self.gs or (end and rank >= self.gs):
                continue          # considered, not kept; an <eos> worse than the group_size best is not stored
            beam = {"node": node["id"], "group": gi, "ids": parent["ids"] + [tok], "raw": parent["raw"] + [raw_lp],
                    "cum": v, "labels": parent["labels"] + [name] if parent["labels"] is not None else None}
            if end:
                if self.hyps[gi].add(v, length, beam):
                    node["status"] = "finished"
            else:
                node["status"] = "kept"
                self.new_beams.append(beam)
                self.parent_rows.append(rows[bi])
                self.tokens_now.append(tok)
                kept += 1
                if best_running is None:
                    best_running = v
        if best_running is not None:          # HF 5.x: the best still-running beam, not the best candidate
            self.done[gi] = self.done[gi] or self.hyps[gi].is_done(best_running, t + 1)
        if kept == 0:
            self.done[gi] = True

    def record(self, t: int, out, raw_logp: Tensor) -> None:
        """Every row (each live hypothesis before this step's choice), once."""
        seen, rows, extra, labels = set(), [], [], []
        for i, bm in enumerate(self.beams):
            r = self.row_of_beam[i]
            if r in seen:
                continue
            seen.add(r)
            rows.append(r)
            extra.append({"slot": r, "node": bm["node"], "prefix_ids": list(bm["ids"])})
            if bm["labels"] is not None:
                labels.append(bm["labels"])
        recs = self.recorder.steps(rows, raw_logp, raw_logp if self.rec_logp is None else self.rec_logp, out,
                                   extra=extra, key_labels=labels, src_lens=[len(self.prep.ids)] * len(rows))
        self.steps.append(schema.step_entry(step=t, hypotheses=recs))

    def retire_finished_groups(self) -> list:
        """The new beams of groups still searching, with the rows they extend; the beams of a group that
        finished at this step are pruned (kept at that step, never extended)."""
        for bm in self.new_beams:
            if self.done[bm["group"]]:
                self.nodes[bm["node"]]["status"] = "pruned"
        return [(bm, r) for bm, r in zip(self.new_beams, self.parent_rows) if not self.done[bm["group"]]]

    def finalize(self, last_kept: list) -> None:
        """Live beams of unfinished groups compete with the finished ones (HF finalize)."""
        for bm in last_kept:
            added = self.hyps[bm["group"]].add(bm["cum"], len(bm["ids"]), bm)
            self.nodes[bm["node"]]["status"] = "finished" if added else "pruned"
        for h in self.hyps:
            for p in h.evicted:
                self.nodes[p["node"]]["status"] = "pruned"

    def result(self, start_hooks: dict) -> dict:
        final = sorted(((s, p) for h in self.hyps for s, p in h.beams), key=lambda x: -x[0])
        hyps = [hypothesis(self.bundle, p["ids"], p["raw"], self.lp, node=p["node"], search_score=g(s, 9),
                           search_logprob=g(p["cum"], 9)) for s, p in final[:self.n_return]]
        self.warnings += unused(self.prep, [len(self.steps)], what="search")
        beam = schema.beam_section(nodes=self.nodes, num_beams=self.K, num_beam_groups=self.G,
                                   length_penalty=self.lp, early_stopping=self.config.early_stopping)
        res = {"steps": self.steps, "steps_s": self.steps_s, "warnings": self.warnings, "hypotheses": hyps,
               "beam": beam}
        enc = self.recorder.encoder_attention(start_hooks, 0, len(self.prep.ids))
        if enc is not None:
            res["encoder_attention"] = enc
        return res


@torch.no_grad()
def beam_search(bundle, prep: Prepared, config: GenerationConfig, recorder: Recorder,
                num_beams: Optional[int] = None, num_return: Optional[int] = None) -> dict:
    """(Diverse) beam search for one input (see the module docstring). num_beams / num_return override
    the config's (MBR's n-best list: one group). Returns steps, steps_s, warnings, hypotheses, beam
    and encoder_attention when recorded."""
    return _Search(bundle, prep, config, recorder, num_beams, num_return).run()


__all__ = ["BeamHypotheses", "beam_search"]
