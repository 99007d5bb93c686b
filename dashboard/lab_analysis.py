"""The exposure lab's dataset analysis, apart from its page: the analysis of a model at (n, seed, t0)
(precomputed for the shipped models, else engine.analyze, cached), the chart sections the page draws,
and a lab view's charts from its URL state (what a deck's offline export shows for a lab view)."""
from __future__ import annotations

import streamlit as st

import engine
from dashboard import charts, runs
from dashboard.charts.exposure import acc_err_figure, oracle_reliability

SHIPPED = engine.ANALYSIS_SETTINGS          # n, seed, t0 of the precomputed analyses (results/analysis/)
PAIRS = {"addition-gru": "addition-gru-ss", "hmm-gpt": "hmm-gpt-ss"}
# the dataset analysis, one section per row: (chart name, subheader, figure of (model, result), caption)
SECTIONS = [
    ("per-position", "Per position: teacher forcing vs free running", lambda m, r: charts.per_position_figure(r, label=m),
     "Teacher forcing feeds the gold prefix; free running feeds the model's own greedy tokens. Error rates with "
     "Wilson 95% intervals, NLL with 95% bootstrap bands (resampled examples); n per position in the hover and the "
     "bottom panel; grey: fewer than 30 examples."),
    ("reliability", "Calibration", lambda m, r: charts.reliability_figure(r["calibration"], label=m), ""),
    ("recovery", "Recovery after an injected wrong token",
     lambda m, r: charts.exposure_recovery_figure(r["recovery"], label=m), ""),
    ("compounding", "The compounding model", lambda m, r: charts.compounding_figure(r["compounding"], label=m),
     "c: NLL per step on the gold path, d: NLL per step once off it, e: probability of leaving the path per step "
     "(all measured). Predicted ΔNLL(T) = (d − c)·Σ_{t=1..T}[1 − (1 − e)^(t−1)] against the measured "
     "Σ_{t≤T} (NLL_FR − NLL_TF)."),
]
DRIFT = ("drift", "Hidden-state drift", lambda m, r: charts.drift_figure(r["drift"], label=m), "")
ORACLE = [  # the oracle language: exposure bias against the oracle (engine/exposure/oracle_exposure.py)
    ("oracle", "KL to the oracle on data vs own prefixes", lambda m, r: charts.oracle_figure(r["oracle"], label=m), ""),
    ("accerr", "AccErr and %ExAccErr against the length", lambda m, r: acc_err_figure(r["oracle"], label=m),
     "Arora et al. (2022): AccErr(l) = Σ_{t≤l} KL on the model's own prefixes − Σ_{t≤l} KL on data prefixes; "
     "%ExAccErr(l) = 100·AccErr(l) / Σ_{t≤l} KL on data prefixes. Grey: each sampling seed; band: 95% t interval "
     "over the seeds."),
    ("oracle-reliability", "Calibration against the oracle",
     lambda m, r: charts.reliability_figure(oracle_reliability(r["oracle_calibration"]), y_title="oracle "
                                            "probability of the chosen token", title=f"{m}: calibration against the oracle"),
     "Confidence of the chosen token against the oracle's probability of that token after the same prefix "
     "(teacher forcing: the gold prefix; free running: the model's own greedy prefix)."),
]


@st.cache_data(show_spinner=False, max_entries=16)
def _shipped(model: str, n: int, seed: int, t0: int, stamp: tuple) -> dict | None:
    """A precomputed analysis of a shipped model (results/analysis/, valid for its checkpoint's hash)."""
    return engine.shipped_analysis(model, n, seed, t0)


def analysis(model: str, n: int, seed: int, t0: int) -> dict:
    """The precomputed analysis when it answers these settings for the checkpoint in the tree, else
    engine.analyze (cached in dashboard/runs.py)."""
    stamp = engine.shipped_analysis_stamp(model)
    res = _shipped(model, n, seed, t0, stamp) if stamp else None
    return res if res is not None else runs.analysis(model, n, seed, t0)


DEFAULT_MODELS = ("addition-gru", "addition-gru-ss")
DEFAULT_T0, DEFAULT_SEED = 1, 0          # the page's boxes start here


def sections_for(results: dict) -> list:
    """The chart sections of these results: the oracle measures first for models of the oracle language."""
    return ORACLE + [DRIFT] if all("oracle" in r for r in results.values()) else SECTIONS + [DRIFT]


def _one(params: dict, key: str, default):
    v = params.get(key, default)
    return v[-1] if isinstance(v, list) else v


def view_figures(params: dict) -> tuple[str, list]:
    """A lab view (its URL parameters, as a deck stores them) as (summary, [(name, Plotly figure)]):
    the dataset analysis' charts of its models (through the figure cache, as the page draws them: the server's
    warm-up builds the shipped pairs' here), or the chosen experiment's charts (its shipped result, else the
    newest saved run)."""
    from dashboard import lab_experiments
    from dashboard.url_checks import LAB_VIEWS
    if _one(params, "lab_view", LAB_VIEWS[0]) == LAB_VIEWS[1]:
        name = _one(params, "lab_exp", next(iter(engine.EXPERIMENTS)))
        paths = runs.experiment_store().paths(name)
        if not paths:
            raise ValueError(f"no saved result for the experiment {name}")
        src, path = next(iter(paths.items()))
        res = runs.read_result(path)
        return (f"experiment {name} ({src} result) · outcome: {lab_experiments.outcome_of(res)}",
                [(f"{name}-{i}", f) for i, f in enumerate(charts.experiment_figures(res))])
    names = runs.model_names()
    models = params.get("lab_models") or [m for m in DEFAULT_MODELS if m in names] or names[:1]
    models = [models] if isinstance(models, str) else list(models)
    n, t0 = int(_one(params, "lab_n", SHIPPED["n"])), int(_one(params, "lab_t0", DEFAULT_T0))
    seed = int(_one(params, "lab_seed", DEFAULT_SEED))
    results = {m: analysis(m, n, seed, t0) for m in models}
    figs = [(f"{name}-{m}", runs.figure(name, figure, m, r, wide=len(results) == 1))  # as views/lab.py: built once
            for name, _, figure, _ in sections_for(results) for m, r in results.items()]
    return f"exposure lab: {' vs '.join(models)} · n = {n}, seed {seed}, t0 = {t0}", figs
