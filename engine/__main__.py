"""Command line: `python -m engine {models,decode,tf-fr,train,exposure,experiment} ...`. Bad input exits with status 2 and one line."""
from __future__ import annotations

import argparse
import importlib
import json
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


# the subcommands: each package's cli module adds its parsers and runs them
_COMMANDS = {
    "decode": "engine.decoding.cli", "tf-fr": "engine.decoding.cli", "train": "engine.training.cli",
    "exposure": "engine.exposure.cli", "experiment": "engine.experiments.cli",
}


def _cli(command: str):
    return importlib.import_module(_COMMANDS[command])


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description="seqscope engine")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    m = sub.add_parser("models", help="list the shipped models")
    m.add_argument("--json", action="store_true", help="print JSON")
    for command in dict.fromkeys(_COMMANDS.values()):
        importlib.import_module(command).add_parsers(sub)
    return p


def _models(args) -> int:
    from .checkpoint import list_models
    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        main_metric = next((f"{k}={v}" for k, v in r["metrics"].items() if not isinstance(v, (dict, str))), "")
        print(f"{r['name']:22} {r['task']:9} {r['arch']:12} {r['parameters'] or 0:>10,}  {main_metric}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "models":
            return _models(args)
        return _cli(args.command).run(args) or 0
    except (ValueError, OSError) as exc:
        print(f"python -m engine {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
