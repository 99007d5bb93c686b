"""The recorder: turns one decoding step's tensors into the JSON-ready per-hypothesis records of
docs/trace-format.md, and finished token ids into final hypotheses.

It asks the model for the named hook points the recording options need (`SeqModel.hook_names`:
attn.self.{i}, attn.cross.{i}, attn.encoder.{i}, key_mask, hidden.final) and reads only what the model
reported in `StepOutput.hooks`; it never asks which architecture it records."""
from __future__ import annotations

import functools
import math
import weakref
from types import SimpleNamespace
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..checkpoint import Bundle
from ..rollout import end_ids
from ..trace import schema
from .config import RecordOptions


def g(x: float, digits: int = 6) -> Optional[float]:
    """A float rounded to `digits` significant digits for JSON; None for -inf/inf/NaN."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


ATTN_DECIMALS = 3      # attention weights: thousandths, as a saved trace holds them (engine/trace/io.py)


def round_tensor(t: Tensor, decimals: int = 4) -> Tensor:
    """Round in float64 so that the JSON shows the short decimal form (0.1234, not 0.12340000271)."""
    return torch.round(t.detach().double(), decimals=decimals)


_NAMES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def token_names(tok) -> list[str]:
    """The display strings of a tokenizer's ids (token_str), made once per tokenizer (a 50k vocabulary
    would otherwise cost every run tens of milliseconds)."""
    try:
        names = _NAMES.get(tok)
    except TypeError:                              # not weak-referenceable: no cache
        names = None
    if names is None or len(names) != tok.vocab_size:
        names = [tok.token_str(i) for i in range(tok.vocab_size)]
        try:
            _NAMES[tok] = names
        except TypeError:
            pass
    return names


class Recorder:
    """What one run records (RecordOptions) and the records of its steps."""

    def __init__(self, bundle: Bundle, record: RecordOptions):
        self.bundle, self.record = bundle, record
        self.tok = bundle.tokenizer
        model = bundle.model
        info = model.describe()
        n = info["n_layers"]
        if record.layers == "all":
            self.layers = list(range(n))
        else:
            bad = [i for i in record.layers if i >= n]
            if bad:
                raise ValueError(f"recording layers {bad} do not exist: {bundle.name} has {n} decoder layer(s) "
                                 f"(0..{n - 1})")
            self.layers = list(record.layers)
        n_enc = info["n_encoder_layers"]
        enc_layers = list(range(n_enc)) if record.layers == "all" else [i for i in record.layers if i < n_enc]
        names = set(model.hook_names)

        def points(kind: str, layers: Sequence[int]) -> list[str]:
            return [f"{kind}.{i}" for i in layers if record.attention and f"{kind}.{i}" in names]

        self.self_hooks = points("attn.self", self.layers)
        self.cross_hooks = points("attn.cross", self.layers)
        self.enc_hooks = points("attn.encoder", enc_layers)
        self.key_mask = bool(self.self_hooks) and "key_mask" in names
        self.hidden = record.hidden_states and "hidden.final" in names
        self.hooks = tuple(self.enc_hooks + self.self_hooks + self.cross_hooks + ["key_mask"] * self.key_mask
                           + ["hidden.final"] * self.hidden)
        self.key_labels = bool(self.self_hooks)      # the runs label the self-attention keys
        self._names = token_names(self.tok)
        # every attention block recorded so far was checked on its tensor (weights in [0, 1]); the
        # strategies pass it to schema.finish(numbers_checked=...), which then does not read those weights
        # one by one again. A block that fails turns it off: the trace is validated in full, and the
        # validator names the bad weight as it would without this.
        self.numbers_ok = True

    def name(self, i: int) -> str:
        return self._names[int(i)]

    def top_list(self, logp: Tensor) -> list[list[dict]]:
        logp = logp[..., :len(self._names)]          # ids past the tokenizer's vocabulary are never shown
        k = min(self.record.top_k, logp.shape[-1])
        if k <= 0:
            return [[] for _ in range(logp.shape[0])]
        vals, idx = torch.topk(logp, k, dim=-1)
        probs, idx = vals.exp().tolist(), idx.tolist()
        names, entry = self._names, schema.top_entry
        return [[entry(id=i, token=names[i], prob=float(f"{p:.5g}")) for i, p in zip(ir, pr)]
                for ir, pr in zip(idx, probs)]

    def encoder_attention(self, start_hooks: dict, row: int, src_len: int):
        """[layer][head][query][key] encoder self-attention of input `row`, or None."""
        if not (self.enc_hooks and start_hooks):
            return None
        w = torch.stack([start_hooks[n][row, :, :src_len, :src_len] for n in self.enc_hooks])
        return round_tensor(w, ATTN_DECIMALS).tolist()

    def at_position(self, out, q: int):
        """A teacher-forced pass's outputs at query position q, shaped like one incremental step (keys 0..q)."""
        view = {}
        for name, t in out.hooks.items():
            if name.startswith("attn.self."):
                view[name] = t[:, :, q:q + 1, :q + 1]
            elif name.startswith("attn.cross."):
                view[name] = t[:, :, q:q + 1, :]
            elif name == "key_mask":
                view[name] = t[:, :q + 1]
            elif name.startswith("hidden."):
                view[name] = t[:, q:q + 1]
        return SimpleNamespace(hooks=view)

    def _checked(self, w: Tensor) -> Tensor:
        """w, attention weights about to become lists; numbers_ok stays on only if all are in [0, 1]: one
        pass over the tensor (a NaN makes its min and max NaN, which fails both comparisons)."""
        if self.numbers_ok and w.numel():
            lo, hi = torch.aminmax(w)
            if not (0.0 <= float(lo) and float(hi) <= 1.0):
                self.numbers_ok = False
        return w

    def _attention(self, hooks: dict, pick, rows: int, src_lens):
        selfs = crosses = None
        if self.self_hooks:
            sa = self._checked(round_tensor(pick(torch.stack([hooks[n][:, :, -1, :] for n in self.self_hooks], 1)),
                                            ATTN_DECIMALS))
            km = hooks.get("key_mask") if self.key_mask else None       # absent: every key is a real token
            km = pick(km) if km is not None else None
            if km is None or bool(km.all()):
                selfs = sa.tolist()
            else:                                 # drop left padding / masked keys row by row
                selfs = [sa[j][:, :, km[j]].tolist() for j in range(rows)]
        if self.cross_hooks:
            ca = self._checked(round_tensor(pick(torch.stack([hooks[n][:, :, -1, :] for n in self.cross_hooks], 1)),
                                            ATTN_DECIMALS))
            if src_lens and any(n != ca.shape[-1] for n in src_lens):
                crosses = [ca[j][:, :, :src_lens[j]].tolist() for j in range(rows)]
            else:                                 # every row's source fills the keys: one conversion
                crosses = ca.tolist()
        return selfs, crosses

    def steps(self, rows: Sequence[int], raw_logp: Tensor, proc_logp: Tensor, out, *, extra: Sequence[dict],
              chosen=None, key_labels=None, src_lens=None) -> list[dict]:
        """Records for batch rows `rows`. raw_logp / proc_logp: [N, V] log-probs before / after the rules
        (rows indexed like `out`). extra: per row, its slot, node and prefix_ids. chosen: per row in `rows`,
        the chosen token id or None. key_labels: per row, the labels of the self-attention keys;
        src_lens: per row, the source length.

        Per step the tensors are turned into Python lists in as few conversions as possible: every row of
        the batch in order (greedy, beam search) is read without a copy; the distributions before and
        after the rules are stacked once ([raw rows; processed rows]), for one entropy pass, one gather of
        the chosen tokens' log-probs, one topk; the per-row numbers come out in one list."""
        rows = list(rows)
        n = len(rows)
        if rows == list(range(raw_logp.shape[0])):
            pick = _same                             # every row, in order: nothing to select
        else:
            idx = torch.as_tensor(rows, dtype=torch.long, device=raw_logp.device)
            pick = functools.partial(_select, idx=idx)
        same = proc_logp is raw_logp                 # no rule changed anything: compute once
        both = pick(raw_logp) if same else torch.cat([pick(raw_logp), pick(proc_logp)])
        cols = [torch.special.entr(both.exp()).sum(-1)]
        if chosen is not None:
            cidx = torch.as_tensor([c if c is not None else 0 for c in chosen], dtype=torch.long,
                                   device=both.device)[:, None]
            cols.append(both.gather(1, cidx if same else cidx.repeat(2, 1))[:, 0])
        nums = torch.cat(cols).tolist()              # one conversion: entropies, then chosen log-probs
        ent_raw = nums[:n]
        ent = ent_raw if same else nums[n:2 * n]
        c_raw = c_proc = None
        if chosen is not None:
            c_raw = nums[-2 * n:-n] if not same else nums[n:2 * n]
            c_proc = c_raw if same else nums[-n:]
        tops = self.top_list(both)                   # rows before the rules, then (if any rule acted) after
        tops_b = tops[:n]
        tops_a = [list(x) for x in tops_b] if same else tops[n:]
        selfs, crosses = self._attention(out.hooks, pick, len(rows), src_lens)
        hidden = round_tensor(pick(out.hooks["hidden.final"][:, -1])).tolist() if self.hidden else None
        names, recs = self._names, []
        for j in range(len(rows)):
            c = chosen[j] if chosen is not None else None
            recs.append(schema.step_hypothesis(
                **extra[j], token_id=c, token=names[c] if c is not None else None,
                prob=g(math.exp(c_proc[j])) if c is not None else None,
                logprob=g(c_proc[j]) if c is not None else None,
                raw_logprob=g(c_raw[j]) if c is not None else None,
                entropy=g(ent[j]), entropy_raw=g(ent_raw[j]), top_before=tops_b[j], top_after=tops_a[j],
                self_attn=selfs[j] if selfs is not None else None,
                self_attn_keys=key_labels[j] if (selfs is not None and key_labels) else [],
                cross_attn=crosses[j] if crosses is not None else None,
                hidden=hidden[j] if hidden is not None else None))
        return recs


def _same(t: Tensor) -> Tensor:
    return t


def _select(t: Tensor, idx: Tensor) -> Tensor:
    return t.index_select(0, idx)


def continuation_text(bundle: Bundle, ids: Sequence[int]) -> str:
    """Text of generated ids. For a language model the leading space is kept, so that prompt + text
    reads as one text (the BPE tokenizer's decode strips it at the start)."""
    return bundle.tokenizer.decode(ids, keep_leading_space=not bundle.model.is_encoder_decoder)


def hypothesis(bundle: Bundle, ids: Sequence[int], raw_logprobs: Sequence[float], length_penalty: float,
               **extra) -> dict:
    """A final hypothesis: text, tokens, raw log-probs, score = their sum, normalized by length ** penalty.
    extra: node, search_score (beam search: the score the search ranked by, after the rules), slot, ..."""
    tok = bundle.tokenizer
    ids = [int(i) for i in ids]
    score = float(sum(raw_logprobs))
    n = len(ids)
    norm = score / (n ** length_penalty) if n else 0.0
    return schema.hypothesis(text=continuation_text(bundle, ids), tokens=[tok.token_str(i) for i in ids],
                             token_ids=ids, token_logprobs=[g(x) for x in raw_logprobs], score=g(score),
                             normalized_score=g(norm), finished=bool(ids and ids[-1] in end_ids(tok)), **extra)


__all__ = ["Recorder", "hypothesis", "continuation_text", "g", "round_tensor"]
