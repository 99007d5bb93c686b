"""Queries over a trace (docs/trace-format.md): what the chart builders and the HTML report read.

Pure functions, no torch, no figures. Every function that takes a `trace` accepts an
`engine.Trace` or its dict. The step records of a hypothesis, the path of a beam node, the attention
a hypothesis paid, the beam graph's layout: each is computed here and only here.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional


def as_dict(trace: Any) -> dict:
    """The trace's dict (a Trace's `to_dict()`; a dict as it is)."""
    return trace if isinstance(trace, dict) else trace.to_dict()


def token_label(tok: str) -> str:
    """A token as a label: spaces at the ends shown as ␣, control characters escaped."""
    if not tok:
        return "∅"
    out = tok.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    if out.strip() != out:
        out = out.replace(" ", "␣")
    return out


def _entropy(probs: Iterable[float]) -> float:
    return float(-sum(p * math.log(p) for p in probs if p > 0))


# -- hypotheses and their steps ------------------------------------------------------------------

def best_path_ids(trace, hyp: int = 0) -> list[int]:
    """The token ids of hypothesis `hyp` (the best one by default)."""
    hyps = as_dict(trace).get("hypotheses") or []
    return list(hyps[hyp]["token_ids"]) if hyp < len(hyps) else []


def node_path(trace, node_id: Optional[int]) -> list[int]:
    """Node ids from the root of the beam graph to `node_id` (root first); [] when there is no such node.
    Terminates on any graph: a parent cycle ends the walk."""
    nodes = {n["id"]: n for n in (as_dict(trace).get("beam") or {}).get("nodes") or []}
    path: list[int] = []
    seen: set = set()
    cur = node_id
    while cur is not None and cur in nodes and cur not in seen:
        seen.add(cur)
        path.append(cur)
        cur = nodes[cur]["parent"]
    return path[::-1]


def beam_path_nodes(trace, hyp: int = 0) -> list[int]:
    """Node ids from the root to the end of hypothesis `hyp` (root first); [] without a beam graph."""
    d = as_dict(trace)
    hyps = d.get("hypotheses") or []
    if hyp >= len(hyps) or hyps[hyp].get("node") is None:
        return []
    return node_path(d, hyps[hyp]["node"])


def winner_path(trace, hyp: int = 0) -> list[int]:
    """The beam graph nodes of the chosen hypothesis (root first)."""
    return beam_path_nodes(trace, hyp)


def lookup_prob(top: Optional[list], tid: int) -> Optional[float]:
    """The probability of token `tid` in a recorded top list, None if it is not there."""
    for item in top or []:
        if item["id"] == tid:
            return float(item["prob"])
    return None


def hypothesis_steps(trace, hyp: int = 0) -> list[dict]:
    """The step records along one final hypothesis, one per generated token.

    Each item: {"step", "entry" (the steps[t].hypotheses record), "token_id", "token", "prob",
    "logprob", "entropy", "entropy_raw"}. Greedy/sampling have one live hypothesis; for beam search
    the record at step t is the one whose prefix is the hypothesis's first t tokens (found through
    the graph nodes, or the prefix ids); for MBR the chosen candidate's slot when recorded.
    """
    d = as_dict(trace)
    steps = d.get("steps") or []
    hyps = d.get("hypotheses") or []
    if hyp >= len(hyps):
        return []
    h = hyps[hyp]
    ids, toks = list(h["token_ids"]), list(h["tokens"])
    lps = list(h.get("token_logprobs") or [])
    path = beam_path_nodes(d, hyp)
    want_slot = None
    if d.get("strategy") == "mbr" and d.get("mbr") and hyp == 0:
        want_slot = d["mbr"].get("chosen")
    out = []
    for t, rec in enumerate(steps):
        if t >= len(ids):
            break
        entries = rec.get("hypotheses") or []
        if not entries:
            continue
        entry = None
        if path and t < len(path):
            entry = next((e for e in entries if e.get("node") == path[t]), None)
        if entry is None:
            entry = next((e for e in entries if list(e.get("prefix_ids") or []) == ids[:t]
                          and (e.get("token_id") in (None, ids[t]))), None)
        if entry is None and want_slot is not None:
            entry = next((e for e in entries if e.get("slot") == want_slot), None)
        if entry is None:
            entry = entries[0]
        tid = ids[t]
        if entry.get("token_id") == tid and entry.get("prob") is not None:
            prob = float(entry["prob"])
        else:
            prob = lookup_prob(entry.get("top_after"), tid)
            if prob is None and t < len(lps) and lps[t] is not None:
                prob = math.exp(lps[t])
        out.append({"step": t, "entry": entry, "token_id": tid, "token": toks[t] if t < len(toks) else str(tid),
                    "prob": prob, "logprob": lps[t] if t < len(lps) else None,
                    "entropy": entry.get("entropy"), "entropy_raw": entry.get("entropy_raw")})
    return out


def token_probs(trace, hyp: int = 0) -> list[tuple[str, Optional[float]]]:
    """(token, probability under the model's raw distribution) for each generated token."""
    hyps = as_dict(trace).get("hypotheses") or []
    if hyp >= len(hyps):
        return []
    h = hyps[hyp]
    lps = list(h.get("token_logprobs") or [])
    lps += [None] * (len(h["tokens"]) - len(lps))
    return [(tok, math.exp(lp) if lp is not None else None) for tok, lp in zip(h["tokens"], lps)]


def first_divergence(runs: dict) -> Optional[int]:
    """The first step at which the best outputs of the runs (label -> trace) differ; None if identical."""
    seqs = [best_path_ids(t) for t in runs.values()]
    if len(seqs) < 2:
        return None
    n = min(len(s) for s in seqs)
    for i in range(n):
        if len({s[i] for s in seqs}) > 1:
            return i
    if len({len(s) for s in seqs}) > 1:
        return n
    return None


def injected_step(trace) -> Optional[int]:
    """The first step at which a token was injected (`forced.tokens`, after any forced prefix); None if none."""
    tokens = (as_dict(trace).get("forced") or {}).get("tokens") or {}
    return min((int(k) for k in tokens), default=None)


def step_rows(entry: dict, chosen_id: Optional[int]) -> list[dict]:
    """One step record's top lists before/after the rules as rows: the union, best raw first.
    Row: {"id", "token", "before" (raw prob or None), "after", "cut" (the rules removed it), "chosen"}."""
    before = {d["id"]: d for d in entry.get("top_before") or []}
    after = {d["id"]: d for d in entry.get("top_after") or []}
    ids = list(before) + [i for i in after if i not in before]
    rows = []
    for i in ids:
        b, a = before.get(i), after.get(i)
        p_after = float(a["prob"]) if a else 0.0
        rows.append({"id": i, "token": (b or a)["token"], "before": float(b["prob"]) if b else None,
                     "after": p_after, "cut": b is not None and p_after <= 0.0,
                     "chosen": i == chosen_id})
    return rows


# -- attention -----------------------------------------------------------------------------------

def _attn_key(kind: str) -> str:
    return "cross_attn" if kind == "cross" else "self_attn"


def has_attention(trace, kind: str) -> bool:
    """Whether any step recorded cross ("cross") or self ("self") attention."""
    key = _attn_key(kind)
    return any(e.get(key) is not None for s in as_dict(trace).get("steps") or [] for e in s.get("hypotheses") or [])


def attention_shape(trace, kind: str) -> tuple[int, int]:
    """(recorded layers, heads) of the cross or self attention; (0, 0) when none was recorded."""
    key = _attn_key(kind)
    for s in as_dict(trace).get("steps") or []:
        for e in s.get("hypotheses") or []:
            if e.get(key) is not None:
                return len(e[key]), len(e[key][0])
    return 0, 0


def attention_matrix(trace, kind: str = "cross", layer: int = 0, head: Any = "avg",
                     hyp: int = 0) -> tuple[list[str], list[str], list[list[Optional[float]]]]:
    """(row labels = generated tokens, column labels = keys, weights[row][col]).

    kind "cross": columns are the source tokens. kind "self": columns are every key seen by the
    last step (<bos>, prompt, generated); a step's row has None for keys it could not see yet.
    head: an int or "avg" (the mean over heads).
    """
    d = as_dict(trace)
    rows = hypothesis_steps(d, hyp)
    key = _attn_key(kind)
    if kind == "cross":
        cols = list(d["input"]["tokens"])
    else:
        cols = []
        for r in rows:
            k = r["entry"].get("self_attn_keys") or []
            if len(k) > len(cols):
                cols = list(k)
    labels, mat = [], []
    for r in rows:
        att = r["entry"].get(key)
        if att is None:
            continue
        if layer >= len(att):
            raise ValueError(f"layer {layer} was not recorded (recorded: {len(att)} layers)")
        heads = att[layer]
        if head == "avg":
            n = len(heads)
            vec = [sum(h[j] for h in heads) / n for j in range(len(heads[0]))]
        else:
            vec = list(heads[int(head)])
        vec = vec + [None] * (len(cols) - len(vec))
        labels.append(f"{r['step']}: {token_label(r['token'])}")
        mat.append(vec[:len(cols)] if cols else vec)
    return labels, cols, mat


def attention_entropy(trace, kind: str = "cross", hyp: int = 0) -> dict[int, list[Optional[float]]]:
    """Per recorded layer: per step (that recorded attention), the head-averaged entropy (nats) of the weights."""
    key = _attn_key(kind)
    out: dict[int, list[Optional[float]]] = {}
    for r in hypothesis_steps(trace, hyp):
        att = r["entry"].get(key)
        if att is None:
            continue
        for li, heads in enumerate(att):
            out.setdefault(li, []).append(sum(_entropy(h) for h in heads) / len(heads))
    return out


# -- the beam graph ------------------------------------------------------------------------------

def beam_layout(trace, upto_step: Optional[int] = None) -> dict[int, tuple[int, float]]:
    """Node id -> (x = step + 1, y): each step's candidates are stacked in their parent's order,
    best log-prob first, so the edges never cross and the height is at most 2K rows."""
    nodes = (as_dict(trace).get("beam") or {}).get("nodes") or []
    by_step: dict[int, list[dict]] = {}
    for n in nodes:
        if upto_step is not None and n["step"] > upto_step:
            continue
        by_step.setdefault(n["step"], []).append(n)
    pos: dict[int, tuple[int, float]] = {}
    rank: dict[int, int] = {}
    for step in sorted(by_step):
        cands = by_step[step]
        cands.sort(key=lambda n: (rank.get(n["parent"], 0) if n["parent"] is not None else 0,
                                  -(n.get("logprob") or 0.0)))
        m = len(cands)
        for i, n in enumerate(cands):
            rank[n["id"]] = i
            pos[n["id"]] = (step + 1, (m - 1) / 2.0 - i)
    return pos


def beam_counts(trace, upto_step: Optional[int] = None) -> dict[str, int]:
    """How many non-root nodes (up to a step) ended kept, finished and pruned."""
    nodes = (as_dict(trace).get("beam") or {}).get("nodes") or []
    out = {"kept": 0, "finished": 0, "pruned": 0}
    for n in nodes:
        if n["parent"] is None or (upto_step is not None and n["step"] > upto_step):
            continue
        out[n["status"]] = out.get(n["status"], 0) + 1
    return out
