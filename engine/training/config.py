"""The training configuration: every option of a run, checked in one place (one-line ValueErrors).

The exposure-bias remedies it selects are described in engine/training/loop.py and docs/exposure.md."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Optional

from . import schedules

# the options that are `python -m engine train` flags of the same name (--ss-k for ss_k, ...): the CLI
# copies them into the config and cli_command writes them back out
CLI_KEYS = ("steps", "batch_size", "lr", "seed", "max_minutes", "label_smoothing", "feed_model_prob", "eval_every",
            "patience", "tokenizer", "bpe_vocab_size", "threads", "warmup", "ss_schedule", "ss_k", "ss_c",
            "ss_eps_min", "tbptt", "curriculum_steps", "curriculum_start", "init_from", "stage", "scst_reward",
            "scst_samples", "length_buckets")


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
    ss_sample: bool = False                          # sample the model's token instead of its argmax
    tbptt: int = 0                                   # truncated-BPTT window L of a GRU decoder (0 = full)
    curriculum_steps: int = 0                        # steps over which the longest allowed length grows
    curriculum_start: int = 0                        # the longest length at step 0 (0 = the shortest in data)
    init_from: str = ""                              # start from this checkpoint (name or folder)
    stage: str = "mle"                               # "mle" (cross-entropy) | "scst" (self-critical RL)
    scst_reward: str = "exact"                       # "exact" (exact match) | "chrf" (sacrebleu chrF / 100)
    scst_samples: int = 4                            # sampled rollouts per source
    select_best: bool = True                         # keep the best validation weights (False: the last)
    length_buckets: int = 1                          # seq2seq: split each batch into this many micro-batches
                                                     # of similar source length (less padding, same loss)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        cfg = cls(**d)
        cfg.check()
        return cfg

    def check(self) -> None:
        """One-line ValueErrors for values out of range or options that do not fit together."""
        schedules.validate(self.ss_schedule, self.ss_k, self.ss_c, self.ss_eps_min)
        if not 0.0 <= self.feed_model_prob <= 1.0:
            raise ValueError(f"feed_model_prob must be in [0, 1], got {self.feed_model_prob}")
        if self.feed_model_prob > 0 and self.ss_schedule != "none":
            raise ValueError("give either feed_model_prob (a constant schedule) or ss_schedule, not both")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.tbptt < 0 or self.curriculum_steps < 0 or self.curriculum_start < 0:
            raise ValueError("tbptt, curriculum_steps and curriculum_start must be >= 0")
        if self.tbptt and not self.arch.startswith("gru"):
            raise ValueError(f"truncated BPTT applies to a GRU decoder, not to the {self.arch} architecture")
        if self.stage not in ("mle", "scst"):
            raise ValueError(f"stage must be 'mle' or 'scst', got {self.stage!r}")
        if self.scst_reward not in ("exact", "chrf"):
            raise ValueError(f"scst_reward must be 'exact' or 'chrf', got {self.scst_reward!r}")
        if self.scst_samples < 1:
            raise ValueError("scst_samples must be >= 1")
        if self.stage == "scst" and not self.init_from:
            raise ValueError("SCST is a fine-tuning stage: give init_from (--init-from NAME)")
        if self.length_buckets < 1:
            raise ValueError(f"length_buckets must be >= 1, got {self.length_buckets}")
        if self.length_buckets > 1 and self.stage == "scst":
            raise ValueError("length_buckets applies to cross-entropy training, not to the SCST stage")
        if self.tokenizer == "bpe" and self.bpe_vocab_size < 8:
            raise ValueError(f"bpe_vocab_size must be >= 8, got {self.bpe_vocab_size}")

    def gold_prob(self, step: int) -> float:
        """eps at this training step: the probability of feeding the gold token."""
        if self.ss_schedule == "none":
            return 1.0 - self.feed_model_prob
        return schedules.make_schedule(self.ss_schedule, self.ss_k, self.ss_c, self.ss_eps_min)(step)
