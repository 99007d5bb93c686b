"""Command line: `python -m engine train --recipe NAME` (or every option by hand; engine/training/recipes.py).

A progress bar, validation during training, early stopping on the validation metric, a time budget,
atomic checkpoint writes and resume (`--resume` continues from runs/<name>/resume)."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from .config import CLI_KEYS, TrainConfig
from .loop import train
from .job import ARCH_MODELS, TASK_ARCHS
from .recipes import recipe
from .schedules import SCHEDULES


def add_parsers(subparsers) -> None:
    """The `train` subcommand."""
    t = subparsers.add_parser("train", help="train a model (see engine/training/recipes.py)")
    t.add_argument("--recipe", help="a shipped model's recipe, e.g. dates-gru-attn")
    t.add_argument("--name")
    t.add_argument("--task", choices=list(TASK_ARCHS))
    t.add_argument("--arch", choices=list(ARCH_MODELS))
    t.add_argument("--model-json", help="architecture options as JSON, e.g. '{\"d_hidden\": 64}'")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--max-minutes", type=float)
    t.add_argument("--label-smoothing", type=float)
    t.add_argument("--feed-model-prob", type=float, help="probability of feeding the model's own token")
    t.add_argument("--eval-every", type=int)
    t.add_argument("--patience", type=int)
    t.add_argument("--tokenizer", choices=["char", "bpe"])
    t.add_argument("--bpe-vocab-size", type=int)
    t.add_argument("--threads", type=int)
    t.add_argument("--warmup", type=int)
    t.add_argument("--ss-schedule", choices=SCHEDULES,
                   help="scheduled sampling: decay of eps, the probability of feeding the gold token")
    t.add_argument("--ss-k", type=float, help="the schedule's k (inverse_sigmoid: k >= 1; exponential: k < 1)")
    t.add_argument("--ss-c", type=float, help="the linear schedule's slope c")
    t.add_argument("--ss-eps-min", type=float, help="the linear schedule's floor")
    t.add_argument("--ss-sample", action="store_true", help="sample the model's token instead of its argmax")
    t.add_argument("--tbptt", type=int, help="truncated-BPTT window L of a GRU decoder")
    t.add_argument("--length-buckets", type=int,
                   help="seq2seq: split each batch into this many micro-batches of similar source length")
    t.add_argument("--curriculum-steps", type=int, help="length curriculum: steps until full length")
    t.add_argument("--curriculum-start", type=int, help="length curriculum: longest length at step 0")
    t.add_argument("--init-from", help="start from this checkpoint (shipped name or folder)")
    t.add_argument("--stage", choices=["mle", "scst"], help="scst: self-critical fine-tuning (needs --init-from)")
    t.add_argument("--scst-reward", choices=["exact", "chrf"])
    t.add_argument("--scst-samples", type=int)
    t.add_argument("--out", default="checkpoints", help="folder for the checkpoint (default checkpoints/)")
    t.add_argument("--resume", action="store_true", help="continue from runs/<name>/resume")


def run(args) -> int:
    """Train the config the flags describe (a recipe, with the flags given on top); print the card's summary."""
    if args.recipe:
        d = recipe(args.recipe)
    else:
        if not (args.name and args.task and args.arch):
            raise ValueError("give --recipe NAME, or --name, --task and --arch")
        d = {"name": args.name, "task": args.task, "arch": args.arch}
    for key in ("name",) + CLI_KEYS:
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
    return 0
