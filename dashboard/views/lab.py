"""Exposure lab: exposure bias measured on whole datasets (engine.analyze), one or two models side by
side, and the eight experiments of engine.EXPERIMENTS (shipped results rendered from
results/experiments/, new runs saved under runs/experiments/ by engine.ExperimentStore)."""
from __future__ import annotations

import json

import streamlit as st

from dashboard import charts, display, lab_analysis, lab_experiments, lab_upload, presenter, runs, url_state
from dashboard.charts.exposure import oracle_rows
from dashboard.url_checks import LAB_GOLD_TAB, LAB_N as N_CHOICES, LAB_SECTIONS, LAB_T0, LAB_VIEWS as VIEWS, SEEDS

SHIPPED, PAIRS = lab_analysis.SHIPPED, lab_analysis.PAIRS
SECTIONS, DRIFT, ORACLE = lab_analysis.SECTIONS, lab_analysis.DRIFT, lab_analysis.ORACLE
_analysis = lab_analysis.analysis
TABS_PX = 40            # the section tabs' row (presentation mode: the charts get that much shorter)


def _side_by_side(results: dict, figure, name: str) -> None:
    for col, (m, r) in zip(st.columns(len(results)), results.items()):
        with col:
            display.plot(runs.figure(name, figure, m, r, wide=len(results) == 1),   # two models: half the page
                         f"{name}-{m}", key=f"{name}-{m}")


def _sections(results: dict, sections: list) -> None:
    """Each section's heading, charts side by side and caption, one under the other (the gold-token
    statistics of oracle models). Presented: the charts alone (their titles name the section)."""
    for name, title, figure, caption in sections:
        if not url_state.presenting():
            st.subheader(title)
        _side_by_side(results, figure, name)
        if caption and not url_state.presenting():
            st.caption(caption)


def _tabbed(results: dict, sections: list, gold: bool = False) -> None:
    """The sections as tabs, only the open one drawn (a pair opens on two charts, not ten: 2.6-3.0 s
    became ~1 s in bench/dashboard.py); the open tab is in the URL (?lab_section=, a deck view can
    point at one). `gold`: a last tab with the statistics against a sampled gold token (oracle models)."""
    labels = [LAB_SECTIONS[name] for name, *_ in sections] + ([LAB_GOLD_TAB] if gold else [])
    if st.query_params.get("lab_section") not in (None, *labels):    # the other kind of model's tab: the first
        del st.query_params["lab_section"]
    tabs = st.tabs(labels, key="lab_section", on_change="rerun", bind="query-params")
    presenter.fit_charts(TABS_PX)           # presentation mode: the tab row sits above the chart
    for tab, (name, title, figure, caption) in zip(tabs, sections):
        if tab.open:
            with tab:
                if not url_state.presenting():
                    st.markdown(f"**{display.md(title)}**")
                _side_by_side(results, figure, name)
                if caption and not url_state.presenting():
                    st.caption(caption)
                if name == "drift":
                    _drift_lines(results)
    if gold and tabs[-1].open:
        with tabs[-1]:
            presenting = url_state.presenting()     # the charts first, the first one filling the first screen
            if not presenting:
                _gold_table(results)
            _sections(results, SECTIONS)
            if presenting:
                _gold_table(results)


def _gold_table(results: dict) -> None:
    st.caption(next(iter(results.values()))["gold_token_note"])
    st.dataframe(charts.sequence_rows(results), hide_index=True, width="stretch")


def _drift_lines(results: dict) -> None:
    for col, (m, r) in zip(st.columns(len(results)), results.items()):
        d = r["drift"]
        steady = (f"; steady gap predicted ε/(1 − α) = {charts.fmt(d.get('predicted_steady_gap'))}, measured "
                  f"{charts.fmt(d.get('measured_plateau'))}") if d.get("predicted_steady_gap") is not None else ""
        col.markdown(f"**{display.md(m)}**: α = {charts.fmt(d.get('alpha'))} → *{display.md(d.get('regime') or '')}*"
                     f"{steady}.")


def _oracle_summary(results: dict) -> None:
    st.subheader("Exposure bias against the oracle")
    st.dataframe(oracle_rows(results), hide_index=True, width="stretch")
    for m, r in results.items():
        st.markdown(f"**{display.md(m)}.** {display.md(r['oracle']['verdict']['text'])}")


def _oracle_view(results: dict) -> None:
    """Models of the oracle language: exposure bias measured against the oracle first; the statistics
    against one sampled gold token in the last tab, labelled as what they are. In presentation mode the
    charts come first (the first one fills the screen), the table and the verdict after them."""
    presenting = url_state.presenting()
    if not presenting:
        _oracle_summary(results)
    _tabbed(results, ORACLE + [DRIFT], gold=True)
    if presenting:
        _oracle_summary(results)


def _settings(names: list[str], box: presenter.Controls) -> tuple:
    """The analysis' settings, drawn inside its form: the models, n, t0 and the seed."""
    c = box.row([3, 1, 1, 1, 1], vertical_alignment="bottom")
    models = c[0].multiselect("Models (one, or two side by side)", names, max_selections=2, key="lab_models",
                              default=[m for m in lab_analysis.DEFAULT_MODELS if m in names] or names[:1],
                              bind="query-params", help="e.g. addition-gru vs addition-gru-ss (scheduled sampling), "
                              "addition-gru vs addition-gru-ls (label smoothing), hmm-gpt vs hmm-gpt-ss; models "
                              "trained on the Train page are listed as runs/dashboard/NAME.")
    n = c[1].selectbox("Examples n", N_CHOICES, index=N_CHOICES.index(SHIPPED["n"]), key="lab_n", bind="query-params",
                       help="Held-out examples of the model's task (the first n of the test split); hmm models: also "
                       "the sequences per sampling seed of the oracle measures. The shipped models open precomputed "
                       f"at n = {SHIPPED['n']}, seed {SHIPPED['seed']}, t0 = {SHIPPED['t0']}.")
    t0 = c[2].number_input("Injection step t0", min_value=LAB_T0[0], max_value=LAB_T0[1], value=lab_analysis.DEFAULT_T0,
                           step=1, key="lab_t0",
                           bind="query-params", help="Recovery: the model's best wrong token is forced here.")
    seed = c[3].number_input("Seed", min_value=SEEDS[0], max_value=SEEDS[1], value=lab_analysis.DEFAULT_SEED, step=1,
                             key="lab_seed",
                             bind="query-params")
    c[4].form_submit_button("Analyse", type="primary", width="stretch",
                            help="Analyse with these settings (changing several boxes analyses once, here)")
    return models, n, t0, seed


def dataset_view(box: presenter.Controls) -> None:
    """The dataset analysis. Its settings are one form (in presentation mode inside the Controls
    popover): changing several of them analyses once, on "Analyse"."""
    names = runs.model_names()
    with box.form("lab_form", border=False):
        models, n, t0, seed = _settings(names, box)
    if not models:
        st.info("Pick one model, or two to compare them side by side.")
        return
    if len(models) == 1 and PAIRS.get(models[0]) in names and not url_state.presenting():
        st.caption(f"Tip: add **{PAIRS[models[0]]}** to compare with its scheduled-sampling variant.")
    # presentation mode: the upload's box only once a file is loaded or a model needs one (it sat above the chart)
    if not url_state.presenting() or st.session_state.get(lab_upload.STATE) or any(m.startswith("hf:") for m in models):
        if lab_upload.section(models, int(n), int(seed), int(t0)): return   # your own data: dashboard/lab_upload.py
    results = {}
    bar = st.progress(0.0, text="Analysing…")
    for i, m in enumerate(models):
        bar.progress(i / len(models), text=f"Analysing {m} on {n} examples (teacher forcing, free running, "
                                           f"recovery, bootstrap; hmm models: the oracle over 5 seeds)…")
        results[m] = _analysis(m, int(n), int(seed), int(t0))
    bar.empty()
    tasks = {r["task"] for r in results.values()}
    if len(tasks) > 1:
        st.warning(f"The two models solve different tasks ({', '.join(sorted(tasks))}): the figures are side by "
                   "side, but the examples differ.")
    secs = ", ".join((f"{m} precomputed in {r['seconds']} s (results/analysis/)" if r.get("checkpoint_sha256")
                      else f"{m} {r['seconds']} s") for m, r in results.items())
    if all("oracle" in r for r in results.values()):
        _oracle_view(results)
    else:
        if not url_state.presenting():        # presentation mode: the first chart first, the table after
            st.dataframe(charts.sequence_rows(results), hide_index=True, width="stretch")
        _tabbed(results, SECTIONS + [DRIFT])
        if url_state.presenting():
            st.dataframe(charts.sequence_rows(results), hide_index=True, width="stretch")
    st.caption(f"Analysis time: {secs} (cached afterwards). Exact match: greedy free running vs the reference, "
               "Wilson 95% interval.")
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
    box = presenter.controls()          # in presentation mode: folded into the "Controls" popover
    view = box.segmented_control("View", VIEWS, default=VIEWS[0], key="lab_view", bind="query-params",
                                label_visibility="collapsed") or VIEWS[0]
    if view == VIEWS[0]:
        dataset_view(box)
    else:
        lab_experiments.experiments_view(box)  # dashboard/lab_experiments.py


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
