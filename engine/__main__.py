"""Command line: `python -m engine {models,decode,tf-fr,train,exposure,experiment} ...`.

Every flag is checked before any work starts (engine/cli_args.py, the configs' own checks): bad input
exits with status 2 and one line naming the flag and what is allowed. Any other failure inside a
command is one line too ("python -m engine X: error: Type: message") with status 1; set
SEQSCOPE_DEBUG=1 to also print its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (control characters of the arguments shown escaped)
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
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


def _one_line(exc: BaseException) -> str:
    """The first line of an error's message, at most 500 characters."""
    lines = [x for x in str(exc).strip().splitlines() if x.strip()]
    return (lines[0] if lines else type(exc).__name__)[:500]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    prog = f"python -m engine {args.command}"
    debug = os.environ.get("SEQSCOPE_DEBUG", "") not in ("", "0")
    try:
        if args.command == "models":
            return _models(args)
        return _cli(args.command).run(args) or 0
    except (ValueError, OSError) as exc:        # bad input (a flag, a file, a limit): status 2
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - anything else: one line, status 1 (SEQSCOPE_DEBUG=1: traceback)
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {type(exc).__name__}: {_one_line(exc)}"
              + ("" if debug else " (SEQSCOPE_DEBUG=1 shows the traceback)"), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
