"""Resume state of a training run: weights, best weights, optimiser state, tokenizer and progress, per
output folder (`python -m engine train --resume`).

    runs/<name>/resume/
        model.safetensors   the weights at the last evaluation
        best.safetensors    the best weights so far
        optim.safetensors   the optimiser's tensors
        tokenizer.json      the run's tokenizer
        state.json          step, best metric, history, ..., "save_id" and the SHA-256 of every file above

The folder is written as a whole (engine/files.py `atomic_folder`): a crash leaves the previous state or
the new one. Every weights file carries the save's random id and step in its safetensors metadata, and
state.json the hash of every file, so `load_resume` refuses files that do not belong together (copied in
by hand, or left by a seqscope that wrote them one by one) instead of continuing from a mix.
"""
from __future__ import annotations

import copy
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import safe_open
from safetensors.torch import load_file, load_model, save_file, save_model

from ..checkpoint import (CHECKPOINT_DIR, REPO_ROOT, CheckpointError, check_safetensors, one_line,
                          read_tokenizer, weights_mismatch)
from ..files import UnsafeFile, atomic_folder, read_json, short_path, write_new_file
from ..limits import MAX_JSON_DEPTH, MAX_RESUME_STATE_BYTES
from ..tokenizer import Tokenizer

RUNS_DIR = REPO_ROOT / "runs"
WEIGHTS = ("model.safetensors", "best.safetensors", "optim.safetensors")
ID_KEY = "seqscope_resume_id"
START_AGAIN = "start the run again without --resume"


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {f"{pid}.{k}": v.detach().clone().contiguous() for pid, st in sd["state"].items() for k, v in st.items()
               if torch.is_tensor(v)}
    return tensors, {"param_groups": sd["param_groups"]}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_resume(folder: Path, model, best_state, opt, info: dict, tokenizer: Optional[Tokenizer] = None) -> None:
    """Write the resume state folder as a whole (the previous one stays until this one is complete)."""
    save_id = secrets.token_hex(8)
    meta = {ID_KEY: save_id, "step": str(info.get("step", ""))}
    with atomic_folder(folder) as tmp:
        save_model(model, str(tmp / "model.safetensors"), metadata=meta)
        best = copy.deepcopy(model)
        best.load_state_dict(best_state)
        save_model(best, str(tmp / "best.safetensors"), metadata=meta)
        tensors, optim_meta = _optimizer_tensors(opt)
        save_file(tensors, str(tmp / "optim.safetensors"), metadata=meta)
        if tokenizer is not None:
            write_new_file(tmp / "tokenizer.json", tokenizer.to_json().encode("utf-8"))
        files = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
        state = {**info, "optim_meta": optim_meta, "save_id": save_id, "files": files}
        write_new_file(tmp / "state.json", json.dumps(state, indent=1).encode("utf-8"))


def read_state(folder: Path) -> dict:
    """state.json of a resume folder, checked against the files beside it (ids and hashes)."""
    path = folder / "state.json"
    where = short_path(path)
    try:
        info = read_json(path, MAX_RESUME_STATE_BYTES, MAX_JSON_DEPTH, "MAX_RESUME_STATE_BYTES")
    except FileNotFoundError:
        raise CheckpointError(f"nothing to resume: {short_path(folder)} has no state.json") from None
    except UnsafeFile as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: not a resume state (a JSON object); {START_AGAIN}")
    save_id, files = info.get("save_id"), info.get("files")
    if not isinstance(save_id, str) or not isinstance(files, dict):
        raise CheckpointError(f"{where}: written without a save id and file hashes (an older seqscope, whose "
                              f"files may not belong together); {START_AGAIN}")
    for key, kind in (("step", int), ("bad", int), ("history", list), ("optim_meta", dict)):
        if type(info.get(key)) is not kind:
            raise CheckpointError(f"{where}: {key} must be {kind.__name__}, got {one_line(repr(info.get(key)), 60)}")
    if not isinstance(info.get("best_metric"), (int, float)):
        raise CheckpointError(f"{where}: best_metric must be a number")
    for name in WEIGHTS:
        if name not in files:
            raise CheckpointError(f"{where}: lists no hash for {name}; {START_AGAIN}")
    for name, digest in files.items():
        if name not in (*WEIGHTS, "tokenizer.json"):
            raise CheckpointError(f"{where}: lists an unknown file {one_line(repr(name), 60)}")
        p = folder / name
        if name in WEIGHTS:
            check_safetensors(p)            # regular file, not a pickle, a sound header
            with safe_open(str(p), framework="pt") as f:
                got = (f.metadata() or {}).get(ID_KEY)
            if got != save_id:
                raise CheckpointError(f"{short_path(p)}: written by another save than {where} (save id {got!r}, "
                                      f"state {save_id!r}); the weights and the state do not belong together — "
                                      f"{START_AGAIN}")
        elif not p.is_file():
            raise CheckpointError(f"{short_path(p)}: missing; {START_AGAIN}")
        if _sha256(p) != digest:
            raise CheckpointError(f"{short_path(p)}: does not match the hash in {where} (changed after the save); "
                                  f"the weights and the state do not belong together — {START_AGAIN}")
    return info


def resume_tokenizer(folder: Path) -> Optional[Tokenizer]:
    """The run's tokenizer from its resume state, or None where the state has none."""
    path = folder / "tokenizer.json"
    return read_tokenizer(path) if path.exists() else None


def _load_weights(model, path: Path) -> None:
    problem = weights_mismatch(check_safetensors(path), model)
    if problem:
        raise CheckpointError(f"{short_path(path)}: does not fit this run's model: {problem}; {START_AGAIN} "
                              "(or with the settings of the saved run)")
    try:
        load_model(model, str(path))
    except Exception as exc:
        raise CheckpointError(f"{short_path(path)}: {one_line(exc, 200)}") from None


def load_resume(folder: Path, model, opt) -> tuple[dict, dict]:
    """Progress info and the best weights, after loading the last weights into `model` and the optimiser
    state into `opt`. CheckpointError (one line) when the files do not belong together or do not fit."""
    info = read_state(folder)
    _load_weights(model, folder / "model.safetensors")
    best = copy.deepcopy(model)
    _load_weights(best, folder / "best.safetensors")
    flat = load_file(str(folder / "optim.safetensors"))
    state: dict[int, dict[str, Any]] = {}
    try:
        for key, v in flat.items():
            pid, k = key.split(".", 1)
            state.setdefault(int(pid), {})[k] = v
        opt.load_state_dict({"state": state, "param_groups": info["optim_meta"]["param_groups"]})
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{short_path(folder / 'optim.safetensors')}: the optimiser state does not fit this "
                              f"run ({one_line(exc, 200)}); {START_AGAIN}") from None
    return info, best.state_dict()


def resume_dir(name: str, out_dir: Path = CHECKPOINT_DIR) -> Path:
    """Where a run keeps its resume state: runs/<name>/resume for the shipped checkpoints/ folder, and
    runs/<name>/resume-<hash of the output folder> for any other --out, so that runs of one name
    written to different places never share (or overwrite) each other's state."""
    out = Path(out_dir).resolve()
    if out == Path(CHECKPOINT_DIR).resolve():
        return RUNS_DIR / name / "resume"
    return RUNS_DIR / name / f"resume-{hashlib.blake2b(str(out).encode(), digest_size=4).hexdigest()}"
