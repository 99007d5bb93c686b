"""`GenerationConfig` (Hugging Face names and semantics) and `RecordOptions` (what a trace keeps).

Both validate on construction: a bad value or combination raises a one-line `ValueError` that names
the parameter, the value and what is allowed. Defaults that differ from Hugging Face's
`GenerationConfig` are listed in docs/decoding.md (`top_k` is off by default here; HF's is 50;
`max_new_tokens` defaults to 32 where HF uses `max_length=20`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Union

STRATEGIES = ("greedy", "sample", "beam", "diverse_beam", "mbr")
MAX_NEW_TOKENS_LIMIT = 4096
MAX_BEAMS = 64
MAX_MBR_SAMPLES = 128


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v  # rejects NaN


def _bad(name: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{name}={value!r} is not allowed: {allowed}")


def _from_dict(cls, d: Any, what: str, keys: str, list_allowed: bool = False):
    """Build a config dataclass from a dict, refusing a non-dict and unknown keys with one line."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a dict, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        allowed = f" (allowed: {', '.join(sorted(names))})" if list_allowed else ""
        raise ValueError(f"unknown {keys}: {', '.join(unknown)}{allowed}")
    return cls(**d)


@dataclass
class GenerationConfig:
    max_new_tokens: int = 32
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: Optional[int] = None
    top_p: float = 1.0
    min_p: Optional[float] = None
    typical_p: float = 1.0
    epsilon_cutoff: float = 0.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    num_beam_groups: int = 1
    diversity_penalty: float = 0.0
    length_penalty: float = 1.0
    early_stopping: Union[bool, str] = False
    num_return_sequences: int = 1
    seed: Optional[int] = None
    # seqscope extras (not in Hugging Face)
    additive_repetition_penalty: float = 0.0
    mbr: bool = False
    mbr_num_samples: int = 16
    mbr_source: str = "samples"
    mbr_utility: str = "chrf"

    def __post_init__(self):
        self.validate()

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        def int_range(name, lo, hi=None):
            v = getattr(self, name)
            if not _is_int(v) or v < lo or (hi is not None and v > hi):
                rng = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"
                raise _bad(name, v, rng)

        def num(name, cond, allowed):
            v = getattr(self, name)
            if not _is_num(v) or not cond(float(v)):
                raise _bad(name, v, allowed)

        def boolean(name):
            v = getattr(self, name)
            if not isinstance(v, bool):
                raise _bad(name, v, "true or false")

        int_range("max_new_tokens", 1, MAX_NEW_TOKENS_LIMIT)
        int_range("min_new_tokens", 0, MAX_NEW_TOKENS_LIMIT)
        if self.min_new_tokens > self.max_new_tokens:
            raise _bad("min_new_tokens", self.min_new_tokens,
                       f"at most max_new_tokens ({self.max_new_tokens})")
        boolean("do_sample")
        num("temperature", lambda x: x > 0 and x != float("inf"), "a number > 0 (1.0 = unchanged)")
        if self.top_k is not None and (not _is_int(self.top_k) or self.top_k < 0):
            raise _bad("top_k", self.top_k, "null/None (off), 0 (off) or an integer >= 1")
        num("top_p", lambda x: 0 < x <= 1, "a number in (0, 1] (1.0 = off)")
        if self.min_p is not None:
            num("min_p", lambda x: 0 <= x <= 1, "null/None (off) or a number in [0, 1]")
        num("typical_p", lambda x: 0 < x <= 1, "a number in (0, 1] (1.0 = off)")
        num("epsilon_cutoff", lambda x: 0 <= x < 1, "a number in [0, 1) (0 = off)")
        num("repetition_penalty", lambda x: 0 < x < float("inf"), "a number > 0 (1.0 = off, > 1 penalises repeats)")
        int_range("no_repeat_ngram_size", 0, 64)
        int_range("num_beams", 1, MAX_BEAMS)
        int_range("num_beam_groups", 1, MAX_BEAMS)
        num("diversity_penalty", lambda x: 0 <= x < float("inf"), "a number >= 0 (0 = off)")
        num("length_penalty", lambda x: abs(x) < float("inf"), "a finite number (1.0 = divide by length)")
        if self.early_stopping not in (True, False, "never") or (
                not isinstance(self.early_stopping, bool) and self.early_stopping != "never"):
            raise _bad("early_stopping", self.early_stopping, 'true, false or "never"')
        int_range("num_return_sequences", 1, MAX_MBR_SAMPLES)
        if self.seed is not None and (not _is_int(self.seed) or not 0 <= self.seed < 2 ** 63):
            raise _bad("seed", self.seed, "null/None (random, recorded in the trace) or an integer >= 0")
        num("additive_repetition_penalty", lambda x: 0 <= x < float("inf"), "a number >= 0 (0 = off)")
        boolean("mbr")
        int_range("mbr_num_samples", 2, MAX_MBR_SAMPLES)
        if self.mbr_source not in ("samples", "nbest"):
            raise _bad("mbr_source", self.mbr_source, '"samples" or "nbest"')
        if self.mbr_utility not in ("chrf", "bleu"):
            raise _bad("mbr_utility", self.mbr_utility, '"chrf" or "bleu"')
        # combinations (Hugging Face refuses the same ones)
        if self.num_beams % self.num_beam_groups:
            raise _bad("num_beam_groups", self.num_beam_groups,
                       f"must divide num_beams ({self.num_beams})")
        if self.num_beam_groups > 1 and self.do_sample:
            raise _bad("do_sample", self.do_sample, "must be false with num_beam_groups > 1 (diverse beam search)")
        if self.num_beams > 1 and self.do_sample and not self.mbr:
            raise _bad("do_sample", self.do_sample,
                       "beam sampling (do_sample with num_beams > 1) is not supported; use num_beams=1")
        if self.diversity_penalty > 0 and self.num_beam_groups == 1:
            raise _bad("diversity_penalty", self.diversity_penalty,
                       "only with num_beam_groups > 1 (diverse beam search)")
        if self.mbr:
            if self.mbr_source == "nbest" and self.num_return_sequences > self.mbr_num_samples:
                raise _bad("num_return_sequences", self.num_return_sequences,
                           f"at most mbr_num_samples ({self.mbr_num_samples}) with MBR")
            if self.mbr_source == "samples" and self.num_return_sequences > self.mbr_num_samples:
                raise _bad("num_return_sequences", self.num_return_sequences,
                           f"at most mbr_num_samples ({self.mbr_num_samples}) with MBR")
            if self.mbr_source == "nbest" and self.num_beam_groups > 1:
                raise _bad("num_beam_groups", self.num_beam_groups, "1 with mbr_source='nbest'")
        elif self.num_beams > 1:
            if self.num_return_sequences > self.num_beams:
                raise _bad("num_return_sequences", self.num_return_sequences,
                           f"at most num_beams ({self.num_beams})")
        elif not self.do_sample and self.num_return_sequences > 1:
            raise _bad("num_return_sequences", self.num_return_sequences,
                       "1 for greedy decoding (use do_sample or num_beams > 1 for more)")

    # -- views ----------------------------------------------------------------------------------
    @property
    def strategy(self) -> str:
        if self.mbr:
            return "mbr"
        if self.num_beams > 1:
            return "diverse_beam" if self.num_beam_groups > 1 else "beam"
        return "sample" if self.do_sample else "greedy"

    @property
    def uses_warpers(self) -> bool:
        """Sampling rules (temperature .. epsilon) apply: when sampling, and for MBR's samples."""
        return self.do_sample or (self.mbr and self.mbr_source == "samples")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GenerationConfig":
        return _from_dict(cls, d, "a generation config", "generation parameter(s)", list_allowed=True)

    def replace(self, **changes) -> "GenerationConfig":
        return dataclasses.replace(self, **changes)


@dataclass
class RecordOptions:
    """What each step keeps: top-k list size, which decoder layers' attention, hidden states, attention."""
    top_k: int = 20
    layers: Union[str, list] = "all"
    hidden_states: bool = True
    attention: bool = True

    def __post_init__(self):
        if not _is_int(self.top_k) or not 0 <= self.top_k <= 1000:
            raise _bad("top_k", self.top_k, "an integer from 0 to 1000 (size of the recorded top lists)")
        if isinstance(self.layers, tuple):
            self.layers = list(self.layers)
        if self.layers != "all" and not (isinstance(self.layers, list) and all(_is_int(i) and i >= 0 for i in self.layers)):
            raise _bad("layers", self.layers, '"all" or a list of layer indices >= 0')
        if isinstance(self.layers, list):
            self.layers = sorted(set(self.layers))
        for name in ("hidden_states", "attention"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(name, getattr(self, name), "true or false")

    @classmethod
    def off(cls) -> "RecordOptions":
        """Record only the chosen tokens, their probabilities and entropies (the cheapest run)."""
        return cls(top_k=0, layers="all", hidden_states=False, attention=False)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RecordOptions":
        return _from_dict(cls, d, "recording options", "recording option(s)")


def as_record(record) -> RecordOptions:
    if record is None or record is True:
        return RecordOptions()
    if record is False:
        return RecordOptions.off()
    if isinstance(record, RecordOptions):
        return record
    if isinstance(record, dict):
        return RecordOptions.from_dict(record)
    raise ValueError(f"record must be RecordOptions, a dict, True/None (everything) or False (minimal); "
                     f"got {type(record).__name__}")


def as_config(config) -> GenerationConfig:
    if config is None:
        return GenerationConfig()
    if isinstance(config, GenerationConfig):
        config.validate()
        return config
    if isinstance(config, dict):
        return GenerationConfig.from_dict(config)
    raise ValueError(f"config must be a GenerationConfig or a dict, got {type(config).__name__}")
