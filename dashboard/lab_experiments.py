"""The Experiments view of the exposure lab (moved out of dashboard/views/lab.py): the overview of the
eight experiments, one experiment's prediction, declared test, estimate with its 95% interval, outcome,
seeds, n, size and run time, its charts, and a button that runs it (saved by engine.ExperimentStore)."""
from __future__ import annotations

import math
import time

import streamlit as st

import engine
from dashboard import charts, display, presenter, runs, url_state

OUTCOME_TEXT = {
    "agrees": "agrees with the prediction (the whole 95% interval is on the predicted side of no effect)",
    "disagrees": "disagrees with the prediction (the whole 95% interval is on the other side of no effect)",
    "inconclusive": "inconclusive: the interval includes no effect, so this run cannot tell",
}
LEGACY_OUTCOME = {True: "agrees", False: "disagrees", None: "inconclusive"}


def outcome_of(res: dict) -> str:
    """The result's outcome ('agrees' / 'disagrees' / 'inconclusive'); results saved before issue 11
    have only `agrees`."""
    return res.get("outcome") or LEGACY_OUTCOME.get(res.get("agrees"), "inconclusive")


def _num(x, digits: int = 4) -> str:
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return "–"
    return f"{x:.{digits}g}"


def estimate_line(res: dict) -> str:
    """'estimate 0.012, 95% interval [0.004, 0.021]' (or that the result has no estimate)."""
    if not isinstance(res.get("estimate"), (int, float)):
        return "no estimate with an interval (a result saved before the declared tests)"
    p = f", p = {_num(res['p'], 3)}" if isinstance(res.get("p"), (int, float)) else ""
    return f"estimate {_num(res['estimate'])}, 95% interval [{_num(res.get('lo'))}, {_num(res.get('hi'))}]{p}"


def run_line(res: dict) -> str:
    """seeds, n, quick / full and the run time of a result."""
    seeds = res.get("seeds") or ([res["seed"]] if "seed" in res else [])
    size = "reduced size (--quick), a smoke test, not for conclusions" if res.get("quick") else "full size"
    n = f" · n = {res['n']:,}" if isinstance(res.get("n"), int) else ""
    return (f"seeds {', '.join(map(str, seeds)) or '–'} ({len(seeds)}){n} · {size} · "
            f"{res.get('seconds', '–')} s")


def _run(name: str, quick: bool, seeds: tuple[int, ...]) -> None:
    t = time.time()
    with st.status(f"Running {name}{' (quick)' if quick else ''} over {len(seeds)} seeds… (full size: several "
                   "minutes on a 2-core CPU)", expanded=True) as status:
        st.write("Training / decoding / analysing in this server process; the page updates when it finishes.")
        path = runs.experiment_store().run(name, quick=quick, seeds=seeds, progress=st.write)
        status.update(label=f"{name} finished in {time.time() - t:.0f} s; saved to {display.rel_path(path)}",
                      state="complete", expanded=False)


def _controls(box: presenter.Controls) -> str:
    with box:
        c = box.row([3, 1, 1, 1, 1], vertical_alignment="bottom")
    name = c[0].selectbox("Experiment", list(engine.EXPERIMENTS), key="lab_exp", bind="query-params",
                          help="The eight experiments of engine/experiments/, in the order of issue 5.")
    quick = c[1].toggle("Quick", value=False, key="lab_quick",
                        help="Reduced size (--quick): minutes at most; a smoke test, not for conclusions.")
    default_k = len(engine.EXPERIMENT_SEEDS["quick" if quick else "full"])
    k = c[2].number_input("Seeds", 1, engine.MAX_EXPERIMENT_SEEDS, default_k, key=f"lab_exp_k_{quick}",
                          help="How many seeds (training / sampling again for each); the declared test pools them.")
    first = c[3].number_input("First seed", 0, 10_000, 0, key="lab_exp_seed")
    if c[4].button(f"Run {name}", type="primary", key=f"run_{name}", width="stretch"):
        _run(name, quick, tuple(range(int(first), int(first) + int(k))))
        st.session_state["lab_src"] = "your run"
    return name


def _figures(res: dict) -> None:
    for i, fig in enumerate(charts.experiment_figures(res)):
        display.plot(fig, f"{res['name']}-{i}", key=f"exp-{res['name']}-{i}")


def show_result(res: dict, src: str, path, box: presenter.Controls | None = None) -> None:
    """One saved result: prediction, declared test, estimate and interval, outcome, seeds / n / size /
    time, the data-dependent sentence and the charts (in presentation mode the charts first: the first
    one fills the screen)."""
    name = res["name"]
    (box.heading if box is not None else st.subheader)(res["title"])
    outcome = outcome_of(res)
    presenting = url_state.presenting()
    if presenting:
        _figures(res)
    else:
        st.markdown(f"**What the literature predicts.** {display.md(res.get('prediction') or res['caption'])}")
        if res.get("prediction") and res["prediction"] != res["caption"]:
            st.caption(display.md(res["caption"]))
    st.markdown(f"**Declared test.** {display.md(res.get('test') or 'none (a result saved before issue 11)')}")
    st.markdown(f"**Outcome: {OUTCOME_TEXT[outcome]}.** {display.md(estimate_line(res))}.")
    st.markdown(f"**This run:** {display.md(res['verdict'])}")
    st.caption(f"{run_line(res)} · {src} result: {display.code(display.rel_path(path))}")
    if not presenting:
        _figures(res)
    st.download_button("Download the result (JSON)", path.read_text(encoding="utf-8"),
                       file_name=f"{name}.json", mime="application/json")


def experiments_view(box: presenter.Controls) -> None:
    """The overview (not in presentation mode), the controls (in presentation mode inside the Controls
    popover) and the chosen experiment's result."""
    store = runs.experiment_store()
    if not url_state.presenting():
        st.dataframe(store.overview(), hide_index=True, width="stretch",
                     column_config={"agrees": None,
                                    "estimate": st.column_config.TextColumn("estimate [95% interval]"),
                                    "verdict": st.column_config.TextColumn("verdict", width="large")})
        st.caption("Outcome: agrees / disagrees when the whole 95% interval of the declared test is on one side of "
                   "no effect; inconclusive when the interval includes no effect.")
    name = _controls(box)
    paths = store.paths(name)
    if not paths:
        st.info(f"No saved result for **{name}** yet: press *Run {name}*, or on the command line "
                f"`python -m engine experiment {name} --out results/experiments/{name}.json`.")
        return
    src = next(iter(paths))
    if len(paths) > 1:
        if st.session_state.get("lab_src") not in paths:
            st.session_state["lab_src"] = "your run"
        src = box.radio("Result", list(paths), horizontal=True, key="lab_src")
    show_result(runs.read_result(paths[src]), src, paths[src], box)
