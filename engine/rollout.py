"""The one batched free-running loop: greedy decoding or ancestral sampling with the KV cache.

Every free run in seqscope goes through `rollout`: `engine.generate` (greedy / sampling, with the
decoding rules as `processor` and the trace recorder as `on_step`), evaluation, the exposure-bias
lab, SCST and the model cards' samples. Beam search has its own loop but the same start (`begin`) and
the same special-token rule.

The special-token rule (docs/decoding.md): a model never emits <pad>, <bos> or <unk> in a free run.
Their logits are set to -inf at every step before anything else (temperature, decoding rules, the
choice), so every recorded distribution is the model's distribution over the tokens it may emit.
`never_emit_ids(tokenizer)` is the one place that says which ids these are.

One step, for N rows (rows_per_input rows per input):

    logits -> mask never_emit_ids -> log_softmax          = raw_logp (recorded, keep_logp)
           -> / temperature -> processor(scores, ctx)     = the scores the token is chosen from
           -> argmax (greedy) or one draw per row (sample), then forced tokens replace the choice
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor


def never_emit_ids(tokenizer) -> list[int]:
    """The ids a free run never emits: <pad>, <bos> and <unk> (the special-token rule)."""
    return sorted({int(tokenizer.pad_id), int(tokenizer.bos_id), int(tokenizer.unk_id)})


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
          bos_id: int = 1, hooks: Sequence[str] = ()):
    """Start decoding: encoder pass (seq2seq) or an empty cache (LM), each input repeated
    rows_per_input times. Returns (state, first decoder input [N, P], its mask or None, start hooks)."""
    kw = {"hooks": tuple(hooks)} if hooks else {}
    start_hooks = {}
    if model.is_encoder_decoder:
        if src is None:
            raise ValueError("an encoder-decoder model needs a source (src)")
        state, start_hooks = model.start(src, src_mask, **kw)
        if rows_per_input > 1:
            state = model.expand_state(state, rows_per_input)
        n = src.shape[0]
    else:
        if prompt is None:
            raise ValueError("a language model needs a prompt that starts with <bos>")
        n = prompt.shape[0]
        state, _ = model.start(batch_size=n * rows_per_input)
    if prompt is None:
        prompt = torch.full((n, 1), bos_id, dtype=torch.long, device=src.device)
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
    """Decode every input freely, all rows in one model call per step, until each row has emitted <eos>
    or its max_new tokens.

    src, src_mask: [B, S] encoder input (seq2seq; <bos> is fed first unless `prompt` is given).
    prompt, prompt_mask: [B, P] left-padded ids that start with <bos> (LM: the prompt; seq2seq: an
        optional decoder prefix); mask True = real token.
    max_new: an int, or one value per input or per row.
    rows_per_input: rows decoded per input (row b*R + j is row j of input b).
    sample: draw from the distribution (else argmax); generators: one torch.Generator per input (its
        rows share it) or one for all rows.
    processor(scores [N, V], ctx: StepContext) -> scores: the decoding rules, after the mask and the
        temperature. on_step(t, out, raw_logp, chosen, live) after each choice (out: the model's
        StepOutput; chosen [N] with <pad> for rows that had ended; live [N] bool); by then the ctx the
        processor saw holds the log-probs the token was chosen from (ctx.logp: what a recorder shows).
    forced: per input {step: token id}, chosen at that step whatever the rule (after the draw, so a
        sampling run keeps its random stream). hooks: hook point names passed to the model
        (`SeqModel.hook_names`), seen by on_step in out.hooks.
    Gradients flow through `logprobs` when grad is enabled (SCST)."""
    R = rows_per_input
    state, step_in, step_mask, start_hooks = begin(model, src=src, src_mask=src_mask, prompt=prompt,
                                                   prompt_mask=prompt_mask, rows_per_input=R,
                                                   bos_id=tokenizer.bos_id, hooks=hooks)
    n = step_in.shape[0]
    device = step_in.device
    limits = _row_limits(max_new, n // R, R).to(device)
    steps = int(limits.max()) if n else 0
    never = torch.as_tensor(never_emit_ids(tokenizer), dtype=torch.long, device=device)
    pad, eos = tokenizer.pad_id, tokenizer.eos_id
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
        masked = out.logits[:, -1].float().index_fill(1, never, float("-inf"))
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
        done = done | (chosen == eos) | ends[t]
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


__all__ = ["never_emit_ids", "Rollout", "StepContext", "rollout", "begin"]
