"""`python -m engine experiment NAME [--quick] [--seeds 0,1,2] [--threads T] [--out FILE]` (flags checked
before the experiment starts; ranges from engine/limits.py). One progress line per seed on stderr."""
from __future__ import annotations

import argparse
import sys

from ..cli_args import file_arg, int_arg
from ..limits import MAX_EXPERIMENT_SEEDS, MAX_SEED, MAX_THREADS

# the registered experiments (engine.experiments.EXPERIMENTS; a test keeps the two lists equal),
# spelled out so that building the parser does not import torch
NAMES = ["tf-vs-fr", "ss-schedules", "recovery", "beam-curse", "label-smoothing", "decoding", "tbptt", "bpe-vocab"]


def seeds_arg(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated distinct seeds, each in [0, MAX_SEED], at most MAX_EXPERIMENT_SEEDS."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of seeds; give e.g. --seeds 0,1,2")
    if len(parts) > MAX_EXPERIMENT_SEEDS:
        raise argparse.ArgumentTypeError(f"{len(parts)} seeds, over the limit of {MAX_EXPERIMENT_SEEDS} "
                                         "(MAX_EXPERIMENT_SEEDS in engine/limits.py)")
    one = int_arg(0, MAX_SEED)
    seeds = tuple(one(p) for p in parts)
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a seed; give distinct seeds")
    return seeds


def add_parsers(subparsers) -> None:
    e = subparsers.add_parser("experiment", help="run one of the exposure lab's experiments (engine/experiments/)")
    e.add_argument("name", choices=NAMES)
    e.add_argument("--quick", action="store_true", help="a reduced size (minutes at most, for tests)")
    e.add_argument("--seeds", type=seeds_arg, default=None,
                   help="comma-separated seeds (default: 0,1,2 with --quick, 0,1,2,3,4 otherwise)")
    e.add_argument("--threads", type=int_arg(0, MAX_THREADS, " (0 = torch's default)"), default=1,
                   help="torch threads (0 = torch's default; default 1: with 2 the many small steps stall "
                   "when the other core is busy)")
    e.add_argument("--out", type=file_arg, help="save the result JSON here")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args) -> int:
    import torch

    from .registry import run_experiment
    from .store import estimate_text, save_result
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run_experiment(args.name, quick=args.quick, seeds=args.seeds, progress=_progress)
    if args.out:
        save_result(res, args.out)
    print(f"{res['title']}\n{res['caption']}\ntest: {res['test']}\n=> {res['outcome']}: "
          f"{estimate_text(res) or 'no estimate'}; {res['verdict']}  (seeds {','.join(map(str, res['seeds']))}, "
          f"{res['seconds']} s)")
    return 0
