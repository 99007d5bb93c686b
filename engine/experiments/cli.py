"""`python -m engine experiment NAME [--quick] [--seed S] [--threads T] [--out FILE]`."""
from __future__ import annotations

# the registered experiments (engine.experiments.EXPERIMENTS; a test keeps the two lists equal),
# spelled out so that building the parser does not import torch
NAMES = ["tf-vs-fr", "ss-schedules", "recovery", "beam-curse", "label-smoothing", "decoding", "tbptt", "bpe-vocab"]


def add_parsers(subparsers) -> None:
    e = subparsers.add_parser("experiment", help="run one of the exposure lab's experiments (engine/experiments/)")
    e.add_argument("name", choices=NAMES)
    e.add_argument("--quick", action="store_true", help="a reduced size (seconds, for tests)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--out", help="save the result JSON here")


def run(args) -> int:
    import torch

    from .registry import run_experiment
    from .store import save_result
    torch.set_num_threads(max(1, args.threads))
    res = run_experiment(args.name, quick=args.quick, seed=args.seed)
    if args.out:
        save_result(res, args.out)
    print(f"{res['title']}\n{res['caption']}\n=> {res['verdict']}  ({res['seconds']} s)")
    return 0
