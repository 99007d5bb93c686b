"""Exposure lab: exposure bias measured on whole datasets (engine.exposure.analyze), one or two
models side by side, and the eight experiments of engine.experiments (shipped results rendered from
results/experiments/, new runs saved under runs/experiments/)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import streamlit as st

from dashboard import lab_charts as lc
from dashboard import display, runs, url_state

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_DIR = ROOT / "results" / "experiments"     # git-tracked results of full-size runs
# runs started from this page (not tracked); SEQSCOPE_LAB_RUNS moves them (the tests use a temporary folder)
USER_DIR = Path(os.environ.get("SEQSCOPE_LAB_RUNS") or ROOT / "runs" / "experiments")
N_CHOICES = [50, 100, 200, 500, 1000]
PAIRS = {"addition-gru": "addition-gru-ss", "hmm-gpt": "hmm-gpt-ss"}
VIEWS = ["Dataset analysis", "Experiments"]


def experiment_registry() -> dict:
    from engine import experiments
    return experiments.EXPERIMENTS


def result_paths(name: str) -> dict[str, Path]:
    out = {}
    user_dir = Path(os.environ.get("SEQSCOPE_LAB_RUNS") or USER_DIR)
    for label, folder in (("shipped", SHIPPED_DIR), ("your run", user_dir)):
        p = folder / f"{name}.json"
        if p.exists():
            out[label] = p
    return out


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def _pair(cols, figs_by_model: dict, name: str):
    for col, (model, fig) in zip(cols, figs_by_model.items()):
        with col:
            display.plot(fig, f"{name}-{model}", key=f"{name}-{model}")


# -- dataset analysis --------------------------------------------------------------------------

def dataset_view() -> None:
    names = runs.model_names()
    default = [m for m in ("addition-gru", "addition-gru-ss") if m in names] or names[:1]
    c = st.columns([3, 1, 1, 1])
    with c[0]:
        models = st.multiselect("Models (one, or two side by side)", names, default=default, max_selections=2,
                                key="lab_models", bind="query-params",
                                help="e.g. addition-gru vs addition-gru-ss (scheduled sampling), "
                                     "addition-gru vs addition-gru-ls (label smoothing), hmm-gpt vs hmm-gpt-ss; "
                                     "models trained on the Train page are listed as runs/dashboard/NAME.")
    with c[1]:
        n = st.selectbox("Examples n", N_CHOICES, index=1, key="lab_n", bind="query-params",
                         help="Held-out examples of the model's task (the first n of the test split).")
    with c[2]:
        t0 = st.number_input("Injection step t0", min_value=0, max_value=30, value=1, step=1, key="lab_t0",
                             bind="query-params", help="Recovery: the model's best wrong token is forced here.")
    with c[3]:
        seed = st.number_input("Seed", min_value=0, max_value=10_000, value=0, step=1, key="lab_seed",
                               bind="query-params")
    if not models:
        st.info("Pick one model, or two to compare them side by side.")
        return
    if len(models) == 1 and models[0] in PAIRS and PAIRS[models[0]] in names and not url_state.presenting():
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
    st.dataframe(lc.sequence_rows(results), hide_index=True, width="stretch")
    secs = ", ".join(f"{m} {r['seconds']} s" for m, r in results.items())
    st.caption(f"Analysis time: {secs} (cached afterwards). Exact match: greedy free running vs the reference; "
               "bands: 95% bootstrap over examples.")
    ncol = len(results)

    st.subheader("Per position: teacher forcing vs free running")
    _pair(st.columns(ncol), {m: lc.per_position_figure(r, title=f"{m}: per position ({r['examples']} examples)")
                             for m, r in results.items()}, "per-position")
    if not url_state.presenting():
        st.caption("Teacher forcing feeds the gold prefix; free running feeds the model's own greedy tokens. "
                   "A free-running curve that climbs above the teacher-forced one is exposure bias at work.")

    st.subheader("Calibration")
    _pair(st.columns(ncol), {m: lc.reliability_figure(r["calibration"], label=m) for m, r in results.items()},
          "reliability")

    st.subheader("Recovery after an injected wrong token")
    _pair(st.columns(ncol), {m: lc.recovery_figure(r["recovery"], label=m) for m, r in results.items()}, "recovery")

    st.subheader("The compounding model")
    _pair(st.columns(ncol), {m: lc.compounding_figure(r["compounding"], label=m) for m, r in results.items()},
          "compounding")
    if not url_state.presenting():
        st.caption("c: NLL per step on the gold path, d: NLL per step once off it, e: probability of leaving the "
                   "path per step (all measured). Predicted ΔNLL(T) = (d − c)·Σ_{t=1..T}[1 − (1 − e)^(t−1)] against "
                   "the measured Σ_{t≤T} (NLL_FR − NLL_TF).")

    st.subheader("Hidden-state drift")
    _pair(st.columns(ncol), {m: lc.drift_figure(r["drift"], label=m) for m, r in results.items()}, "drift")
    cols = st.columns(ncol)
    for col, (m, r) in zip(cols, results.items()):
        d = r["drift"]
        with col:
            st.markdown(f"**{m}**: α = {lc.fmt(d.get('alpha'))} → *{d.get('regime')}*; steady gap predicted "
                        f"ε/(1 − α) = {lc.fmt(d.get('predicted_steady_gap'))}, measured "
                        f"{lc.fmt(d.get('measured_plateau'))}.")

    with_oracle = {m: r for m, r in results.items() if "oracle" in r}
    if with_oracle:
        st.subheader("Oracle language: exact KL on data vs own prefixes")
        _pair(st.columns(len(with_oracle)), {m: lc.oracle_figure(r["oracle"], label=m) for m, r in with_oracle.items()},
              "oracle")
        if not url_state.presenting():
            st.caption("Arora et al. (2022): AccErr(l) = Σ_{t≤l} KL on the model's own prefixes − Σ_{t≤l} KL on data "
                       "prefixes; %ExAccErr(l) = 100·AccErr(l) / Σ_{t≤l} KL on data prefixes.")
    with st.expander("Samples (first 8 examples)"):
        for m, r in results.items():
            st.markdown(f"**{m}**")
            st.dataframe(r.get("samples") or [], hide_index=True, width="stretch")
    st.download_button("Download the analysis (JSON)", json.dumps(results, indent=1),
                       file_name=f"exposure-{'-vs-'.join(models)}-n{n}.json", mime="application/json")


# -- experiments -------------------------------------------------------------------------------

def _status_line(res: dict) -> str:
    mark = {True: "agrees", False: "does not agree", None: "inconclusive"}[res.get("agrees")]
    size = "reduced size (--quick)" if res.get("quick") else "full size"
    return f"{mark} · {size}, seed {res.get('seed')}, {res.get('seconds')} s"


def overview_rows(reg: dict) -> list[dict]:
    rows = []
    for name in reg:
        paths = result_paths(name)
        if not paths:
            rows.append({"experiment": name, "result": "not run yet", "agrees": None, "verdict": ""})
            continue
        label = "your run" if "your run" in paths else "shipped"
        try:
            res = runs.read_result(paths[label])
        except ValueError as e:
            rows.append({"experiment": name, "result": f"unreadable: {display.one_line(e)}", "agrees": None, "verdict": ""})
            continue
        rows.append({"experiment": name, "result": f"{label}{' (quick)' if res.get('quick') else ''}, {res.get('seconds')} s",
                     "agrees": res.get("agrees"), "verdict": res.get("verdict")})
    return rows


def run_experiment(name: str, quick: bool, seed: int) -> Path:
    from engine import experiments
    t = time.time()
    user_dir = Path(os.environ.get("SEQSCOPE_LAB_RUNS") or USER_DIR)
    with st.status(f"Running {name}{' (quick)' if quick else ''}… (full size: up to a few minutes on a 2-core CPU)",
                   expanded=True) as status:
        st.write("Training / decoding / analysing in this server process; the page updates when it finishes.")
        res = experiments.run(name, quick=quick, seed=seed)
        path = experiments.save(res, user_dir / f"{name}.json")
        status.update(label=f"{name} finished in {time.time() - t:.0f} s; saved to {_rel(path)}",
                      state="complete", expanded=False)
    return path


def experiments_view() -> None:
    reg = experiment_registry()
    names = list(reg)
    if not url_state.presenting():
        st.dataframe(overview_rows(reg), hide_index=True, width="stretch",
                     column_config={"agrees": st.column_config.CheckboxColumn("agrees"),
                                    "verdict": st.column_config.TextColumn("verdict", width="large")})
    c = st.columns([3, 1, 1, 1])
    with c[0]:
        name = st.selectbox("Experiment", names, key="lab_exp", bind="query-params",
                            help="The eight experiments of engine/experiments.py, in the order of issue 5.")
    with c[1]:
        quick = st.toggle("Quick", value=False, key="lab_quick",
                          help="Reduced size (--quick): seconds instead of minutes; a smoke test, not for conclusions.")
    with c[2]:
        seed = st.number_input("Seed", 0, 10_000, 0, key="lab_exp_seed")
    with c[3]:
        run = st.button(f"Run {name}", type="primary", key=f"run_{name}", width="stretch")
    if run:
        run_experiment(name, quick, int(seed))
        st.session_state["lab_src"] = "your run"
    paths = result_paths(name)
    if not paths:
        st.info(f"No saved result for **{name}** yet: press *Run {name}*, or on the command line "
                f"`python -m engine experiment {name} --out results/experiments/{name}.json`.")
        return
    labels = list(paths)
    src = labels[0]
    if len(labels) > 1:
        if st.session_state.get("lab_src") not in labels:
            st.session_state["lab_src"] = "your run"
        src = st.radio("Result", labels, horizontal=True, key="lab_src")
    res = runs.read_result(paths[src])
    st.subheader(res["title"])
    if not url_state.presenting():
        st.markdown(f"**What the literature predicts.** {res['caption']}")
    st.markdown(f"**This run:** {res['verdict']}")
    st.caption(f"{_status_line(res)} · {src} result: `{_rel(paths[src])}`")
    for i, fig in enumerate(lc.experiment_figures(res)):
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
