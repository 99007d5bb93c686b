"""The small GRUs that experiment 2 (ss-schedules) trains in memory
(engine.training.fit) and score: their architecture, task and budget in one place."""
from __future__ import annotations

import time

from .. import exposure as ex
from ..checkpoint import Bundle
from ..stats import N_BOOT
from ..training import fit

SMALL_GRU = {"d_emb": 32, "d_hidden": 64, "d_attn": 32, "dropout": 0.0, "max_len": 24}

# They learn 1- to 4-digit sums: within SMALL_STEPS they learn about half of them (on the full 7-digit
# task they reach ~6%, and the comparisons would be noise).
SMALL_TASK, SMALL_STEPS, SMALL_EXAMPLES = "addition4", 1000, 1000


def small_config(name: str, quick: bool, task: str = SMALL_TASK, **opts) -> dict:
    """A TrainConfig dict of a small GRU with these training options."""
    return {"name": name, "task": task, "arch": "gru-attn", "model": SMALL_GRU,
            "data_sizes": {"train": 2000 if quick else 100_000, "valid": 10, "test": 10}, **opts}


def small_budget(quick: bool) -> tuple[int, int]:
    """(training steps, test examples) of the small-GRU experiments; tiny with --quick."""
    return (12, 40) if quick else (SMALL_STEPS, SMALL_EXAMPLES)


def scores(bundle: Bundle, n: int, seed: int) -> dict:
    """Free-running exact match, token errors (overall and per position) and TF ECE on n test examples."""
    res = ex.analyze(None, n=n, seed=seed, n_boot=N_BOOT, bundle=bundle, oracle=False)
    s = res["sequence"]
    return {"fr_exact_match": s["fr_exact_match"], "tf_token_error": s["tf_token_error"],
            "fr_token_error": s["fr_token_error"], "per_position_tf_error": res["per_position"]["tf_error"],
            "per_position_fr_error": res["per_position"]["fr_error"], "tf_ece": res["calibration"]["tf_ece"]}


def train_and_score(name: str, quick: bool, steps: int, n: int, seed: int, **opts) -> tuple[Bundle, dict]:
    """A small GRU trained on SMALL_TASK with these training options, and its scores on n test sums
    ('seconds': training plus scoring)."""
    t = time.time()
    b = fit({**small_config(name, quick, **opts), "steps": steps}, seed=seed)     # in memory, train's own step
    return b, {**scores(b, n, seed), "seconds": round(time.time() - t, 1)}
