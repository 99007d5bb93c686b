"""Command line: `python -m engine {models,train} ...`. Bad input exits with status 2 and one line."""
from __future__ import annotations

import argparse
import json
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description="seqscope engine")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    m = sub.add_parser("models", help="list the shipped models")
    m.add_argument("--json", action="store_true", help="print JSON")
    from .decoding.cli import add_parsers as add_decoding_parsers
    add_decoding_parsers(sub)  # decode, tf-fr
    t = sub.add_parser("train", help="train a model (see engine/recipes.py)")
    t.add_argument("--recipe", help="a shipped model's recipe, e.g. dates-gru-attn")
    t.add_argument("--name")
    t.add_argument("--task", choices=["dates", "addition", "text", "hmm"])
    t.add_argument("--arch", choices=["gru-attn", "gru-noattn", "transformer", "gpt"])
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
    t.add_argument("--ss-schedule", choices=["none", "constant", "linear", "exponential", "inverse_sigmoid"],
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
    x = sub.add_parser("exposure", help="exposure bias on a dataset: TF vs FR, calibration, recovery, drift")
    x.add_argument("--model", required=True, help="shipped model name or checkpoint folder")
    x.add_argument("--n", type=int, default=1000, help="held-out examples (default 1000)")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--t0", type=int, default=1, help="step of the injected wrong token (recovery)")
    x.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the bands")
    x.add_argument("--threads", type=int, default=1)
    x.add_argument("--json", action="store_true", help="print JSON (default: a summary)")
    x.add_argument("--out", help="also save the JSON to this file")
    e = sub.add_parser("experiment", help="run one of the exposure lab's experiments (engine/experiments.py)")
    e.add_argument("name", choices=["tf-vs-fr", "ss-schedules", "recovery", "beam-curse", "label-smoothing",
                                    "decoding", "tbptt", "bpe-vocab"])
    e.add_argument("--quick", action="store_true", help="a reduced size (seconds, for tests)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--out", help="save the result JSON here")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "models":
            from .checkpoint import list_models
            rows = list_models()
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for r in rows:
                    main_metric = next((f"{k}={v}" for k, v in r["metrics"].items() if not isinstance(v, (dict, str))), "")
                    print(f"{r['name']:22} {r['task']:9} {r['arch']:12} {r['parameters'] or 0:>10,}  {main_metric}")
        elif args.command in ("decode", "tf-fr"):
            from .decoding.cli import run as run_decoding
            return run_decoding(args)
        elif args.command == "train":
            from .train import main_train
            main_train(args)
        elif args.command == "exposure":
            from .exposure import main_exposure
            main_exposure(args)
        elif args.command == "experiment":
            from .experiments import main_experiment
            main_experiment(args)
    except (ValueError, OSError) as exc:
        print(f"python -m engine {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
