"""`engine.generate` / `engine.generate_batch`: run a strategy and return a `Trace`."""
from __future__ import annotations

import contextlib
import gc
import random
import threading
import time
from typing import Optional, Sequence

import torch

from . import budget as _budget, sampling
from .beam import beam_search
from .config import GenerationConfig, RecordOptions, as_config, as_record
from .fields import warper_names
from .forced import attach_forced
from .inputs import Prepared, as_bundle, model_info, prepare
from .recorder import Recorder
from ..trace import Trace, schema
from .rules import rules_active


def _seed(config: GenerationConfig) -> Optional[int]:
    if config.strategy in ("greedy", "beam", "diverse_beam") or (config.mbr and config.mbr_source == "nbest"):
        return config.seed
    return config.seed if config.seed is not None else random.SystemRandom().randrange(2 ** 31)


def _samples(config: GenerationConfig, strategy: str) -> bool:
    return strategy == "sample" or (strategy == "mbr" and config.mbr_source == "samples")


def _rules(config: GenerationConfig, strategy: str) -> list[str]:
    """The decoding rules that act in this run, in the order they are applied."""
    if strategy == "teacher_forced":
        return []
    names = rules_active(config, _samples(config, strategy))
    if strategy == "diverse_beam" and config.diversity_penalty:
        names.insert(0, "diversity_penalty")
    return names


def _unused(config: GenerationConfig, strategy: str) -> list[str]:
    """Sampling settings that do nothing in this strategy (Hugging Face warns about them too)."""
    if strategy == "teacher_forced" or _samples(config, strategy):
        return []
    warpers = set(warper_names())
    set_ = [n for n in rules_active(config, True) if n in warpers]
    return [f"{', '.join(set_)} only act when sampling (do_sample); ignored by {strategy}"] if set_ else []


def start_trace(bundle, prep: Prepared, config: GenerationConfig, record: RecordOptions, strategy: str,
                seed: Optional[int]) -> dict:
    """The trace of a run before its steps (engine.trace.schema.new_trace): model, settings, input,
    forced tokens, the rules that act and the warnings so far."""
    return schema.new_trace(model=model_info(bundle), config=config, strategy=strategy, seed=seed,
                            input={"text": prep.text, "tokens": prep.tokens, "token_ids": prep.ids},
                            forced={"prefix": prep.forced_prefix, "tokens": prep.forced},
                            rules=_rules(config, strategy), warnings=prep.warnings + _unused(config, strategy),
                            recording=record)


def fill(d: dict, res: dict, total_s: float) -> dict:
    """A strategy's result (steps, warnings, timing, encoder attention) into its trace."""
    d["steps"], d["warnings"] = res["steps"], d["warnings"] + res["warnings"]
    d["timing"] = schema.timing_section(total_s=total_s, steps_s=res["steps_s"])
    d["encoder_attention"] = res.get("encoder_attention")
    return d


_GC_LOCK = threading.Lock()
_GC_PAUSES = [0, False]          # runs under paused_gc now; whether the first of them turned the collector off


@contextlib.contextmanager
def paused_gc():
    """Python's cyclic garbage collector paused while a run builds its trace. A full recording makes
    hundreds of thousands of small lists and dicts (top-k entries, attention rows), and every so many
    allocations the collector would walk the whole growing trace again: on a GPT-2-shaped beam-4 run of
    256 tokens that cost more than the recording itself. Nothing in a run needs a cycle collected;
    reference counting still frees everything. Nested and concurrent runs share one pause (the last
    one out turns the collector back on if the first one in turned it off).

    The finished trace is long-lived (returned, cached, charted), so before the collector is turned back
    on the objects made during the pause go straight to its oldest generation (`gc.freeze()` then
    `gc.unfreeze()`): otherwise the first young collection would walk every list of the trace once more
    (50 ms for the 2 million attention weights of a beam-4 run of 256 tokens) and a middle one again; a
    full collection still sees them. Skipped when the process keeps frozen objects of its own
    (`gc.get_freeze_count()`: unfreezing would release them)."""
    with _GC_LOCK:
        if _GC_PAUSES[0] == 0:
            _GC_PAUSES[1] = gc.isenabled()
            gc.disable()
        _GC_PAUSES[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES[0] -= 1
            if _GC_PAUSES[0] == 0 and _GC_PAUSES[1]:
                if gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()


def _run(bundle, preps, config: GenerationConfig, record: RecordOptions, seeds, progress=None) -> list[Trace]:
    """Run the configured strategy for prepared inputs (the garbage collector paused: `paused_gc`; under
    torch.inference_mode: no tensor of a run is ever differentiated); returns the validated traces."""
    with paused_gc(), torch.inference_mode():
        return _run_strategy(bundle, preps, config, record, seeds, progress)


def _run_strategy(bundle, preps, config: GenerationConfig, record: RecordOptions, seeds, progress=None) -> list[Trace]:
    recorder = _budget.report_progress(Recorder(bundle, record), progress, max(p.max_new for p in preps))
    strategy = config.strategy
    if strategy in ("greedy", "sample"):
        t0 = time.perf_counter()
        results = sampling.run(bundle, preps, config, recorder, seeds=seeds)
        total = time.perf_counter() - t0
        out = []
        for prep, seed, res in zip(preps, seeds, results):
            d = fill(start_trace(bundle, prep, config, record, strategy, seed), res, total)
            d["hypotheses"] = sampling.ranked_hypotheses(bundle, res["rows"], config)
            out.append(schema.finish(d, numbers_checked=recorder.numbers_ok))
        return out
    out = []
    for prep, seed in zip(preps, seeds):
        t0 = time.perf_counter()
        d = start_trace(bundle, prep, config, record, strategy, seed)
        if strategy in ("beam", "diverse_beam"):
            res = beam_search(bundle, prep, config, recorder)
            d["hypotheses"], d["beam"] = res["hypotheses"], res["beam"]
        else:
            from .mbr import run_mbr
            res = run_mbr(bundle, prep, config, recorder, d)
        out.append(schema.finish(fill(d, res, time.perf_counter() - t0), numbers_checked=recorder.numbers_ok))
    return out


def generate(model, text: str, config=None, *, record=None, forced_prefix=None, forced_tokens=None, budget=None,
             progress: Optional[_budget.Progress] = None) -> Trace:
    """Decode `text` (a seq2seq source or an LM prompt) with `config`; everything is recorded in the Trace.

    forced_prefix: text or token ids forced as the first generated tokens; forced_tokens: {step: token}
    injected at that step, after which the model continues freely. budget: the most work units the
    request may take (default $SEQSCOPE_WORK_BUDGET or engine.limits.WORK_BUDGET; engine.LimitError
    before any model call when over it; docs/limits.md). progress(step, max_new): called after each
    step; it may raise to cancel the run."""
    bundle = as_bundle(model)
    config, record = as_config(config), as_record(record)
    prep = prepare(bundle, text, config.max_new_tokens)
    _budget.check(bundle, config, record, [len(prep.ids)], budget)
    attach_forced(bundle, prep, forced_prefix, forced_tokens)
    return _run(bundle, [prep], config, record, [_seed(config)], progress)[0]


def generate_batch(model, texts: Sequence[str], config=None, *, record=None, budget=None) -> list[Trace]:
    """Decode several inputs; greedy and sampling share one model call per step (the same results as
    one at a time: each input gets its own generator seeded with the config's seed); beam search and
    MBR run the inputs one after another. budget: as for generate, for all the inputs together."""
    bundle = as_bundle(model)
    config, record = as_config(config), as_record(record)
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise ValueError("texts must be a list of strings")
    if not texts:
        return []
    preps = [prepare(bundle, t, config.max_new_tokens) for t in texts]
    _budget.check(bundle, config, record, [len(p.ids) for p in preps], budget)
    seed = _seed(config)
    return _run(bundle, preps, config, record, [seed] * len(preps))


__all__ = ["generate", "generate_batch", "start_trace", "fill"]
