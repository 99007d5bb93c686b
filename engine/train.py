"""Training: `python -m engine train --recipe NAME` (or every option by hand).

A progress bar, validation during training, early stopping on the validation metric, a time budget,
atomic checkpoint writes and resume (`--resume` continues from runs/<name>/resume).

Exposure-bias remedies (docs/exposure.md):
- scheduled sampling (Bengio et al., 2015): at step i the decoder input of each position is the gold
  token with probability eps_i (engine/schedules.py: linear, exponential, inverse sigmoid, constant)
  and otherwise the model's own token (argmax, or sampled with `ss_sample`). A GRU decoder mixes token
  by token (the model token comes from the prefix actually fed); a Transformer/GPT decoder uses the
  two-pass variant (a teacher-forced pass predicts, the second pass mixes those predictions in).
  `feed_model_prob` P is the constant schedule eps = 1 - P. eps = 1 is exactly teacher forcing.
- label smoothing; truncated BPTT (window `tbptt` L: the GRU decoder's hidden state is detached every
  L steps); a curriculum over sequence length (`curriculum_steps`); BPE vocabulary size;
- self-critical sequence training (`stage="scst"`, engine/scst.py) as a fine-tuning stage from a
  checkpoint (`init_from`).
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
from . import schedules

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
    # exposure-bias remedies (see the module docstring and docs/exposure.md)
    ss_schedule: str = "none"                        # none | constant | linear | exponential | inverse_sigmoid
    ss_k: Optional[float] = None                     # the schedule's k (engine/schedules.py)
    ss_c: Optional[float] = None                     # the linear schedule's slope c
    ss_eps_min: float = 0.0                          # the linear schedule's floor
    ss_sample: bool = False                          # sample the model's token instead of its argmax
    tbptt: int = 0                                   # truncated-BPTT window L of a GRU decoder (0 = full)
    curriculum_steps: int = 0                        # steps over which the longest allowed length grows
    curriculum_start: int = 0                        # the longest length at step 0 (0 = the shortest in data)
    init_from: str = ""                              # start from this checkpoint (name or folder)
    stage: str = "mle"                               # "mle" (cross-entropy) | "scst" (self-critical RL)
    scst_reward: str = "exact"                       # "exact" (exact match) | "chrf" (sacrebleu chrF / 100)
    scst_samples: int = 4                            # sampled rollouts per source
    select_best: bool = True                         # keep the best validation weights (False: the last)
    length_buckets: int = 1                          # seq2seq: split each batch into this many micro-batches
                                                     # of similar source length (less padding, same loss)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        cfg = cls(**d)
        cfg.check()
        return cfg

    def check(self) -> None:
        """One-line ValueErrors for values out of range or options that do not fit together."""
        schedules.validate(self.ss_schedule, self.ss_k, self.ss_c, self.ss_eps_min)
        if not 0.0 <= self.feed_model_prob <= 1.0:
            raise ValueError(f"feed_model_prob must be in [0, 1], got {self.feed_model_prob}")
        if self.feed_model_prob > 0 and self.ss_schedule != "none":
            raise ValueError("give either feed_model_prob (a constant schedule) or ss_schedule, not both")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.tbptt < 0 or self.curriculum_steps < 0 or self.curriculum_start < 0:
            raise ValueError("tbptt, curriculum_steps and curriculum_start must be >= 0")
        if self.tbptt and not self.arch.startswith("gru"):
            raise ValueError(f"truncated BPTT applies to a GRU decoder, not to the {self.arch} architecture")
        if self.stage not in ("mle", "scst"):
            raise ValueError(f"stage must be 'mle' or 'scst', got {self.stage!r}")
        if self.scst_reward not in ("exact", "chrf"):
            raise ValueError(f"scst_reward must be 'exact' or 'chrf', got {self.scst_reward!r}")
        if self.scst_samples < 1:
            raise ValueError("scst_samples must be >= 1")
        if self.stage == "scst" and not self.init_from:
            raise ValueError("SCST is a fine-tuning stage: give init_from (--init-from NAME)")
        if self.length_buckets < 1:
            raise ValueError(f"length_buckets must be >= 1, got {self.length_buckets}")
        if self.length_buckets > 1 and self.stage == "scst":
            raise ValueError("length_buckets applies to cross-entropy training, not to the SCST stage")
        if self.tokenizer == "bpe" and self.bpe_vocab_size < 8:
            raise ValueError(f"bpe_vocab_size must be >= 8, got {self.bpe_vocab_size}")

    def gold_prob(self, step: int) -> float:
        """eps at this training step: the probability of feeding the gold token."""
        if self.ss_schedule == "none":
            return 1.0 - self.feed_model_prob
        return schedules.make_schedule(self.ss_schedule, self.ss_k, self.ss_c, self.ss_eps_min)(step)


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
        self.by_length = None
        if cfg.curriculum_steps > 0 and not (not self.seq2seq and cfg.lm_mode == "stream"):
            # seq2seq: examples sorted by target length in tokens; the batch draws among the short ones
            lengths = ([len(tokenizer.encode(t).ids) for _, t in self.pairs["train"]] if self.seq2seq
                       else [len(s) - 1 for s in self.seqs["train"]])
            order = sorted(range(len(lengths)), key=lambda i: lengths[i])
            self.by_length = (order, [lengths[i] for i in order])

    def max_length(self, step: int) -> Optional[int]:
        """The curriculum's longest allowed length (tokens) at this step, or None without one."""
        if self.cfg.curriculum_steps <= 0:
            return None
        if self.by_length is None:                                   # LM stream: the block grows
            full, lo = self.cfg.block_size, 1
        else:
            full, lo = self.by_length[1][-1], self.by_length[1][0]
        start = self.cfg.curriculum_start or lo
        return schedules.curriculum_length(step, self.cfg.curriculum_steps, start, full)

    def _indices(self, g: torch.Generator, step: int, n_items: int) -> list[int]:
        b = self.cfg.batch_size
        limit = self.max_length(step)
        if limit is None or self.by_length is None or not self.seq2seq:
            return torch.randint(n_items, (b,), generator=g).tolist()
        import bisect
        order, lengths = self.by_length
        pool = max(1, bisect.bisect_right(lengths, limit))
        return [order[i] for i in torch.randint(pool, (b,), generator=g).tolist()]

    def batch(self, step: int):
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        b = self.cfg.batch_size
        limit = self.max_length(step)
        if self.seq2seq:
            idx = self._indices(g, step, len(self.pairs["train"]))
            pairs = [self.pairs["train"][i] for i in idx]
            if self.cfg.length_buckets > 1:               # micro-batches of similar source length
                pairs.sort(key=lambda p: len(p[0]))
                k = self.cfg.length_buckets
                cuts = [round(j * len(pairs) / k) for j in range(k + 1)]
                return [seq2seq_tensors(self.tok, pairs[a:b]) for a, b in zip(cuts, cuts[1:]) if b > a]
            return seq2seq_tensors(self.tok, pairs)
        if self.cfg.lm_mode == "stream":
            n = (limit or self.cfg.block_size) + 1
            starts = torch.randint(len(self.stream) - n, (b,), generator=g)
            ids = torch.stack([self.stream[s:s + n] for s in starts.tolist()])
            return ids, torch.ones_like(ids, dtype=torch.bool)
        idx = torch.randint(len(self.seqs["train"]), (b,), generator=g).tolist()
        seqs = [self.seqs["train"][i] for i in idx]
        if limit is not None:                                        # LM: the first `limit` predictions
            seqs = [s[: limit + 1] for s in seqs]
        return pad_batch(seqs)


# -- loss ------------------------------------------------------------------------------------------

def model_tokens(logits: torch.Tensor, sample: bool, gen: torch.Generator) -> torch.Tensor:
    """The model's own next tokens from [..., V] logits: argmax, or a sample from the softmax."""
    logits = logits.detach()
    if not sample:
        return logits.argmax(-1)
    flat = logits.reshape(-1, logits.shape[-1]).float().softmax(-1)
    return torch.multinomial(flat, 1, generator=gen).reshape(logits.shape[:-1])


def mix_two_pass(model: SeqModel, inputs: torch.Tensor, state, eps: float, sample: bool,
                 gen: torch.Generator, real: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Two-pass scheduled sampling for a parallel (Transformer/GPT) decoder: a teacher-forced pass
    predicts the token after every gold prefix; position j > 0 of the returned input keeps the gold
    token with probability eps (one coin per token) and otherwise takes the prediction made at j - 1."""
    with torch.no_grad():
        pred = model_tokens(model.decode(inputs, state).logits, sample, gen)
    coin = torch.rand(inputs.shape, generator=gen) >= eps              # True: feed the model's token
    coin[:, 0] = False                                                   # BOS stays
    keep = inputs[:, 1:] != PAD if real is None else real[:, 1:]
    mixed = inputs.clone()
    mixed[:, 1:] = torch.where(coin[:, 1:] & keep, pred[:, :-1], inputs[:, 1:])
    return mixed


def recurrent_logits(model: SeqModel, tin: torch.Tensor, state, eps: float, sample: bool,
                     gen: torch.Generator, tbptt: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A GRU decoder run token by token: the input at step t+1 is the gold token with probability eps,
    else the model's token predicted at step t from the prefix it was actually fed. With `tbptt` = L
    the hidden state is detached every L steps (truncated backpropagation through time).
    Returns the logits [B, T, V] and the inputs fed [B, T]."""
    b, t = tin.shape
    fed = [tin[:, 0]]
    logits = []
    inp = tin[:, :1]
    for i in range(t):
        if tbptt and i > 0 and i % tbptt == 0:
            state = {**state, "h": state["h"].detach()}
        o = model.decode(inp, state)
        state = o.state
        logits.append(o.logits[:, -1])
        if i + 1 < t:
            gold = tin[:, i + 1]
            if eps >= 1.0:
                nxt = gold
            else:
                own = model_tokens(o.logits[:, -1], sample, gen)
                coin = torch.rand(b, generator=gen) >= eps
                nxt = torch.where(coin & (gold != PAD), own, gold)
            fed.append(nxt)
            inp = nxt[:, None]
    return torch.stack(logits, 1), torch.stack(fed, 1)


def seq2seq_loss(model: SeqModel, batch, cfg: TrainConfig, gen: torch.Generator,
                 eps: Optional[float] = None) -> torch.Tensor:
    """Cross-entropy of the targets; the decoder input is mixed by scheduled sampling when eps < 1.

    `batch` is one (src, src_mask, decoder_in, decoder_out) tuple or a list of them (length buckets):
    the micro-batches' mean losses are weighted by their target-token counts, which gives the mean
    over the whole batch."""
    if isinstance(batch, list):
        counts = [int((b[3] != PAD).sum()) for b in batch]
        total = sum(counts)
        return sum(seq2seq_loss(model, b, cfg, gen, eps) * (n / total) for b, n in zip(batch, counts))
    src, smask, tin, tout = batch
    eps = cfg.gold_prob(0) if eps is None else eps
    state, _ = model.start(src, smask)
    recurrent = not model.has_self_attention
    if recurrent and (eps < 1.0 or cfg.tbptt):
        logits, _ = recurrent_logits(model, tin, state, eps, cfg.ss_sample, gen, cfg.tbptt)
    else:
        if eps < 1.0:
            tin = mix_two_pass(model, tin, state, eps, cfg.ss_sample, gen)
        logits = model.decode(tin, state).logits
    return F.cross_entropy(logits.transpose(1, 2), tout, ignore_index=PAD, label_smoothing=cfg.label_smoothing)


def lm_loss(model: SeqModel, batch, cfg: TrainConfig, gen: Optional[torch.Generator] = None,
            eps: float = 1.0) -> torch.Tensor:
    ids, mask = batch
    state, _ = model.start(batch_size=ids.shape[0])
    inputs = ids[:, :-1]
    if eps < 1.0:
        inputs = mix_two_pass(model, inputs, state, eps, cfg.ss_sample, gen, real=mask[:, :-1])
    logits = model.decode(inputs, state).logits
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


def resume_dir(name: str, out_dir: Path = CHECKPOINT_DIR) -> Path:
    """Where a run keeps its resume state: runs/<name>/resume for the shipped checkpoints/ folder, and
    runs/<name>/resume-<hash of the output folder> for any other --out, so that runs of one name
    written to different places never share (or overwrite) each other's state."""
    out = Path(out_dir).resolve()
    if out == Path(CHECKPOINT_DIR).resolve():
        return RUNS_DIR / name / "resume"
    import hashlib
    return RUNS_DIR / name / f"resume-{hashlib.blake2b(str(out).encode(), digest_size=4).hexdigest()}"


# -- the loop --------------------------------------------------------------------------------------

def train(cfg: TrainConfig, out_dir: Path = CHECKPOINT_DIR, resume: bool = False, command: str = "",
          progress: bool = True, callback=None) -> dict:
    """Train, evaluate on the test split and write the checkpoint folder. Returns the model card.

    `callback(info)` is called after every step with step, loss, elapsed, eps (and SCST rewards), and
    after every evaluation with {"step", "eval": row}; returning False from a step call cancels the
    run: it validates, keeps the best weights so far and writes the checkpoint as usual."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    run_dir = resume_dir(cfg.name, out_dir)
    cfg.check()
    tok = Tokenizer.load(run_dir / "tokenizer.json") if resume and (run_dir / "tokenizer.json").exists() else None
    init = None
    if cfg.init_from:
        from .checkpoint import load
        init = load(cfg.init_from)
        if init.task != cfg.task or init.config["arch"] != cfg.arch:
            raise ValueError(f"init_from {cfg.init_from!r} is a {init.config['arch']} model for the {init.task} "
                             f"task, not {cfg.arch} for {cfg.task}")
        tok = tok or init.tokenizer
        cfg.model = {k: v for k, v in init.config["model"].items() if k not in ("vocab_size", "attention")}
    data = Data(cfg, tok)
    if cfg.stage == "scst" and not data.seq2seq:
        raise ValueError("SCST needs a seq2seq task (a reference to reward); this task is a language model")
    model = build_model(cfg.arch, {**cfg.model, "vocab_size": data.tok.vocab_size})
    if init is not None:
        model.load_state_dict(init.model.state_dict())
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
    gen = torch.Generator().manual_seed(cfg.seed + 17 + 7919 * step)   # a resumed run gets its own stream
    stats: list[dict] = []
    stopped = f"reached {cfg.steps} steps"
    bar = tqdm(total=cfg.steps, initial=step, desc=cfg.name, disable=not progress, dynamic_ncols=True)
    model.train()
    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = data.batch(step)
        eps = cfg.gold_prob(step)
        info = {"eps": eps}
        if cfg.stage == "scst":
            from .scst import scst_loss
            loss, extra = scst_loss(model, batch, data.tok, gen, cfg.scst_samples, cfg.scst_reward)
            info.update(extra)
        elif data.seq2seq:
            loss = seq2seq_loss(model, batch, cfg, gen, eps)
        else:
            loss = lm_loss(model, batch, cfg, gen, eps)
        stats.append(info)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", eps=f"{eps:.3f}")
        elapsed = elapsed_before + time.time() - t0
        cancelled = bool(callback) and callback({"step": step, "loss": loss.item(), "elapsed": elapsed, **info}) is False
        last = step >= cfg.steps or elapsed > cfg.max_minutes * 60 or cancelled
        if step % cfg.eval_every == 0 or last:
            metric, row = validate(model, data, cfg)
            row.update(step=step, train_loss=round(loss.item(), 4), elapsed=round(elapsed, 1))
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
                         "elapsed": elapsed, "config": asdict(cfg)})
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
    wall = elapsed_before + time.time() - t0
    metrics, samples = task_metrics.evaluate(model, data)
    if init is not None:
        metrics["init_from"] = cfg.init_from
        metrics["init_test_metrics"] = {k: v for k, v in init.card.get("metrics", {}).items()
                                        if isinstance(v, (int, float))}
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
                "feed_model_prob", "eval_every", "patience", "tokenizer", "bpe_vocab_size", "threads",
                "warmup", "ss_schedule", "ss_k", "ss_c", "ss_eps_min", "tbptt", "curriculum_steps",
                "curriculum_start", "init_from", "stage", "scst_reward", "scst_samples", "length_buckets"):
        v = getattr(args, key, None)
        if v is not None:
            d[key] = v
    if getattr(args, "ss_sample", False):
        d["ss_sample"] = True
    if args.model_json:
        d["model"] = {**d.get("model", {}), **json.loads(args.model_json)}
    cfg = TrainConfig.from_dict(d)
    command = "python -m engine train " + " ".join(shlex.quote(a) for a in sys.argv[2:] if a != "--resume")
    card = train(cfg, Path(args.out), resume=args.resume, command=command)
    print(json.dumps({"name": cfg.name, "steps": card["steps"], "wall_time_s": card["wall_time_s"],
                      "stopped": card["stopped"], "metrics": card["metrics"]}, indent=1))
