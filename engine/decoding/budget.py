"""The work of a decoding request: one definition of "work", the budget it is checked against before
any model call, and the per-step progress callback.

    work = sum over the inputs of  rows x steps x per_step  +  encoder attention  +  MBR utility pairs

    rows       sequences decoded side by side for one input: greedy 1, sampling num_return_sequences,
               beam search num_beams, MBR mbr_num_samples (samples, or the width of its n-best search)
    steps      max_new_tokens, capped by the model's length limit the way generate caps it
    per_step   1                                            the step: chosen token, probabilities,
                                                            entropies, beam candidates
               + recorded numbers / WORK_NUMBERS_PER_UNIT   the row's prefix ids (always recorded), two
                                                            top-k lists (~6 numbers an entry), the hidden
                                                            state, the attention weights of the recorded
                                                            layers (heads x keys); prefixes and keys grow
                                                            with the step: their mean is taken
               + vocabulary / WORK_VOCAB_PER_UNIT           softmaxes, top-k and entropies over it
    encoder attention (recorded once per input): encoder layers x heads x source tokens² / WORK_NUMBERS_PER_UNIT
    MBR        candidates² utility pairs x 2 x steps tokens / WORK_UTILITY_TOKENS_PER_UNIT

One unit is about one unrecorded token step of one row (~1-2 KB of trace once recorded). The numbers
live in engine/limits.py (WORK_BUDGET for the engine, DASHBOARD_MAX_WORK for a dashboard run);
docs/limits.md gives the calibration. Without a model the estimate assumes a text-gpt-sized one;
with `input_tokens` unknown it assumes the longest input the model takes (an upper bound).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .. import limits
from ..limits import LimitError

ENV = "SEQSCOPE_WORK_BUDGET"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Shape:
    """What the estimate needs to know about a model."""
    max_len: Optional[int]          # the length limit (None: none known)
    encoder_decoder: bool
    layers: int                     # decoder layers (recorded attention: per layer)
    heads: int
    encoder_layers: int
    self_attention: bool
    cross_attention: bool
    width: int                      # the hidden state's size (hidden.final)
    vocab: int                      # the logits' width


DEFAULT_SHAPE = Shape(max_len=None, encoder_decoder=False, layers=4, heads=4, encoder_layers=0,
                      self_attention=True, cross_attention=False, width=256, vocab=2048)   # ~ text-gpt


def _int_attr(obj: Any, names: Sequence[str]) -> Optional[int]:
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _width(bundle) -> int:
    """The hidden state's size: a seqscope config's d_model / d_hidden, a Hugging Face config's hidden size."""
    width = _int_attr((getattr(bundle, "config", None) or {}).get("model") or {}, ("d_model", "d_hidden"))
    hf = getattr(getattr(bundle.model, "hf", None), "config", None)
    if width is None and hf is not None:
        text = hf.get_text_config() if hasattr(hf, "get_text_config") else hf
        width = _int_attr(text, ("hidden_size", "d_model", "n_embd"))
    return width or 1024


def shape_of(bundle) -> Shape:
    """The Shape of a loaded model (an engine Bundle)."""
    d = bundle.model.describe()
    vocab = max(int(bundle.tokenizer.vocab_size), int(getattr(bundle.model, "vocab_size", 0) or 0))
    return Shape(max_len=int(d["max_len"]), encoder_decoder=bool(d["is_encoder_decoder"]), layers=int(d["n_layers"]),
                 heads=int(d["n_heads"]), encoder_layers=int(d.get("n_encoder_layers") or 0),
                 self_attention=bool(d["has_self_attention"]), cross_attention=bool(d["has_cross_attention"]),
                 width=_width(bundle), vocab=vocab)


def rows_per_input(config) -> tuple[int, str]:
    """How many sequences one input decodes side by side, and the parameter that says so."""
    if config.mbr:
        return config.mbr_num_samples, "mbr_num_samples"
    if config.num_beams > 1:
        return config.num_beams, "num_beams"
    if config.do_sample:
        return config.num_return_sequences, "num_return_sequences"
    return 1, "rows"


@dataclass(frozen=True)
class Work:
    """A request's estimated work and its parts (for the message)."""
    total: int
    rows: int
    rows_field: str
    steps: int                      # the most steps of any input
    per_step: float                 # the largest per-step weight of any input
    n_inputs: int
    recorded: str                   # what the recording adds, in words

    def describe(self) -> str:
        inputs = f"{self.n_inputs} inputs × " if self.n_inputs > 1 else ""
        rows = f"{self.rows_field} {self.rows} × " if self.rows_field != "rows" else ""
        return (f"{inputs}{rows}{self.steps} steps × {self.per_step:.3g} per step ({self.recorded}) "
                f"= {self.total:,} work units")


def _record_parts(record) -> tuple[int, Any, bool, bool]:
    from .config import as_record
    r = as_record(record)
    return r.top_k, r.layers, r.hidden_states, r.attention


def _count(layers, n: int) -> int:
    return n if layers == "all" else len([i for i in layers if i < n])


def _one_input(config, record, shape: Shape, input_len: Optional[int]) -> tuple[int, float, float, str]:
    """(steps, per-step weight, once-per-input work, what is recorded) for one input."""
    top_k, layers, hidden, attention = _record_parts(record)
    steps = config.max_new_tokens
    L = shape.max_len
    if input_len is None:                         # unknown: the longest input the model takes
        if shape.encoder_decoder:
            input_len = L or 0
        else:
            steps = min(steps, L) if L else steps
            input_len = max(L - steps, 0) if L else 0
    if L:
        steps = max(1, min(steps, L if shape.encoder_decoder else L - input_len))
    numbers, parts, once = 12 * top_k + (steps - 1) / 2, [], 0.0     # top lists; each record's prefix ids
    if top_k:
        parts.append(f"top-{top_k} lists")
    if hidden:
        numbers += shape.width
        parts.append("hidden states")
    if attention:
        dec = _count(layers, shape.layers) * shape.heads
        prefix = 1 if shape.encoder_decoder else 1 + input_len
        keys = (prefix + (steps - 1) / 2 if shape.self_attention else 0) + (input_len if shape.cross_attention else 0)
        numbers += dec * keys
        once = _count(layers, shape.encoder_layers) * shape.heads * input_len ** 2 / limits.WORK_NUMBERS_PER_UNIT
        if dec or once:
            parts.append("attention")
    per_step = 1 + numbers / limits.WORK_NUMBERS_PER_UNIT + shape.vocab / limits.WORK_VOCAB_PER_UNIT
    parts.append(f"vocabulary {shape.vocab:,}")
    if config.mbr:
        n = config.mbr_num_samples
        once += n * n * 2 * steps / limits.WORK_UTILITY_TOKENS_PER_UNIT
    return steps, per_step, once, ", ".join(parts)


def estimate(config, record=None, n_inputs: int = 1, *, model=None, input_tokens: Optional[Sequence[int]] = None,
             texts: Optional[Sequence[str]] = None) -> Work:
    """The Work of decoding `n_inputs` inputs with `config` (a GenerationConfig or a dict) and `record`
    (RecordOptions, a dict, True/None: everything, False: minimal). model: an engine Bundle (its size and
    length limit; without it a text-gpt-sized model). input_tokens: each input's length in tokens (the
    LM prompt / the source), or texts: the inputs themselves (encoded with the model's tokenizer);
    without either, the longest input the model takes (an upper bound)."""
    from .config import as_config
    config = as_config(config)
    if texts is not None:
        if model is None:
            raise ValueError("work of texts: give the model too (model=bundle), their length depends on its tokenizer")
        input_tokens = [len(model.tokenizer.encode(t).ids) if isinstance(t, str) else len(t) for t in texts]
    if input_tokens is not None:
        input_tokens = [int(n) for n in input_tokens]
        n_inputs = len(input_tokens)
    if not isinstance(n_inputs, int) or isinstance(n_inputs, bool) or n_inputs < 0:
        raise ValueError(f"n_inputs={n_inputs!r} is not allowed: an integer >= 0")
    shape = shape_of(model) if model is not None else DEFAULT_SHAPE
    rows, field = rows_per_input(config)
    lens = input_tokens if input_tokens is not None else [None] * n_inputs
    total, steps, per_step, what = 0.0, 0, 0.0, ""
    for n in lens:
        s, w, once, what = _one_input(config, record, shape, n)
        total += rows * s * w + once
        steps, per_step = max(steps, s), max(per_step, w)
    if not lens:
        what = "nothing"
    return Work(total=int(math.ceil(total)), rows=rows, rows_field=field, steps=steps, per_step=per_step,
                n_inputs=len(lens), recorded=what)


def work_units(config, record=None, n_inputs: int = 1, *, model=None, input_tokens: Optional[Sequence[int]] = None,
               texts: Optional[Sequence[str]] = None) -> int:
    """The work of a request in units (see the module docstring and `estimate`): what generate checks
    against its budget (WORK_BUDGET) and the dashboard against DASHBOARD_MAX_WORK. For the figure
    generate checks, give the model and the inputs: work_units(cfg, record, model=bundle, texts=[text])."""
    return estimate(config, record, n_inputs, model=model, input_tokens=input_tokens, texts=texts).total


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value > 0


def resolve(budget: Any = None) -> float:
    """The budget of a request: `budget` when given, else $SEQSCOPE_WORK_BUDGET, else WORK_BUDGET.
    A positive number of work units; math.inf (or "inf" in the environment) turns the check off."""
    if budget is not None:
        if not _positive(budget):
            raise ValueError(f"budget={budget!r} is not allowed: a positive number of work units "
                             f"(math.inf: no budget; the default is {limits.WORK_BUDGET:,})")
        return float(budget)
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return float(limits.WORK_BUDGET)
    try:
        value = float(raw)
    except ValueError:
        value = None
    if not _positive(value):
        raise ValueError(f"{ENV}={raw[:40]!r} is not allowed: a positive number of work units (inf: no budget)")
    return value


def check(bundle, config, record, input_tokens: Sequence[int], budget: Any = None) -> Work:
    """Raise LimitError (one line: the limit, the request's size, how to raise it) when decoding inputs
    of these lengths is over the budget; returns the Work otherwise. Called before any model call."""
    allowed = resolve(budget)
    work = estimate(config, record, model=bundle, input_tokens=input_tokens)
    if work.total > allowed:
        where = "budget=" if budget is not None else (ENV if os.environ.get(ENV, "").strip() else "WORK_BUDGET")
        raise LimitError(
            f"work budget: this request is {work.describe()}, over the budget of {allowed:,.0f} ({where}); "
            f"raise it with budget=N (engine.generate) or {ENV}=N (API, python -m engine decode), "
            f"or ask for fewer rows or tokens, or record less (record=False)")
    return work


def report_progress(recorder, progress: Optional[Progress], total: int):
    """Make `recorder` call progress(steps done, total) after each decoding step it records (every
    strategy records each step once per input). progress may raise to cancel the run."""
    if progress is None:
        return recorder
    if not callable(progress):
        raise ValueError(f"progress must be a function (step, total) or None, got {type(progress).__name__}")
    record_step, done = recorder.steps, [0]

    def steps(*args, **kwargs):
        recs = record_step(*args, **kwargs)
        done[0] += 1
        progress(done[0], total)
        return recs
    recorder.steps = steps
    return recorder


__all__ = ["Shape", "Work", "estimate", "work_units", "rows_per_input", "shape_of", "resolve", "check",
           "report_progress", "ENV"]
