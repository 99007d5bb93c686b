"""The one batched free-running loop: greedy decoding or ancestral sampling with the KV cache.

Every free run in seqscope goes through `rollout`: `engine.generate` (greedy / sampling, with the
decoding rules as `processor` and the trace recorder as `on_step`), evaluation, the exposure-bias
lab, SCST and the model cards' samples. Beam search has its own loop but the same start (`begin`) and
the same special-token rule.

The special-token rule (docs/decoding.md): a free run never emits the ids of `tokenizer.never_emit`
(seqscope's tokenizers: <pad>, <bos>, <unk>; a Hugging Face tokenizer: none, as `generate`), nor an
id the tokenizer has no string for (a model's logits may be wider than its tokenizer: padded
vocabularies). The logits are cut to the tokenizer's width and the never-emit ids set to -inf at every
step before anything else (temperature, decoding rules, the choice), so every recorded distribution is
the model's distribution over the tokens it may emit. `EmitMask` does both; `never_emit_ids(tokenizer)`
is the one place that says which ids. Decoding uses only the tokenizer's roles (bos_id, prepend_bos,
decoder_start_id, eos_id / eos_ids, pad_id): a row ends at any of `end_ids(tokenizer)`; a tokenizer
without an end token runs every row to its max_new.

One step, for N rows (rows_per_input rows per input):

    logits -> EmitMask (cut to the vocabulary, never_emit -inf) -> log_softmax = raw_logp (keep_logp)
           -> / temperature -> processor(scores, ctx)     = the scores the token is chosen from
           -> argmax (greedy) or one draw per row (sample), then forced tokens replace the choice
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor


def never_emit_ids(tokenizer) -> list[int]:
    """The ids a free run never emits: `tokenizer.never_emit` (seqscope: <pad>, <bos>, <unk>; HF: none)."""
    return [int(i) for i in tokenizer.never_emit]


def end_ids(tokenizer) -> tuple[int, ...]:
    """The ids that end a row: `tokenizer.eos_ids` when the tokenizer lists several, else its eos_id;
    () when it has no end token (a run then goes to max_new)."""
    ids = getattr(tokenizer, "eos_ids", None)
    if ids:
        return tuple(int(i) for i in ids)
    return () if tokenizer.eos_id is None else (int(tokenizer.eos_id),)


def pad_value(tokenizer) -> int:
    """The id written after a row ended: <pad>, else the end token (as `generate`), else 0."""
    for v in (tokenizer.pad_id, *end_ids(tokenizer)):
        if v is not None:
            return int(v)
    return 0


class EmitMask:
    """The special-token rule for one run: last-position logits [N, W] -> float scores [N, V], V = the
    tokenizer's vocabulary (ids >= V are cut off: never chosen, never shown), never_emit ids -inf.
    Index tensors follow the logits' device."""

    def __init__(self, tokenizer):
        self.vocab = int(tokenizer.vocab_size)
        self.never = [i for i in never_emit_ids(tokenizer) if 0 <= i < self.vocab]
        self._index: dict = {}

    def index(self, device, width: int) -> Tensor:
        """The never-emit ids below `width` as a long tensor on `device` (made once per device and width)."""
        key = (device, width)
        if key not in self._index:
            self._index[key] = torch.as_tensor([i for i in self.never if i < width], dtype=torch.long, device=device)
        return self._index[key]

    def __call__(self, logits: Tensor) -> Tensor:
        if logits.shape[-1] > self.vocab:
            logits = logits[..., :self.vocab]
        logits = logits.float()
        if not self.never:
            return logits
        return logits.index_fill(-1, self.index(logits.device, logits.shape[-1]), float("-inf"))


def model_device(model) -> torch.device:
    """Where a model's tensors live (its `device` if it says, else its first parameter's; CPU without any)."""
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError, TypeError):
        return torch.device("cpu")


@dataclass
class Rollout:
    """What a free run produced. N = inputs x rows_per_input rows, L = the steps run (<= max_new)."""
    tokens: Tensor                      # [N, L] long: the chosen ids; <pad> after a row ended (<eos> kept)
    logprobs: Tensor                    # [N, L] log-prob of each chosen token under the distribution it was
                                        # chosen from (after temperature and processor); 0 after the end;
                                        # keeps gradients when grad is enabled
    lengths: Tensor                     # [N] tokens generated per row (<eos> included)
    raw_logprobs: Tensor                # [N, L] log-prob of each chosen token under the model (masked,
                                        # before temperature and processor); 0 after the end
    hidden: Optional[Tensor] = None     # [N, L, D] the hidden state that predicted token t (keep_hidden)
    step_logp: Optional[Tensor] = None  # [N, L, V] the full masked log-softmax at step t (keep_logp)
    start_hooks: dict = field(default_factory=dict)   # what model.start recorded (encoder hook points)


@dataclass
class StepContext:
    """What a processor sees at step `step`. `logp` is filled in after the processor has run: the
    log-probs the token is chosen from (the same tensor as the raw log-probs when nothing changed)."""
    step: int
    tokens: Tensor                      # [N, step] ids generated so far (<pad> after a row ended)
    live: Tensor                        # [N] bool: rows that choose a token at this step
    logp: Optional[Tensor] = None


Processor = Callable[[Tensor, StepContext], Tensor]
OnStep = Callable[[int, object, Tensor, Tensor, Tensor], None]


def begin(model, *, src: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
          prompt: Optional[Tensor] = None, prompt_mask: Optional[Tensor] = None, rows_per_input: int = 1,
          start_id: Optional[int] = None, hooks: Sequence[str] = ()):
    """Start decoding: encoder pass (seq2seq) or an empty cache (LM), each input repeated
    rows_per_input times (`model.expand_state`). A seq2seq run without a decoder `prompt` starts from
    `start_id` (the tokenizer's decoder_start_id). Inputs are moved to the model's device.
    Returns (state, first decoder input [N, P], its mask or None, start hooks)."""
    kw = {"hooks": tuple(hooks)} if hooks else {}
    start_hooks = {}
    device = model_device(model)
    if prompt is not None:
        prompt = prompt.to(device)
        prompt_mask = prompt_mask.to(device) if prompt_mask is not None else None
    if model.is_encoder_decoder:
        if src is None:
            raise ValueError("an encoder-decoder model needs a source (src)")
        src = src.to(device)
        state, start_hooks = model.start(src, src_mask.to(device) if src_mask is not None else None, **kw)
        if rows_per_input > 1:
            state = model.expand_state(state, rows_per_input)
        n = src.shape[0]
        if prompt is None:
            if start_id is None:
                raise ValueError("this encoder-decoder model's tokenizer names no decoder start token "
                                 "(decoder_start_id)")
            prompt = torch.full((n, 1), int(start_id), dtype=torch.long, device=device)
    else:
        if prompt is None or prompt.shape[1] == 0:
            raise ValueError("a language model needs a prompt of at least one token")
        n = prompt.shape[0]
        state, _ = model.start(batch_size=n * rows_per_input)
    if prompt_mask is not None and bool(prompt_mask.all()):
        prompt_mask = None
    if rows_per_input > 1:
        prompt = prompt.repeat_interleave(rows_per_input, 0)
        prompt_mask = prompt_mask.repeat_interleave(rows_per_input, 0) if prompt_mask is not None else None
    return state, prompt, prompt_mask, (start_hooks or {})


def _row_limits(max_new: Union[int, Sequence[int], Tensor], n_inputs: int, rows_per_input: int) -> Tensor:
    """max_new per row: an int, or one value per input or per row."""
    limits = torch.as_tensor(max_new, dtype=torch.long).reshape(-1)
    n = n_inputs * rows_per_input
    if limits.numel() == 1:
        return limits.expand(n).clone()
    if limits.numel() == n_inputs and rows_per_input > 1:
        return limits.repeat_interleave(rows_per_input)
    if limits.numel() != n:
        raise ValueError(f"max_new has {limits.numel()} values for {n_inputs} inputs x {rows_per_input} rows")
    return limits


def _draw(probs: Tensor, live: Tensor, generators, rows_per_input: int) -> Tensor:
    """One sample per live row. A list of generators: one per input, its rows drawn together (so an input's
    samples do not depend on the other inputs of the batch); one generator (or None): one draw for all rows."""
    chosen = torch.zeros(probs.shape[0], dtype=torch.long, device=probs.device)
    if generators is None or isinstance(generators, torch.Generator):
        rows = live.nonzero()[:, 0]
        chosen[rows] = torch.multinomial(probs[rows], 1, generator=generators)[:, 0]
        return chosen
    for b, gen in enumerate(generators):
        lo = b * rows_per_input
        rows = lo + live[lo:lo + rows_per_input].nonzero()[:, 0]
        if rows.numel():
            chosen[rows] = torch.multinomial(probs[rows], 1, generator=gen)[:, 0]
    return chosen


def _force(chosen: Tensor, forced: Sequence[dict], t: int, rows_per_input: int) -> Tensor:
    for b, steps in enumerate(forced):
        tok = steps.get(t) if steps else None
        if tok is not None:
            chosen[b * rows_per_input:(b + 1) * rows_per_input] = int(tok)
    return chosen


def rollout(model, tokenizer, *, src: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
            prompt: Optional[Tensor] = None, prompt_mask: Optional[Tensor] = None,
            max_new: Union[int, Sequence[int], Tensor], rows_per_input: int = 1, sample: bool = False,
            temperature: float = 1.0, generators=None, processor: Optional[Processor] = None,
            on_step: Optional[OnStep] = None, keep_hidden: bool = False, keep_logp: bool = False,
            forced: Optional[Sequence[dict]] = None, hooks: Sequence[str] = ()) -> Rollout:
    """Decode every input freely, all rows in one model call per step, until each row has emitted an end
    token (`end_ids(tokenizer)`) or its max_new tokens.

    src, src_mask: [B, S] encoder input (seq2seq; the tokenizer's decoder_start_id is fed first unless
        `prompt` is given).
    prompt, prompt_mask: [B, P] left-padded ids (LM: the whole prompt, <bos> included when the tokenizer
        prepends one; seq2seq: an optional decoder prefix); mask True = real token.
    max_new: an int, or one value per input or per row.
    rows_per_input: rows decoded per input (row b*R + j is row j of input b).
    sample: draw from the distribution (else argmax); generators: one torch.Generator per input (its
        rows share it) or one for all rows.
    processor(scores [N, V], ctx: StepContext) -> scores: the decoding rules, after the mask and the
        temperature. on_step(t, out, raw_logp, chosen, live) after each choice (out: the model's
        StepOutput; chosen [N] with `pad_value` for rows that had ended; live [N] bool); by then the ctx the
        processor saw holds the log-probs the token was chosen from (ctx.logp: what a recorder shows).
    forced: per input {step: token id}, chosen at that step whatever the rule (after the draw, so a
        sampling run keeps its random stream). hooks: hook point names passed to the model
        (`SeqModel.hook_names`), seen by on_step in out.hooks.
    Gradients flow through `logprobs` when grad is enabled (SCST)."""
    R = rows_per_input
    state, step_in, step_mask, start_hooks = begin(model, src=src, src_mask=src_mask, prompt=prompt,
                                                   prompt_mask=prompt_mask, rows_per_input=R,
                                                   start_id=tokenizer.decoder_start_id, hooks=hooks)
    n = step_in.shape[0]
    device = step_in.device
    limits = _row_limits(max_new, n // R, R).to(device)
    steps = int(limits.max()) if n else 0
    mask = EmitMask(tokenizer)
    pad, eos = pad_value(tokenizer), end_ids(tokenizer)
    eos_t = torch.as_tensor(eos, dtype=torch.long, device=device) if len(eos) > 1 else None
    kw = {"hooks": tuple(hooks)} if hooks else {}
    tokens = torch.full((n, steps), pad, dtype=torch.long, device=device)
    done = limits <= 0
    ends = list(limits[None, :] <= torch.arange(1, steps + 1, device=device)[:, None])   # [t][row]: max_new reached
    logps, raws, lives, hiddens, full = [], [], [], [], []
    for t in range(steps):
        if bool(done.all()):
            break
        out = model.decode(step_in, state, step_mask, **kw)
        state = out.state
        masked = mask(out.logits[:, -1])
        raw_logp = masked.log_softmax(-1)
        scores = masked if temperature == 1.0 else masked / temperature
        live = ~done
        ctx = StepContext(t, tokens[:, :t], live)
        if processor is not None:
            scores = processor(scores, ctx)
        logp = raw_logp if scores is masked else scores.log_softmax(-1)
        ctx.logp = logp
        chosen = _draw(logp.detach().exp(), live, generators, R) if sample else scores.argmax(-1)
        if forced:
            chosen = _force(chosen, forced, t, R)
        chosen = chosen.masked_fill(done, pad)
        if on_step is not None:
            on_step(t, out, raw_logp, chosen, live)
        tokens[:, t] = chosen
        step_in = chosen[:, None]
        logps.append(logp.gather(1, step_in))
        raws.append(logps[-1].detach() if logp is raw_logp else raw_logp.detach().gather(1, step_in))
        lives.append(live)
        if keep_hidden:
            hiddens.append(out.hidden[:, -1])
        if keep_logp:
            full.append(raw_logp)
        if eos_t is not None:
            done = done | torch.isin(chosen, eos_t)
        elif eos:
            done = done | (chosen == eos[0])
        done = done | ends[t]
        step_mask = (~done)[:, None] if bool(done.any()) else None
    if not logps:
        empty = torch.zeros(n, 0, device=device)
        return Rollout(tokens[:, :0], empty, torch.zeros(n, dtype=torch.long, device=device), empty,
                       start_hooks=start_hooks)
    live = torch.stack(lives, 1)
    return Rollout(tokens=tokens[:, :live.shape[1]],
                   logprobs=torch.cat(logps, 1).masked_fill(~live, 0.0),
                   lengths=live.sum(1),
                   raw_logprobs=torch.cat(raws, 1).masked_fill(~live, 0.0),
                   hidden=torch.stack(hiddens, 1) if keep_hidden else None,
                   step_logp=torch.stack(full, 1) if keep_logp else None,
                   start_hooks=start_hooks)


__all__ = ["never_emit_ids", "end_ids", "pad_value", "EmitMask", "model_device", "Rollout", "StepContext", "rollout",
           "begin"]
