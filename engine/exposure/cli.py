"""`python -m engine exposure --model M [--device D] [--dtype T] [--download] [--data FILE] [--n N] [--seed S] [--t0 T] [--bootstrap B]
[--oracle-seeds K] [--json] [--out FILE [--if-stale]]`.

--data FILE: the analysis on your own pairs instead of the model's task (a JSONL or CSV file of
source/reference or prompt/continuation pairs: engine/exposure/user_data.py), for any model engine.load
opens, `hf:FOLDER` included; --n then takes the first N pairs (default: all). The file is read and every
row checked before the model loads; every row is tokenised and checked against the model before the
analysis starts.

--device, --dtype, --download: where the model runs and in what precision, as for `decode` (one definition:
engine/cli_args.py add_model_flags). bfloat16 / float16 weights are for hf: models; the log-probabilities
and every figure are computed in float32 whatever the weights' precision (engine/exposure/passes.py).

Every flag is checked before the analysis starts (ranges from engine/limits.py); --t0 against the
outputs of the examples, once the model and its n examples are loaded. `--model hmm-oracle` analyses the
oracle of the `hmm` task itself (engine.exposure.oracle_bundle: its exposure bias is exactly 0). The
saved JSON carries the checkpoint's hash (engine/exposure/shipped.py), so a precomputed analysis of a
shipped model (results/analysis/M.json) is known to be stale once the checkpoint changes; with
--if-stale the command does nothing when --out already holds these settings for this checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

from ..cli_args import add_model_flags, file_arg, int_arg, text_arg
from ..limits import MAX_BOOTSTRAP, MAX_EXPERIMENT_SEEDS, MAX_EXPOSURE_EXAMPLES, MAX_SEED, MAX_THREADS
from ..stats import N_BOOT

ORACLE_MODEL = "hmm-oracle"          # --model: the oracle of the hmm task itself
DEFAULT_N = 1000                     # --n without --data


def add_parsers(subparsers) -> None:
    x = subparsers.add_parser("exposure", help="exposure bias on a dataset: TF vs FR, calibration, recovery, drift")
    add_model_flags(x)                           # --model, --device, --dtype, --download
    x.add_argument("--data", type=text_arg("a JSONL or CSV file of source/reference or prompt/continuation pairs"),
                   help="your own data: a JSONL or CSV file of source/reference (or prompt/continuation) pairs")
    x.add_argument("--n", type=int_arg(1, MAX_EXPOSURE_EXAMPLES, " (MAX_EXPOSURE_EXAMPLES in engine/limits.py)"),
                   help=f"held-out examples, 1 to {MAX_EXPOSURE_EXAMPLES} (default 1000; with --data the first N "
                   "pairs, default all)")
    x.add_argument("--seed", type=int_arg(0, MAX_SEED), default=0)
    x.add_argument("--t0", type=int_arg(0), default=1,
                   help="step of the injected wrong token (recovery); at most the last step of the outputs")
    x.add_argument("--bootstrap", type=int_arg(1, MAX_BOOTSTRAP, " (MAX_BOOTSTRAP in engine/limits.py)"), default=N_BOOT,
                   help=f"bootstrap resamples for the bands, 1 to {MAX_BOOTSTRAP} (default {N_BOOT})")
    x.add_argument("--oracle-seeds", type=int_arg(1, MAX_EXPERIMENT_SEEDS, " (MAX_EXPERIMENT_SEEDS in engine/limits.py)"),
                   default=5, help="hmm models: sampling seeds of the oracle measures (0..K-1; default 5)")
    x.add_argument("--threads", type=int_arg(0, MAX_THREADS, " (0 = torch's default)"), default=1,
                   help="torch threads (0 = torch's default; default 1)")
    x.add_argument("--json", action="store_true", help="print JSON (default: a summary)")
    x.add_argument("--out", type=file_arg, help="also save the JSON to this file")
    x.add_argument("--if-stale", action="store_true",
                   help="with --out: do nothing if the file already holds these settings for this checkpoint")


def last_t0(inp) -> int:
    """The last step recovery can inject at: an example's output must go on after the injected token
    (engine/exposure/recovery.py keeps the examples with a gold token after decoder position prompt-1+t0)."""
    from ..tokenizer import PAD
    return int((inp.tout != PAD).sum(1).max()) - inp.prompt - 1


def where(args) -> dict:
    """engine.load's keywords from --device, --dtype, --download."""
    return {"device": args.device, "dtype": args.dtype, "download": args.download}


def precision(bundle) -> dict:
    """Where the analysed model ran: its device and weights' dtype (seqscope models: float32)."""
    from ..rollout import model_device
    hf = bundle.config.get("hf") or {}
    return {"device": str(hf.get("device") or model_device(bundle.model)), "dtype": hf.get("dtype", "float32")}


def run(args) -> int:
    import torch

    from ..files import atomic_write_text
    from ..loader import load
    from .analyze import analyze, summary_lines
    from .oracle import oracle_bundle
    from .passes import make_inputs
    from .shipped import checkpoint_hash, read_result, up_to_date
    if args.data:
        return run_data(args)
    args.n = args.n or DEFAULT_N
    if args.model == ORACLE_MODEL and (args.device != "cpu" or args.dtype not in (None, "float32")):
        raise ValueError(f"argument --model: {ORACLE_MODEL} is computed on the cpu, in float64 "
                         "(no --device / --dtype)")
    bundle = oracle_bundle() if args.model == ORACLE_MODEL else load(args.model, **where(args))
    if bundle.config.get("task") == "hf":
        raise ValueError(f"{bundle.name} has no task of its own to take examples from: give --data FILE (a JSONL "
                         "or CSV file of source/reference or prompt/continuation pairs)")
    if args.if_stale and args.out and up_to_date(read_result(Path(args.out)), bundle.path, args.n, args.seed, args.t0):
        print(f"{args.out}: up to date for this checkpoint (n={args.n}, seed={args.seed}, t0={args.t0})")
        return 0
    last = max(1, last_t0(make_inputs(bundle, args.n, seed=args.seed)))      # the default (1) is always allowed
    if args.t0 > last:
        examples = f"{args.n} example{'s' if args.n > 1 else ''}"
        raise ValueError(f"argument --t0: {args.t0} is beyond the outputs: the {examples} of {bundle.name} "
                         f"allow 0 to {last}")
    if args.threads:
        torch.set_num_threads(args.threads)
    res = analyze(args.model, n=args.n, seed=args.seed, t0=args.t0, n_boot=args.bootstrap, bundle=bundle,
                  oracle_seeds=tuple(range(args.oracle_seeds)))
    res["examples_requested"] = args.n
    res.update(precision(bundle))
    res["checkpoint_sha256"] = checkpoint_hash(bundle.path) if bundle.path else None
    text = json.dumps(res, indent=1)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")
    print(text if args.json else "\n".join(summary_lines(res)))
    return 0


def run_data(args) -> int:
    """--data FILE: the analysis on the user's own pairs (engine/exposure/user_data.py)."""
    import torch

    from ..files import atomic_write_text
    from ..loader import load
    from .analyze import summary_lines
    from .user_data import analyze_data, read_data, user_inputs
    if args.if_stale:
        raise ValueError("argument --if-stale: not with --data (it compares a shipped model's precomputed analysis)")
    if args.model == ORACLE_MODEL:
        raise ValueError(f"argument --model: {ORACLE_MODEL} analyses its own language only (no --data)")
    data = read_data(args.data)                  # every row checked before the model loads
    if args.n and args.n > len(data.pairs):
        raise ValueError(f"argument --n: {args.n} is more than the {len(data.pairs)} pairs of {data.name}")
    bundle = load(args.model, **where(args))
    inputs = user_inputs(bundle, data, args.n)   # every row tokenised and checked against the model
    if args.threads:
        torch.set_num_threads(args.threads)
    res = analyze_data(bundle, data, args.n, seed=args.seed, t0=args.t0, n_boot=args.bootstrap, inputs=inputs)
    res["examples_requested"] = args.n or len(data.pairs)
    res.update(precision(bundle))
    text = json.dumps(res, indent=1)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")
    if args.json:
        print(text)
    else:
        print("\n".join(summary_lines(res)))
        d = res["data"]
        print(f"  data: {d['file']} ({d['format']}, {'/'.join(d['columns'])}), {d['analysed']} of {d['rows']} pairs")
        for w in d["warnings"]:
            print(f"  warning: {w}")
    return 0
