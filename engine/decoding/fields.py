"""The ONE table of generation parameters: `GENERATION_FIELDS`, one `Field` per `GenerationConfig` field.

A row says everything about a parameter: its kind, default, allowed values, help, the strategies it
acts in, its Hugging Face name, and for a decoding rule the function in rules.py, its stage
("processor": every strategy; "warper": only when sampling) and its place in the order. The table
drives `GenerationConfig` (fields, defaults, per-field validation), the rule pipeline
(`rules.apply_rules`), the `--flags` of `python -m engine decode`, the dashboard's custom-strategy
editor and the parameter table in docs/decoding.md (`python -m engine.decoding.fields --markdown`
prints it; `--update-docs` rewrites it in place). Checks that involve several fields stay in
config.py. Adding a rule = one function in rules.py + one row here.
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from ..limits import MAX_BEAMS, MAX_DECODE_SEED, MAX_MBR_SAMPLES, MAX_NEW_TOKENS
from . import rules as R

STRATEGIES = ("greedy", "sample", "beam", "diverse_beam", "mbr")
SAMPLING = ("sample", "mbr")                  # mbr: its candidates are samples (mbr_source="samples")
BEAM = ("beam", "diverse_beam")
KINDS = ("int", "float", "bool", "optint", "optfloat", "choice", "early_stopping")
STAGES = ("processor", "warper")

_ANNOTATIONS = {"int": int, "float": float, "bool": bool, "optint": Optional[int], "optfloat": Optional[float],
                "choice": str, "early_stopping": Union[bool, str]}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v  # rejects NaN


def _show(v: Any) -> str:
    """A value as JSON spells it (true, null, "never"): what a config file or the CLI takes."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return f'"{v}"' if isinstance(v, str) else repr(v)


def _one_of(values) -> str:
    shown = [_show(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


@dataclass(frozen=True)
class Field:
    """One generation parameter. `lo`/`hi`: bounds (None: none; a float must be finite anyway),
    `lo_open`/`hi_open`: the bound itself is refused. `note`: appended to the allowed range in
    messages (e.g. "(1.0 = off)"); `none`: what null/None means for an optional kind. `off`: values
    with which the rule changes nothing (default: the default). `hf_default`: Hugging Face's default
    when it differs from ours; `hf_name` None: a seqscope extra."""
    name: str
    kind: str
    default: Any
    help: str
    lo: Optional[float] = None
    hi: Optional[float] = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple = ()
    note: str = ""
    none: str = "off"
    strategies: tuple = STRATEGIES
    hf_name: Optional[str] = None
    hf_default: Optional[str] = None
    rule: Optional[Callable] = None
    stage: Optional[str] = None
    order: int = 0
    off: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.stage is not None and (self.stage not in STAGES or self.rule is None):
            raise ValueError(f"field {self.name}: a stage ({', '.join(STAGES)}) needs a rule function")

    @property
    def annotation(self):
        return _ANNOTATIONS[self.kind]

    @property
    def optional(self) -> bool:
        return self.kind in ("optint", "optfloat")

    def is_off(self, value: Any) -> bool:
        """The rule of this field changes nothing with `value`."""
        return value in (self.off or (self.default,))

    def allowed(self) -> str:
        """What the field accepts, in words (the end of a validation message and the docs' column)."""
        if self.kind in ("bool", "choice", "early_stopping"):
            return _one_of((True, False) if self.kind == "bool" else self.choices)
        base = self.kind.removeprefix("opt")
        if base == "int":
            text = "an integer >= {}".format(_show(self.lo)) if self.hi is None else \
                f"an integer from {_show(self.lo)} to {_show(self.hi)}"
        elif self.lo is not None and self.hi is not None:
            text = (f"a number in {'(' if self.lo_open else '['}{_show(self.lo)}, "
                    f"{_show(self.hi)}{')' if self.hi_open else ']'}")
        elif self.lo is not None:
            text = f"a number {'>' if self.lo_open else '>='} {_show(self.lo)}"
        else:
            text = "a finite number"
        text = f"{text} {self.note}".rstrip()
        return f"null/None ({self.none}) or {text}" if self.optional else text

    def _in_range(self, v: Any) -> bool:
        if self.kind in ("bool", "choice", "early_stopping"):
            values = (True, False) if self.kind == "bool" else self.choices
            return any(type(v) is type(c) and v == c for c in values)   # 1 is not true, "1" not 1
        if self.optional and v is None:
            return True
        if self.kind.endswith("int"):
            if not _is_int(v):
                return False
        elif not _is_num(v) or math.isinf(v):
            return False
        lo_ok = self.lo is None or (v > self.lo if self.lo_open else v >= self.lo)
        hi_ok = self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)
        return lo_ok and hi_ok

    def check(self, value: Any) -> None:
        """Raise a one-line ValueError naming the field, the value and what is allowed."""
        if not self._in_range(value):
            raise ValueError(f"{self.name}={value!r} is not allowed: {self.allowed()}")


GENERATION_FIELDS: tuple[Field, ...] = (
    Field("max_new_tokens", "int", 32, "tokens to generate at most; capped by the model's length limit, "
          "with a warning in the trace", lo=1, hi=MAX_NEW_TOKENS, hf_name="max_new_tokens",
          hf_default="max_length=20"),
    Field("min_new_tokens", "int", 0, "<eos> is impossible before this many tokens; at most max_new_tokens",
          lo=0, hi=MAX_NEW_TOKENS, hf_name="min_new_tokens",
          rule=R.min_new_tokens, stage="processor", order=40),
    Field("do_sample", "bool", False, "sample instead of taking the argmax; the sampling rules (warpers) "
          "act only then, and for MBR's samples", strategies=SAMPLING, hf_name="do_sample"),
    Field("temperature", "float", 1.0, "divide the logits by T before the softmax; 1e-4 is practically greedy, "
          "1e4 practically uniform", lo=1e-4, hi=10_000,
          note="(1.0 = unchanged; beyond, logits / T leave float32's range: inf, then NaN)", strategies=SAMPLING,
          hf_name="temperature", rule=R.temperature, stage="warper", order=50),
    Field("top_k", "optint", None, "keep the k most probable tokens and every token tied with the k-th",
          lo=0, note="(0 = off)", strategies=SAMPLING, hf_name="top_k", hf_default="50",
          rule=R.top_k, stage="warper", order=60, off=(None, 0)),
    Field("top_p", "float", 1.0, "nucleus: keep the smallest set of best tokens whose probability reaches p",
          lo=0, hi=1, lo_open=True, note="(1.0 = off)", strategies=SAMPLING, hf_name="top_p",
          rule=R.top_p, stage="warper", order=70),
    Field("min_p", "optfloat", None, "drop tokens whose probability is below min_p x the top probability",
          lo=0, hi=1, strategies=SAMPLING, hf_name="min_p", rule=R.min_p, stage="warper", order=80),
    Field("typical_p", "float", 1.0, "locally typical sampling (Meister et al.): keep the tokens whose surprisal "
          "is closest to the entropy until their probability reaches typical_p", lo=0, hi=1, lo_open=True,
          note="(1.0 = off)", strategies=SAMPLING, hf_name="typical_p", rule=R.typical_p, stage="warper", order=90),
    Field("epsilon_cutoff", "float", 0.0, "drop tokens with probability below epsilon (Hewitt et al. 2022)",
          lo=0, hi=1, hi_open=True, note="(0 = off)", strategies=SAMPLING, hf_name="epsilon_cutoff",
          rule=R.epsilon_cutoff, stage="warper", order=100),
    Field("eta_cutoff", "float", 0.0, "eta sampling (Hewitt et al. 2022): drop tokens with probability below "
          "min(eta, sqrt(eta) * exp(-entropy)); the paper suggests 3e-4 to 4e-3", lo=0, hi=1, hi_open=True,
          note="(0 = off)", strategies=SAMPLING, hf_name="eta_cutoff", rule=R.eta_cutoff, stage="warper", order=110),
    Field("repetition_penalty", "float", 1.0, "HF's multiplicative penalty on tokens already in the context: "
          "a seen token's score s becomes s * p if s < 0, else s / p; Hugging Face users take 1.0 to 2.0",
          lo=1e-3, hi=1000, note="(1.0 = off, > 1 penalises repeats; beyond, s * p or s / p can leave float32's range)",
          hf_name="repetition_penalty",
          rule=R.repetition_penalty, stage="processor", order=10),
    Field("no_repeat_ngram_size", "int", 0, "forbid any n-gram of this size that is already in the context",
          lo=0, hi=64, hf_name="no_repeat_ngram_size", rule=R.no_repeat_ngram, stage="processor", order=30),
    Field("num_beams", "int", 1, "beam width (1: no beam search)", lo=1, hi=MAX_BEAMS, strategies=BEAM,
          hf_name="num_beams"),
    Field("num_beam_groups", "int", 1, "diverse beam search: groups decoded in turn; must divide num_beams",
          lo=1, hi=MAX_BEAMS, strategies=("diverse_beam",), hf_name="num_beam_groups"),
    Field("diversity_penalty", "float", 0.0, "diverse beam search: a group's scores drop by this x how often "
          "the earlier groups chose the token at this step; needs num_beam_groups > 1", lo=0, hi=10_000,
          note="(0 = off; 1e4 already removes a token, more would overflow float32)", strategies=("diverse_beam",),
          hf_name="diversity_penalty", rule=R.hamming_diversity),
    Field("length_penalty", "float", 1.0, "a finished hypothesis scores sum log p / length ** length_penalty; "
          "Hugging Face users take about -2 to 2", lo=-10, hi=10,
          note="(1.0 = divide by length; beyond ±10, length ** length_penalty overflows or underflows)",
          strategies=BEAM + ("mbr",), hf_name="length_penalty"),
    Field("early_stopping", "early_stopping", False, "when a beam group stops: true as soon as num_beams "
          "hypotheses are finished; false when the best live beam cannot beat the worst finished one at its "
          "current length; never: at the longest length (HF's BeamHypotheses.is_done)",
          choices=(True, False, "never"), strategies=BEAM + ("mbr",), hf_name="early_stopping"),
    Field("num_return_sequences", "int", 1, "hypotheses returned: greedy 1; beam at most num_beams; sampling "
          "that many samples; MBR at most mbr_num_samples", lo=1, hi=MAX_MBR_SAMPLES,
          hf_name="num_return_sequences"),
    Field("seed", "optint", None, "seed of the sampling generator (same seed, same trace)", lo=0, hi=MAX_DECODE_SEED,
          none="random, recorded in the trace", strategies=SAMPLING),
    Field("additive_repetition_penalty", "float", 0.0, "seqscope: log p - lambda * 1[token in the context], "
          "on log-probabilities (the sources' form)", lo=0, hi=10_000,
          note="(0 = off; 1e4 already removes a seen token, more would overflow float32: inf x 0 = NaN)",
          rule=R.additive_repetition_penalty, stage="processor", order=20),
    Field("mbr", "bool", False, "seqscope: minimum Bayes risk decoding (rank candidates by expected utility)",
          strategies=("mbr",)),
    Field("mbr_num_samples", "int", 16, "MBR candidates, also the pseudo-references", lo=2, hi=MAX_MBR_SAMPLES,
          strategies=("mbr",)),
    Field("mbr_source", "choice", "samples", "where the MBR candidates come from: ancestral samples or the "
          "n-best list of a beam search of width mbr_num_samples", choices=("samples", "nbest"),
          strategies=("mbr",)),
    Field("mbr_utility", "choice", "chrf", "the MBR utility: sacrebleu sentence chrF or BLEU",
          choices=("chrf", "bleu"), strategies=("mbr",)),
)

FIELDS_BY_NAME = {f.name: f for f in GENERATION_FIELDS}
_RULES = tuple(sorted((f for f in GENERATION_FIELDS if f.stage), key=lambda f: f.order))
_RULES_BY_WARP = {False: tuple(f for f in _RULES if f.stage == "processor"), True: _RULES}


def rule_fields(warp: bool) -> tuple[Field, ...]:
    """The rule rows `apply_rules` runs, in order: the processors, and the warpers too when `warp`."""
    return _RULES_BY_WARP[bool(warp)]


def warper_names() -> list[str]:
    """Fields whose rule acts only when sampling (a run that does not sample warns when they are set)."""
    return [f.name for f in _RULES if f.stage == "warper"]


# -- the docs table -----------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "decoding.md"
START, END = "<!-- fields:start -->", "<!-- fields:end -->"


def _cell(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _rule_cell(f: Field) -> str:
    if f.rule is None:
        return ""
    if f.stage is None:
        return f"`{f.rule.__name__}` (by the strategy)"
    return f"`{f.rule.__name__}` ({f.stage} {_RULES.index(f) + 1})"


def markdown_table() -> str:
    """The parameter table of docs/decoding.md, generated from GENERATION_FIELDS."""
    rows = ["| parameter | default | allowed | acts in | rule (stage, place) | Hugging Face | what it does |",
            "|---|---|---|---|---|---|---|"]
    for f in GENERATION_FIELDS:
        strategies = "all" if f.strategies == STRATEGIES else ", ".join(f.strategies)
        hf = "— (seqscope)" if f.hf_name is None else \
            f"`{f.hf_name}`" + (f", default {f.hf_default}" if f.hf_default else "")
        rows.append(f"| `{f.name}` | `{_show(f.default)}` | {_cell(f.allowed())} | {strategies} | "
                    f"{_rule_cell(f)} | {hf} | {_cell(f.help)} |")
    return "\n".join(rows)


def docs_with_table(text: str) -> str:
    """`text` (docs/decoding.md) with the generated table between the markers."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"docs/decoding.md has no {START} ... {END} markers")
    return pattern.sub(lambda _: f"{START}\n{markdown_table()}\n{END}", text, count=1)


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        print(markdown_table())
        return 0
    if argv == ["--update-docs"]:
        DOCS.write_text(docs_with_table(DOCS.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"updated {DOCS}")
        return 0
    print("usage: python -m engine.decoding.fields --markdown | --update-docs", file=sys.stderr)
    return 2


if __name__ == "__main__":
    from engine.decoding import fields as _fields      # the package's copy (this file also runs as __main__)
    sys.exit(_fields.main(sys.argv[1:]))
