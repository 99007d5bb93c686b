"""A training run in a background thread (the dashboard's Train page polls it), and what a page needs to
set one up: the architecture catalogue, starting configs, the output folder rule and the equivalent
command line. One run at a time per process, so that two sessions never train at once on a shared CPU.

    job = TrainJob.start(default_config("addition", "gru-attn"), output_folder("runs/dashboard"))
    ... job.steps, job.evals (live) ... job.cancel() ... job.done, job.card or job.error
"""
from __future__ import annotations

import json
import logging
import re
import shlex
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Optional

from ..checkpoint import REPO_ROOT
from .config import CLI_KEYS, TrainConfig
from .recipes import recipe

TRAINED_DIR = "runs/dashboard"                  # where the dashboard's runs go (repository-relative)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TASK_ARCHS = {"addition": ["gru-attn", "gru-noattn", "transformer"], "dates": ["gru-attn", "gru-noattn", "transformer"],
              "hmm": ["gpt"], "text": ["gpt"]}
# small models that train in a minute or two on a shared 2-core CPU
ARCH_MODELS = {
    "gru-attn": {"d_emb": 32, "d_hidden": 64, "d_attn": 32, "dropout": 0.0, "max_len": 64},
    "gru-noattn": {"d_emb": 32, "d_hidden": 96, "dropout": 0.0, "max_len": 64},
    "transformer": {"d_model": 64, "n_layers": 2, "n_dec_layers": 2, "n_heads": 4, "d_ff": 256, "dropout": 0.0,
                    "max_len": 64, "tie_embeddings": True},
    "gpt": {"d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 256, "dropout": 0.0, "max_len": 64},
}

log = logging.getLogger("seqscope.training")


def one_line(e: BaseException) -> str:
    """The first line of an error's message (at most 400 characters)."""
    msg = str(e).strip().splitlines()
    return (msg[0] if msg else type(e).__name__)[:400]


def check_name(name: str) -> None:
    """A run's name is a folder name: letters, digits, '.', '_' or '-' (at most 64)."""
    if not NAME_RE.match(name or ""):
        raise ValueError(f"invalid name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")


@dataclass
class TrainJob:
    """A training run in a background thread. `steps` and `evals` grow while it runs; when `done`, either
    `card` (the model card) or `error` (one line) is set."""
    name: str
    config: dict
    out_dir: Path
    steps: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    done: bool = False
    card: Optional[dict] = None
    error: Optional[str] = None
    started: float = field(default_factory=time.time)
    _cancel: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: Optional[threading.Thread] = field(default=None, init=False, repr=False)

    _current: ClassVar[Optional["TrainJob"]] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def start(cls, config: dict, out_dir: Path) -> "TrainJob":
        """Start training `config` into out_dir/<name> in a background thread. A bad config or name, or
        another run still going in this process, is a one-line ValueError before any thread starts."""
        check_name(config.get("name", ""))
        TrainConfig.from_dict(config)
        with cls._lock:
            cur = cls._current
            if cur is not None and cur.running:
                raise ValueError(f"a training run ({cur.name}) is already in progress on this server: cancel it first")
            job = cls(config["name"], config, Path(out_dir))
            job._thread = threading.Thread(target=job._run, name=f"train-{job.name}", daemon=True)
            cls._current = job
            job._thread.start()
        return job

    @classmethod
    def current(cls) -> Optional["TrainJob"]:
        """The latest run started in this process (running or finished), or None."""
        return cls._current

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def cancelling(self) -> bool:
        """Cancel was asked for (the run stops after its current step, then validates and saves)."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the run ends (or `timeout` seconds pass); True if it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def _callback(self, info: dict):
        if "eval" in info:
            self.evals.append(dict(info["eval"], step=info["step"]))
            return None
        self.steps.append({k: info.get(k) for k in ("step", "loss", "eps", "elapsed")})
        return False if self._cancel.is_set() else None

    def _run(self) -> None:
        from .loop import train
        try:
            cfg = TrainConfig.from_dict(self.config)
            self.card = train(cfg, out_dir=self.out_dir, progress=False, callback=self._callback,
                              command="dashboard Train page: " + json.dumps(self.config, sort_keys=True))
        except Exception as e:  # noqa: BLE001 - reported as one line
            self.error = one_line(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {one_line(e)}"
            log.error("training failed\n%s", traceback.format_exc())
        finally:
            self.done = True


# -- configs, folders and the command line ---------------------------------------------------------

def default_config(task: str, arch: str) -> dict:
    """A small run of `arch` on `task` (a minute or two on a shared CPU), named TASK-ARCH-dash."""
    if arch not in TASK_ARCHS.get(task, ()):
        raise ValueError(f"no {arch!r} architecture for the {task!r} task; choose from "
                         + "; ".join(f"{t}: {', '.join(a)}" for t, a in TASK_ARCHS.items()))
    cfg = {"name": f"{task}-{arch}-dash", "task": task, "arch": arch, "tokenizer": "char", "steps": 400,
           "batch_size": 64, "lr": 3e-3 if arch.startswith("gru") else 1e-3, "warmup": 40, "eval_every": 100,
           "eval_examples": 300, "patience": 100, "max_minutes": 5.0, "model": dict(ARCH_MODELS[arch])}
    if task == "text":
        cfg.update(tokenizer="bpe", bpe_vocab_size=512, lm_mode="stream", block_size=64, batch_size=16)
    if task == "addition":
        cfg["model"]["max_len"] = 24
    return cfg


def recipe_config(name: str) -> dict:
    """A copy of a shipped model's recipe, renamed NAME-dash."""
    return {**recipe(name), "name": f"{name}-dash"}


def output_folder(raw: str) -> Path:
    """The absolute output folder of a run (relative paths are under the repository; empty: TRAINED_DIR).
    The shipped checkpoints/ folder and its subfolders are refused."""
    raw = (raw or TRAINED_DIR).strip()
    p = Path(raw)
    p = (p if p.is_absolute() else REPO_ROOT / p).resolve()
    shipped = (REPO_ROOT / "checkpoints").resolve()
    if p == shipped or shipped in p.parents:
        raise ValueError("the shipped checkpoints/ folder is read-only here: choose another output folder "
                         f"(default {TRAINED_DIR})")
    return p


def trained_models() -> list[str]:
    """Checkpoints trained into TRAINED_DIR (runs/dashboard/<name>), as repository-relative paths."""
    folder = REPO_ROOT / TRAINED_DIR
    if not folder.is_dir():
        return []
    return sorted(f"{TRAINED_DIR}/{p.parent.name}" for p in folder.glob("*/config.json")
                  if (p.parent / "model.safetensors").exists())


def cli_command(cfg: dict, out: str) -> str:
    """The `python -m engine train` command line of this config (its CLI options; no eval_examples)."""
    parts = ["python -m engine train", f"--name {shlex.quote(cfg['name'])}", f"--task {cfg['task']}",
             f"--arch {cfg['arch']}", f"--model-json {shlex.quote(json.dumps(cfg.get('model', {})))}"]
    for k in CLI_KEYS:
        if k in cfg and cfg[k] is not None and cfg[k] != "":
            parts.append(f"--{k.replace('_', '-')} {shlex.quote(str(cfg[k]))}")
    if cfg.get("ss_sample") is not None:
        parts.append("--ss-sample" if cfg["ss_sample"] else "--ss-argmax")
    parts.append(f"--out {shlex.quote(out or TRAINED_DIR)}")
    return " \\\n  ".join(parts)
