"""The training loop: `train` (validation, early stopping, a time budget, resume, the checkpoint and its
card) and `fit` (the same steps in memory, for the lab's experiments). Both run `train_step`.

Exposure-bias remedies (docs/exposure.md), all options of TrainConfig:
- scheduled sampling (engine/training/scheduled_sampling.py, schedules in schedules.py);
  `feed_model_prob` P is the constant schedule eps = 1 - P;
- label smoothing; truncated BPTT (window `tbptt` L: the GRU decoder's hidden state is detached every
  L steps); a curriculum over sequence length (`curriculum_steps`); BPE vocabulary size;
- self-critical sequence training (`stage="scst"`, engine/training/scst.py) and MIXER (`stage="mixer"`,
  engine/training/mixer.py) as fine-tuning stages from a checkpoint (`init_from`).
"""
from __future__ import annotations

import copy
import math
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Optional, Union

import torch
from tqdm import tqdm

from ..checkpoint import CHECKPOINT_DIR, Bundle, save_checkpoint
from ..models import SeqModel, build_model
from ..tokenizer import Tokenizer
from . import metrics
from .config import TrainConfig, check_resumed
from .data import Data
from .losses import lm_loss, seq2seq_loss
from .resume import load_resume, resume_dir, resume_tokenizer, save_resume
from .mixer import mixer_loss
from .scst import scst_loss


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then a cosine decay to a tenth of the learning rate at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def prepare(cfg: TrainConfig, tok: Optional[Tokenizer] = None) -> tuple[Data, SeqModel, Optional[Bundle]]:
    """The data, the model (with the weights of `init_from` when given) and that starting checkpoint."""
    cfg.check()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    init = None
    if cfg.init_from:
        from ..checkpoint import load
        init = load(cfg.init_from)
        if init.task != cfg.task or init.config["arch"] != cfg.arch:
            raise ValueError(f"init_from {cfg.init_from!r} is a {init.config['arch']} model for the {init.task} "
                             f"task, not {cfg.arch} for {cfg.task}")
        tok = tok or init.tokenizer
        cfg.model = {k: v for k, v in init.config["model"].items() if k not in ("vocab_size", "attention")}
    data = Data(cfg, tok)
    if cfg.stage != "mle" and not data.seq2seq:
        raise ValueError(f"{cfg.stage.upper()} needs a seq2seq task (a reference to reward); this task is a "
                         "language model")
    model = build_model(cfg.arch, {**cfg.model, "vocab_size": data.tok.vocab_size})
    if init is not None:
        model.load_state_dict(init.model.state_dict())
    return data, model, init


def optimizer(model: SeqModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_step(model: SeqModel, opt: torch.optim.Optimizer, data: Data, cfg: TrainConfig, step: int,
               gen: torch.Generator) -> tuple[float, dict]:
    """One optimiser step on batch `step`: the learning rate of the step, the loss of the stage (SCST,
    or cross-entropy with scheduled sampling at eps_step), gradient clipping. Returns the loss and
    {"eps", and the SCST rewards}."""
    for g in opt.param_groups:
        g["lr"] = lr_at(step, cfg)
    batch = data.batch(step)
    eps = cfg.gold_prob(step)
    info = {"eps": eps}
    if cfg.stage == "scst":
        loss, extra = scst_loss(model, batch, data.tok, gen, cfg.scst_samples, cfg.scst_reward)
        info.update(extra)
    elif cfg.stage == "mixer":
        loss, extra = mixer_loss(model, batch, data.tok, gen, step, delta=cfg.mixer_delta, every=cfg.mixer_every,
                                 n=cfg.mixer_samples, reward=cfg.mixer_reward)
        info.update(extra)
    elif data.seq2seq:
        loss = seq2seq_loss(model, batch, cfg, gen, eps)
    else:
        loss = lm_loss(model, batch, cfg, gen, eps)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return loss.item(), info


def fit(cfg: Union[TrainConfig, dict], *, seed: Optional[int] = None, tok: Optional[Tokenizer] = None) -> Bundle:
    """Train in memory for cfg.steps steps with `train`'s step (no validation, early stopping, time budget
    or checkpoint) and return the model as a Bundle. A dict config gets the defaults of a small run
    (batch_size 64, lr 3e-3, warmup steps // 10) under its own keys; `seed` (default cfg.seed) seeds the
    weights and the sampling, and is the data seed unless the dict gives one. `tok`: this tokenizer
    instead of the one the config trains (the bpe-vocab experiment's plain BPE)."""
    if isinstance(cfg, dict):
        steps = cfg.get("steps", TrainConfig.steps)
        defaults = {"batch_size": 64, "lr": 3e-3, "warmup": max(1, steps // 10)}
        if seed is not None:
            defaults["seed"] = seed
        cfg = TrainConfig.from_dict({**defaults, **cfg})
    seed = cfg.seed if seed is None else seed
    torch.manual_seed(seed)
    data, model, _ = prepare(cfg, tok)
    opt = optimizer(model, cfg)
    gen = torch.Generator().manual_seed(seed + 17)
    model.train()
    for step in range(cfg.steps):
        train_step(model, opt, data, cfg, step, gen)
    model.eval()
    return Bundle(cfg.name, model, data.tok, {"name": cfg.name, "task": cfg.task, "kind": data.task.kind,
                                              "arch": cfg.arch, "model": cfg.model})


def train(cfg: TrainConfig, out_dir: Path = CHECKPOINT_DIR, resume: bool = False, command: str = "",
          progress: bool = True, callback=None) -> dict:
    """Train, evaluate on the test split and write the checkpoint folder. Returns the model card.

    `callback(info)` is called after every step with step, loss, elapsed, eps (and SCST rewards), and
    after every evaluation with {"step", "eval": row}; returning False from a step call cancels the
    run: it validates, keeps the best weights so far and writes the checkpoint as usual."""
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    run_dir = resume_dir(cfg.name, out_dir)
    tok = resume_tokenizer(run_dir) if resume else None      # bounded read; checked with the state below
    data, model, init = prepare(cfg, tok)
    opt = optimizer(model, cfg)
    step, best_metric, bad, history, elapsed_before = 0, -math.inf, 0, [], 0.0
    best_state = copy.deepcopy(model.state_dict())
    if resume:
        if not (run_dir / "state.json").exists():
            raise ValueError(f"nothing to resume: {run_dir} has no state.json")
        info, best_state = load_resume(run_dir, model, opt)
        check_resumed(info.get("config"), cfg)                  # the sampling rule the run started with
        step, best_metric, bad, history = info["step"], info["best_metric"], info["bad"], info["history"]
        elapsed_before = info.get("elapsed", 0.0)
    gen = torch.Generator().manual_seed(cfg.seed + 17 + 7919 * step)   # a resumed run gets its own stream
    stats: list[dict] = []
    stopped = f"reached {cfg.steps} steps"
    bar = tqdm(total=cfg.steps, initial=step, desc=cfg.name, disable=not progress, dynamic_ncols=True)
    model.train()
    while step < cfg.steps:
        loss, info = train_step(model, opt, data, cfg, step, gen)
        eps = info["eps"]
        stats.append(info)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", eps=f"{eps:.3f}")
        elapsed = elapsed_before + time.time() - t0
        cancelled = bool(callback) and callback({"step": step, "loss": loss, "elapsed": elapsed, **info}) is False
        last = step >= cfg.steps or elapsed > cfg.max_minutes * 60 or cancelled
        if step % cfg.eval_every == 0 or last:
            metric, row = validate(model, data, cfg)
            row.update(step=step, train_loss=round(loss, 4), elapsed=round(elapsed, 1))
            if cfg.ss_schedule != "none" or cfg.feed_model_prob > 0:
                row["eps"] = round(eps, 4)
            for key in ("reward_sample", "reward_greedy"):
                if stats and key in stats[-1]:
                    row[f"train_{key}"] = round(sum(s[key] for s in stats) / len(stats), 4)
            stats = []
            history.append(row)
            if metric > best_metric:
                best_metric, bad = metric, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
            bar.write(f"[{cfg.name}] step {step}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
            if callback:
                callback({"step": step, "eval": row})
            save_resume(run_dir, model, best_state, opt,
                        {"step": step, "best_metric": best_metric, "bad": bad, "history": history,
                         "elapsed": elapsed, "config": asdict(cfg)}, tokenizer=data.tok)
            model.train()
            if cancelled:
                stopped = f"cancelled at step {step}"
                break
            if elapsed > cfg.max_minutes * 60:
                stopped = f"time budget of {cfg.max_minutes} min reached at step {step}"
                break
            # early stopping follows the validation metric; a run that keeps its last weights
            # (select_best False, e.g. scheduled sampling judged by a teacher-forced metric) runs on
            if cfg.select_best and bad >= cfg.patience:
                stopped = f"early stopping at step {step} (no improvement in {cfg.patience} evaluations)"
                break
    bar.close()
    if not cfg.select_best:     # e.g. scheduled sampling of an LM: the TF validation NLL favours early weights
        best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    card = _card(cfg, data, model, init, step=step, wall=elapsed_before + time.time() - t0, stopped=stopped,
                 history=history, command=command)
    config = {"name": cfg.name, "task": cfg.task, "kind": data.task.kind}
    save_checkpoint(Path(out_dir) / cfg.name, model, data.tok, config, card)
    return card


def _card(cfg: TrainConfig, data: Data, model: SeqModel, init: Optional[Bundle], *, step: int, wall: float,
          stopped: str, history: list, command: str) -> dict:
    """The model card: how the model was trained and its held-out metrics (engine/training/metrics.py)."""
    test_metrics, samples = metrics.evaluate(model, data)
    if init is not None:
        test_metrics["init_from"] = cfg.init_from
        test_metrics["init_test_metrics"] = {k: v for k, v in init.card.get("metrics", {}).items()
                                             if isinstance(v, (int, float))}
    return {
        "summary": f"{cfg.arch} model for the `{cfg.task}` task, trained in this repository.",
        "task_description": data.task.description,
        "parameters": model.num_parameters(),
        "tokenizer": (f"BPE ({data.tok.vocab_size} tokens, `tokenizers` library)" if data.tok.kind == "bpe"
                      else f"characters ({data.tok.vocab_size} tokens incl. 4 specials)"),
        "data": ", ".join(f"{k} {len(v)}" for k, v in data.splits.items()) + " examples",
        "steps": step, "wall_time_s": round(wall, 1), "stopped": stopped,
        "hardware": f"{torch.get_num_threads()}-thread CPU ({platform.machine()})",
        "command": command or f"python -m engine train --recipe {cfg.name}",
        "training_config": asdict(cfg), "history": history, "metrics": test_metrics, "samples": samples,
    }


@torch.no_grad()
def validate(model: SeqModel, data: Data, cfg: TrainConfig) -> tuple[float, dict]:
    """The early-stopping metric (higher is better) and a row for the history."""
    model.eval()
    if data.seq2seq:
        pairs = data.pairs["valid"][: cfg.eval_examples]
        acc, _ = metrics.exact_match(model, data.tok, pairs)
        nll = metrics.seq2seq_nll(model, data.tok, pairs)
        return acc - 1e-3 * nll, {"valid_exact_match": round(acc, 4), "valid_nll": round(nll, 4)}
    seqs = data.seqs["valid"][: cfg.eval_examples]
    if cfg.lm_mode == "stream":
        seqs = [s[: cfg.block_size + 1] for s in seqs]
    total, count = metrics.lm_sequence_nll(model, seqs)
    return -total / count, {"valid_nll": round(total / count, 4), "valid_ppl": round(math.exp(total / count), 3)}
