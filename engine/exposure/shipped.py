"""Precomputed analyses of shipped models (results/analysis/<model>.json), keyed on the checkpoint's hash.

`python -m engine exposure --model M --out results/analysis/M.json` writes one (the JSON of analyze,
with "checkpoint_sha256" = checkpoint_hash of the model's folder); `--if-stale` skips the work when the
file already holds the same settings for the same checkpoint. The lab page reads it through
shipped_analysis(model, n, seed, t0): the stored analysis when its settings and its checkpoint hash
match the checkpoint in the tree, else None (the page then analyses afresh)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from ..limits import MAX_ANALYSIS_BYTES, MAX_JSON_DEPTH

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS_DIR = REPO_ROOT / "results" / "analysis"
SHIPPED_SETTINGS = {"n": 1000, "seed": 0, "t0": 1}     # the lab page's default view (shipped results use it)
HASHED = ("config.json", "tokenizer.json", "model.safetensors")


def checkpoint_hash(folder: Path) -> str:
    """sha256 over the files that define a checkpoint's predictions (name and bytes of each)."""
    h = hashlib.sha256()
    for name in HASHED:
        h.update(name.encode() + b"\0")
        with open(Path(folder) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def result_path(model: str) -> Path:
    return RESULTS_DIR / f"{model}.json"


def up_to_date(res: Optional[dict], folder: Optional[Path], n: int, seed: int, t0: int) -> bool:
    """Whether a stored analysis answers (n, seed, t0) for the checkpoint now in `folder`."""
    if not isinstance(res, dict) or folder is None:
        return False
    same = (res.get("examples_requested", res.get("examples")), res.get("seed"), res.get("t0")) == (n, seed, t0)
    return same and res.get("checkpoint_sha256") == checkpoint_hash(folder)


def read_result(path: Path) -> Optional[dict]:
    """A stored analysis (None when the file is missing or unreadable: the page then computes)."""
    from ..files import UnsafeFile, read_json
    try:
        res = read_json(path, MAX_ANALYSIS_BYTES, MAX_JSON_DEPTH, "MAX_ANALYSIS_BYTES")
    except (OSError, ValueError, UnsafeFile):
        return None
    return res if isinstance(res, dict) else None


def shipped_analysis(model: str, n: int, seed: int, t0: int) -> Optional[dict]:
    """The precomputed analysis of a shipped model for these settings, if it is up to date."""
    from ..checkpoint import CHECKPOINT_DIR, SHIPPED_NAME
    if not SHIPPED_NAME.fullmatch(model) or not (CHECKPOINT_DIR / model).is_dir():
        return None
    path = result_path(model)
    if not path.is_file():
        return None
    res = read_result(path)
    return res if up_to_date(res, CHECKPOINT_DIR / model, n, seed, t0) else None


def shipped_analysis_stamp(model: str) -> Optional[tuple]:
    """(mtime of the stored analysis, mtime of the checkpoint's weights) of a shipped model with a
    stored analysis, else None: a cache key that changes when either file changes."""
    from ..checkpoint import CHECKPOINT_DIR, SHIPPED_NAME
    if not SHIPPED_NAME.fullmatch(model):
        return None
    path, weights = result_path(model), CHECKPOINT_DIR / model / "model.safetensors"
    try:
        return path.stat().st_mtime, weights.stat().st_mtime
    except OSError:
        return None
