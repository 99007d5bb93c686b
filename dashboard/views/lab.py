"""Exposure lab: exposure bias measured on whole datasets (engine.analyze), one or two models side by
side, and the eight experiments of engine.EXPERIMENTS (shipped results rendered from
results/experiments/, new runs saved under runs/experiments/ by engine.ExperimentStore)."""
from __future__ import annotations

import json
import time

import streamlit as st

import engine
from dashboard import charts, display, runs, url_state
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


def _status_line(res: dict) -> str:
    mark = {True: "agrees", False: "does not agree", None: "inconclusive"}[res.get("agrees")]
    size = "reduced size (--quick)" if res.get("quick") else "full size"
    return f"{mark} · {size}, seed {res.get('seed')}, {res.get('seconds')} s"


def run_experiment(name: str, quick: bool, seed: int) -> None:
    t = time.time()
    with st.status(f"Running {name}{' (quick)' if quick else ''}… (full size: up to a few minutes on a 2-core CPU)",
                   expanded=True) as status:
        st.write("Training / decoding / analysing in this server process; the page updates when it finishes.")
        path = runs.experiment_store().run(name, quick=quick, seed=seed)
        status.update(label=f"{name} finished in {time.time() - t:.0f} s; saved to {display.rel_path(path)}",
                      state="complete", expanded=False)


def experiments_view() -> None:
    store = runs.experiment_store()
    if not url_state.presenting():
        st.dataframe(store.overview(), hide_index=True, width="stretch",
                     column_config={"agrees": st.column_config.CheckboxColumn("agrees"),
                                    "verdict": st.column_config.TextColumn("verdict", width="large")})
    c = st.columns([3, 1, 1, 1])
    name = c[0].selectbox("Experiment", list(engine.EXPERIMENTS), key="lab_exp", bind="query-params",
                          help="The eight experiments of engine/experiments/, in the order of issue 5.")
    quick = c[1].toggle("Quick", value=False, key="lab_quick",
                        help="Reduced size (--quick): seconds instead of minutes; a smoke test, not for conclusions.")
    seed = c[2].number_input("Seed", *SEEDS, 0, key="lab_exp_seed")
    if c[3].button(f"Run {name}", type="primary", key=f"run_{name}", width="stretch"):
        run_experiment(name, quick, int(seed))
        st.session_state["lab_src"] = "your run"
    paths = store.paths(name)
    if not paths:
        st.info(f"No saved result for **{name}** yet: press *Run {name}*, or on the command line "
                f"`python -m engine experiment {name} --out results/experiments/{name}.json`.")
        return
    src = next(iter(paths))
    if len(paths) > 1:
        if st.session_state.get("lab_src") not in paths:
            st.session_state["lab_src"] = "your run"
        src = st.radio("Result", list(paths), horizontal=True, key="lab_src")
    res = runs.read_result(paths[src])
    st.subheader(res["title"])
    if not url_state.presenting():
        st.markdown(f"**What the literature predicts.** {res['caption']}")
    st.markdown(f"**This run:** {res['verdict']}")
    st.caption(f"{_status_line(res)} · {src} result: {display.code(display.rel_path(paths[src]))}")
    for i, fig in enumerate(charts.experiment_figures(res)):
        display.plot(fig, f"{name}-{i}", key=f"exp-{name}-{i}")
    st.download_button("Download the result (JSON)", paths[src].read_text(encoding="utf-8"),
                       file_name=f"{name}.json", mime="application/json")


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
        experiments_view()


display.guarded(main)
