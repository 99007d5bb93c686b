"""The small GRUs that experiments 2, 7 and 8 (ss-schedules, tbptt, bpe-vocab) train in memory and
score: their architecture, task and budget in one place."""
from __future__ import annotations

import time

import torch

from .. import exposure as ex
from ..checkpoint import Bundle

SMALL_GRU = {"d_emb": 32, "d_hidden": 64, "d_attn": 32, "dropout": 0.0, "max_len": 24}

# They learn 1- to 4-digit sums: within SMALL_STEPS they learn about half of them (on the full 7-digit
# task they reach ~6%, and the comparisons would be noise).
SMALL_TASK, SMALL_STEPS, SMALL_EXAMPLES = "addition4", 1000, 1000


def small_config(name: str, quick: bool, task: str = SMALL_TASK, **opts) -> dict:
    """A TrainConfig dict of a small GRU with these training options."""
    return {"name": name, "task": task, "arch": "gru-attn", "model": SMALL_GRU,
            "data_sizes": {"train": 2000 if quick else 100_000, "valid": 10, "test": 10}, **opts}


def small_budget(quick: bool) -> tuple[int, int]:
    """(training steps, test examples) of the small-GRU experiments; tiny with --quick."""
    return (12, 40) if quick else (SMALL_STEPS, SMALL_EXAMPLES)


def fit(cfg_dict: dict, steps: int, seed: int = 0) -> Bundle:
    """Train a small model in memory with the project's loss functions (no checkpoint written)."""
    from ..models import build_model
    from ..train import Data, TrainConfig, lm_loss, lr_at, seq2seq_loss
    cfg = TrainConfig.from_dict({"batch_size": 64, "lr": 3e-3, "warmup": max(1, steps // 10), "seed": seed,
                                 **cfg_dict, "steps": steps})
    torch.manual_seed(seed)
    data = Data(cfg)
    model = build_model(cfg.arch, {**cfg.model, "vocab_size": data.tok.vocab_size})
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed + 17)
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = data.batch(step)
        eps = cfg.gold_prob(step)
        loss = seq2seq_loss(model, batch, cfg, gen, eps) if data.seq2seq else lm_loss(model, batch, cfg, gen, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
    model.eval()
    return Bundle(cfg.name, model, data.tok, {"name": cfg.name, "task": cfg.task, "kind": data.task.kind,
                                              "arch": cfg.arch, "model": cfg.model})


def scores(bundle: Bundle, n: int, seed: int) -> dict:
    """Free-running exact match, token errors (overall and per position) and TF ECE on n test examples."""
    res = ex.analyze(None, n=n, seed=seed, n_boot=50, bundle=bundle, oracle=False)
    s = res["sequence"]
    return {"fr_exact_match": s["fr_exact_match"], "tf_token_error": s["tf_token_error"],
            "fr_token_error": s["fr_token_error"], "per_position_tf_error": res["per_position"]["tf_error"],
            "per_position_fr_error": res["per_position"]["fr_error"], "tf_ece": res["calibration"]["tf_ece"]}


def train_and_score(name: str, quick: bool, steps: int, n: int, seed: int, **opts) -> tuple[Bundle, dict]:
    """A small GRU trained on SMALL_TASK with these training options, and its scores on n test sums
    ('seconds': training plus scoring)."""
    t = time.time()
    b = fit(small_config(name, quick, **opts), steps, seed)
    return b, {**scores(b, n, seed), "seconds": round(time.time() - t, 1)}
