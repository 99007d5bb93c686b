"""The registry of the lab's experiments: `@experiment(name, title, caption)` registers a function
`fn(quick, seed) -> (data, agrees, verdict)` as a runner returning the result dict every experiment
shares (name, title, caption, quick, seed, agrees, verdict, data, seconds)."""
from __future__ import annotations

import time
from typing import Callable

import torch

EXPERIMENTS: dict[str, Callable[..., dict]] = {}     # in the order of issue 5 (the package imports them so)


def experiment(name: str, title: str, caption: str):
    def wrap(fn):
        def run(quick: bool = False, seed: int = 0) -> dict:
            torch.manual_seed(seed)
            t = time.time()
            data, agrees, verdict = fn(quick, seed)
            return {"name": name, "title": title, "caption": caption, "quick": quick, "seed": seed,
                    "agrees": bool(agrees) if agrees is not None else None, "verdict": verdict, "data": data,
                    "seconds": round(time.time() - t, 1)}
        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        run.name, run.title, run.caption = name, title, caption
        EXPERIMENTS[name] = run
        return run
    return wrap


def run_experiment(name: str, quick: bool = False, seed: int = 0) -> dict:
    """Run one experiment (quick: the reduced size, seconds) and return its result dict."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name](quick=quick, seed=seed)
