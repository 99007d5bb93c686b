"""Command line: `python -m engine train --recipe NAME` (or every option by hand; engine/training/recipes.py).

A progress bar, validation during training, early stopping on the validation metric, a time budget,
atomic checkpoint writes and resume (`--resume` continues from runs/<name>/resume). Every option is
checked before anything is written: the types here, the ranges in TrainConfig.check (the dashboard's
Train page gets the same messages), each refusal one line naming its --flag."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ..cli_args import float_arg, folder_arg, json_arg, text_arg
from .config import CLI_KEYS, STAGES, OptionError, TrainConfig
from .loop import train
from .job import ARCH_MODELS, TASK_ARCHS, check_name

DEFAULT_OUT = "runs/train"     # never checkpoints/ by default: a try-out run must not replace a shipped model
from .recipes import RECIPES, recipe
from .schedules import SCHEDULES


def add_parsers(subparsers) -> None:
    """The `train` subcommand (ranges: TrainConfig.INT_RANGES / FLOAT_RANGES in engine/training/config.py)."""
    t = subparsers.add_parser("train", help="train a model (see engine/training/recipes.py)")
    t.add_argument("--recipe", choices=list(RECIPES), help="a shipped model's recipe, e.g. dates-gru-attn")
    t.add_argument("--name", type=text_arg("a run name (letters, digits, . _ -)"),
                   help="the checkpoint folder's name (letters, digits, '.', '_' or '-')")
    t.add_argument("--task", choices=list(TASK_ARCHS))
    t.add_argument("--arch", choices=list(ARCH_MODELS))
    t.add_argument("--model-json", type=json_arg,
                   help="architecture options as a JSON object, e.g. '{\"d_hidden\": 64}'")
    t.add_argument("--steps", type=int, help="maximum optimiser steps (>= 1)")
    t.add_argument("--batch-size", type=int, help="examples per step (1 to MAX_TRAIN_BATCH)")
    t.add_argument("--lr", type=float_arg, help="peak learning rate, in [0, 1] (0: the weights stay as they start)")
    t.add_argument("--seed", type=int, help="seed of the data, the weights and the sampling (>= 0)")
    t.add_argument("--max-minutes", type=float_arg, help="time budget in minutes (> 0)")
    t.add_argument("--label-smoothing", type=float_arg, help="label smoothing alpha, in [0, 1)")
    t.add_argument("--feed-model-prob", type=float_arg, help="probability of feeding the model's own token, in [0, 1]")
    t.add_argument("--eval-every", type=int, help="validate every N steps (>= 1)")
    t.add_argument("--patience", type=int, help="evaluations without improvement before stopping (>= 1)")
    t.add_argument("--tokenizer", choices=["char", "bpe"])
    t.add_argument("--bpe-vocab-size", type=int, help="BPE vocabulary size (>= 8)")
    t.add_argument("--threads", type=int, help="torch threads (0 = torch's default; at most MAX_THREADS)")
    t.add_argument("--warmup", type=int, help="learning-rate warmup steps (>= 0)")
    t.add_argument("--ss-schedule", choices=SCHEDULES,
                   help="scheduled sampling: decay of eps, the probability of feeding the gold token")
    t.add_argument("--ss-k", type=float_arg, help="the schedule's k (inverse_sigmoid: k >= 1; exponential: k < 1)")
    t.add_argument("--ss-c", type=float_arg, help="the linear schedule's slope c")
    t.add_argument("--ss-eps-min", type=float_arg, help="the linear schedule's floor")
    fed = t.add_mutually_exclusive_group()
    fed.add_argument("--ss-sample", action="store_const", const=True, dest="ss_sample",
                     help="scheduled sampling feeds a sample of the model's distribution (the default, as Bengio "
                          "et al. 2015)")
    fed.add_argument("--ss-argmax", action="store_const", const=False, dest="ss_sample",
                     help="scheduled sampling feeds the model's argmax instead of a sample")
    t.add_argument("--tbptt", type=int, help="truncated-BPTT window L of a GRU decoder (0 = full)")
    t.add_argument("--length-buckets", type=int,
                   help="seq2seq: split each batch into this many micro-batches of similar source length")
    t.add_argument("--curriculum-steps", type=int, help="length curriculum: steps until full length (0 = off)")
    t.add_argument("--curriculum-start", type=int, help="length curriculum: longest length at step 0")
    t.add_argument("--init-from", type=text_arg("a shipped model name or a checkpoint folder"),
                   help="start from this checkpoint (shipped name or folder)")
    t.add_argument("--stage", choices=list(STAGES), help="scst: self-critical fine-tuning; mixer: MIXER (Ranzato et "
                   "al. 2016), cross-entropy annealed to REINFORCE; both need --init-from")
    t.add_argument("--scst-reward", choices=["exact", "chrf"])
    t.add_argument("--scst-samples", type=int, help="sampled rollouts per source (1 to MAX_SCST_SAMPLES)")
    t.add_argument("--mixer-delta", type=int, help="MIXER: target tokens moved to REINFORCE per stage (>= 1)")
    t.add_argument("--mixer-every", type=int, help="MIXER: optimiser steps per stage (>= 1)")
    t.add_argument("--mixer-samples", type=int, help="MIXER: sampled continuations per source (2 to MAX_SCST_SAMPLES)")
    t.add_argument("--mixer-reward", choices=["exact", "chrf"], help="MIXER: the sequence reward")
    t.add_argument("--out", type=folder_arg, default=DEFAULT_OUT,
                   help=f"folder for the checkpoint folder <out>/<name> (default {DEFAULT_OUT}/; "
                        "--out checkpoints replaces a shipped model)")
    t.add_argument("--resume", action="store_true", help="continue from runs/<name>/resume")


def _flag(option: str) -> str:
    return "--model-json" if option == "model" else "--" + option.replace("_", "-")


def config_from_args(args) -> TrainConfig:
    """The TrainConfig the flags describe (a recipe, with the flags given on top), checked: a bad value is
    a one-line ValueError naming its --flag."""
    if args.recipe:
        d = recipe(args.recipe)
        if args.name is not None:             # a recipe under another name (checked below like any name)
            d["name"] = args.name
    else:
        if not (args.name and args.task and args.arch):
            raise ValueError("give --recipe NAME, or --name, --task and --arch")
        d = {"name": args.name, "task": args.task, "arch": args.arch}
    try:
        check_name(d["name"])
    except ValueError as exc:
        raise ValueError(f"argument --name: {exc}") from None
    given = set()
    for key in ("task", "arch") + CLI_KEYS:
        v = getattr(args, key, None)
        if v is not None:
            d[key] = v
            given.add(key)
    if getattr(args, "ss_sample", None) is not None:
        d["ss_sample"] = args.ss_sample
    if args.model_json is not None:
        d["model"] = {**d.get("model", {}), **args.model_json}
        given.add("model")
    try:
        return TrainConfig.from_dict(d)
    except OptionError as exc:
        if exc.option not in given:         # a recipe's or a default value that does not fit a given one
            raise
        raise ValueError(f"argument {_flag(exc.option)}: {exc}") from None


def run(args) -> int:
    """Train the config the flags describe; print the card's summary."""
    cfg = config_from_args(args)
    command = "python -m engine train " + " ".join(shlex.quote(a) for a in sys.argv[2:] if a != "--resume")
    card = train(cfg, Path(args.out), resume=args.resume, command=command)
    print(json.dumps({"name": cfg.name, "steps": card["steps"], "wall_time_s": card["wall_time_s"],
                      "stopped": card["stopped"], "metrics": card["metrics"]}, indent=1))
    return 0
