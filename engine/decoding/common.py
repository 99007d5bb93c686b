"""What every strategy shares: resolving the model, encoding the input under the length limits,
forced tokens, and turning one decoding step's tensors into the JSON-ready per-hypothesis records."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..checkpoint import Bundle, load
from ..tokenizer import BOS, EOS, PAD
from .config import RecordOptions


def as_bundle(model) -> Bundle:
    if isinstance(model, Bundle):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load(model)
    raise ValueError(f"model must be an engine.Bundle, a shipped model name or a checkpoint path, "
                     f"got {type(model).__name__}")


def model_info(bundle: Bundle) -> dict:
    m, cfg = bundle.model, bundle.config["model"]
    if bundle.config["arch"] == "gpt":
        n_layers, n_heads = cfg.get("n_layers", 0), cfg.get("n_heads", 1)
    elif bundle.config["arch"] == "transformer":
        n_layers, n_heads = cfg.get("n_dec_layers", 0), cfg.get("n_heads", 1)
    else:
        n_layers, n_heads = 1, 1
    return {"name": bundle.name, "arch": bundle.config["arch"], "task": bundle.config["task"],
            "kind": bundle.kind, "is_encoder_decoder": bool(m.is_encoder_decoder), "n_layers": int(n_layers),
            "n_heads": int(n_heads), "has_self_attention": bool(m.has_self_attention),
            "has_cross_attention": bool(m.has_cross_attention), "max_len": int(m.max_len)}


def n_encoder_layers(bundle: Bundle) -> int:
    return int(bundle.config["model"].get("n_layers", 0)) if bundle.config["arch"] == "transformer" else 0


# -- number formatting -----------------------------------------------------------------------------

def g(x: float, digits: int = 6) -> Optional[float]:
    """A float rounded to `digits` significant digits for JSON; None for -inf/inf/NaN."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def round_tensor(t: Tensor, decimals: int = 4) -> Tensor:
    """Round in float64 so that the JSON shows the short decimal form (0.1234, not 0.12340000271)."""
    return torch.round(t.detach().double(), decimals=decimals)


# -- inputs ----------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """One encoded input: ids (without <bos>), display tokens, the capped number of new tokens."""
    text: str
    ids: list[int]
    tokens: list[str]
    max_new: int
    warnings: list[str] = field(default_factory=list)
    forced: dict = field(default_factory=dict)       # {step: token_id}
    forced_prefix: list[int] = field(default_factory=list)


def prepare(bundle: Bundle, text, max_new_tokens: int) -> Prepared:
    if not isinstance(text, str):
        raise ValueError(f"the input must be a string, got {type(text).__name__}")
    tok, model = bundle.tokenizer, bundle.model
    warnings = []
    if "\x00" in text:
        raise ValueError("the input contains a NUL character")
    if model.is_encoder_decoder and not text.strip():
        raise ValueError("the input is empty: this model needs a source text")
    enc = tok.encode(text) if text else None
    ids = list(enc.ids) if enc else []
    tokens = [tok.token_str(i) for i in ids]
    if enc and enc.unknown:
        shown = "".join(sorted(set(enc.unknown)))[:40]
        warnings.append(f"{len(enc.unknown)} character(s) not in the vocabulary became <unk>: {shown!r}")
    limit = model.max_len
    if model.is_encoder_decoder:
        if len(ids) > limit:
            raise ValueError(f"the source is {len(ids)} tokens long; {bundle.name} accepts at most {limit}")
        room = limit                      # <bos> + new-1 fed tokens <= max_len
    else:
        if len(ids) + 1 > limit:
            raise ValueError(f"the prompt is {len(ids)} tokens long; {bundle.name} accepts at most {limit - 1} "
                             f"(context of {limit} including <bos>)")
        room = limit - len(ids)           # <bos> + prompt + new-1 fed tokens <= max_len
    max_new = min(max_new_tokens, room)
    if max_new < max_new_tokens:
        warnings.append(f"max_new_tokens capped from {max_new_tokens} to {max_new} by the model's length "
                        f"limit of {limit} tokens")
    return Prepared(text, ids, tokens, max_new, warnings)


def token_id(bundle: Bundle, value, what: str) -> int:
    """A token given as an id or as its string (display form or vocabulary form)."""
    tok = bundle.tokenizer
    if isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not a token")
    if isinstance(value, int):
        if not 0 <= value < tok.vocab_size:
            raise ValueError(f"{what}: token id {value} is outside the vocabulary (0..{tok.vocab_size - 1})")
        return value
    if isinstance(value, str):
        for i in range(tok.vocab_size):
            if tok.token_str(i) == value or tok.id_to_token(i) == value:
                return i
        enc = tok.encode(value)
        if len(enc.ids) == 1 and enc.ids[0] != tok.unk_id:
            return enc.ids[0]
        raise ValueError(f"{what}: {value!r} is not a single token of {tok.kind} vocabulary")
    raise ValueError(f"{what}: expected a token id or a token string, got {type(value).__name__}")


def attach_forced(bundle: Bundle, prep: Prepared, forced_prefix=None, forced_tokens=None) -> None:
    forced: dict[int, int] = {}
    prefix: list[int] = []
    if forced_prefix is not None and forced_prefix != "" and forced_prefix != []:
        if isinstance(forced_prefix, str):
            enc = bundle.tokenizer.encode(forced_prefix)
            if enc.unknown:
                prep.warnings.append(f"forced prefix: {len(enc.unknown)} character(s) became <unk>")
            prefix = list(enc.ids)
        elif isinstance(forced_prefix, (list, tuple)):
            prefix = [token_id(bundle, v, "forced_prefix") for v in forced_prefix]
        else:
            raise ValueError(f"forced_prefix must be a text or a list of token ids, got {type(forced_prefix).__name__}")
        forced.update(enumerate(prefix))
    if forced_tokens:
        if not isinstance(forced_tokens, dict):
            raise ValueError("forced_tokens must be a dict {step: token}")
        for k, v in forced_tokens.items():
            try:
                step = int(k)
                if isinstance(k, bool) or isinstance(k, float) and k != step:
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"forced_tokens: step {k!r} is not an integer") from None
            if step < 0:
                raise ValueError(f"forced_tokens: step {step} is negative")
            tid = token_id(bundle, v, f"forced_tokens[{step}]")
            if step in forced and forced[step] != tid:
                raise ValueError(f"forced_tokens: step {step} is already forced by forced_prefix")
            forced[step] = tid
    if forced and max(forced) >= prep.max_new:
        raise ValueError(f"a token is forced at step {max(forced)} but at most {prep.max_new} new tokens are "
                         f"generated (steps 0..{prep.max_new - 1}); raise max_new_tokens")
    prep.forced, prep.forced_prefix = forced, prefix


# -- recording -------------------------------------------------------------------------------------

class Recorder:
    """Turns one step's tensors into the per-hypothesis records of docs/trace-format.md."""

    def __init__(self, bundle: Bundle, record: RecordOptions):
        self.bundle, self.record = bundle, record
        self.tok = bundle.tokenizer
        self.info = model_info(bundle)
        n = self.info["n_layers"]
        if record.layers == "all":
            self.layers = list(range(n))
        else:
            bad = [i for i in record.layers if i >= n]
            if bad:
                raise ValueError(f"recording layers {bad} do not exist: {bundle.name} has {n} decoder layer(s) "
                                 f"(0..{n - 1})")
            self.layers = list(record.layers)
        n_enc = n_encoder_layers(bundle)
        self.enc_layers = list(range(n_enc)) if record.layers == "all" else [i for i in record.layers if i < n_enc]
        self.want_attn = record.attention and (self.info["has_self_attention"] or self.info["has_cross_attention"])
        self._names = [self.tok.token_str(i) for i in range(self.tok.vocab_size)]

    def name(self, i: int) -> str:
        return self._names[int(i)]

    def top_list(self, logp: Tensor) -> list[list[dict]]:
        k = min(self.record.top_k, logp.shape[-1])
        if k <= 0:
            return [[] for _ in range(logp.shape[0])]
        vals, idx = torch.topk(logp, k, dim=-1)
        probs, idx = vals.exp().tolist(), idx.tolist()
        return [[{"id": i, "token": self._names[i], "prob": float(f"{p:.5g}")}
                 for i, p in zip(ir, pr)] for ir, pr in zip(idx, probs)]

    def encoder_attention(self, enc_attn, row: int, src_len: int):
        if not (self.record.attention and enc_attn and self.enc_layers):
            return None
        w = torch.stack([enc_attn[f"attn.encoder.{i}"][row, :, :src_len, :src_len] for i in self.enc_layers])
        return round_tensor(w).tolist()

    def steps(self, rows: Sequence[int], raw_logp: Tensor, proc_logp: Tensor, out, *, chosen=None,
              key_labels=None, src_lens=None, extra=None) -> list[dict]:
        """Records for batch rows `rows`. raw_logp / proc_logp: [N, V] log-probs before / after the rules
        (rows indexed like `out`). chosen: per row in `rows`, the chosen token id or None.
        key_labels: per row, the labels of the self-attention keys; src_lens: per row, the source length.
        extra: per row, a dict merged first (slot, node, prefix_ids)."""
        idx = torch.as_tensor(list(rows), dtype=torch.long)
        same = proc_logp is raw_logp                 # no rule changed anything: compute once
        raw = raw_logp.index_select(0, idx)
        proc = raw if same else proc_logp.index_select(0, idx)
        ent_raw = torch.special.entr(raw.exp()).sum(-1).tolist()
        ent = ent_raw if same else torch.special.entr(proc.exp()).sum(-1).tolist()
        tops_b = self.top_list(raw)
        tops_a = [list(x) for x in tops_b] if same else self.top_list(proc)
        if chosen is not None:
            cidx = torch.as_tensor([c if c is not None else 0 for c in chosen], dtype=torch.long)[:, None]
            c_proc = proc.gather(1, cidx)[:, 0].tolist()
            c_raw = raw.gather(1, cidx)[:, 0].tolist()
        selfs = crosses = hidden = None
        if self.want_attn and out.self_attn is not None and self.layers:
            sa = round_tensor(torch.stack([out.self_attn[i][:, :, -1, :] for i in self.layers], 1).index_select(0, idx))
            km = out.state.get("key_mask")
            km = km.index_select(0, idx) if km is not None else None
            if km is None or bool(km.all()):
                selfs = sa.tolist()
            else:                                 # drop left padding / masked keys row by row
                selfs = [sa[j][:, :, km[j]].tolist() for j in range(len(rows))]
        if self.want_attn and out.cross_attn is not None and self.layers:
            ca = round_tensor(torch.stack([out.cross_attn[i][:, :, -1, :] for i in self.layers], 1).index_select(0, idx))
            crosses = [ca[j][:, :, :src_lens[j]].tolist() if src_lens else ca[j].tolist() for j in range(len(rows))]
        if self.record.hidden_states:
            hidden = round_tensor(out.hidden[:, -1].index_select(0, idx)).tolist()
        recs = []
        for j, r in enumerate(rows):
            rec = dict(extra[j]) if extra else {}
            c = chosen[j] if chosen is not None else None
            rec.update({
                "token_id": c, "token": self._names[c] if c is not None else None,
                "prob": g(math.exp(c_proc[j])) if c is not None else None,
                "logprob": g(c_proc[j]) if c is not None else None,
                "raw_logprob": g(c_raw[j]) if c is not None else None,
                "entropy": g(ent[j]), "entropy_raw": g(ent_raw[j]),
                "top_before": tops_b[j], "top_after": tops_a[j],
                "self_attn": selfs[j] if selfs is not None else None,
                "self_attn_keys": key_labels[j] if (selfs is not None and key_labels) else [],
                "cross_attn": crosses[j] if crosses is not None else None,
                "hidden": hidden[j] if hidden is not None else None,
            })
            recs.append(rec)
        return recs


def continuation_text(bundle: Bundle, ids: Sequence[int]) -> str:
    """Text of generated ids. For a language model the leading space is kept, so that prompt + text
    reads as one text (the BPE tokenizer's decode strips it at the start)."""
    return bundle.tokenizer.decode(ids, keep_leading_space=not bundle.model.is_encoder_decoder)


def hypothesis(bundle: Bundle, ids: Sequence[int], raw_logprobs: Sequence[float], length_penalty: float,
               **extra) -> dict:
    tok = bundle.tokenizer
    ids = [int(i) for i in ids]
    score = float(sum(raw_logprobs))
    n = len(ids)
    norm = score / (n ** length_penalty) if n else 0.0
    d = {"text": continuation_text(bundle, ids), "tokens": [tok.token_str(i) for i in ids], "token_ids": ids,
         "token_logprobs": [g(x) for x in raw_logprobs], "score": g(score), "normalized_score": g(norm),
         "finished": bool(ids and ids[-1] == EOS), "node": None,
         "search_score": g(norm)}       # beam search: the score the search ranked by (after the rules)
    d.update(extra)
    return d


def revive_dead_rows(scores: Tensor, fallback: Tensor) -> tuple[Tensor, list[int]]:
    """Rows where the rules removed every token get `fallback` (the raw scores) back; returns their indices."""
    dead = torch.isneginf(scores).all(-1)
    if bool(dead.any()):
        scores = scores.clone()
        scores[dead] = fallback[dead]
        return scores, dead.nonzero()[:, 0].tolist()
    return scores, []


__all__ = ["as_bundle", "model_info", "prepare", "attach_forced", "Recorder", "hypothesis", "g",
           "round_tensor", "Prepared", "revive_dead_rows", "BOS", "EOS", "PAD", "token_id"]
