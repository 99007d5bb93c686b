"""`python -m engine exposure --model M [--n N] [--seed S] [--t0 T] [--bootstrap B] [--json] [--out FILE]`."""
from __future__ import annotations

import json
from pathlib import Path


def add_parsers(subparsers) -> None:
    x = subparsers.add_parser("exposure", help="exposure bias on a dataset: TF vs FR, calibration, recovery, drift")
    x.add_argument("--model", required=True, help="shipped model name or checkpoint folder")
    x.add_argument("--n", type=int, default=1000, help="held-out examples (default 1000)")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--t0", type=int, default=1, help="step of the injected wrong token (recovery)")
    x.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the bands")
    x.add_argument("--threads", type=int, default=1)
    x.add_argument("--json", action="store_true", help="print JSON (default: a summary)")
    x.add_argument("--out", help="also save the JSON to this file")


def run(args) -> int:
    import torch

    from ..files import atomic_write_text
    from .analyze import analyze, summary_lines
    if args.n < 1 or args.n > 20000:
        raise ValueError(f"--n must be between 1 and 20000, got {args.n}")
    if args.t0 < 0:
        raise ValueError(f"--t0 must be >= 0, got {args.t0}")
    torch.set_num_threads(max(1, args.threads))
    res = analyze(args.model, n=args.n, seed=args.seed, t0=args.t0, n_boot=args.bootstrap)
    text = json.dumps(res, indent=1)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")
    print(text if args.json else "\n".join(summary_lines(res)))
    return 0
