"""Experiment results on disk: the shipped results of full-size runs (results/experiments/, in git)
and the user's runs (runs/experiments/, or $SEQSCOPE_LAB_RUNS), one JSON file per experiment."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from ..files import atomic_write_text
from .registry import EXPERIMENTS, default_seeds, run_experiment

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_DIR = ROOT / "results" / "experiments"      # git-tracked results of full-size runs
USER_DIR = ROOT / "runs" / "experiments"            # runs started by the user (not tracked)


def save_result(result: dict, path: Union[str, Path]) -> Path:
    """Write a result as JSON, atomically (a reader never sees half a file)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    return path


def load_result(path: Union[str, Path]) -> dict:
    """Read a saved result back (JSON only) to render it again without rerunning."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(d, dict) or d.get("name") not in EXPERIMENTS or "verdict" not in d:
        raise ValueError(f"{path}: not a seqscope experiment result")
    return d


def estimate_text(res: dict, digits: int = 4) -> str:
    """'0.0123 [0.0040, 0.0210]': a result's effect and its 95% interval ('' when it has none)."""
    est, lo, hi = res.get("estimate"), res.get("lo"), res.get("hi")
    if not isinstance(est, (int, float)):
        return ""
    f = lambda x: "nan" if not isinstance(x, (int, float)) else f"{x:.{digits}g}"
    return f"{f(est)} [{f(lo)}, {f(hi)}]"


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return (msg[0] if msg else type(e).__name__)[:400]


class ExperimentStore:
    """Where experiment results live. `user_dir` defaults to $SEQSCOPE_LAB_RUNS (read at each use, so
    a test can move it) or runs/experiments/."""

    def __init__(self, shipped_dir: Union[str, Path, None] = None, user_dir: Union[str, Path, None] = None):
        self.shipped_dir = Path(shipped_dir) if shipped_dir is not None else SHIPPED_DIR
        self._user_dir = Path(user_dir) if user_dir is not None else None

    @property
    def user_dir(self) -> Path:
        return self._user_dir or Path(os.environ.get("SEQSCOPE_LAB_RUNS") or USER_DIR)

    def user_path(self, name: str) -> Path:
        """Where a run of this experiment is saved."""
        return self.user_dir / f"{name}.json"

    def paths(self, name: str) -> dict[str, Path]:
        """The saved results of an experiment that exist: {"shipped": path, "your run": path}, either
        or both (empty when it never ran)."""
        out = {}
        for label, folder in (("shipped", self.shipped_dir), ("your run", self.user_dir)):
            p = folder / f"{name}.json"
            if p.exists():
                out[label] = p
        return out

    def read(self, path: Union[str, Path]) -> dict:
        """A saved result (ValueError if the file is not one)."""
        return load_result(path)

    def run(self, name: str, quick: bool = False, seeds: Optional[Sequence[int]] = None,
            progress: Optional[Callable[[str], None]] = None) -> Path:
        """Run an experiment over these seeds (default: the mode's) and save its result atomically to
        user_path(name); `progress` (if given) gets a line before the run, the experiment's lines (one
        per seed) and one after the save."""
        if progress:
            progress(f"running {name}{' (quick)' if quick else ''}, seeds "
                     f"{', '.join(map(str, seeds if seeds is not None else default_seeds(quick)))}")
        path = save_result(run_experiment(name, quick=quick, seeds=seeds, progress=progress), self.user_path(name))
        if progress:
            progress(f"{name} saved to {path}")
        return path

    def overview(self) -> list[dict]:
        """One row per registered experiment (the user's run before the shipped one): experiment,
        result (which one, its size, seeds and time), outcome, estimate [lo, hi], agrees, verdict."""
        rows = []
        for name in EXPERIMENTS:
            paths = self.paths(name)
            if not paths:
                rows.append({"experiment": name, "result": "not run yet", "outcome": "", "estimate": "",
                             "agrees": None, "verdict": ""})
                continue
            label = "your run" if "your run" in paths else "shipped"
            try:
                res = self.read(paths[label])
            except ValueError as e:
                rows.append({"experiment": name, "result": f"unreadable: {_one_line(e)}", "outcome": "",
                             "estimate": "", "agrees": None, "verdict": ""})
                continue
            seeds = res.get("seeds") or ([res["seed"]] if "seed" in res else [])
            rows.append({"experiment": name,
                         "result": f"{label}{' (quick)' if res.get('quick') else ''}, {len(seeds)} seed"
                                   f"{'' if len(seeds) == 1 else 's'}, {res.get('seconds')} s",
                         "outcome": res.get("outcome") or {True: "agrees", False: "disagrees"}.get(
                             res.get("agrees"), "inconclusive"),
                         "estimate": estimate_text(res), "agrees": res.get("agrees"), "verdict": res.get("verdict")})
        return rows
