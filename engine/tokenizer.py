"""Tokenizers: character level and BPE, both Hugging Face `tokenizers` objects saved as JSON.

A character tokenizer is a BPE model with no merges (every character is a token), so both kinds
share one file format (`tokenizer.json`, readable by `tokenizers.Tokenizer.from_file`) and one
wrapper. Special tokens always occupy ids 0..3: <pad>, <bos>, <eos>, <unk>. Characters that are not
in the vocabulary map to <unk>; `encode` reports them so callers can warn the user.

The special-token roles (every tokenizer has them, the HF wrapper too; the decoding code uses only
these, never fixed ids): bos_id = 1 is prepended to a language model's prompt (`prepend_bos`) and is
the first decoder input of a seq2seq model (`decoder_start_id`); eos_id = 2 ends a run (`eos_ids`);
pad_id = 0, unk_id = 3; `never_emit` = (pad, bos, unk): the ids a free run never emits;
`special_ids`: all four.
"""
from __future__ import annotations

import json
import re
import os
from dataclasses import dataclass, field
from typing import Iterable

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
METASPACE = "\u2581"


@dataclass
class Encoding:
    ids: list[int]
    tokens: list[str]
    unknown: list[str] = field(default_factory=list)  # characters/pieces that became <unk>



_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: str, what: str = "the input") -> None:
    """A text a tokenizer can take (ValueError otherwise): no NUL character and valid Unicode — no unpaired
    surrogate, which is what Python makes of bytes that are not UTF-8 (a command-line argument in another
    encoding, a bad upload)."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, got {type(text).__name__}")
    if "\x00" in text:
        raise ValueError(f"{what} contains a NUL character")
    bad = _SURROGATE.search(text)
    if bad:
        raise ValueError(f"{what} is not valid Unicode: an unpaired surrogate {bad.group()!r} at character "
                         f"{bad.start()} (is it UTF-8?)")

class Tokenizer:
    """Thin wrapper over a `tokenizers.Tokenizer` with seqscope's conventions."""

    def __init__(self, hf: HFTokenizer, kind: str):
        if kind not in ("char", "bpe"):
            raise ValueError(f"tokenizer kind must be 'char' or 'bpe', got {kind!r}")
        self.hf = hf
        self.kind = kind
        for i, s in enumerate(SPECIALS):
            if hf.token_to_id(s) != i:
                raise ValueError(f"tokenizer must have {s} at id {i}")
        self._id_to_token = [hf.id_to_token(i) for i in range(hf.get_vocab_size())]

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def train_char(cls, texts: Iterable[str]) -> "Tokenizer":
        chars = sorted(set("".join(texts)))
        vocab = {t: i for i, t in enumerate(SPECIALS + chars)}
        hf = HFTokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
        hf.decoder = decoders.Fuse()
        return cls(hf, "char")

    @classmethod
    def train_bpe(cls, texts: Iterable[str], vocab_size: int) -> "Tokenizer":
        texts = list(texts)
        hf = HFTokenizer(models.BPE(unk_token="<unk>"))
        hf.pre_tokenizer = pre_tokenizers.Metaspace()
        hf.decoder = decoders.Metaspace()
        alphabet = sorted(set("".join(texts)))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                      initial_alphabet=alphabet, show_progress=False)
        hf.train_from_iterator(texts, trainer)
        return cls(hf, "bpe")

    # -- persistence ---------------------------------------------------------------------------
    def to_json(self) -> str:
        data = json.loads(self.hf.to_str())
        data["seqscope"] = {"kind": self.kind}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> "Tokenizer":
        try:
            data = json.loads(text)
            kind = data.pop("seqscope", {}).get("kind", "bpe")
            hf = HFTokenizer.from_str(json.dumps(data))
        except Exception as exc:  # json or tokenizers error
            raise ValueError(f"{source}: not a valid tokenizer JSON ({exc})") from None
        return cls(hf, kind)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read(), source=str(path))

    # -- use ------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    # -- the special-token roles (module docstring) -----------------------------------------------
    pad_id, bos_id, eos_id, unk_id = PAD, BOS, EOS, UNK
    eos_ids: tuple[int, ...] = (EOS,)
    decoder_start_id = BOS
    prepend_bos = True
    never_emit: tuple[int, ...] = (PAD, BOS, UNK)
    special_ids = frozenset((PAD, BOS, EOS, UNK))

    def encode(self, text: str, add_special_tokens: bool = False) -> Encoding:
        """Ids of `text`, without special tokens (seqscope adds <bos> / <eos> where a run needs them;
        `add_special_tokens` is accepted for the HF wrapper's signature and changes nothing)."""
        check_text(text)
        enc = self.hf.encode(text, add_special_tokens=False)
        unknown = [text[a:b] for i, (a, b) in zip(enc.ids, enc.offsets) if i == UNK]
        return Encoding(list(enc.ids), list(enc.tokens), unknown)

    def decode(self, ids: Iterable[int], keep_leading_space: bool = False) -> str:
        """Text of the ids, stopping at <eos>; <pad>/<bos> dropped, <unk> kept visible as '\ufffd'.

        BPE (Metaspace) strips the space in front of the first word; `keep_leading_space` keeps it, so
        that a language model's continuation appended to its prompt reads as one text."""
        out: list[int] = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            out.append(i)
        if not out:
            return ""
        # decode pieces between unknowns so <unk> stays visible
        parts, run = [], []

        def piece(run: list[int]) -> str:
            return self.hf.decode(run) if parts == [] and not keep_leading_space else self._decode_continuation(run)

        for i in out:
            if i == UNK:
                parts.append(piece(run) if run else "")
                parts.append("\ufffd")
                run = []
            else:
                run.append(i)
        if run:
            parts.append(piece(run))
        return "".join(parts)

    def _decode_continuation(self, run: list[int]) -> str:
        # Metaspace strips a leading space at the start of a decode; keep it mid-sequence.
        return "".join(self.token_str(i) for i in run) if self.kind == "bpe" else self.hf.decode(run)

    def token_str(self, i: int) -> str:
        """Display form of one token (Metaspace '▁' shown as a space)."""
        t = self._id_to_token[int(i)]
        return t.replace(METASPACE, " ") if self.kind == "bpe" else t

    def id_to_token(self, i: int) -> str:
        return self._id_to_token[int(i)]
