"""`GenerationConfig` (Hugging Face names and semantics) and `RecordOptions` (what a trace keeps).

GenerationConfig's fields, defaults and per-field checks come from the table in fields.py
(`GENERATION_FIELDS`); the checks that involve several fields are here. Both classes validate on
construction: a bad value or combination raises a one-line `ValueError` that names the parameter,
the value and what is allowed. Defaults that differ from Hugging Face's `GenerationConfig` are listed
in docs/decoding.md (`top_k` is off by default here; HF's is 50; `max_new_tokens` defaults to 32
where HF uses `max_length=20`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Union

from .fields import GENERATION_FIELDS, _is_int


def _bad(name: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{name}={value!r} is not allowed: {allowed}")


def _from_dict(cls, d: Any, what: str, keys: str, list_allowed: bool = False):
    """Build a config dataclass from a dict, refusing a non-dict and unknown keys with one line."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a dict, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names, key=str)
    if unknown:
        allowed = f" (allowed: {', '.join(sorted(names))})" if list_allowed else ""
        shown = ", ".join(k if isinstance(k, str) and k.isidentifier() else repr(k) for k in unknown)
        raise ValueError(f"unknown {keys}: {shown}{allowed}")
    return cls(**d)


def _fields_from_table(cls):
    """A dataclass whose fields (names, types, defaults, in order) are the rows of GENERATION_FIELDS."""
    cls.__annotations__ = {f.name: f.annotation for f in GENERATION_FIELDS}
    for f in GENERATION_FIELDS:
        setattr(cls, f.name, f.default)
    return dataclass(cls)


@_fields_from_table
class GenerationConfig:
    """Every generation parameter (one per row of fields.GENERATION_FIELDS), validated on construction."""

    def __post_init__(self):
        self.validate()

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        for field in GENERATION_FIELDS:
            field.check(getattr(self, field.name))
        self._check_combinations()

    def _check_combinations(self) -> None:
        """The checks that involve several fields (Hugging Face refuses the same ones)."""
        if self.min_new_tokens > self.max_new_tokens:
            raise _bad("min_new_tokens", self.min_new_tokens, f"at most max_new_tokens ({self.max_new_tokens})")
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
            if self.num_return_sequences > self.mbr_num_samples:
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
        """The sampling rules (the table's "warper" rows) apply: when sampling, and for MBR's samples."""
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
