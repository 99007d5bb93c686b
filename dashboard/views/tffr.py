"""Teacher forcing vs free running, and "one wrong note": inject a wrong token at step t."""
from __future__ import annotations

import json

import streamlit as st

from dashboard import display, presenter, runs, sidebar, url_state, view_figures

PRESENT_LINES_PX = 120      # presentation mode: the verdict line and the outputs' line above the recovery chart
# presentation mode: outputs longer than PRESENT_OUTPUT_CHARS (what half the line holds at 1280x720) start
# CONTEXT_TOKENS tokens before the injected one (their heads, the same, filled the line: where they part was cut)
PRESENT_OUTPUT_CHARS = 20
CONTEXT_TOKENS = 2


def main() -> None:
    model, text = sidebar.current_model(), sidebar.current_input()
    if not url_state.presenting():
        st.title("Teacher forcing vs free running")
    default_ref = runs.default_reference(model, text)
    box = presenter.controls()          # in presentation mode: folded into the "Controls" popover
    c = box.columns([3, 1, 1], vertical_alignment="bottom")     # a label that wraps keeps its box in line
    with c[0]:
        ref = st.text_input("Reference (the target / the continuation)", key="ref", bind="query-params",
                            placeholder=default_ref or "type the reference output")
    ref = ref or default_ref
    if not ref:
        st.info("Type a reference: the output the model should produce for this input.")
        return
    cfg = {"max_new_tokens": max(runs.task_max_new(model), 4)}
    with st.spinner("Teacher forcing and free running…"):
        base = runs.run_tffr(model, text, ref, runs.cfg_json(cfg))
    for w in dict.fromkeys(((base.get("tf") or {}).get("warnings") or []) + ((base.get("fr") or {}).get("warnings") or [])):
        st.warning(display.md(w))
    n = len(base["rows"])
    if n == 0:
        st.error("The reference is empty after tokenization: type a reference with at least one token.")
        return
    with c[1]:
        inject = st.selectbox("Inject a wrong token at step", ["none"] + [str(i) for i in range(n)],
                              key="inject", bind="query-params")
    with c[2]:
        wrong = st.text_input("wrong token (blank: the model's runner-up)", key="wrong", bind="query-params",
                              disabled=inject == "none")
    presenter.stepper("inject", ["none"] + [str(i) for i in range(n)], controls=box, what="position")  # ← → PgUp PgDn
    box.markdown(f"**Input:** {display.code(text)} · **reference:** {display.code(ref)} · free running produced "
                 f"**{display.code(view_figures.fr_output(base))}**")
    div = base.get("first_divergence")
    sentence = ("Free running reproduces the reference." if div is None
                else f"Free running first leaves the reference at **t = {div}**.")
    compact = url_state.presenting() and inject != "none"     # presenting a wrong note: two lines, below
    if not compact:
        st.markdown(sentence)
    if inject == "none":
        display.plot(*view_figures.tffr_figures(base)[0][::-1])     # the charts: built once per server (view_figures.py)
        if not url_state.presenting():
            st.caption("Top: log-prob of the reference token when the decoder is fed the reference (teacher forcing) "
                       "and when it is fed its own outputs (free running; × = already off the reference). Middle: KL "
                       "between the two next-token distributions. Bottom: distance between the decoder's hidden states.")
        return
    t = int(inject)
    if wrong.strip():
        token = wrong if runs.model_info(model)["kind"] == "lm" else wrong.strip()
        label = token
    else:
        token, label = view_figures.runner_up(base, t)
    forced = json.dumps({str(t): token})
    with st.spinner(f"Free running with {display.md(repr(label))} injected at step {t}…"):
        hit = runs.run_tffr(model, text, ref, runs.cfg_json(cfg), forced)
    if view_figures.undisturbed(base, hit):        # e.g. a typed token that free running produced at t anyway
        if compact:
            st.markdown(sentence)
        st.info(f"No disturbance: {display.md(repr(label))} is the model's own token at step {t} (free running "
                "produced it there), so both runs are the same. Type another token, or leave it blank for the runner-up.")
        display.plot(*view_figures.tffr_figures(base)[0][::-1])
        return
    recovered = all(r.get("fr_token") == r.get("ref_token") for r in hit["rows"][t + 1:])
    base_off = not all(r.get("fr_token") == r.get("ref_token") for r in base["rows"][t + 1:])
    verdict = ("**recovers**: every later token matches the reference" if recovered else
               "**derails**: later tokens differ from the reference" + (" (the undisturbed run's do too)" if base_off else ""))
    if compact:     # two lines, each cut with … (long outputs wrapped to four and pushed the chart off the screen)
        with st.container(key=presenter.ONE_LINE + "_tffr"):
            short = (f"**derails** — the undisturbed run leaves the reference too, at t = {div}"
                     if base_off and not recovered and div is not None else verdict)
            st.markdown(f"with {display.md(repr(label))} at step {t}: {short}")
            left, right = st.columns(2)         # the two outputs side by side, each cut at its half
            longest = max(len(view_figures.fr_output(base)), len(view_figures.fr_output(hit)))
            start = t - CONTEXT_TOKENS if longest > PRESENT_OUTPUT_CHARS else 0
            left.markdown(f"undisturbed {display.code(view_figures.fr_output_from(base, start))}")
            right.markdown(f"disturbed {display.code(view_figures.fr_output_from(hit, start))}")
        presenter.fit_charts(PRESENT_LINES_PX)
    else:
        cols = st.columns(2)
        with cols[0]:
            st.markdown(f"##### undisturbed\n{display.code(view_figures.fr_output(base))}")
        with cols[1]:
            st.markdown(f"##### with {display.md(repr(label))} at step {t}\n{display.code(view_figures.fr_output(hit))} — {verdict}")
    figures = dict(view_figures.tffr_figures(base, hit, t, label))
    display.plot(figures["recovery"], "recovery")
    # presenting: below the first screen, so drawn when opened (a step with ← / → draws one chart)
    runs_box = display.folded("both runs, position by position", "_tffr_runs", fold=url_state.presenting())
    if runs_box is None:
        return
    with runs_box:
        cols = st.columns(2)
        with cols[0]:
            display.plot(figures["tffr-base"], "tffr-base")
        with cols[1]:
            display.plot(figures["tffr-injected"], "tffr-injected")


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
