"""The registry of the lab's experiments: `@experiment(name, title, caption)` registers a function
`fn(quick, seeds, progress) -> (data, Verdict)` (engine/experiments/verdict.py) as a runner returning
the result dict every experiment shares: name, title, caption, quick, seeds, outcome, agrees (True /
False / None for agrees / disagrees / inconclusive), test, estimate, lo, hi, prediction, verdict (the
Verdict's text), p, n, data, seconds."""
from __future__ import annotations

import inspect
import math
import time
from typing import Callable, Optional, Sequence

import torch

from .verdict import SEEDS, Verdict

EXPERIMENTS: dict[str, Callable[..., dict]] = {}     # in the order of issue 5 (the package imports them so)
AGREES = {"agrees": True, "disagrees": False, "inconclusive": None}


def _num(x) -> Optional[float]:
    """A float for JSON (nan / inf / None -> None: strict JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _check_signature(name: str, fn) -> None:
    params = list(inspect.signature(fn).parameters)
    if params[:3] != ["quick", "seeds", "progress"]:
        raise TypeError(f"experiment {name!r}: the function must be fn(quick, seeds, progress) -> (data, Verdict), "
                        f"got ({', '.join(params)})")


def default_seeds(quick: bool) -> tuple[int, ...]:
    return SEEDS["quick" if quick else "full"]


def experiment(name: str, title: str, caption: str):
    def wrap(fn):
        _check_signature(name, fn)

        def run(quick: bool = False, seeds: Optional[Sequence[int]] = None,
                progress: Optional[Callable[[str], None]] = None) -> dict:
            seeds = tuple(int(s) for s in (default_seeds(quick) if seeds is None else seeds))
            if not seeds:
                raise ValueError(f"{name}: give at least one seed")
            say = progress or (lambda line: None)
            torch.manual_seed(seeds[0])
            t = time.time()
            data, v = fn(quick, seeds, say)
            if not isinstance(v, Verdict):
                raise TypeError(f"{name}: an experiment must return (data, Verdict)")
            return {"name": name, "title": title, "caption": caption, "quick": bool(quick), "seeds": list(seeds),
                    "outcome": v.outcome, "agrees": AGREES[v.outcome], "test": v.test,
                    "estimate": _num(v.estimate), "lo": _num(v.lo), "hi": _num(v.hi), "prediction": v.prediction,
                    "verdict": v.text, "p": _num(v.p), "n": v.n, "data": data,
                    "seconds": round(time.time() - t, 1)}
        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        run.name, run.title, run.caption = name, title, caption
        EXPERIMENTS[name] = run
        return run
    return wrap


def run_experiment(name: str, quick: bool = False, seeds: Optional[Sequence[int]] = None,
                   progress: Optional[Callable[[str], None]] = None) -> dict:
    """Run one experiment over these seeds (default verdict.SEEDS of the mode; quick: the reduced
    size) and return its result dict; `progress` gets one line per seed (and stage)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name](quick=quick, seeds=seeds, progress=progress)
