"""The input of a decoding run: resolving the model, encoding the text under the length limits, the
model's description for the trace, the tensors a run starts from and the ids the repetition rules see."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

from ..batching import pad_batch
from ..checkpoint import Bundle
from ..loader import load                       # "hf:NAME" too
from ..tokenizer import BOS
from .fields import rule_fields
from .rules import call_plan


def as_bundle(model) -> Bundle:
    if isinstance(model, Bundle):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load(model)
    raise ValueError(f"model must be an engine.Bundle, a shipped model name or a checkpoint path, "
                     f"got {type(model).__name__}")


def model_info(bundle: Bundle) -> dict:
    """The trace's `model` section: the checkpoint's name, arch, task and kind and what the model says it is."""
    d = bundle.model.describe()
    return {"name": bundle.name, "arch": bundle.config["arch"], "task": bundle.config["task"],
            "kind": bundle.kind, "is_encoder_decoder": bool(d["is_encoder_decoder"]), "n_layers": int(d["n_layers"]),
            "n_heads": int(d["n_heads"]), "has_self_attention": bool(d["has_self_attention"]),
            "has_cross_attention": bool(d["has_cross_attention"]), "max_len": int(d["max_len"])}


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


def run_inputs(bundle: Bundle, preps: Sequence[Prepared]) -> dict:
    """The rollout / beam start of prepared inputs: padded sources (seq2seq) or left-padded <bos> + prompts (LM)."""
    if bundle.model.is_encoder_decoder:
        src, src_mask = pad_batch([p.ids for p in preps])
        return {"src": src, "src_mask": src_mask}
    prompt, prompt_mask = pad_batch([[BOS] + p.ids for p in preps], side="left")
    return {"prompt": prompt, "prompt_mask": prompt_mask}


def key_prefix(bundle: Bundle, prep: Prepared) -> list[str]:
    """Labels of the self-attention keys before the first generated token."""
    return ["<bos>"] if bundle.model.is_encoder_decoder else ["<bos>"] + prep.tokens


def rule_context(bundle: Bundle, prep: Prepared, generated: list[int]) -> list[int]:
    """The ids the repetition rules look at: LM prompt + generated (as HF's input_ids); seq2seq: generated."""
    return generated if bundle.model.is_encoder_decoder else prep.ids + generated


def needs_context(config, warp: bool) -> bool:
    """Does a rule that is on under `config` look at the ids so far (the table's rules say what they need)?"""
    return any(not f.is_off(getattr(config, f.name)) and {"seen", "context_ids"} & set(call_plan(f.rule)[1])
               for f in rule_fields(warp))


__all__ = ["as_bundle", "model_info", "Prepared", "prepare", "token_id", "run_inputs", "key_prefix", "rule_context",
           "needs_context"]
