"""Resume state of a training run: weights, best weights, optimiser state and progress, per output folder
(`python -m engine train --resume`)."""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file

from ..checkpoint import CHECKPOINT_DIR, REPO_ROOT, atomic_save_model, atomic_write_text

RUNS_DIR = REPO_ROOT / "runs"


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {f"{pid}.{k}": v.detach().clone().contiguous() for pid, st in sd["state"].items() for k, v in st.items()
               if torch.is_tensor(v)}
    return tensors, {"param_groups": sd["param_groups"]}


def save_resume(folder: Path, model, best_state, opt, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_model(model, folder / "model.safetensors")
    best = copy.deepcopy(model)
    best.load_state_dict(best_state)
    atomic_save_model(best, folder / "best.safetensors")
    tensors, meta = _optimizer_tensors(opt)
    tmp = folder / ".optim.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(folder / "optim.safetensors")
    atomic_write_text(folder / "state.json", json.dumps({**info, "optim_meta": meta}, indent=1))


def load_resume(folder: Path, model, opt) -> tuple[dict, dict]:
    info = json.loads((folder / "state.json").read_text())
    load_model(model, str(folder / "model.safetensors"))
    best = copy.deepcopy(model)
    load_model(best, str(folder / "best.safetensors"))
    flat = load_file(str(folder / "optim.safetensors"))
    state: dict = {}
    for key, v in flat.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": info["optim_meta"]["param_groups"]})
    return info, best.state_dict()


def resume_dir(name: str, out_dir: Path = CHECKPOINT_DIR) -> Path:
    """Where a run keeps its resume state: runs/<name>/resume for the shipped checkpoints/ folder, and
    runs/<name>/resume-<hash of the output folder> for any other --out, so that runs of one name
    written to different places never share (or overwrite) each other's state."""
    out = Path(out_dir).resolve()
    if out == Path(CHECKPOINT_DIR).resolve():
        return RUNS_DIR / name / "resume"
    return RUNS_DIR / name / f"resume-{hashlib.blake2b(str(out).encode(), digest_size=4).hexdigest()}"
