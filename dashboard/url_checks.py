"""Every URL parameter the dashboard reads, checked before any work: its type, its range (the page's
widget, the limits of engine/limits.py) and its length. A link with a bad value is refused with one
line per parameter that names it, what is allowed and how to go further; the page does not run.

The ranges of the pages' widgets live here (the pages draw their widgets from them), so a link can
never ask for more than the page offers. Parameters the dashboard does not read are left alone, except
GenerationConfig fields given on their own (they would do nothing: custom A / custom B carry them).
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Optional

import engine
from dashboard import runs, url_state

# -- the pages' widget ranges ----------------------------------------------------------------------
BEAMS = (2, 8)                          # Beam tree: the beams slider
BEAM_GROUPS = (1, 2, 4, 8)              # Beam tree: diverse beam groups
LENGTH_PENALTY = (-2.0, 4.0)            # Beam tree: length penalty
BEAM_MAX_NEW = (1, 64)                  # Beam tree: max new tokens
LAB_N = [50, 100, 200, 500, 1000]       # Exposure lab: held-out examples
LAB_T0 = (0, 30)                        # Exposure lab: injection step
SEEDS = (0, 10_000)                     # Exposure lab: seeds
LAB_VIEWS = ["Dataset analysis", "Experiments"]
# The dataset analysis' sections, one tab each (views/lab.py; ?lab_section= holds the open one)
LAB_SECTIONS = {"per-position": "Per position", "reliability": "Calibration", "recovery": "Recovery",
                "compounding": "Compounding", "drift": "Drift", "oracle": "KL to oracle", "accerr": "AccErr",
                "oracle-reliability": "Oracle calibration"}       # short: one row at 1280x720 presenting
LAB_GOLD_TAB = "Sampled gold token"       # models of the oracle language: the gold-token statistics
TRAIN_SOURCES = ["recipe", "task + architecture"]
ATTENTION_KINDS = {"cross": "cross-attention (source × generated)", "self": "decoder self-attention"}
SPEEDS = ("0.5", "1", "2", "3")        # presenter: seconds per step while playing (Step inspector, Beam tree)
DEFAULT_SPEED = "1"
MAX_LABEL_CHARS = 300                   # a selectbox value in the URL (its shown label: may quote a hypothesis)
MAX_TOKEN_CHARS = 200                   # the typed wrong token of the TF-vs-FR page
STREAMLIT_PARAMS = ("embed", "embed_options")

_INT = re.compile(r"[+-]?\d{1,12}")
_TRACE_KEY = re.compile(r"[0-9a-f]{16}")


class BadParam(ValueError):
    """One parameter's problem (the message, without the parameter's name)."""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _int(value: str, lo: int, hi: int, more: str = "") -> int:
    if not _INT.fullmatch(value.strip()):
        raise BadParam(f"not an integer (allowed: {lo} to {hi:,})")
    n = int(value)
    if not lo <= n <= hi:
        raise BadParam(f"out of range: {lo} to {hi:,}{more}")
    return n


def int_param(lo: int, hi: int, more: str = "") -> Callable[[str], None]:
    return lambda v: _int(v, lo, hi, more)


def float_param(lo: float, hi: float, more: str = "") -> Callable[[str], None]:
    def check(v: str) -> None:
        try:
            x = float(v) if len(v) <= 32 else math.nan
        except ValueError:
            x = math.nan
        if not math.isfinite(x):
            raise BadParam(f"not a number (allowed: {lo:g} to {hi:g})")
        if not lo <= x <= hi:
            raise BadParam(f"out of range: {lo:g} to {hi:g}{more}")
    return check


def text_param(max_chars: int, limit: str) -> Callable[[str], None]:
    def check(v: str) -> None:
        if len(v) > max_chars:
            raise BadParam(f"{len(v):,} characters, over the limit of {max_chars:,} ({limit})")
    return check


def bool_param(v: str) -> None:
    if v.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise BadParam("not true or false")


def choice_param(options: Callable[[], list], labels: bool = False) -> Callable[[str], None]:
    """One of `options` (a selectbox also accepts an option's index; with labels=True, a shown label
    of bounded length, which Streamlit itself matches against the options)."""
    def check(v: str) -> None:
        opts = [str(o) for o in options()]
        if v in opts or (_INT.fullmatch(v) and 0 <= int(v) < len(opts)):
            return
        if labels and len(v) <= MAX_LABEL_CHARS:
            return
        listed = ", ".join(opts[:12]) + (", …" if len(opts) > 12 else "")
        raise BadParam(f"not one of: {listed}")
    return check


def _strategies(values: list[str]) -> None:
    if len(values) > 4:
        raise BadParam(f"{len(values)} strategies; at most 4 are compared")
    names = url_state.strategy_names()
    for v in values:
        if v not in names:
            raise BadParam(f"{_shown(v)} is not a strategy (choose from: {', '.join(names)})")


def _lab_models(values: list[str]) -> None:
    if len(values) > 2:
        raise BadParam(f"{len(values)} models; the lab compares one or two")
    names = runs.model_names()
    for v in values:
        if v not in names:
            raise BadParam(f"{_shown(v)} is not a model here (choose from: {', '.join(names)})")


def check_custom_json(v: str) -> None:
    """A custom strategy's JSON: within the size and nesting limits (its fields are checked by the
    engine when the strategy runs, its work against the budget)."""
    size = len(v.encode("utf-8", "surrogatepass"))
    if size > engine.MAX_CONFIG_BYTES:
        raise BadParam(f"{size:,} bytes, over the limit of {engine.MAX_CONFIG_BYTES:,} (MAX_CONFIG_BYTES in engine/limits.py)")
    depth = 0
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', "", v):
        depth += ch in "[{"
        depth -= ch in "]}"
        if depth > engine.MAX_JSON_DEPTH:
            raise BadParam(f"JSON nested deeper than {engine.MAX_JSON_DEPTH} levels (MAX_JSON_DEPTH in engine/limits.py)")


def _trace_key(v: str) -> None:
    if not _TRACE_KEY.fullmatch(v):
        raise BadParam("not the key of an uploaded trace (16 hexadecimal digits, from the Traces page)")


def _run_names() -> list[str]:
    return url_state.strategy_names() + [runs.UPLOADED]


def _head(v: str) -> None:
    """The attention head: "avg" or a head number (or their shown labels)."""
    n = v[5:] if v.startswith("head ") else v
    if v in ("avg", "average of heads") or (_INT.fullmatch(n) and 0 <= int(n) < 4096):
        return
    raise BadParam("not a head (avg, or a head number)")


def _inject(v: str) -> None:
    if v != "none":
        _int(v, 0, engine.MAX_NEW_TOKENS, " (none, or a reference position)")


def _input_limit(what: str) -> Callable[[str], None]:
    return text_param(engine.MAX_INPUT_CHARS, f"MAX_INPUT_CHARS in engine/limits.py; longer {what} from the "
                                              "command line: python -m engine decode --input …")


_STEPS = int_param(0, engine.MAX_NEW_TOKENS, " (MAX_NEW_TOKENS in engine/limits.py)")
_HYP = choice_param(lambda: range(engine.MAX_MBR_SAMPLES), labels=True)

# parameter -> (check of one value, many values allowed)
PARAMS: dict[str, tuple[Callable, bool]] = {
    # the sidebar (every page)
    "model": (choice_param(runs.model_names), False),
    "input": (_input_limit("inputs"), False),
    "s": (_strategies, True),
    "ca": (check_custom_json, False),
    "cb": (check_custom_json, False),
    "present": (bool_param, False),
    "fmt": (choice_param(lambda: ["png", "svg"]), False),
    "theme": (choice_param(lambda: url_state.THEMES), False),
    "trace": (_trace_key, False),
    "speed": (choice_param(lambda: SPEEDS), False),
    # step inspector, attention, traces
    "run": (choice_param(_run_names), False),
    "dl_run": (choice_param(_run_names), False),
    "hyp": (_HYP, False),
    "step": (_STEPS, False),
    "log": (bool_param, False),
    "kind": (choice_param(lambda: list(ATTENTION_KINDS) + list(ATTENTION_KINDS.values())), False),
    "layer": (int_param(0, engine.MAX_MODEL_LAYERS - 1), False),
    "head": (_head, False),
    "grid": (bool_param, False),
    "enc": (bool_param, False),
    # beam tree
    "beams": (int_param(*BEAMS, " beams on the Beam tree page; wider searches: num_beams in custom A/B on "
                                "the Compare page (within the dashboard's budget, DASHBOARD_MAX_WORK in "
                                "engine/limits.py) or python -m engine decode --num-beams N"), False),
    "groups": (choice_param(lambda: BEAM_GROUPS), False),
    "lp": (float_param(*LENGTH_PENALTY, " on the Beam tree page; others: length_penalty in custom A/B"), False),
    "maxlen": (int_param(*BEAM_MAX_NEW, " new tokens on the Beam tree page; longer: max_new_tokens in custom A/B "
                                        "or python -m engine decode --max-new-tokens N"), False),
    "early": (bool_param, False),
    "reveal": (_STEPS, False),
    "bhyp": (_HYP, False),
    "pruned": (bool_param, False),
    # teacher forcing vs free running
    "ref": (_input_limit("references"), False),
    "inject": (_inject, False),
    "wrong": (text_param(MAX_TOKEN_CHARS, "one token"), False),
    # exposure lab
    "lab_view": (choice_param(lambda: LAB_VIEWS), False),
    "lab_section": (choice_param(lambda: list(LAB_SECTIONS.values()) + [LAB_GOLD_TAB]), False),
    "lab_models": (_lab_models, True),
    "lab_n": (choice_param(lambda: LAB_N), False),
    "lab_t0": (int_param(*LAB_T0), False),
    "lab_seed": (int_param(*SEEDS), False),
    "lab_exp": (choice_param(lambda: list(engine.EXPERIMENTS)), False),
    # train
    "tr_source": (choice_param(lambda: TRAIN_SOURCES), False),
    "tr_recipe": (choice_param(lambda: list(engine.RECIPES)), False),
    "tr_task": (choice_param(lambda: list(engine.TASK_ARCHS)), False),
}


def problems(query: dict[str, list[str]]) -> list[str]:
    """One line per bad URL parameter (`query`: name -> its values, as st.query_params.to_dict()
    with every value listed); [] when the link is fine."""
    fields = {f.name for f in engine.GENERATION_FIELDS}
    out = []
    for name, values in query.items():
        if name in STREAMLIT_PARAMS:
            continue
        entry = PARAMS.get(name)
        if entry is None:
            if name in fields:
                out.append(f"URL parameter {name}: a GenerationConfig field does nothing on its own; put it in "
                           f"custom A or custom B (?ca={{\"{name}\": …}}), where the engine checks it and the "
                           "dashboard's budget applies")
            continue
        check, many = entry
        if not many and len(values) > 1:
            out.append(f"URL parameter {name}: given {len(values)} times; give it once")
            continue
        try:
            check(values) if many else check(values[0])
        except BadParam as e:
            shown = "" if many else f"={_shown(values[0])}"
            out.append(f"URL parameter {name}{shown}: {e}")
    return out


def query_lists(qp: Any) -> dict[str, list[str]]:
    """st.query_params as name -> every value given."""
    return {k: [str(v) for v in qp.get_all(k)] for k in qp.keys()}


def checked(qp: Any) -> Optional[list[str]]:
    """The problems of the current URL, or None when there are none."""
    return problems(query_lists(qp)) or None
