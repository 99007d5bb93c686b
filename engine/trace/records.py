"""The bulk of a trace and its checks: the per-step records, the final hypotheses, the beam search
graph and the MBR section (docs/trace-format.md). `engine.trace.schema.validate` calls these.

Step records and graph nodes are first checked column by column (fast, in C); only when a column
fails are they walked one by one, so that the error names the bad field.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Optional

from .checks import (DICT, INT, INT_OR_NULL, LIST, NUM, NUM_OR_NULL, STR, STR_OR_NULL, Said, TraceError, bad,
                     all_rectangular, rectangular, check_bool, check_int, check_list, check_num, check_numbers,
                     check_obj, check_str, check_strs, check_ints, flat, nested_ok, values_ok)

NODE_STATUS = ("kept", "finished", "pruned")
MBR_SOURCES = ("samples", "nbest")
MBR_UTILITIES = ("chrf", "bleu")
STEP_KEYS = ("step", "hypotheses")
STEP_HYP_KEYS = ("slot", "node", "prefix_ids", "token_id", "token", "prob", "logprob", "raw_logprob", "entropy",
                 "entropy_raw", "top_before", "top_after", "self_attn", "self_attn_keys", "cross_attn", "hidden")
TOP_ENTRY_KEYS = ("id", "token", "prob")
HYP_KEYS = ("text", "tokens", "token_ids", "token_logprobs", "score", "normalized_score", "finished", "node")
HYP_EXTRA = ("search_logprob", "slot", "candidate", "expected_utility")
HYP_OPTIONAL = ("search_score",) + HYP_EXTRA
NODE_KEYS = ("id", "parent", "step", "token", "token_id", "logprob", "cum_logprob", "score", "status", "group")
BEAM_OPTIONAL = ("num_beams", "num_beam_groups", "length_penalty", "early_stopping")
MBR_KEYS = ("candidates", "source", "utility", "matrix", "expected_utility", "chosen")
MBR_OPTIONAL = ("weights", "pairs_scored", "reference")
_STEP_SET, _STEP_HYP_SET, _NODE_SET = set(STEP_KEYS), set(STEP_HYP_KEYS), set(NODE_KEYS)


# -- steps -----------------------------------------------------------------------------------------

def check_steps(steps, top_k: int, nodes: dict, numbers_checked: bool = False) -> None:
    """`steps`: steps[t].step == t; each entry of steps[t].hypotheses a step record of step t.
    numbers_checked: the weights of the attention blocks were checked where they were made (the
    recorder, on its tensors): their nesting and shapes are checked here, not each weight again. Every
    other field is checked as always, and any failure is walked value by value to name it."""
    check_list(steps, "steps")
    if not _steps_ok(steps, top_k, nodes, not numbers_checked):
        _check_each_step(steps, top_k, nodes)
    _check_attention_shapes(steps)


def _check_attention_shapes(steps) -> None:
    """Every recorded attention block of a kind has the same layers and heads at every step (a chart
    asks layer l / head h of every step once it has seen them at one)."""
    for k in ("self_attn", "cross_attn"):
        if len({tuple(map(len, e[k])) for s in steps for e in s["hypotheses"] if e[k] is not None}) <= 1:
            continue                              # one shape (or none): nothing to name
        shapes = {}
        for t, s in enumerate(steps):
            for j, e in enumerate(s["hypotheses"]):
                if e[k] is not None:
                    shapes.setdefault(tuple(len(layer) for layer in e[k]), f"steps[{t}].hypotheses[{j}].{k}")
        if len(shapes) > 1:
            (first, where), (other, there) = list(shapes.items())[:2]
            bad(there, f"the layers and heads of {where} ({len(first)} layers, heads {list(first)})",
                Said(f"{len(other)} layers, heads {list(other)}"))


def _check_each_step(steps, top_k: int, nodes: dict) -> None:
    for t, s in enumerate(steps):
        p = f"steps[{t}]"
        check_obj(s, p, STEP_KEYS)
        if type(s["step"]) is not int or s["step"] != t:
            bad(f"{p}.step", f"{t} (steps are listed in order)", s["step"])
        check_list(s["hypotheses"], f"{p}.hypotheses")
        for j, e in enumerate(s["hypotheses"]):
            _step_hyp(e, f"{p}.hypotheses[{j}]", t, top_k, nodes)


def _steps_ok(steps, top_k, nodes, leaves=True) -> bool:
    try:
        if not (set(map(type, steps)) <= DICT and all(s.keys() == _STEP_SET for s in steps)
                and values_ok([s["step"] for s in steps], INT) and [s["step"] for s in steps] == list(range(len(steps)))
                and set(map(type, [s["hypotheses"] for s in steps])) <= LIST):
            return False
        es = [e for s in steps for e in s["hypotheses"]]
        if not (set(map(type, es)) <= DICT and all(e.keys() == _STEP_HYP_SET for e in es)):
            return False
        col = {k: [e[k] for e in es] for k in STEP_HYP_KEYS}
        prefixes, tops = col["prefix_ids"], col["top_before"] + col["top_after"]
        ok = (values_ok(col["slot"], INT, 0) and values_ok(col["node"], INT_OR_NULL, 0)
              and set(col["node"]).difference([None]).issubset(nodes)
              and set(map(type, prefixes)) <= LIST
              and list(map(len, prefixes)) == [s["step"] for s in steps for _ in s["hypotheses"]]
              and values_ok(flat(prefixes), INT, 0)
              and values_ok(col["token_id"], INT_OR_NULL, 0) and values_ok(col["token"], STR_OR_NULL)
              and [x is None for x in col["token_id"]] == [x is None for x in col["token"]]
              and values_ok(col["prob"], NUM_OR_NULL, 0, 1) and values_ok(col["logprob"], NUM_OR_NULL, hi=0)
              and values_ok(col["raw_logprob"], NUM_OR_NULL, hi=0)
              and values_ok(col["entropy"], NUM_OR_NULL, 0) and values_ok(col["entropy_raw"], NUM_OR_NULL, 0)
              and set(map(type, tops)) <= LIST and max(map(len, tops), default=0) <= top_k)
        if not ok:
            return False
        items = flat(tops)
        if not (set(map(type, items)) <= DICT and set(map(len, items)) <= {3}
                and values_ok(list(map(itemgetter("id"), items)), INT, 0)
                and values_ok(list(map(itemgetter("token"), items)), STR)
                and values_ok(list(map(itemgetter("prob"), items)), NUM, 0, 1)):
            return False
        keys = col["self_attn_keys"]
        return (set(map(type, keys)) <= LIST and values_ok(flat(keys), STR)
                and nested_ok([x for x in col["self_attn"] if x is not None], 4, 0, 1, leaves)
                and nested_ok([x for x in col["cross_attn"] if x is not None], 4, 0, 1, leaves)
                and all(all_rectangular([x for x in col[k] if x is not None]) for k in ("self_attn", "cross_attn"))
                and nested_ok([x for x in col["hidden"] if x is not None], 2))
    except (KeyError, TypeError, OverflowError):
        return False


def _step_hyp(e, p, t, top_k, nodes):
    check_obj(e, p, STEP_HYP_KEYS)
    check_int(e["slot"], f"{p}.slot")
    _node_ref(e["node"], f"{p}.node", nodes)
    check_ints(e["prefix_ids"], f"{p}.prefix_ids")
    if len(e["prefix_ids"]) != t:
        bad(f"{p}.prefix_ids", f"the {t} tokens generated before step {t}", Said(f"{len(e['prefix_ids'])} ids"))
    check_int(e["token_id"], f"{p}.token_id", null=True)
    check_str(e["token"], f"{p}.token", null=e["token_id"] is None)
    if e["token_id"] is None and e["token"] is not None:
        bad(f"{p}.token", "null when token_id is null", e["token"])
    check_num(e["prob"], f"{p}.prob", 0, 1, null=True)
    for k in ("logprob", "raw_logprob"):
        check_num(e[k], f"{p}.{k}", hi=0, null=True)
    for k in ("entropy", "entropy_raw"):
        check_num(e[k], f"{p}.{k}", 0, null=True)
    for k in ("top_before", "top_after"):
        _top(e[k], f"{p}.{k}", top_k)
    for k in ("self_attn", "cross_attn"):
        if e[k] is not None:
            check_numbers(e[k], f"{p}.{k}", 3, 0, 1)
            if not rectangular(e[k]):
                bad(f"{p}.{k}", "[layers][heads][weights] with every head of a layer holding the same number "
                                "(>= 1) of weights", Said("a ragged or empty block"))
    check_strs(e["self_attn_keys"], f"{p}.self_attn_keys")
    if e["hidden"] is not None:
        check_numbers(e["hidden"], f"{p}.hidden")


def _top(v, path, k):
    check_list(v, path)
    if len(v) > k:
        bad(path, f"at most recording.top_k = {k} entries", Said(f"{len(v)} entries"))
    for i, e in enumerate(v):
        q = f"{path}[{i}]"
        check_obj(e, q, TOP_ENTRY_KEYS)
        check_int(e["id"], f"{q}.id")
        check_str(e["token"], f"{q}.token")
        check_num(e["prob"], f"{q}.prob", 0, 1)


def _node_ref(v, path, nodes):
    check_int(v, path, null=True)
    if v is not None and v not in nodes:
        raise TraceError(f"trace: {path} {v} is not the id of a node in beam.nodes"
                         + ("" if nodes else " (the trace has no beam graph)"))


# -- final hypotheses ------------------------------------------------------------------------------

def check_hypotheses(hyps, nodes: dict, n_candidates: Optional[int]) -> None:
    check_list(hyps, "hypotheses")
    for i, h in enumerate(hyps):
        p = f"hypotheses[{i}]"
        check_obj(h, p, HYP_KEYS, HYP_OPTIONAL)
        check_str(h["text"], f"{p}.text")
        check_strs(h["tokens"], f"{p}.tokens")
        check_ints(h["token_ids"], f"{p}.token_ids")
        check_numbers(h["token_logprobs"], f"{p}.token_logprobs", 1, hi=0, null=True)
        if not len(h["tokens"]) == len(h["token_ids"]) == len(h["token_logprobs"]):
            raise TraceError(f"trace: {p} has tokens, token_ids and token_logprobs of different lengths")
        for k in ("score", "normalized_score", "search_score", "search_logprob"):
            if k in h:
                check_num(h[k], f"{p}.{k}", hi=0, null=True)
        check_bool(h["finished"], f"{p}.finished")
        _node_ref(h["node"], f"{p}.node", nodes)
        if "slot" in h:
            check_int(h["slot"], f"{p}.slot")
        if "candidate" in h:
            if n_candidates is None:
                raise TraceError(f"trace: {p}.candidate needs an mbr section (the trace has none)")
            check_int(h["candidate"], f"{p}.candidate", 0, n_candidates - 1)
        if "expected_utility" in h:
            check_num(h["expected_utility"], f"{p}.expected_utility", 0, 1, null=True)


# -- the beam graph --------------------------------------------------------------------------------

def check_beam(b) -> dict:
    """The search graph; returns node id -> index. Ids unique, parents exist, no cycles, a root's step
    is -1 and every other node's step its parent's + 1."""
    check_obj(b, "beam", ("nodes",), BEAM_OPTIONAL)
    if "num_beams" in b:
        check_int(b["num_beams"], "beam.num_beams", 1)
    groups = b.get("num_beam_groups")
    if groups is not None:
        check_int(groups, "beam.num_beam_groups", 1)
    if "length_penalty" in b:
        check_num(b["length_penalty"], "beam.length_penalty")
    if "early_stopping" in b and b["early_stopping"] not in (True, False, "never"):
        bad("beam.early_stopping", 'true, false or "never"', b["early_stopping"])
    nodes = b["nodes"]
    check_list(nodes, "beam.nodes")
    if not _nodes_ok(nodes, groups):
        for i, n in enumerate(nodes):
            p = f"beam.nodes[{i}]"
            check_obj(n, p, NODE_KEYS)
            check_int(n["id"], f"{p}.id")
            check_int(n["parent"], f"{p}.parent", null=True)
            check_int(n["step"], f"{p}.step", -1)
            check_str(n["token"], f"{p}.token", null=True)
            check_int(n["token_id"], f"{p}.token_id", null=True)
            for k in ("logprob", "cum_logprob", "score"):
                check_num(n[k], f"{p}.{k}", hi=0, null=True)
            check_str(n["status"], f"{p}.status", NODE_STATUS)
            check_int(n["group"], f"{p}.group", 0, None if groups is None else groups - 1)
    index: dict = {}
    for i, n in enumerate(nodes):
        if n["id"] in index:
            raise TraceError(f"trace: beam.nodes[{i}].id {n['id']} repeats beam.nodes[{index[n['id']]}].id "
                             "(node ids are unique)")
        index[n["id"]] = i
    done: dict = {}
    for i, n in enumerate(nodes):
        parent = n["parent"]
        if parent is None:
            if n["step"] != -1:
                bad(f"beam.nodes[{i}].step", "-1 (a root: no parent)", n["step"])
            continue
        if parent not in index:
            raise TraceError(f"trace: beam.nodes[{i}].parent {parent} is not the id of a node")
        walk, cur = [], n["id"]
        while cur is not None and cur not in done:
            done[cur] = False                     # on the walk from node i
            walk.append(cur)
            cur = nodes[index[cur]]["parent"]
        if cur is not None and done[cur] is False:
            cycle = walk[walk.index(cur):] + [cur]
            raise TraceError(f"trace: beam.nodes[{i}].parent: the parents of node {n['id']} form a cycle "
                             f"({' -> '.join(map(str, cycle))})")
        done.update((c, True) for c in walk)
        if n["step"] != nodes[index[parent]]["step"] + 1:
            bad(f"beam.nodes[{i}].step", f"its parent's step + 1 ({nodes[index[parent]]['step'] + 1})", n["step"])
    return index


def _nodes_ok(nodes, groups) -> bool:
    try:
        if not (set(map(type, nodes)) <= DICT and all(n.keys() == _NODE_SET for n in nodes)):
            return False
        col = {k: [n[k] for n in nodes] for k in NODE_KEYS}
        return (values_ok(col["id"], INT, 0) and values_ok(col["parent"], INT_OR_NULL, 0)
                and values_ok(col["step"], INT, -1) and values_ok(col["token"], STR_OR_NULL)
                and values_ok(col["token_id"], INT_OR_NULL, 0) and values_ok(col["logprob"], NUM_OR_NULL, hi=0)
                and values_ok(col["cum_logprob"], NUM_OR_NULL, hi=0) and values_ok(col["score"], NUM_OR_NULL, hi=0)
                and set(col["status"]) <= set(NODE_STATUS)
                and values_ok(col["group"], INT, 0, None if groups is None else groups - 1))
    except (KeyError, TypeError, OverflowError):
        return False


# -- MBR -------------------------------------------------------------------------------------------

def check_mbr(m) -> int:
    """The MBR / rerank section; returns the number of candidates."""
    check_obj(m, "mbr", MBR_KEYS, MBR_OPTIONAL)
    check_strs(m["candidates"], "mbr.candidates")
    n = len(m["candidates"])
    check_str(m["source"], "mbr.source", MBR_SOURCES)
    check_str(m["utility"], "mbr.utility", MBR_UTILITIES)
    if not (m["matrix"] == [] and "reference" in m):       # rerank against a reference: no matrix
        check_list(m["matrix"], "mbr.matrix", n)
        for i, row in enumerate(m["matrix"]):
            check_numbers(row, f"mbr.matrix[{i}]", 1, 0, 1)
            check_list(row, f"mbr.matrix[{i}]", n)
    for k in ("expected_utility", "weights"):
        if k in m:
            check_numbers(m[k], f"mbr.{k}", 1, 0, 1)
            check_list(m[k], f"mbr.{k}", n)
    check_int(m["chosen"], "mbr.chosen", 0, n - 1)
    if "pairs_scored" in m:
        check_int(m["pairs_scored"], "mbr.pairs_scored")
    if "reference" in m:
        check_str(m["reference"], "mbr.reference")
    return n
