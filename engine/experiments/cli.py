"""`python -m engine experiment NAME [--quick] [--seed S] [--threads T] [--out FILE]` (flags checked
before the experiment starts; ranges from engine/limits.py)."""
from __future__ import annotations

from ..cli_args import file_arg, int_arg
from ..limits import MAX_SEED, MAX_THREADS

# the registered experiments (engine.experiments.EXPERIMENTS; a test keeps the two lists equal),
# spelled out so that building the parser does not import torch
NAMES = ["tf-vs-fr", "ss-schedules", "recovery", "beam-curse", "label-smoothing", "decoding", "tbptt", "bpe-vocab"]


def add_parsers(subparsers) -> None:
    e = subparsers.add_parser("experiment", help="run one of the exposure lab's experiments (engine/experiments/)")
    e.add_argument("name", choices=NAMES)
    e.add_argument("--quick", action="store_true", help="a reduced size (seconds, for tests)")
    e.add_argument("--seed", type=int_arg(0, MAX_SEED), default=0)
    e.add_argument("--threads", type=int_arg(0, MAX_THREADS, " (0 = torch's default)"), default=2,
                   help="torch threads (0 = torch's default; default 2)")
    e.add_argument("--out", type=file_arg, help="save the result JSON here")


def run(args) -> int:
    import torch

    from .registry import run_experiment
    from .store import save_result
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run_experiment(args.name, quick=args.quick, seed=args.seed)
    if args.out:
        save_result(res, args.out)
    print(f"{res['title']}\n{res['caption']}\n=> {res['verdict']}  ({res['seconds']} s)")
    return 0
