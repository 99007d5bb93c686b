"""The trace format (docs/trace-format.md): its constants, the constructors every strategy builds a
trace with, and the one validator, which checks every field's type and range and the beam graph.

Constructors take keyword arguments of plain Python values and return the JSON-ready dicts, keys in
the order the JSON shows them; `finish(d)` validates a complete trace and wraps it in a `Trace`.
"""
from __future__ import annotations

from typing import Any, Optional

from .checks import (EPS, NonFinite, Said, TraceError, bad, check_bool, check_int, check_ints, check_num, check_numbers,
                     check_obj, check_str, check_strs, show)
from .records import (HYP_EXTRA, MBR_SOURCES, MBR_UTILITIES, NODE_STATUS, check_beam, check_hypotheses, check_mbr,
                      check_steps)

FORMAT_VERSION = 2     # 2: attention saved as integer thousandths (engine/trace/io.py)
READS = (1, 2)         # in memory both hold weights as floats; load_trace relabels a version-1 file 2
STRATEGIES = ("greedy", "sample", "beam", "diverse_beam", "mbr", "teacher_forced")
MODEL_KINDS = ("seq2seq", "lm")
TOP_KEYS = ("format_version", "model", "config", "strategy", "seed", "input", "forced", "timing", "warnings",
            "recording", "encoder_attention", "steps", "hypotheses", "beam", "mbr")
TOP_OPTIONAL = ("rules", "reference")
MODEL_KEYS = ("name", "arch", "task", "kind", "is_encoder_decoder", "n_layers", "n_heads", "has_self_attention",
              "has_cross_attention", "max_len")
RECORDING_KEYS = ("top_k", "layers", "hidden_states", "attention")
__all__ = ["FORMAT_VERSION", "STRATEGIES", "NODE_STATUS", "MODEL_KINDS", "MBR_SOURCES", "MBR_UTILITIES", "EPS",
           "TraceError", "NonFinite", "validate", "finish", "new_trace", "timing_section", "step_entry",
           "step_hypothesis", "top_entry", "hypothesis", "beam_node", "beam_section", "mbr_section",
           "reference_section"]


# -- constructors ------------------------------------------------------------------------------

def _plain(x: Any) -> dict:
    return dict(x.to_dict() if hasattr(x, "to_dict") else x)


def new_trace(*, model: dict, config, strategy: str, seed: Optional[int], input: dict, forced: dict,
              rules: list, warnings: list, recording) -> dict:
    """The skeleton of a trace: no steps, hypotheses, beam or mbr yet. `input`: {text, tokens, token_ids};
    `forced`: {prefix: [ids], tokens: {step: id}} (steps inside the prefix are dropped, keys become strings)."""
    prefix = [int(i) for i in forced.get("prefix") or []]
    tokens = sorted((int(k), int(v)) for k, v in (forced.get("tokens") or {}).items())
    return {
        "format_version": FORMAT_VERSION,
        "model": dict(model),
        "config": _plain(config),
        "strategy": strategy,
        "seed": seed,
        "input": {"text": input["text"], "tokens": list(input["tokens"]), "token_ids": list(input["token_ids"])},
        "forced": {"prefix": prefix, "tokens": {str(k): v for k, v in tokens if k >= len(prefix)}},
        "timing": {"total_s": 0.0, "steps_s": []},
        "rules": list(rules),
        "warnings": list(warnings),
        "recording": _plain(recording),
        "encoder_attention": None,
        "steps": [],
        "hypotheses": [],
        "beam": None,
        "mbr": None,
    }


def timing_section(*, total_s: float, steps_s: list) -> dict:
    return {"total_s": round(float(total_s), 6), "steps_s": [round(float(s), 6) for s in steps_s]}


def step_entry(*, step: int, hypotheses: list) -> dict:
    return {"step": step, "hypotheses": hypotheses}


def step_hypothesis(*, slot, prefix_ids, token_id, token, prob, logprob, raw_logprob, entropy, entropy_raw,
                    top_before, top_after, self_attn, self_attn_keys, cross_attn, hidden, node=None) -> dict:
    return {"slot": slot, "node": node, "prefix_ids": prefix_ids, "token_id": token_id, "token": token,
            "prob": prob, "logprob": logprob, "raw_logprob": raw_logprob, "entropy": entropy,
            "entropy_raw": entropy_raw, "top_before": top_before, "top_after": top_after, "self_attn": self_attn,
            "self_attn_keys": self_attn_keys, "cross_attn": cross_attn, "hidden": hidden}


def top_entry(*, id: int, token: str, prob: float) -> dict:
    return {"id": id, "token": token, "prob": prob}


def hypothesis(*, text, tokens, token_ids, token_logprobs, score, normalized_score, finished, node=None,
               search_score=None, **extra) -> dict:
    """A final hypothesis; `search_score` defaults to `normalized_score` (no rule changed the ranking)."""
    unknown = sorted(set(extra) - set(HYP_EXTRA))
    if unknown:
        raise TraceError(f"trace: {', '.join(unknown)} is not a key of a hypothesis (allowed: {', '.join(HYP_EXTRA)})")
    return {"text": text, "tokens": tokens, "token_ids": token_ids, "token_logprobs": token_logprobs,
            "score": score, "normalized_score": normalized_score, "finished": finished, "node": node,
            "search_score": normalized_score if search_score is None else search_score, **extra}


def beam_node(*, id, parent, step, token, token_id, logprob, cum_logprob, score, status, group=0) -> dict:
    return {"id": id, "parent": parent, "step": step, "token": token, "token_id": token_id, "logprob": logprob,
            "cum_logprob": cum_logprob, "score": score, "status": status, "group": group}


def beam_section(*, nodes: list, **extra) -> dict:
    """extra: num_beams, num_beam_groups, length_penalty, early_stopping (listed before the nodes)."""
    return {**extra, "nodes": nodes}


def mbr_section(*, candidates, source, utility, matrix, expected_utility, chosen, weights=None,
                pairs_scored=None, reference=None) -> dict:
    """An MBR run: matrix, weights and pairs_scored. `engine.rerank` against a reference: matrix [] and
    the reference (no weights, no pairs_scored)."""
    d = {"candidates": candidates, "source": source, "utility": utility, "matrix": matrix,
         "expected_utility": expected_utility}
    if weights is not None:
        d["weights"] = weights
    d["chosen"] = chosen
    if pairs_scored is not None:
        d["pairs_scored"] = pairs_scored
    if reference is not None:
        d["reference"] = reference
    return d


def reference_section(*, text: str, token_ids: list) -> dict:
    """teacher_forced traces: the reference scored (token ids with <eos> appended for seq2seq)."""
    return {"text": text, "token_ids": list(token_ids)}


def finish(d: dict, numbers_checked: bool = False):
    """Validate a complete trace dict and return it as a `Trace`.

    numbers_checked=True only for a trace the recorder made, when it checked the weights of every
    attention block of the steps on the tensors they came from (`Recorder.numbers_ok`: each block's
    min >= 0 and max <= 1, so none is NaN; `tolist` of a float tensor gives floats): `validate` then
    checks every other field and value, and the nesting and shapes of those blocks, but not each
    weight again (at beam 4 x 256 tokens that is 2 million). Traces from outside (`load_trace`,
    uploads) are always validated in full."""
    from .io import Trace
    validate(d, numbers_checked=numbers_checked)
    return Trace(d)


# -- the validator -------------------------------------------------------------------------------

def validate(d: Any, *, numbers_checked: bool = False) -> None:
    """Raise TraceError (one line, naming the field) unless `d` is a trace of docs/trace-format.md:
    every key present (and no unknown one), every value of its type and range, the beam graph sound.
    numbers_checked: see `finish` (the recorder's own traces only)."""
    if not isinstance(d, dict):
        raise TraceError("trace: the top level must be a JSON object")
    if "format_version" not in d:
        raise TraceError("trace: missing key format_version (not a seqscope trace?)")
    if type(d["format_version"]) is not int or d["format_version"] not in READS:
        raise TraceError(f"trace: format_version {show(d['format_version'])} is not supported (this seqscope "
                         f"reads versions {', '.join(map(str, READS))})")
    check_obj(d, "", TOP_KEYS, TOP_OPTIONAL)
    strategy = d["strategy"]
    check_str(strategy, "strategy", STRATEGIES)
    _settings(d)
    nodes = check_beam(d["beam"]) if d["beam"] is not None else {}
    if d["beam"] is None and strategy in ("beam", "diverse_beam"):
        bad("beam", f"an object for strategy {strategy}", None)
    if d["beam"] is not None and strategy not in ("beam", "diverse_beam", "mbr"):
        bad("beam", f"null for strategy {strategy}", d["beam"])
    n_candidates = check_mbr(d["mbr"]) if d["mbr"] is not None else None
    if n_candidates is None and strategy == "mbr":
        bad("mbr", "an object for strategy mbr", None)
    check_steps(d["steps"], d["recording"]["top_k"], nodes, numbers_checked)
    check_hypotheses(d["hypotheses"], nodes, n_candidates)
    if strategy == "teacher_forced":
        if "reference" not in d:
            raise TraceError("trace: missing key reference (a teacher_forced trace records its reference)")
        check_obj(d["reference"], "reference", ("text", "token_ids"))
        check_str(d["reference"]["text"], "reference.text")
        check_ints(d["reference"]["token_ids"], "reference.token_ids")
    elif "reference" in d:
        raise TraceError(f"trace: reference is only for strategy teacher_forced, not {strategy}")


def _settings(d: dict) -> None:
    """model .. encoder_attention: what ran, on what input, with which settings."""
    m = d["model"]
    check_obj(m, "model", MODEL_KEYS)
    for k in ("name", "arch", "task"):
        check_str(m[k], f"model.{k}")
    check_str(m["kind"], "model.kind", MODEL_KINDS)
    for k in ("is_encoder_decoder", "has_self_attention", "has_cross_attention"):
        check_bool(m[k], f"model.{k}")
    check_int(m["n_layers"], "model.n_layers")
    check_int(m["n_heads"], "model.n_heads", 1)
    check_int(m["max_len"], "model.max_len", 1)
    c = d["config"]                 # the GenerationConfig's fields (engine/decoding/fields.py): name -> scalar
    _check_map(c, "config")
    for k, v in c.items():
        if v is not None and not isinstance(v, (bool, str)):
            check_num(v, f"config.{k}")
    check_int(d["seed"], "seed", null=True)
    inp = d["input"]
    check_obj(inp, "input", ("text", "tokens", "token_ids"))
    check_str(inp["text"], "input.text")
    check_strs(inp["tokens"], "input.tokens")
    check_ints(inp["token_ids"], "input.token_ids")
    if len(inp["tokens"]) != len(inp["token_ids"]):
        bad("input.token_ids", f"as long as input.tokens ({len(inp['tokens'])})", Said(f"{len(inp['token_ids'])} ids"))
    f = d["forced"]
    check_obj(f, "forced", ("prefix", "tokens"))
    check_ints(f["prefix"], "forced.prefix")
    _check_map(f["tokens"], "forced.tokens")
    for k, v in f["tokens"].items():
        if not (k.isascii() and k.isdigit() and int(k) >= len(f["prefix"])):
            bad("forced.tokens", f'keyed by steps after the forced prefix ("{len(f["prefix"])}", ...)', k)
        check_int(v, f"forced.tokens.{k}")
    t = d["timing"]
    check_obj(t, "timing", ("total_s", "steps_s"))
    check_num(t["total_s"], "timing.total_s", 0)
    check_numbers(t["steps_s"], "timing.steps_s", 1, 0)
    for k in ("rules", "warnings"):
        if k in d:
            check_strs(d[k], k)
    r = d["recording"]
    check_obj(r, "recording", RECORDING_KEYS)
    check_int(r["top_k"], "recording.top_k", 0, 1000)
    if r["layers"] != "all":
        if not isinstance(r["layers"], list):
            bad("recording.layers", '"all" or a list of layer indices', r["layers"])
        check_ints(r["layers"], "recording.layers")
    check_bool(r["hidden_states"], "recording.hidden_states")
    check_bool(r["attention"], "recording.attention")
    if d["encoder_attention"] is not None:
        check_numbers(d["encoder_attention"], "encoder_attention", 4, 0, 1)
        _check_encoder_shape(d["encoder_attention"], len(inp["tokens"]))


def _check_encoder_shape(enc: list, n: int) -> None:
    """encoder_attention is [layers][heads][n][n] over the n source tokens, the same heads in every layer
    (a ragged block was accepted and broke its heatmap; fuzz suite)."""
    heads = {len(layer) for layer in enc}
    if len(heads) > 1 or 0 in heads:
        bad("encoder_attention", "the same number (>= 1) of heads in every layer",
            "layers with " + " and ".join(map(str, sorted(heads))) + " heads")
    for li, layer in enumerate(enc):
        for hi, head in enumerate(layer):
            if len(head) != n or any(len(row) != n for row in head):
                bad(f"encoder_attention[{li}][{hi}]", f"a {n} x {n} matrix (one row and column per source token)",
                    f"{len(head)} rows of {sorted({len(r) for r in head})} weights")


def _check_map(v, path) -> None:
    """An object with any string keys."""
    if not isinstance(v, dict):
        bad(path, "an object", v)
    for k in v:
        if not isinstance(k, str):
            bad(path, "an object with string keys", k)
