"""Teacher forcing vs free running on one example.

`teacher_forced` scores a reference under teacher forcing (one model call over the whole target) and
records every position like a decoding step; `compare_tf_fr` lines it up with the model's own free
run: the reference token's log-prob under both prefixes, KL(p_TF || p_FR) between the two next-token
distributions, the distance between the decoder hidden states, and where free running leaves the
reference."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..limits import LimitError
from ..rollout import end_ids, model_device
from ..trace import Trace, TraceError, schema
from . import budget as _budget
from .config import GenerationConfig, as_config, as_record
from .generate import fill, generate, start_trace
from .inputs import as_bundle, key_prefix, prepare
from .recorder import Recorder, g, hypothesis


def _reference_ids(bundle, prep, reference, warnings: list) -> list[int]:
    if isinstance(reference, (list, tuple)):
        ids = [int(i) for i in reference]
        if any(not 0 <= i < bundle.tokenizer.vocab_size for i in ids):
            raise ValueError("reference: a token id is outside the vocabulary")
    elif isinstance(reference, str):
        if not reference.strip():
            raise ValueError("the reference is empty")
        enc = bundle.tokenizer.encode(reference, add_special_tokens=False)     # a continuation / a target
        if enc.unknown:
            warnings.append(f"reference: {len(enc.unknown)} character(s) not in the vocabulary became <unk>: "
                            f"{''.join(sorted(set(enc.unknown)))[:40]!r}")
        ids = list(enc.ids)
    else:
        raise ValueError(f"the reference must be a string, got {type(reference).__name__}")
    if not ids:
        raise ValueError("the reference is empty")
    if bundle.model.is_encoder_decoder:
        eos = end_ids(bundle.tokenizer)
        if eos and ids[-1] not in eos:
            ids = ids + [eos[0]]                # a seq2seq target ends with <eos>
    room = bundle.model.max_len - len(prep.prefix) + 1    # prefix + target[:-1] fed
    if len(ids) > room:
        raise ValueError(f"the reference is {len(ids)} tokens long (with the source/prompt, over the model's "
                         f"limit of {bundle.model.max_len}); at most {room} fit")
    return ids


@torch.no_grad()
def forced_pass(bundle, prep, target_ids: list[int], hooks=()):
    """One decoder call over the prefix (decoder start, or [<bos>] + prompt) + target[:-1], reporting the
    hook points `hooks`. Returns (out, offset, start hooks): out.logits[0, offset + t] is the
    distribution that predicts target[t] (`tf_logp`: its log-probs over the tokenizer's vocabulary)."""
    model = bundle.model
    device = model_device(model)
    kw = {"hooks": tuple(hooks)} if hooks else {}
    if model.is_encoder_decoder:
        src = torch.as_tensor([prep.ids], dtype=torch.long, device=device)
        state, start_hooks = model.start(src, **kw)
    else:
        state, start_hooks = model.start(batch_size=1)
    inp, offset = prep.prefix + list(target_ids[:-1]), len(prep.prefix) - 1
    out = model.decode(torch.as_tensor([inp], dtype=torch.long, device=device), state, **kw)
    return out, offset, start_hooks


def tf_logp(bundle, logits):
    """Teacher-forced log-probs [..., V] of logits: ids past the tokenizer's vocabulary cut off, nothing
    else masked (teacher forcing scores the reference as the model gives it)."""
    vocab = bundle.tokenizer.vocab_size
    return torch.log_softmax(logits[..., :vocab].float(), -1)


def teacher_forced(model, source: str, reference, *, record=None) -> Trace:
    """Score `reference` given `source` (seq2seq) or as the continuation of the prompt `source` (LM)
    under teacher forcing, with the same per-step records as a decoding run (strategy "teacher_forced")."""
    t0 = time.perf_counter()
    bundle = as_bundle(model)
    record = as_record(record)
    prep = prepare(bundle, source, 1)
    prep.warnings = [w for w in prep.warnings if "capped" not in w]
    target = _reference_ids(bundle, prep, reference, prep.warnings)
    recorder = Recorder(bundle, record)
    out, offset, start_hooks = forced_pass(bundle, prep, target, recorder.hooks)
    logp = tf_logp(bundle, out.logits[0])
    keys = key_prefix(bundle, prep)
    steps = []
    for t, tok in enumerate(target):
        q = offset + t
        lp = logp[q:q + 1]
        rec = recorder.steps([0], lp, lp, recorder.at_position(out, q), chosen=[tok],
                             key_labels=[keys + [recorder.name(i) for i in target[:t]]], src_lens=[len(prep.ids)],
                             extra=[{"slot": 0, "node": None, "prefix_ids": target[:t]}])
        steps.append(schema.step_entry(step=t, hypotheses=rec))
    raw = logp[torch.arange(offset, offset + len(target), device=logp.device),
               torch.as_tensor(target, device=logp.device)].tolist()
    config = GenerationConfig(max_new_tokens=len(target))
    d = start_trace(bundle, prep, config, record, "teacher_forced", None)
    d["hypotheses"] = [hypothesis(bundle, target, raw, 1.0)]
    d["reference"] = schema.reference_section(
        text=reference if isinstance(reference, str) else bundle.tokenizer.decode(target), token_ids=target)
    total = time.perf_counter() - t0
    res = {"steps": steps, "warnings": [], "steps_s": [total / len(target)] * len(target),
           "encoder_attention": recorder.encoder_attention(start_hooks, 0, len(prep.ids))}
    return schema.finish(fill(d, res, total), numbers_checked=recorder.numbers_ok)


ROW_KEYS = ("t", "ref_token", "ref_id", "tf_logprob", "fr_logprob", "kl", "hidden_dist", "fr_token", "fr_id",
            "on_track")


@dataclass
class TFFRComparison:
    rows: list
    first_divergence: Optional[int]
    tf: Trace
    fr: Trace
    summary: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "first_divergence": self.first_divergence, "summary": self.summary,
                "tf": self.tf.to_dict(), "fr": self.fr.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "TFFRComparison":
        if not isinstance(d, dict):
            raise TraceError("comparison: must be an object")
        for k in ("rows", "first_divergence", "tf", "fr"):
            if k not in d:
                raise TraceError(f"comparison: missing key {k}")
        if not isinstance(d["rows"], list):
            raise TraceError("comparison: rows must be a list")
        for i, r in enumerate(d["rows"]):
            missing = [k for k in ROW_KEYS if not isinstance(r, dict) or k not in r]
            if missing:
                raise TraceError(f"comparison: rows[{i}] lacks {', '.join(missing)}")
        fd = d["first_divergence"]
        if fd is not None and (isinstance(fd, bool) or not isinstance(fd, int)):
            raise TraceError("comparison: first_divergence must be an integer or null")
        return cls(d["rows"], fd, Trace.from_dict(d["tf"]), Trace.from_dict(d["fr"]), d.get("summary", {}))


def _check_budget(bundle, prep, target: list[int], config, record, budget) -> None:
    """LimitError (one line) when the comparison is over the budget, before any model call: its work is
    the teacher-forced scoring (recorded like a greedy run of the reference's length) plus the free run."""
    allowed = _budget.resolve(budget)
    tf = _budget.estimate(GenerationConfig(max_new_tokens=len(target)), record, model=bundle,
                          input_tokens=[len(prep.ids)])
    fr = _budget.estimate(config, record, model=bundle, input_tokens=[len(prep.ids)])
    if tf.total + fr.total > allowed:
        where = "budget=" if budget is not None else (_budget.ENV if os.environ.get(_budget.ENV, "").strip()
                                                      else "WORK_BUDGET")
        raise LimitError(
            f"work budget: this comparison is teacher forcing ({tf.describe()}) + free running ({fr.describe()}) "
            f"= {tf.total + fr.total:,} work units, over the budget of {allowed:,.0f} ({where}); raise it with "
            f"budget=N (engine.compare_tf_fr) or {_budget.ENV}=N, or use a shorter reference or record less "
            "(record=False)")


@torch.no_grad()
def compare_tf_fr(model, source: str, reference, config=None, *, forced_tokens=None, record=None,
                  budget=None) -> TFFRComparison:
    """Teacher forcing vs free running, position by position (see the module docstring). `config`
    defaults to greedy decoding of as many tokens as the reference has; `forced_tokens` injects a
    token in the free run ("the wrong note"). budget: the most work units of the whole comparison
    (the teacher-forced scoring plus the free run; default and meaning as for engine.generate):
    engine.LimitError before any model call when over it."""
    bundle = as_bundle(model)
    prep = prepare(bundle, source, 1)
    target = _reference_ids(bundle, prep, reference, [])
    if config is None:
        config = GenerationConfig(max_new_tokens=min(len(target), 4096))
    config = as_config(config)
    _check_budget(bundle, prep, target, config, record, budget)
    tf = teacher_forced(bundle, source, reference, record=record)
    fr = generate(bundle, source, config, record=record, forced_tokens=forced_tokens, budget=budget)
    fr_ids = fr.hypotheses[0]["token_ids"] if fr.hypotheses else []
    tf_out, off, _ = forced_pass(bundle, prep, target)
    tf_lp = tf_logp(bundle, tf_out.logits[0, off:off + len(target)])
    tf_h = tf_out.hidden[0, off:off + len(target)].float()
    n_fr = min(len(fr_ids), len(target))
    if n_fr:
        fr_out, off2, _ = forced_pass(bundle, prep, fr_ids)
        fr_logp = tf_logp(bundle, fr_out.logits[0, off2:off2 + n_fr])
        fr_h = fr_out.hidden[0, off2:off2 + n_fr].float()
        p_tf = tf_lp[:n_fr].exp()
        kl = (p_tf * (tf_lp[:n_fr] - fr_logp)).nan_to_num(0.0).sum(-1).clamp(min=0).tolist()
        hd = (fr_h - tf_h[:n_fr]).norm(dim=-1).tolist()
    rows, first = [], None
    name = bundle.tokenizer.token_str
    for t, ref in enumerate(target):
        has = t < n_fr
        fr_id = fr_ids[t] if has else None
        if first is None and fr_id != ref:
            first = t
        rows.append({
            "t": t, "ref_token": name(ref), "ref_id": ref, "tf_logprob": g(tf_lp[t, ref]),
            "fr_logprob": g(fr_logp[t, ref]) if has else None, "kl": g(kl[t]) if has else None,
            "hidden_dist": g(hd[t]) if has else None, "fr_token": name(fr_id) if has else None, "fr_id": fr_id,
            "on_track": bool(has and fr_ids[:t] == target[:t]),
        })
    on = [r for r in rows if r["on_track"]]
    off_rows = [r for r in rows if r["fr_id"] is not None and not r["on_track"]]
    summary = {
        "reference_tokens": len(target), "free_run_tokens": len(fr_ids),
        "tf_nll": g(-sum(r["tf_logprob"] or 0 for r in rows)),
        "exact_match": fr_ids[:len(target)] == target and (len(fr_ids) == len(target) or not bundle.model.is_encoder_decoder),
        "mean_kl_on_track": g(sum(r["kl"] for r in on) / len(on)) if on else None,
        "mean_kl_off_track": g(sum(r["kl"] for r in off_rows) / len(off_rows)) if off_rows else None,
    }
    return TFFRComparison(rows, first, tf, fr, summary)
