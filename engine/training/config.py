"""The training configuration: every option of a run, checked in one place (one-line ValueErrors).

The exposure-bias remedies it selects are described in engine/training/loop.py and docs/exposure.md."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from . import schedules
from ..limits import MAX_SCST_SAMPLES, MAX_SEED, MAX_THREADS, MAX_TRAIN_BATCH, MAX_VOCAB_SIZE

# the options that are `python -m engine train` flags of the same name (--ss-k for ss_k, ...): the CLI
# copies them into the config and cli_command writes them back out
CLI_KEYS = ("steps", "batch_size", "lr", "seed", "max_minutes", "label_smoothing", "feed_model_prob", "eval_every",
            "patience", "tokenizer", "bpe_vocab_size", "threads", "warmup", "ss_schedule", "ss_k", "ss_c",
            "ss_eps_min", "tbptt", "curriculum_steps", "curriculum_start", "init_from", "stage", "scst_reward",
            "scst_samples", "length_buckets", "mixer_delta", "mixer_every", "mixer_samples", "mixer_reward")

# what a saved config (a checkpoint card's training_config, a resume state) meant by an option it does
# not list: the default when it was saved, where that differs from today's. ss_sample became True
# (sampling, as Bengio et al. 2015) in wave 3; a config saved before has no ss_sample and fed the argmax.
SAVED_DEFAULTS = {"ss_sample": False}


class OptionError(ValueError):
    """A training option of the wrong type or out of its range; `option` names it (the CLI names its --flag)."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


# the allowed range of each integer option: (lo, hi), None = unbounded; a limit's name says how to raise it
INT_RANGES = {
    "steps": (1, None), "batch_size": (1, MAX_TRAIN_BATCH), "block_size": (1, None), "warmup": (0, None),
    "eval_every": (1, None), "eval_examples": (1, None), "patience": (1, None), "seed": (0, MAX_SEED),
    "threads": (0, MAX_THREADS), "bpe_vocab_size": (8, MAX_VOCAB_SIZE), "tbptt": (0, None),
    "curriculum_steps": (0, None), "curriculum_start": (0, None), "scst_samples": (1, MAX_SCST_SAMPLES),
    "length_buckets": (1, None), "mixer_delta": (1, None), "mixer_every": (1, None),
    "mixer_samples": (2, MAX_SCST_SAMPLES),
}
# ... of each number option: (lo, hi, lo excluded, hi excluded); every number must be finite
FLOAT_RANGES = {
    "lr": (0.0, 1.0, False, False), "weight_decay": (0.0, None, False, False), "grad_clip": (0.0, None, True, False),
    "label_smoothing": (0.0, 1.0, False, True), "feed_model_prob": (0.0, 1.0, False, False),
    "max_minutes": (0.0, None, True, False), "ss_eps_min": (0.0, 1.0, False, False),
}
LIMIT_NAMES = {"batch_size": "MAX_TRAIN_BATCH", "seed": "MAX_SEED", "threads": "MAX_THREADS",
               "bpe_vocab_size": "MAX_VOCAB_SIZE", "scst_samples": "MAX_SCST_SAMPLES",
               "mixer_samples": "MAX_SCST_SAMPLES"}
_NOTES = {"threads": " (0 = torch's default)", "tbptt": " (0 = full backpropagation)",
          "curriculum_steps": " (0 = no curriculum)", "warmup": " (0 = none)",
          "mixer_samples": " (the baseline is the mean reward of the other samples)"}
STAGES = ("mle", "scst", "mixer")                  # the fine-tuning stages need init_from
CHOICES = {"tokenizer": ("char", "bpe"), "lm_mode": ("sequences", "stream"), "stage": STAGES,
           "scst_reward": ("exact", "chrf"), "mixer_reward": ("exact", "chrf")}
_INT64 = 2 ** 63 - 1
_TYPES = {"int": "an integer", "float": "a number", "Optional[float]": "a number or null", "str": "text",
          "bool": "true or false", "dict": "an object ({...})"}


def _show(v: Any) -> str:
    """A value in a message: at most 80 characters (a huge integer by its size: its repr could fail)."""
    if isinstance(v, int) and v.bit_length() > 128:
        return f"an integer of {v.bit_length()} bits"
    return f"{v!r:.80}"


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_type(name: str, kind: str, v: Any) -> None:
    ok = {"int": lambda: isinstance(v, int) and not isinstance(v, bool), "float": lambda: _num(v),
          "Optional[float]": lambda: v is None or _num(v), "str": lambda: isinstance(v, str),
          "bool": lambda: isinstance(v, bool), "dict": lambda: isinstance(v, dict)}[kind]()
    if not ok:
        raise OptionError(name, f"{name} must be {_TYPES[kind]}, got {_show(v)}")


def _check_range(name: str, kind: str, v: Any) -> None:
    if kind == "int":
        lo, hi = INT_RANGES.get(name, (None, None))
        if hi is None and v > _INT64:        # no option means anything beyond 64 bits
            raise OptionError(name, f"{name} must be at most 2**63 - 1, got {_show(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            allowed = (f">= {lo}" if hi is None else f"from {lo} to {hi:,}") + _NOTES.get(name, "")
            limit = f" ({LIMIT_NAMES[name]} in engine/limits.py)" if name in LIMIT_NAMES and v > hi else ""
            raise OptionError(name, f"{name} must be {allowed}, got {_show(v)}{limit}")
        return
    lo, hi, lo_open, hi_open = FLOAT_RANGES.get(name, (None, None, False, False))
    if lo is not None and hi is not None:
        allowed = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        allowed = f"a finite number {'>' if lo_open else '>='} {lo:g}"
    else:
        allowed = "a finite number"
    try:
        finite = math.isfinite(v)
    except OverflowError:                    # an integer beyond the float range
        finite = False
    if not (finite and (lo is None or (v > lo if lo_open else v >= lo))
            and (hi is None or (v < hi if hi_open else v <= hi))):
        raise OptionError(name, f"{name} must be {allowed}, got {_show(v)}")


@dataclass
class TrainConfig:
    name: str
    task: str
    arch: str
    model: dict = field(default_factory=dict)       # architecture config (vocab_size is filled in)
    tokenizer: str = "char"                          # "char" | "bpe"
    bpe_vocab_size: int = 2048
    steps: int = 5000                                # maximum optimiser steps
    batch_size: int = 128
    block_size: int = 256                            # LM on a text stream: tokens per example
    lm_mode: str = "sequences"                       # LM: "sequences" (one example a row) | "stream"
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 200
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    feed_model_prob: float = 0.0
    eval_every: int = 500
    eval_examples: int = 1000
    patience: int = 4                                # evaluations without improvement before stopping
    max_minutes: float = 12.0
    seed: int = 0
    data_sizes: dict = field(default_factory=dict)   # overrides of the task's split sizes
    threads: int = 0                                 # torch threads (0 = torch's default)
    # exposure-bias remedies (see the module docstring and docs/exposure.md)
    ss_schedule: str = "none"                        # none | constant | linear | exponential | inverse_sigmoid
    ss_k: Optional[float] = None                     # the schedule's k (engine/training/schedules.py)
    ss_c: Optional[float] = None                     # the linear schedule's slope c
    ss_eps_min: float = 0.0                          # the linear schedule's floor
    ss_sample: bool = True                           # feed a sample of the model's distribution (Bengio et
                                                     # al. 2015); False: its argmax (see SAVED_DEFAULTS)
    tbptt: int = 0                                   # truncated-BPTT window L of a GRU decoder (0 = full)
    curriculum_steps: int = 0                        # steps over which the longest allowed length grows
    curriculum_start: int = 0                        # the longest length at step 0 (0 = the shortest in data)
    init_from: str = ""                              # start from this checkpoint (name or folder)
    stage: str = "mle"                               # "mle" (cross-entropy) | "scst" (self-critical RL) |
                                                     # "mixer" (Ranzato et al. 2016; engine/training/mixer.py)
    scst_reward: str = "exact"                       # "exact" (exact match) | "chrf" (sacrebleu chrF / 100)
    scst_samples: int = 4                            # sampled rollouts per source
    select_best: bool = True                         # keep the best validation weights (False: the last)
    length_buckets: int = 1                          # seq2seq: split each batch into this many micro-batches
                                                     # of similar source length (less padding, same loss)
    mixer_delta: int = 2                             # MIXER: Delta, REINFORCE tokens added per stage
    mixer_every: int = 100                           # MIXER: optimiser steps per stage
    mixer_samples: int = 4                           # MIXER: sampled continuations per source (>= 2)
    mixer_reward: str = "exact"                      # MIXER: sequence reward (engine/training/scst.py)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        cfg = cls(**d)
        cfg.check()
        return cfg

    @classmethod
    def from_saved(cls, d: dict) -> "TrainConfig":
        """A config as saved with a checkpoint or a resume state: an option it does not list means what
        it meant then (SAVED_DEFAULTS: no ss_sample = the argmax), not today's default."""
        return cls.from_dict({**{k: v for k, v in SAVED_DEFAULTS.items() if k not in d}, **d})

    def check(self) -> None:
        """One-line ValueErrors (OptionError naming the option) for a value of the wrong type or out of
        its range (INT_RANGES, FLOAT_RANGES, CHOICES), or options that do not fit together."""
        for f in fields(self):
            v = getattr(self, f.name)
            _check_type(f.name, f.type, v)
            if f.name in CHOICES and v not in CHOICES[f.name]:
                raise OptionError(f.name, f"{f.name} must be one of {', '.join(CHOICES[f.name])}, got {_show(v)}")
            if f.type in ("int", "float", "Optional[float]") and v is not None:
                _check_range(f.name, f.type, v)
        from .job import NAME_RE             # the name is the checkpoint's folder name: no path in it
        if not NAME_RE.match(self.name):
            raise OptionError("name", f"name must be letters, digits, '.', '_' or '-' (at most 64, not starting "
                                      f"with '.', '_' or '-'), got {_show(self.name)}")
        self._check_task_and_model()
        schedules.validate(self.ss_schedule, self.ss_k, self.ss_c, self.ss_eps_min)
        if self.feed_model_prob > 0 and self.ss_schedule != "none":
            raise ValueError("give either feed_model_prob (a constant schedule) or ss_schedule, not both")
        if self.tbptt and not self.arch.startswith("gru"):
            raise OptionError("tbptt", f"truncated BPTT applies to a GRU decoder, not to the {self.arch} architecture")
        if self.stage != "mle" and not self.init_from:
            name = {"scst": "SCST", "mixer": "MIXER"}[self.stage]
            raise ValueError(f"{name} is a fine-tuning stage: give init_from (--init-from NAME)")
        if self.length_buckets > self.batch_size:
            raise OptionError("length_buckets", f"length_buckets must be from 1 to batch_size ({self.batch_size}), "
                              f"got {self.length_buckets}")
        if self.length_buckets > 1 and self.stage != "mle":
            raise ValueError(f"length_buckets applies to cross-entropy training, not to the {self.stage} stage")
        if self.stage == "mixer" and (self.ss_schedule != "none" or self.feed_model_prob > 0 or self.tbptt):
            raise ValueError("MIXER feeds the model's own samples itself: no scheduled sampling or truncated BPTT")

    def _check_task_and_model(self) -> None:
        """The task exists, the architecture exists and models the task's kind (seq2seq or language
        model), the data sizes and the architecture options are well formed."""
        from ..models import ARCHS
        from ..tasks import SPLIT_NAMES, get_task
        try:
            task = get_task(self.task)
        except ValueError as exc:
            raise OptionError("task", str(exc)) from None
        if self.arch not in ARCHS:
            raise OptionError("arch", f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        fits = [a for a, spec in ARCHS.items() if spec[0].is_encoder_decoder == (task.kind == "seq2seq")]
        if self.arch not in fits:
            kind = "seq2seq" if task.kind == "seq2seq" else "language-model"
            raise OptionError("arch", f"the {self.task} task is a {kind} task: choose the architecture from "
                              f"{', '.join(fits)}, not {self.arch}")
        for split, n in self.data_sizes.items():
            if split not in SPLIT_NAMES or not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise OptionError("data_sizes", f"data_sizes must map {', '.join(SPLIT_NAMES)} to integers >= 1, "
                                  f"got {split!r:.40}: {n!r:.40}")
        _check_model_options(self)

    def gold_prob(self, step: int) -> float:
        """eps at this training step: the probability of feeding the gold token."""
        if self.ss_schedule == "none":
            return 1.0 - self.feed_model_prob
        return schedules.make_schedule(self.ss_schedule, self.ss_k, self.ss_c, self.ss_eps_min)(step)


def check_resumed(saved: Optional[dict], cfg: TrainConfig) -> None:
    """A resumed run keeps feeding the kind of model token it started with: a resume state saved with
    argmax scheduled sampling (ss_sample False, or no ss_sample: SAVED_DEFAULTS) does not go on sampling."""
    if not isinstance(saved, dict) or (cfg.ss_schedule == "none" and cfg.feed_model_prob == 0):
        return
    was = saved.get("ss_sample", SAVED_DEFAULTS["ss_sample"])
    if was != cfg.ss_sample:
        kind = {True: "samples of the model", False: "the model's argmax"}
        raise OptionError("ss_sample", f"this run started with scheduled sampling feeding {kind[bool(was)]}: resume "
                          f"it with {'--ss-sample' if was else '--ss-argmax'} (or start it again without --resume)")


def _check_model_options(cfg: "TrainConfig") -> None:
    """The architecture options (`model`, --model-json): names, types, ranges and the parameter count of
    the checkpoint schema (engine.checkpoint_config), checked before any tensor is allocated. The
    vocabulary size is the tokenizer's, known only once it is built: the BPE size (or 256 characters)
    stands in for it. A run from init_from takes that checkpoint's options (checked when it loads)."""
    if cfg.init_from:
        return
    try:
        from ..checkpoint_config import check_model_config
    except ImportError:                      # pragma: no cover - a tree without the schema module
        return
    try:
        check_model_config(cfg.arch, cfg.model, cfg.bpe_vocab_size if cfg.tokenizer == "bpe" else 256)
    except ValueError as exc:
        raise OptionError("model", str(exc).splitlines()[0]) from None
