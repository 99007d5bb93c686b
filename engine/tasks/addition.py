"""Multi-digit addition: ``"48213+9375"`` -> ``"57588"``.

Each operand independently gets a digit count drawn uniformly from 1..7 and is
then drawn uniformly among the numbers with exactly that many digits (no
leading zeros; 0 is allowed as a 1-digit number).  No spaces.
"""

from __future__ import annotations

import random
from typing import Optional

from . import Example, _resolve_sizes, _seq2seq_splits

MAX_DIGITS = 7
DEFAULT_SIZES = {"train": 100_000, "valid": 2_000, "test": 2_000}


def random_operand(rng: random.Random, max_digits: int = MAX_DIGITS) -> int:
    n = rng.randint(1, max_digits)
    lo = 0 if n == 1 else 10 ** (n - 1)
    return rng.randint(lo, 10**n - 1)


def make_example(rng: random.Random, max_digits: int = MAX_DIGITS) -> Example:
    a = random_operand(rng, max_digits)
    b = random_operand(rng, max_digits)
    return Example(f"{a}+{b}", str(a + b))


def solve(src: str) -> str:
    """Reference answer for a source like ``"12+345"``."""
    a, b = src.split("+")
    return str(int(a) + int(b))


class AdditionTask:
    """`addition` (1 to 7 digits); `addition4` etc. (1 to N digits, N < 7): the smaller versions let the
    lab's experiments train small models that learn within a minute (engine/experiments.py)."""
    kind = "seq2seq"
    max_new_tokens = 12

    def __init__(self, max_digits: int = MAX_DIGITS):
        if not 1 <= max_digits <= MAX_DIGITS:
            raise ValueError(f"max_digits must be in 1..{MAX_DIGITS}, got {max_digits}")
        self.max_digits = max_digits
        self.name = "addition" if max_digits == MAX_DIGITS else f"addition{max_digits}"
        self.description = (f"Add two non-negative integers of 1 to {max_digits} digits each, e.g. "
                            + ("'48213+9375' -> '57588'." if max_digits == MAX_DIGITS else "'482+93' -> '575'."))

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[Example]]:
        return _seq2seq_splits(self.name, lambda rng: make_example(rng, self.max_digits), seed,
                               _resolve_sizes(DEFAULT_SIZES, sizes))

    def examples(self) -> list[str]:
        return ["48213+9375", "7+5", "99+1", "999+1", "12345+67890", "99999+99999", "506+494", "3+70021"]

    def reference(self, text: str) -> Optional[str]:
        """The sum, or None when the text is not two integers joined by '+'."""
        try:
            return solve(text)
        except ValueError:
            return None
