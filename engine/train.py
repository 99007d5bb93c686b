"""Training: `python -m engine train --recipe NAME` (or every option by hand).

A progress bar, validation during training, early stopping on the validation metric, a time budget,
atomic checkpoint writes and resume (`--resume` continues from runs/<name>/resume). The decoder's
input at each step comes from the reference (teacher forcing) or, with probability
`feed_model_prob`, from the model's own prediction (two-pass: a teacher-forced pass predicts, the
second pass mixes its argmax tokens into the decoder input).
"""
from __future__ import annotations

import copy
import json
import math
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .checkpoint import (CHECKPOINT_DIR, REPO_ROOT, atomic_save_model, atomic_write_bytes,
                         atomic_write_text, save_checkpoint)
from .evaluate import pad_batch, seq2seq_nll, seq2seq_tensors
from .models import SeqModel, build_model
from .tasks import get_task
from .tokenizer import BOS, EOS, PAD, Tokenizer
from . import metrics as task_metrics

RUNS_DIR = REPO_ROOT / "runs"


@dataclass
class TrainConfig:
    name: str
    task: str
    arch: str
    model: dict = field(default_factory=dict)       # architecture config (vocab_size is filled in)
    tokenizer: str = "char"                          # "char" | "bpe"
    bpe_vocab_size: int = 2048
    steps: int = 5000                                # maximum optimiser steps
    batch_size: int = 128
    block_size: int = 256                            # LM on a text stream: tokens per example
    lm_mode: str = "sequences"                       # LM: "sequences" (one example a row) | "stream"
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 200
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    feed_model_prob: float = 0.0
    eval_every: int = 500
    eval_examples: int = 1000
    patience: int = 4                                # evaluations without improvement before stopping
    max_minutes: float = 12.0
    seed: int = 0
    data_sizes: dict = field(default_factory=dict)   # overrides of the task's split sizes
    threads: int = 0                                 # torch threads (0 = torch's default)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**d)


# -- data ------------------------------------------------------------------------------------------

class Data:
    """Tokenised splits and a seeded batch sampler (batch i depends only on the seed and i)."""

    def __init__(self, cfg: TrainConfig, tokenizer: Optional[Tokenizer] = None):
        self.cfg = cfg
        self.task = get_task(cfg.task)
        self.splits = self.task.splits(seed=cfg.seed, sizes=cfg.data_sizes or None)
        train_texts = [e.src + e.tgt for e in self.splits["train"]]
        if tokenizer is None:
            tokenizer = (Tokenizer.train_bpe(train_texts, cfg.bpe_vocab_size) if cfg.tokenizer == "bpe"
                         else Tokenizer.train_char(train_texts))
        self.tok = tokenizer
        self.seq2seq = self.task.kind == "seq2seq"
        if self.seq2seq:
            self.pairs = {k: [(e.src, e.tgt) for e in v] for k, v in self.splits.items()}
        else:
            self.seqs = {k: [[BOS] + tokenizer.encode(e.tgt).ids + [EOS] for e in v] for k, v in self.splits.items()}
            self.stream = torch.tensor([i for s in self.seqs["train"] for i in s], dtype=torch.long)
        self.train_size = len(self.splits["train"])

    def batch(self, step: int):
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        b = self.cfg.batch_size
        if self.seq2seq:
            idx = torch.randint(len(self.pairs["train"]), (b,), generator=g).tolist()
            return seq2seq_tensors(self.tok, [self.pairs["train"][i] for i in idx])
        if self.cfg.lm_mode == "stream":
            n = self.cfg.block_size + 1
            starts = torch.randint(len(self.stream) - n, (b,), generator=g)
            ids = torch.stack([self.stream[s:s + n] for s in starts.tolist()])
            return ids, torch.ones_like(ids, dtype=torch.bool)
        idx = torch.randint(len(self.seqs["train"]), (b,), generator=g).tolist()
        return pad_batch([self.seqs["train"][i] for i in idx])


# -- loss ------------------------------------------------------------------------------------------

def seq2seq_loss(model: SeqModel, batch, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    src, smask, tin, tout = batch
    state, _ = model.start(src, smask)
    if cfg.feed_model_prob > 0:
        with torch.no_grad():
            pred = model.decode(tin, state).logits.argmax(-1)          # prediction after each gold prefix
        coin = torch.rand(tin.shape, generator=gen) < cfg.feed_model_prob
        coin[:, 0] = False                                               # BOS stays
        mixed = tin.clone()
        mixed[:, 1:] = torch.where(coin[:, 1:] & (tin[:, 1:] != PAD), pred[:, :-1], tin[:, 1:])
        tin = mixed
    logits = model.decode(tin, state).logits
    return F.cross_entropy(logits.transpose(1, 2), tout, ignore_index=PAD, label_smoothing=cfg.label_smoothing)


def lm_loss(model: SeqModel, batch, cfg: TrainConfig) -> torch.Tensor:
    ids, mask = batch
    state, _ = model.start(batch_size=ids.shape[0])
    logits = model.decode(ids[:, :-1], state).logits
    target = ids[:, 1:].masked_fill(~mask[:, 1:], PAD)
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD, label_smoothing=cfg.label_smoothing)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# -- resume state ----------------------------------------------------------------------------------

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
    from safetensors.torch import load_model
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


# -- the loop --------------------------------------------------------------------------------------

def train(cfg: TrainConfig, out_dir: Path = CHECKPOINT_DIR, resume: bool = False, command: str = "",
          progress: bool = True, callback=None) -> dict:
    """Train, evaluate on the test split and write the checkpoint folder. Returns the model card."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    run_dir = RUNS_DIR / cfg.name / "resume"
    tok = Tokenizer.load(run_dir / "tokenizer.json") if resume and (run_dir / "tokenizer.json").exists() else None
    data = Data(cfg, tok)
    model = build_model(cfg.arch, {**cfg.model, "vocab_size": data.tok.vocab_size})
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best_metric, bad, history, elapsed_before = 0, -math.inf, 0, [], 0.0
    best_state = copy.deepcopy(model.state_dict())
    if resume:
        if not (run_dir / "state.json").exists():
            raise ValueError(f"nothing to resume: {run_dir} has no state.json")
        info, best_state = load_resume(run_dir, model, opt)
        step, best_metric, bad, history = info["step"], info["best_metric"], info["bad"], info["history"]
        elapsed_before = info.get("elapsed", 0.0)
    else:
        atomic_write_text(run_dir / "tokenizer.json", data.tok.to_json())
    gen = torch.Generator().manual_seed(cfg.seed + 17)
    stopped = f"reached {cfg.steps} steps"
    bar = tqdm(total=cfg.steps, initial=step, desc=cfg.name, disable=not progress, dynamic_ncols=True)
    model.train()
    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = data.batch(step)
        loss = seq2seq_loss(model, batch, cfg, gen) if data.seq2seq else lm_loss(model, batch, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if callback:
            callback({"step": step, "loss": loss.item()})
        elapsed = elapsed_before + time.time() - t0
        last = step >= cfg.steps or elapsed > cfg.max_minutes * 60
        if step % cfg.eval_every == 0 or last:
            metric, row = validate(model, data, cfg)
            row.update(step=step, train_loss=round(loss.item(), 4), elapsed=round(elapsed, 1))
            history.append(row)
            if metric > best_metric:
                best_metric, bad = metric, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
            bar.write(f"[{cfg.name}] step {step}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
            save_resume(run_dir, model, best_state, opt,
                        {"step": step, "best_metric": best_metric, "bad": bad, "history": history,
                         "elapsed": elapsed, "config": asdict(cfg)})
            model.train()
            if bad >= cfg.patience:
                stopped = f"early stopping at step {step} (no improvement in {cfg.patience} evaluations)"
                break
            if elapsed > cfg.max_minutes * 60:
                stopped = f"time budget of {cfg.max_minutes} min reached at step {step}"
                break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    wall = elapsed_before + time.time() - t0
    metrics, samples = task_metrics.evaluate(model, data)
    card = {
        "summary": f"{cfg.arch} model for the `{cfg.task}` task, trained in this repository.",
        "task_description": data.task.description,
        "parameters": model.num_parameters(),
        "tokenizer": (f"BPE ({data.tok.vocab_size} tokens, `tokenizers` library)" if data.tok.kind == "bpe"
                      else f"characters ({data.tok.vocab_size} tokens incl. 4 specials)"),
        "data": ", ".join(f"{k} {len(v)}" for k, v in data.splits.items()) + " examples",
        "steps": step, "wall_time_s": round(wall, 1), "stopped": stopped,
        "hardware": f"{torch.get_num_threads()}-thread CPU ({platform.machine()})",
        "command": command or f"python -m engine train --recipe {cfg.name}",
        "training_config": asdict(cfg), "history": history, "metrics": metrics, "samples": samples,
    }
    config = {"name": cfg.name, "task": cfg.task, "kind": data.task.kind}
    save_checkpoint(Path(out_dir) / cfg.name, model, data.tok, config, card)
    return card


@torch.no_grad()
def validate(model: SeqModel, data: Data, cfg: TrainConfig) -> tuple[float, dict]:
    """The early-stopping metric (higher is better) and a row for the history."""
    model.eval()
    if data.seq2seq:
        pairs = data.pairs["valid"][: cfg.eval_examples]
        from .evaluate import greedy_batch
        preds = greedy_batch(model, data.tok, [s for s, _ in pairs], max_new_tokens=model.max_len - 1)
        acc = sum(p == t for p, (_, t) in zip(preds, pairs)) / len(pairs)
        nll = seq2seq_nll(model, data.tok, pairs)
        return acc - 1e-3 * nll, {"valid_exact_match": round(acc, 4), "valid_nll": round(nll, 4)}
    from .evaluate import lm_sequence_nll
    seqs = data.seqs["valid"][: cfg.eval_examples]
    if cfg.lm_mode == "stream":
        seqs = [s[: cfg.block_size + 1] for s in seqs]
    total, count = lm_sequence_nll(model, seqs)
    return -total / count, {"valid_nll": round(total / count, 4), "valid_ppl": round(math.exp(total / count), 3)}


def main_train(args) -> None:
    from .recipes import RECIPES
    if args.recipe:
        if args.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {args.recipe!r}; choose one of {', '.join(RECIPES)}")
        d = copy.deepcopy(RECIPES[args.recipe])
    else:
        if not (args.name and args.task and args.arch):
            raise ValueError("give --recipe NAME, or --name, --task and --arch")
        d = {"name": args.name, "task": args.task, "arch": args.arch}
    for key in ("name", "steps", "batch_size", "lr", "seed", "max_minutes", "label_smoothing",
                "feed_model_prob", "eval_every", "patience", "tokenizer", "bpe_vocab_size", "threads"):
        v = getattr(args, key, None)
        if v is not None:
            d[key] = v
    if args.model_json:
        d["model"] = {**d.get("model", {}), **json.loads(args.model_json)}
    cfg = TrainConfig.from_dict(d)
    command = "python -m engine train " + " ".join(shlex.quote(a) for a in sys.argv[2:] if a != "--resume")
    card = train(cfg, Path(args.out), resume=args.resume, command=command)
    print(json.dumps({"name": cfg.name, "steps": card["steps"], "wall_time_s": card["wall_time_s"],
                      "stopped": card["stopped"], "metrics": card["metrics"]}, indent=1))
