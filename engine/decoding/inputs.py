"""The input of a decoding run: resolving the model, encoding the text (or taking token ids) under the
length limits, the model's description for the trace, the tensors a run starts from and the ids the
repetition rules see.

Only the tokenizer's special-token roles are used (engine/tokenizer.py): a language model's decoder
input starts with bos_id + the prompt when the tokenizer `prepend_bos` (seqscope's), with the prompt
as encoded otherwise (a Hugging Face tokenizer's encode already adds what its model expects); a
seq2seq model's starts with decoder_start_id. That start is `Prepared.prefix`: what the model is fed
before the first generated token, and what the repetition rules see before the generated tokens
(Hugging Face's `input_ids`)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

from ..batching import pad_batch
from ..checkpoint import Bundle
from ..loader import load                       # "hf:NAME" too
from ..tokenizer import check_text
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
    """One encoded input: ids (as encoded: seqscope without <bos>), display tokens, the capped number of
    new tokens, and `prefix`: the decoder input before the first generated token (module docstring)."""
    text: str
    ids: list[int]
    tokens: list[str]
    max_new: int
    warnings: list[str] = field(default_factory=list)
    forced: dict = field(default_factory=dict)       # {step: token_id}
    forced_prefix: list[int] = field(default_factory=list)
    prefix: list[int] = field(default_factory=list)


def decoder_prefix(bundle: Bundle, ids: Sequence[int]) -> list[int]:
    """The decoder input before the first generated token: seq2seq [decoder_start_id]; LM [bos_id] +
    prompt ids when the tokenizer prepends <bos>, else the prompt ids ([bos_id] for an empty prompt)."""
    tok = bundle.tokenizer
    if bundle.model.is_encoder_decoder:
        if tok.decoder_start_id is None:
            raise ValueError(f"{bundle.name}: its tokenizer names no decoder start token (decoder_start_id)")
        return [int(tok.decoder_start_id)]
    ids = [int(i) for i in ids]
    if tok.prepend_bos or not ids:
        if tok.bos_id is None:
            if ids:
                return ids
            raise ValueError(f"the prompt is empty and {bundle.name} has no <bos> token to start from; "
                             "give a prompt")
        return [int(tok.bos_id)] + ids
    return ids


def _input_ids(bundle: Bundle, text) -> list[int]:
    """Token ids given as the input instead of a text: a list of ints inside the vocabulary."""
    n = bundle.tokenizer.vocab_size
    ids = list(text)
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise ValueError(f"the input token ids must be integers, got {type(i).__name__}")
        if not 0 <= i < n:
            raise ValueError(f"the input token id {i} is outside the vocabulary (0..{n - 1})")
    return [int(i) for i in ids]


def prepare(bundle: Bundle, text, max_new_tokens: int) -> Prepared:
    """Encode `text` (a string) or take `text` as token ids (a list / tuple of ints: the ids `encode`
    would give, used as they are), check the model's length limit and cap max_new_tokens to it."""
    tok, model = bundle.tokenizer, bundle.model
    warnings = []
    if isinstance(text, (list, tuple)):
        ids = _input_ids(bundle, text)
        if model.is_encoder_decoder and not ids:
            raise ValueError("the input is empty: this model needs a source")
        text = tok.decode(ids, keep_leading_space=False)
    elif isinstance(text, str):
        check_text(text)
        if model.is_encoder_decoder and not text.strip():
            raise ValueError("the input is empty: this model needs a source text")
        enc = tok.encode(text) if text else None
        ids = list(enc.ids) if enc else []
        if enc and enc.unknown:
            shown = "".join(sorted(set(enc.unknown)))[:40]
            warnings.append(f"{len(enc.unknown)} character(s) not in the vocabulary became <unk>: {shown!r}")
    else:
        raise ValueError(f"the input must be a string or a list of token ids, got {type(text).__name__}")
    tokens = [tok.token_str(i) for i in ids]
    limit = model.max_len
    prefix = decoder_prefix(bundle, ids)
    if model.is_encoder_decoder:
        if len(ids) > limit:
            raise ValueError(f"the source is {len(ids)} tokens long; {bundle.name} accepts at most {limit}")
        room = limit                      # decoder start + new-1 fed tokens <= max_len
    else:
        extra = len(prefix) - len(ids)    # <bos> when prepended
        if len(prefix) > limit:
            raise ValueError(f"the prompt is {len(ids)} tokens long; {bundle.name} accepts at most {limit - extra} "
                             f"(context of {limit}" + (" including <bos>)" if extra else ")"))
        room = limit - len(prefix) + 1    # prefix + new-1 fed tokens <= max_len
    max_new = min(max_new_tokens, room)
    if max_new < max_new_tokens:
        warnings.append(f"max_new_tokens capped from {max_new_tokens} to {max_new} by the model's length "
                        f"limit of {limit} tokens")
    return Prepared(text, ids, tokens, max_new, warnings, prefix=prefix)


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
        check_text(value, what)
        for i in range(tok.vocab_size):
            if tok.token_str(i) == value or tok.id_to_token(i) == value:
                return i
        enc = tok.encode(value, add_special_tokens=False)
        if len(enc.ids) == 1 and enc.ids[0] != tok.unk_id:
            return enc.ids[0]
        raise ValueError(f"{what}: {value!r} is not a single token of {tok.kind} vocabulary")
    raise ValueError(f"{what}: expected a token id or a token string, got {type(value).__name__}")


def run_inputs(bundle: Bundle, preps: Sequence[Prepared]) -> dict:
    """The rollout / beam start of prepared inputs: padded sources and their decoder start (seq2seq) or
    the left-padded prefixes (LM: [<bos>] + prompt, or the prompt as encoded)."""
    pad = bundle.tokenizer.pad_id if bundle.tokenizer.pad_id is not None else 0
    prompt, prompt_mask = pad_batch([p.prefix for p in preps], side="left", value=pad)
    if bundle.model.is_encoder_decoder:
        src, src_mask = pad_batch([p.ids for p in preps], value=pad)
        return {"src": src, "src_mask": src_mask, "prompt": prompt, "prompt_mask": None}
    return {"prompt": prompt, "prompt_mask": prompt_mask}


def key_prefix(bundle: Bundle, prep: Prepared) -> list[str]:
    """Labels of the self-attention keys before the first generated token (the prefix's tokens)."""
    return [bundle.tokenizer.token_str(i) for i in prep.prefix]


def rule_context(bundle: Bundle, prep: Prepared, generated: list[int]) -> list[int]:
    """The ids the repetition rules look at: the prefix + the generated ids, as Hugging Face's input_ids
    (LM: <bos> when prepended + prompt + generated; seq2seq: decoder start + generated)."""
    return prep.prefix + generated


def needs_context(config, warp: bool) -> bool:
    """Does a rule that is on under `config` look at the ids so far (the table's rules say what they need)?"""
    return any(not f.is_off(getattr(config, f.name)) and {"seen", "context_ids"} & set(call_plan(f.rule)[1])
               for f in rule_fields(warp))


__all__ = ["as_bundle", "model_info", "Prepared", "prepare", "decoder_prefix", "token_id", "run_inputs", "key_prefix",
           "rule_context", "needs_context"]
