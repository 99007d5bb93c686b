"""A random hidden Markov model used as an *oracle* language.

Because the generating process is known, the exact next-symbol distribution
``P(x_t | x_<t)`` of every prefix can be computed with the forward algorithm,
so a trained model's predictions can be compared with the truth (KL, etc.).

Default parameters (``HMMOracle()``: 12 states, 20 symbols "a".."t", length 48,
seed 1234, concentration 0.05, floor 0.05, i.e. rows = 0.95*Dirichlet(0.05) + 0.05/size):
the Monte-Carlo entropy rate is about
1.92 nats/symbol (``HMMOracle().entropy_rate()`` = 1.918 with n=2000, seed 0;
log(20) = 3.00 would be uniform).
"""

from __future__ import annotations

import hashlib
import string
from typing import Optional

import numpy as np

from . import Example, _resolve_sizes

DEFAULT_SIZES = {"train": 40_000, "valid": 1_000, "test": 1_000}


def _dirichlet_rows(rng: np.random.Generator, rows: int, size: int, concentration: float, floor: float) -> np.ndarray:
    d = rng.dirichlet(np.full(size, concentration), size=rows)
    p = (1.0 - floor) * d + floor / size  # uniform floor: every probability > 0
    return p / p.sum(axis=-1, keepdims=True)


class HMMOracle:
    """Fixed-length HMM language with exact forward-algorithm next-symbol distributions.

    Every sequence has exactly ``length`` symbols and then ends; the END
    "symbol" is the extra last column of the distributions returned below.
    """

    def __init__(
        self,
        n_states: int = 12,
        n_symbols: int = 20,
        length: int = 48,
        seed: int = 1234,
        concentration: float = 0.05,  # -> entropy rate ~1.92 nats/symbol with the other defaults
        floor: float = 0.05,
    ):
        if not 1 <= n_symbols <= 26:
            raise ValueError("n_symbols must be in 1..26")
        if n_states < 1 or length < 1 or concentration <= 0:
            raise ValueError("n_states, length and concentration must be positive")
        if not 0.0 < floor <= 1.0:
            raise ValueError("floor must be in (0, 1]")
        self.n_states = int(n_states)
        self.n_symbols = int(n_symbols)
        self.length = int(length)
        self.seed = seed
        self.concentration = float(concentration)
        self.floor = float(floor)
        self.symbols: str = string.ascii_lowercase[: self.n_symbols]
        self._index = {c: i for i, c in enumerate(self.symbols)}
        rng = np.random.default_rng(seed)
        S, V = self.n_states, self.n_symbols
        self.pi: np.ndarray = _dirichlet_rows(rng, 1, S, concentration, floor)[0]  # [S]
        self.A: np.ndarray = _dirichlet_rows(rng, S, S, concentration, floor)  # [S, S]
        self.B: np.ndarray = _dirichlet_rows(rng, S, V, concentration, floor)  # [S, V]

    # ------------------------------------------------------------ helpers
    def encode(self, seq: str) -> np.ndarray:
        if len(seq) > self.length:
            raise ValueError(f"sequence of length {len(seq)} is longer than {self.length}")
        try:
            return np.fromiter((self._index[c] for c in seq), dtype=np.int64, count=len(seq))
        except KeyError as e:
            raise ValueError(f"symbol {e.args[0]!r} is not in the alphabet {self.symbols!r}") from None

    def __repr__(self) -> str:
        return (
            f"HMMOracle(n_states={self.n_states}, n_symbols={self.n_symbols}, length={self.length}, "
            f"seed={self.seed}, concentration={self.concentration}, floor={self.floor})"
        )

    # ------------------------------------------------------------ sampling
    def sample(self, n: int, seed: int) -> list[str]:
        """``n`` strings of exactly ``length`` symbols."""
        rng = np.random.default_rng(seed)
        n = int(n)
        if n <= 0:
            return []
        cumA = np.cumsum(self.A, axis=1)
        cumB = np.cumsum(self.B, axis=1)
        cumA[:, -1] = 1.0
        cumB[:, -1] = 1.0
        cumpi = np.cumsum(self.pi)
        cumpi[-1] = 1.0
        out = np.empty((n, self.length), dtype=np.int64)
        state = np.searchsorted(cumpi, rng.random(n), side="right")
        for t in range(self.length):
            if t > 0:
                u = rng.random(n)
                state = (cumA[state] <= u[:, None]).sum(axis=1)
            u = rng.random(n)
            out[:, t] = (cumB[state] <= u[:, None]).sum(axis=1)
        letters = np.frombuffer(self.symbols.encode("ascii"), dtype=np.uint8)
        chars = letters[out]
        return [row.tobytes().decode("ascii") for row in chars]

    # ------------------------------------------------------------ exact inference
    def _forward(self, x: np.ndarray) -> np.ndarray:
        """x: [N, T] int -> predictive symbol distributions [N, T+1, V] (normalised alpha)."""
        N, T = x.shape
        V = self.n_symbols
        preds = np.empty((N, T + 1, V))
        alpha = np.broadcast_to(self.pi, (N, self.n_states)).copy()  # P(state_t | x_<t)
        for t in range(T + 1):
            preds[:, t] = alpha @ self.B
            if t == T:
                break
            post = alpha * self.B[:, x[:, t]].T  # [N, S]
            post /= post.sum(axis=1, keepdims=True)
            alpha = post @ self.A
        return preds

    def _with_end(self, preds: np.ndarray, T: int) -> np.ndarray:
        N = preds.shape[0]
        out = np.zeros((N, T + 1, self.n_symbols + 1))
        out[:, :, : self.n_symbols] = preds
        if T == self.length:
            out[:, T, :] = 0.0
            out[:, T, -1] = 1.0
        return out

    def stepwise_next_dists(self, seq: str) -> np.ndarray:
        """[len(seq)+1, n_symbols+1]: row t = P(next | seq[:t]); last column = P(END)."""
        x = self.encode(seq)[None, :]
        return self._with_end(self._forward(x), x.shape[1])[0]

    def stepwise_next_dists_batch(self, seqs: list[str]) -> np.ndarray:
        """Vectorised :meth:`stepwise_next_dists` for sequences of equal length: [N, T+1, V+1]."""
        seqs = list(seqs)
        if not seqs:
            return np.zeros((0, 1, self.n_symbols + 1))
        T = len(seqs[0])
        if any(len(s) != T for s in seqs):
            raise ValueError("all sequences in a batch must have the same length")
        x = np.stack([self.encode(s) for s in seqs]) if T else np.zeros((len(seqs), 0), dtype=np.int64)
        return self._with_end(self._forward(x), T)

    def next_dist(self, prefix: str) -> np.ndarray:
        """P(next symbol or END | prefix): shape [n_symbols+1]."""
        return self.stepwise_next_dists(prefix)[-1]

    def log_prob(self, seq: str) -> float:
        """Exact natural-log probability of ``seq`` (full or prefix), END not included."""
        x = self.encode(seq)
        if len(x) == 0:
            return 0.0
        preds = self._forward(x[None, :])[0]
        return float(np.log(preds[np.arange(len(x)), x]).sum())

    def log_prob_batch(self, seqs: list[str]) -> np.ndarray:
        d = self.stepwise_next_dists_batch(seqs)
        if d.shape[1] == 1:
            return np.zeros(len(seqs))
        x = np.stack([self.encode(s) for s in seqs])
        T = x.shape[1]
        p = np.take_along_axis(d[:, :T, :], x[:, :, None], axis=2)[:, :, 0]
        return np.log(p).sum(axis=1)

    def entropy_rate(self, n: int = 2000, seed: int = 0) -> float:
        """Monte-Carlo estimate of the entropy rate in nats/symbol."""
        seqs = self.sample(n, seed)
        return float(-self.log_prob_batch(seqs).mean() / self.length)


# ---------------------------------------------------------------------------- task
EXAMPLE_COUNT, EXAMPLE_SEED = 8, 2024   # the oracle samples whose first 8 symbols are examples()


def _split_seed(seed: int, split: str) -> int:
    h = hashlib.sha256(f"seqscope/hmm/{seed}/{split}".encode()).digest()
    return int.from_bytes(h[:8], "big")


class HMMTask:
    name = "hmm"
    kind = "lm"
    description = (
        "Strings of 48 letters a-t from a fixed random 12-state hidden Markov model "
        "whose exact next-symbol distributions are known."
    )
    max_new_tokens = 40

    def __init__(self) -> None:
        self._oracle: HMMOracle | None = None

    @property
    def oracle(self) -> HMMOracle:
        if self._oracle is None:
            self._oracle = HMMOracle()
        return self._oracle

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[Example]]:
        sizes = _resolve_sizes(DEFAULT_SIZES, sizes)
        out: dict[str, list[Example]] = {}
        taken: set[str] = set()
        for split in ("test", "valid", "train"):
            seqs = self.oracle.sample(sizes[split], _split_seed(seed, split))
            if split != "train":
                seqs = list(dict.fromkeys(s for s in seqs if s not in taken))
            else:
                seqs = [s for s in seqs if s not in taken]
            k = 1
            while len(seqs) < sizes[split]:  # practically never: collisions are astronomically rare
                extra = self.oracle.sample(sizes[split], _split_seed(seed, f"{split}+{k}"))
                seqs += [s for s in extra if s not in taken and (split == "train" or s not in seqs)]
                k += 1
            seqs = seqs[: sizes[split]]
            if split != "train":
                taken.update(seqs)
            out[split] = [Example("", s) for s in seqs]
        return {k: out[k] for k in ("train", "valid", "test")}

    def examples(self) -> list[str]:
        return [s[:8] for s in self.oracle.sample(EXAMPLE_COUNT, seed=EXAMPLE_SEED)]

    def reference(self, text: str) -> Optional[str]:
        """The rest of the oracle sample an example was cut from (None if no example starts the text)."""
        for s in self.oracle.sample(EXAMPLE_COUNT, seed=EXAMPLE_SEED):
            if s.startswith(text):
                return s[len(text):]
        return None
