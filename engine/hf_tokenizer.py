"""A Hugging Face tokenizer with the special-token roles of seqscope's tokenizers (plan: WAVE2.md).

`HFTokenizer(hf_tokenizer, generation_config=..., config=...)` wraps a loaded `transformers` tokenizer
(engine/loader.py loads it; transformers is not imported here). The roles come from the model's
generation config first (what `generate` uses), then its config, then the tokenizer:

    bos_id, eos_id, pad_id, unk_id     Optional[int]; eos_ids: every id that ends a run (a config may list several)
    decoder_start_id                   seq2seq: the first decoder input (decoder_start_token_id)
    prepend_bos = False                encode already adds what the model expects
    never_emit = ()                    a free run may emit any id, as `generate` does
    special_ids                        the tokenizer's special tokens, shown as "<name>"

Display (`token_str`): byte-level BPE pieces ("Ġ", "Ċ", ...) are turned back into their bytes and shown
as text; SentencePiece's "▁" is a space; a byte that is not a whole character (a byte-fallback piece
<0xE2>, or part of a byte-level character) is shown as <0xE2>; `decode` joins such bytes into characters.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Optional, Sequence

from .tokenizer import Encoding, check_text

METASPACE = "\u2581"


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode: byte-level BPE character -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def show_bytes(data: bytes) -> str:
    """Bytes as text; bytes that are not part of a whole UTF-8 character shown as <0xNN>."""
    out, i = [], 0
    while i < len(data):
        for n in (1, 2, 3, 4):
            try:
                out.append(data[i:i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(f"<0x{data[i]:02X}>")
            i += 1
    return "".join(out)


def _byte_piece(piece: str) -> Optional[int]:
    """The byte of a byte-fallback piece "<0xE2>", else None."""
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return int(piece[3:5], 16)
        except ValueError:
            return None
    return None


def _role(value) -> Optional[int]:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _all(value) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value if isinstance(v, int))
    return (int(value),) if isinstance(value, int) and not isinstance(value, bool) else ()


def detect_style(hf, pieces: Sequence[str]) -> str:
    """"byte-level", "sentencepiece" or "plain": from the fast tokenizer's decoder, else from its vocabulary."""
    backend = getattr(hf, "backend_tokenizer", None)
    described = f"{getattr(backend, 'decoder', '')} {getattr(backend, 'pre_tokenizer', '')}"
    if "ByteLevel" in described:
        return "byte-level"
    if "Metaspace" in described or METASPACE in described:
        return "sentencepiece"
    meta = sum(p.startswith(METASPACE) for p in pieces)
    glyph = sum(p.startswith("Ġ") for p in pieces)
    if max(meta, glyph) * 20 < len(pieces):
        return "plain"
    return "sentencepiece" if meta >= glyph else "byte-level"


class HFTokenizer:
    """The tokenizer roles and display of seqscope over a transformers tokenizer (module docstring)."""

    kind = "hf"
    prepend_bos = False
    never_emit: tuple[int, ...] = ()

    def __init__(self, hf, *, generation_config=None, config=None, is_encoder_decoder: bool = False):
        self.hf = hf
        self.is_encoder_decoder = is_encoder_decoder
        sources = [s for s in (generation_config, config) if s is not None]

        def pick(name: str) -> Optional[int]:
            for s in sources:
                v = _role(getattr(s, f"{name}_token_id", None))
                if v is not None:
                    return v
            return _role(getattr(hf, f"{name}_token_id", None))

        self.bos_id, self.eos_id, self.pad_id = pick("bos"), pick("eos"), pick("pad")
        self.unk_id = _role(getattr(hf, "unk_token_id", None))
        eos_all = next((_all(getattr(s, "eos_token_id", None)) for s in sources
                        if _all(getattr(s, "eos_token_id", None))), ())
        self.eos_ids: tuple[int, ...] = eos_all or ((self.eos_id,) if self.eos_id is not None else ())
        start = pick("decoder_start")
        self.decoder_start_id = (start if start is not None else self.bos_id) if is_encoder_decoder else None
        n = len(hf)
        self._pieces = [p if isinstance(p, str) else "" for p in hf.convert_ids_to_tokens(list(range(n)))]
        self.special_ids = frozenset(int(i) for i in getattr(hf, "all_special_ids", ()) if 0 <= int(i) < n)
        added = getattr(hf, "added_tokens_decoder", {}) or {}
        self.special_ids |= frozenset(int(i) for i, t in added.items() if getattr(t, "special", False) and int(i) < n)
        self.style = detect_style(hf, self._pieces)
        self._shown = [self._show(i) for i in range(n)]

    # -- the roles --------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    def __repr__(self) -> str:
        return (f"HFTokenizer({type(self.hf).__name__}, {self.style}, vocab {self.vocab_size}, bos {self.bos_id}, "
                f"eos {self.eos_id}, pad {self.pad_id}, unk {self.unk_id}, decoder_start {self.decoder_start_id})")

    # -- text <-> ids -----------------------------------------------------------------------------------
    def encode(self, text: str, add_special_tokens: bool = True) -> Encoding:
        """Ids as the HF tokenizer gives them for generation (with the special tokens it adds itself: an LM's
        <bos> if it adds one, a source's </s>); `add_special_tokens=False` for a continuation / a target.
        `unknown`: the pieces of text that became the unknown token. For an encoder-decoder, text without
        special tokens is decoder-side text and goes through the target tokenizer (`text_target`: Marian has
        its own target SentencePiece model)."""
        check_text(text)
        side = "text_target" if self.is_encoder_decoder and not add_special_tokens else "text"
        try:
            enc = self.hf(**{side: text}, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
            offsets = enc.get("offset_mapping")     # a slow (SentencePiece / Python) tokenizer gives none
        except NotImplementedError:         # older slow tokenizers refuse the option
            enc = self.hf(**{side: text}, add_special_tokens=add_special_tokens)
            offsets = None
        ids = [int(i) for i in enc["input_ids"]]
        unknown = []
        if self.unk_id is not None and self.unk_id in ids:
            unk_text = self._pieces[self.unk_id]
            if offsets is None:
                unknown = ["\ufffd"] * (ids.count(self.unk_id) - text.count(unk_text))
            else:
                unknown = [text[a:b] for i, (a, b) in zip(ids, offsets)
                           if i == self.unk_id and b > a and text[a:b] != unk_text]
        return Encoding(ids, [self.token_str(i) for i in ids], unknown)

    def decode(self, ids: Iterable[int], keep_leading_space: bool = False) -> str:
        """Text of the ids up to the first end token; other special tokens dropped (the unknown token kept
        visible), byte-fallback pieces joined. SentencePiece decoders drop the space in front of the first
        word: `keep_leading_space` keeps it (an LM continuation appended to its prompt)."""
        kept: list[int] = []
        for i in ids:
            i = int(i)
            if i in self.eos_ids:
                break
            if i >= self.vocab_size or (i in self.special_ids and i != self.unk_id):
                continue
            kept.append(i)
        if not kept:
            return ""
        text = self.hf.decode(kept, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if keep_leading_space and self._shown[kept[0]][:1] == " " and text[:1] != " ":
            text = " " + text
        return text

    # -- display ----------------------------------------------------------------------------------------
    def _show(self, i: int) -> str:
        piece = self._pieces[i]
        if i in self.special_ids:
            return piece if piece.startswith("<") and piece.endswith(">") else f"<{piece}>"
        byte = _byte_piece(piece)
        if byte is not None:
            return chr(byte) if byte < 0x80 else piece
        if self.style == "byte-level":
            table = byte_decoder()
            if all(c in table for c in piece):
                return show_bytes(bytes(table[c] for c in piece))
            return piece
        if self.style == "sentencepiece":
            return piece.replace(METASPACE, " ")
        return piece

    def token_str(self, i: int) -> str:
        """The display form of token i (see the module docstring); an id past the vocabulary as <id N>."""
        i = int(i)
        return self._shown[i] if 0 <= i < len(self._shown) else f"<id {i}>"

    def id_to_token(self, i: int) -> str:
        """The vocabulary string of token i."""
        i = int(i)
        return self._pieces[i] if 0 <= i < len(self._pieces) else f"<id {i}>"


__all__ = ["HFTokenizer", "byte_decoder", "show_bytes", "detect_style"]
