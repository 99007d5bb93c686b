"""Exposure lab: exposure bias measured on whole datasets (engine.analyze), one or two models side by
side, and the eight experiments of engine.EXPERIMENTS (shipped results rendered from
results/experiments/, new runs saved under runs/experiments/ by engine.ExperimentStore)."""
from __future__ import annotations

import json

import streamlit as st

from dashboard import charts, display, lab_experiments, runs, url_state
from dashboard.url_checks import LAB_N as N_CHOICES, LAB_T0, LAB_VIEWS as VIEWS, SEEDS

PAIRS = {"addition-gru": "addition-gru-ss", "hmm-gpt": "hmm-gpt-ss"}
# the dataset analysis, one section per row: (chart name, subheader, figure of (model, result), caption)
SECTIONS = [
    ("per-position", "Per position: teacher forcing vs free running",
     lambda m, r: charts.per_position_figure(r, title=f"{m}: per position ({r['examples']} examples)"),
     "Teacher forcing feeds the gold prefix; free running feeds the model's own greedy tokens. A free-running "
     "curve that climbs above the teacher-forced one is exposure bias at work."),
    ("reliability", "Calibration", lambda m, r: charts.reliability_figure(r["calibration"], label=m), ""),
    ("recovery", "Recovery after an injected wrong token",
     lambda m, r: charts.exposure_recovery_figure(r["recovery"], label=m), ""),
    ("compounding", "The compounding model", lambda m, r: charts.compounding_figure(r["compounding"], label=m),
     "c: NLL per step on the gold path, d: NLL per step once off it, e: probability of leaving the path per step "
     "(all measured). Predicted ΔNLL(T) = (d − c)·Σ_{t=1..T}[1 − (1 − e)^(t−1)] against the measured "
     "Σ_{t≤T} (NLL_FR − NLL_TF)."),
    ("drift", "Hidden-state drift", lambda m, r: charts.drift_figure(r["drift"], label=m), ""),
]
ORACLE_CAPTION = ("Arora et al. (2022): AccErr(l) = Σ_{t≤l} KL on the model's own prefixes − Σ_{t≤l} KL on data "
                  "prefixes; %ExAccErr(l) = 100·AccErr(l) / Σ_{t≤l} KL on data prefixes.")


def _side_by_side(results: dict, figure, name: str) -> None:
    for col, (m, r) in zip(st.columns(len(results)), results.items()):
        with col:
            display.plot(figure(m, r), f"{name}-{m}", key=f"{name}-{m}")


def _drift_lines(results: dict) -> None:
    for col, (m, r) in zip(st.columns(len(results)), results.items()):
        d = r["drift"]
        col.markdown(f"**{m}**: α = {charts.fmt(d.get('alpha'))} → *{d.get('regime')}*; steady gap predicted "
                     f"ε/(1 − α) = {charts.fmt(d.get('predicted_steady_gap'))}, measured "
                     f"{charts.fmt(d.get('measured_plateau'))}.")


def dataset_view() -> None:
    names = runs.model_names()
    c = st.columns([3, 1, 1, 1])
    models = c[0].multiselect("Models (one, or two side by side)", names, max_selections=2, key="lab_models",
                              default=[m for m in ("addition-gru", "addition-gru-ss") if m in names] or names[:1],
                              bind="query-params", help="e.g. addition-gru vs addition-gru-ss (scheduled sampling), "
                              "addition-gru vs addition-gru-ls (label smoothing), hmm-gpt vs hmm-gpt-ss; models "
                              "trained on the Train page are listed as runs/dashboard/NAME.")
    n = c[1].selectbox("Examples n", N_CHOICES, index=1, key="lab_n", bind="query-params",
                       help="Held-out examples of the model's task (the first n of the test split).")
    t0 = c[2].number_input("Injection step t0", min_value=LAB_T0[0], max_value=LAB_T0[1], value=1, step=1, key="lab_t0",
                           bind="query-params", help="Recovery: the model's best wrong token is forced here.")
    seed = c[3].number_input("Seed", min_value=SEEDS[0], max_value=SEEDS[1], value=0, step=1, key="lab_seed",
                             bind="query-params")
    if not models:
        st.info("Pick one model, or two to compare them side by side.")
        return
    if len(models) == 1 and PAIRS.get(models[0]) in names and not url_state.presenting():
        st.caption(f"Tip: add **{PAIRS[models[0]]}** to compare with its scheduled-sampling variant.")
    results = {}
    bar = st.progress(0.0, text="Analysing…")
    for i, m in enumerate(models):
        bar.progress(i / len(models), text=f"Analysing {m} on {n} examples (teacher forcing, free running, "
                                           f"recovery, bootstrap)…")
        results[m] = runs.analysis(m, int(n), int(seed), int(t0))
    bar.empty()
    tasks = {r["task"] for r in results.values()}
    if len(tasks) > 1:
        st.warning(f"The two models solve different tasks ({', '.join(sorted(tasks))}): the figures are side by "
                   "side, but the examples differ.")
    st.dataframe(charts.sequence_rows(results), hide_index=True, width="stretch")
    secs = ", ".join(f"{m} {r['seconds']} s" for m, r in results.items())
    st.caption(f"Analysis time: {secs} (cached afterwards). Exact match: greedy free running vs the reference; "
               "bands: 95% bootstrap over examples.")
    for name, title, figure, caption in SECTIONS:
        st.subheader(title)
        _side_by_side(results, figure, name)
        if caption and not url_state.presenting():
            st.caption(caption)
    _drift_lines(results)
    with_oracle = {m: r for m, r in results.items() if "oracle" in r}
    if with_oracle:
        st.subheader("Oracle language: exact KL on data vs own prefixes")
        _side_by_side(with_oracle, lambda m, r: charts.oracle_figure(r["oracle"], label=m), "oracle")
        if not url_state.presenting():
            st.caption(ORACLE_CAPTION)
    with st.expander("Samples (first 8 examples)"):
        for m, r in results.items():
            st.markdown(f"**{display.md(m)}**")
            st.dataframe(r.get("samples") or [], hide_index=True, width="stretch")
    st.download_button("Download the analysis (JSON)", json.dumps(results, indent=1),
                       file_name=f"exposure-{'-vs-'.join(models)}-n{n}.json", mime="application/json")


def main() -> None:
    if not url_state.presenting():
        st.title("Exposure lab")
        st.caption("Exposure bias on whole held-out sets: teacher forcing vs free running, calibration, recovery, "
                   "the compounding and drift models of the sources, and eight experiments. See docs/lab.md.")
    view = st.segmented_control("View", VIEWS, default=VIEWS[0], key="lab_view", bind="query-params",
                                label_visibility="collapsed") or VIEWS[0]
    if view == VIEWS[0]:
        dataset_view()
    else:
        lab_experiments.experiments_view()     # dashboard/lab_experiments.py (LAB-A)


display.guarded(main)
