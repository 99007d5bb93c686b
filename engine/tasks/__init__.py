"""Data / task generators for seqscope.

Four tasks, all offline, deterministic for a seed and pure Python / numpy:

* ``dates``    (seq2seq) free-form English dates -> ISO ``YYYY-MM-DD``
* ``addition`` (seq2seq) ``"48213+9375"`` -> ``"57588"``
* ``text``     (lm)      English prose from CPython's help topics and docstrings
* ``hmm``      (lm)      strings from a random hidden Markov model whose exact
  next-symbol distributions are known (see :class:`engine.tasks.hmm.HMMOracle`)

Each task exposes ``name``, ``kind``, ``description``, ``max_new_tokens`` (a generation budget
long enough for the task's outputs), ``splits(seed, sizes)`` (keys ``"train"``, ``"valid"``,
``"test"``; disjoint), ``examples()`` and ``reference(text)`` (the expected output for an input,
or None where none is known).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, runtime_checkable

SPLIT_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class Example:
    src: str  # seq2seq source text; "" for language-model tasks
    tgt: str  # seq2seq target text; for LM tasks the whole text of the example


@runtime_checkable
class Task(Protocol):
    name: str  # "dates" | "addition" | "text" | "hmm"
    kind: str  # "seq2seq" | "lm"
    description: str  # one sentence for model cards
    max_new_tokens: int  # generation budget long enough for the task's outputs

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[Example]]: ...

    def examples(self) -> list[str]: ...

    def reference(self, text: str) -> Optional[str]: ...


def _resolve_sizes(defaults: dict[str, int], sizes: dict[str, int] | None) -> dict[str, int]:
    out = dict(defaults)
    if sizes:
        unknown = set(sizes) - set(SPLIT_NAMES)
        if unknown:
            raise ValueError(f"unknown split names {sorted(unknown)}; expected {SPLIT_NAMES}")
        for k, v in sizes.items():
            if int(v) < 0:
                raise ValueError(f"size of split {k!r} must be >= 0, got {v}")
            out[k] = int(v)
    return out


HELDOUT_FRACTION = 1 / 16  # of the source space reserved for each of test and valid


def heldout_pool(task_name: str, src: str) -> str:
    """Which split a seq2seq *source string* may appear in: "test", "valid" or "train".

    A fixed, seed-independent partition of the input space by a stable hash of
    the source: 1/16 of all sources may only appear in test, 1/16 only in valid,
    the rest only in train.  So no seed's train set ever contains any seed's test
    source, and the train distribution is only thinned uniformly (its marginals,
    e.g. the digit counts of addition operands, are unchanged).
    """
    h = hashlib.blake2b(f"{task_name}\x00{src}".encode(), digest_size=8).digest()
    u = int.from_bytes(h, "big") / 2.0**64
    if u < HELDOUT_FRACTION:
        return "test"
    if u < 2 * HELDOUT_FRACTION:
        return "valid"
    return "train"


def _seq2seq_splits(
    task_name: str,
    make: Callable[[random.Random], Example],
    seed: int,
    sizes: dict[str, int],
) -> dict[str, list[Example]]:
    """Sample each split from the task distribution restricted to its pool.

    Each split uses its own ``random.Random`` seeded from ``(task, seed, split)``
    (so e.g. the test set does not change when only the train size changes) and
    keeps only examples whose source belongs to the split's pool (see
    :func:`heldout_pool`).  Valid and test sources are unique; train may repeat
    a source (as i.i.d. sampling would).
    """
    out: dict[str, list[Example]] = {}
    for split in SPLIT_NAMES:
        rng = random.Random(f"seqscope/{task_name}/{seed}/{split}")
        n = sizes[split]
        exs: list[Example] = []
        own: set[str] = set()
        attempts = 0
        limit = 100 * n + 1000
        while len(exs) < n:
            attempts += 1
            if attempts > limit:
                raise RuntimeError(f"{task_name}: could not draw {n} distinct {split} examples")
            ex = make(rng)
            if heldout_pool(task_name, ex.src) != split:
                continue
            if split != "train":
                if ex.src in own:
                    continue
                own.add(ex.src)
            exs.append(ex)
        out[split] = exs
    return out


# Submodules import Example / helpers from this (partially initialised) package.
from .addition import AdditionTask  # noqa: E402
from .dates import DatesTask  # noqa: E402
from .hmm import HMMOracle, HMMTask  # noqa: E402
from .text import TextTask  # noqa: E402
from .recall import RecallTask  # noqa: E402  (the lab's tbptt task; not in TASKS)

TASKS: dict[str, Task] = {
    "dates": DatesTask(),
    "addition": AdditionTask(),
    "text": TextTask(),
    "hmm": HMMTask(),
}


def get_task(name: str) -> Task:
    """Return the task called ``name``; ValueError naming the allowed names otherwise.
    ``addition1`` .. ``addition6`` are addition with at most that many digits per operand."""
    if isinstance(name, str) and len(name) == 9 and name.startswith("addition") and name[-1] in "123456":
        return AdditionTask(int(name[-1]))
    if name == "recall": return RecallTask()  # the lab's tbptt task (engine/tasks/recall.py), not in TASKS
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(sorted(TASKS))}") from None


__all__ = [
    "Example",
    "Task",
    "TASKS",
    "get_task",
    "SPLIT_NAMES",
    "DatesTask",
    "AdditionTask",
    "TextTask",
    "HMMTask",
    "HMMOracle",
    "heldout_pool",
]
