"""`python -m engine decode` and `python -m engine tf-fr`: every GenerationConfig field as a --flag
(generated from the table in fields.py: type, choices and help come from its row)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from ..cli_args import add_model_flags, file_arg, float_arg, int_arg, json_arg, json_object, text_arg
from .config import GenerationConfig, RecordOptions
from .fields import GENERATION_FIELDS, Field


def _early_stopping(v: str):
    low = v.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    if low == "never":
        return "never"
    raise argparse.ArgumentTypeError(f"{v!r} is not true, false or never")


# the argparse options of each kind of field (bool: a switch that sets true)
_KIND_OPTIONS = {
    "int": {"type": int}, "optint": {"type": int}, "float": {"type": float_arg}, "optfloat": {"type": float_arg},
    "bool": {"action": "store_true", "default": None}, "early_stopping": {"type": _early_stopping},
    "choice": {},
}


def flag(field: Field) -> str:
    return "--" + field.name.replace("_", "-")


def _flag_help(field: Field) -> str:
    text = f"{field.help}; {field.allowed()}" if field.kind != "bool" else field.help
    return text.replace("%", "%%")


def _force(v: str):
    step, sep, tok = v.partition("=")
    if not sep or not step.strip().isdigit() or not tok:
        raise argparse.ArgumentTypeError(f"{v!r} is not STEP=TOKEN (a step >= 0 and a token id or string, e.g. 3=7)")
    return int(step), tok


def _layers(v: str):
    if v == "all":
        return v
    parts = [x.strip() for x in v.split(",")]
    if not all(x.isdigit() for x in parts):
        raise argparse.ArgumentTypeError(f"{v!r} is not 'all' or decoder layer indices >= 0 like 0,2")
    return sorted({int(x) for x in parts})


def add_config_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation (Hugging Face names; docs/decoding.md)")
    for field in GENERATION_FIELDS:
        options = dict(_KIND_OPTIONS[field.kind])
        if field.kind == "choice":
            options["choices"] = list(field.choices)
        g.add_argument(flag(field), dest=field.name, help=_flag_help(field), **options)
    g.add_argument("--config-json", type=json_arg, help="a whole GenerationConfig as a JSON object (flags override "
                   "its fields)")
    p.add_argument("--force", type=_force, action="append", default=[], metavar="STEP=TOKEN",
                   help="inject TOKEN (id or string) at STEP, then continue freely (repeatable)")


def add_parsers(sub) -> None:
    d = sub.add_parser("decode", help="decode one input with any strategy and record every step")
    add_model_flags(d)
    d.add_argument("--input", required=True, help="the source (seq2seq) or the prompt (language model)")
    add_config_flags(d)
    d.add_argument("--forced-prefix", type=text_arg("the text forced as the first generated tokens (or leave the "
                   "flag out)"), help="text forced as the first generated tokens")
    r = d.add_argument_group("recording")
    r.add_argument("--record-top-k", type=int_arg(0, 1000), default=20,
                   help="size of the recorded top lists, 0 to 1000 (default 20)")
    r.add_argument("--record-layers", type=_layers, default="all",
                   help='"all" or comma-separated decoder layer indices')
    r.add_argument("--no-hidden", action="store_true", help="do not record hidden states")
    r.add_argument("--no-attention", action="store_true", help="do not record attention")
    r.add_argument("--no-record", action="store_true", help="record only tokens, probabilities and entropies")
    d.add_argument("--json", action="store_true", help="print the whole trace as JSON")
    d.add_argument("--out", type=file_arg, help="save the trace to this JSON file (atomic)")
    t = sub.add_parser("tf-fr", help="teacher forcing vs free running on one example")
    add_model_flags(t)
    t.add_argument("--input", required=True, help="the source (seq2seq) or the prompt (language model)")
    t.add_argument("--reference", required=True, help="the reference target / continuation")
    add_config_flags(t)
    t.add_argument("--json", action="store_true", help="print the comparison (rows, both traces) as JSON")
    t.add_argument("--out", type=file_arg, help="save the comparison to this JSON file (atomic)")


def config_from_args(args, default_max_new: Optional[int] = None) -> Optional[GenerationConfig]:
    """The GenerationConfig of --config-json and the flags (flags win); None when neither is given. A bad
    value is a one-line ValueError naming its flag (or --config-json)."""
    cj = args.config_json
    cj = json_object(cj, "--config-json") if isinstance(cj, str) else (cj or {})
    base = dict(cj)
    given = {}
    for f in GENERATION_FIELDS:
        v = getattr(args, f.name, None)
        if v is not None:
            base[f.name] = given[f.name] = v
    if not base and default_max_new is None:
        return None
    if default_max_new is not None and "max_new_tokens" not in base and not base:
        return None
    try:
        return GenerationConfig.from_dict(base)
    except ValueError as exc:
        name = str(exc).partition("=")[0]
        if name in given:
            where = flag(next(f for f in GENERATION_FIELDS if f.name == name))
        elif name in cj or (cj and not given):
            where = "--config-json"
        else:
            raise
        raise ValueError(f"argument {where}: {exc}") from None


def _record(args):
    if args.no_record:
        return RecordOptions.off()
    return RecordOptions(top_k=args.record_top_k, layers=args.record_layers, hidden_states=not args.no_hidden,
                         attention=not args.no_attention)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def run(args) -> int:
    try:
        return _run(args)
    except BrokenPipeError:          # e.g. `... --json | head`: the reader left, nothing to report
        sys.stdout = None
        return 0


def _run(args) -> int:
    from ..files import atomic_write_text
    from ..loader import load                    # "hf:NAME" (Hugging Face) or a seqscope checkpoint
    from .generate import generate
    from .tf_fr import compare_tf_fr
    cfg = config_from_args(args)                 # every flag checked before the model loads
    record = _record(args) if args.command == "decode" else None
    bundle = load(args.model, device=args.device, dtype=args.dtype, download=args.download)
    forced = {s: tok for s, tok in args.force} or None
    if forced:
        forced = {s: (int(t) if t.strip().isdigit() and t not in _token_strings(bundle) else t)
                  for s, t in forced.items()}
    if args.command == "decode":
        trace = generate(bundle, args.input, cfg or GenerationConfig(), record=record, forced_prefix=args.forced_prefix,
                         forced_tokens=forced)
        if args.out:
            trace.save(args.out)
        if args.json:
            print(trace.to_json())
            return 0
        print(f"{bundle.name} | {trace.strategy} | {len(trace.steps)} steps | {trace.timing['total_s']:.3f} s"
              + (f" | seed {trace.seed}" if trace.seed is not None else ""))
        for w in trace.warnings:
            print(f"warning: {w}")
        for i, h in enumerate(trace.hypotheses):
            eu = f"  EU {h['expected_utility']:.4f}" if "expected_utility" in h else ""
            print(f"{i + 1}. {h['text']!r}  logp {_fmt(h['score'])}  norm {_fmt(h['normalized_score'])}{eu}")
        if trace.beam:
            st = {}
            for n in trace.beam["nodes"][1:]:
                st[n["status"]] = st.get(n["status"], 0) + 1
            print("beam graph: " + ", ".join(f"{v} {k}" for k, v in sorted(st.items())))
        if args.out:
            print(f"saved {args.out}")
        return 0
    cmp_ = compare_tf_fr(bundle, args.input, args.reference, cfg, forced_tokens=forced)
    if args.out:
        atomic_write_text(args.out, json.dumps(cmp_.to_dict(), ensure_ascii=False, allow_nan=False))
    if args.json:
        print(json.dumps(cmp_.to_dict(), ensure_ascii=False, allow_nan=False))
        return 0
    print(f"{bundle.name} | reference {cmp_.tf.hypotheses[0]['text']!r} | free run {cmp_.fr.hypotheses[0]['text']!r}"
          f" | first divergence: {cmp_.first_divergence}")
    print(f"{'t':>3} {'ref':>10} {'fr':>10} {'tf_logp':>9} {'fr_logp':>9} {'KL':>9} {'|h_fr-h_tf|':>11} on_track")
    for r in cmp_.rows:
        print(f"{r['t']:>3} {r['ref_token']!r:>10} {str(r['fr_token'] and repr(r['fr_token'])):>10} "
              f"{_fmt(r['tf_logprob']):>9} {_fmt(r['fr_logprob']):>9} {_fmt(r['kl']):>9} "
              f"{_fmt(r['hidden_dist']):>11} {r['on_track']}")
    return 0


def _token_strings(bundle) -> set:
    tok = bundle.tokenizer
    return {tok.token_str(i) for i in range(tok.vocab_size)}
