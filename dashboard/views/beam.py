"""Beam tree: the whole search graph of a beam search, revealed one step at a time."""
from __future__ import annotations

import json
from contextlib import nullcontext

import streamlit as st

import engine
from dashboard import budget, charts, display, presenter, runs, sidebar, url_state, view_figures
from dashboard.url_checks import BEAM_GROUPS, BEAM_MAX_NEW, BEAMS, LENGTH_PENALTY

RECORD = view_figures.BEAM_RECORD        # the same runs as the warm-up's (their cache keys match)


def main() -> None:
    model, text = sidebar.current_model(), sidebar.current_input()
    if not url_state.presenting():
        st.title("Beam tree")
    sources = ["beam search set here"]
    up = runs.uploaded_trace()
    if up is not None:
        sources.append(runs.UPLOADED)
    # a link with ?trace= (the Traces page's "Beam tree") opens on that trace when it is a beam search
    first = 1 if up is not None and up.get("beam") and st.query_params.get("trace") else 0
    box = presenter.controls()          # in presentation mode: folded into the "Controls" popover
    src = box.selectbox("Trace", sources, index=first, key="beam_src") if len(sources) > 1 else sources[0]
    if src == runs.UPLOADED:
        tr = runs.uploaded_trace()
        if not tr.get("beam"):
            display.error("The uploaded trace is not a beam search (its strategy is "
                          f"{tr.get('strategy')!r}); pick 'beam search set here'.")
            return
    else:
        with box.form("beam_form", border=False):     # decodes once on "Decode", not at every notch
            c = st.columns([1, 1, 1, 1, 1])
            beams = c[0].slider("Beams", *BEAMS, 4, key="beams", bind="query-params")
            groups = c[1].selectbox("Groups (diverse beam)", [g for g in BEAM_GROUPS if beams % g == 0 and g <= beams],
                                    key="groups", bind="query-params")
            lp = c[2].number_input("Length penalty", *LENGTH_PENALTY, 1.0, 0.25, key="lp", bind="query-params",
                                   help="score = sum log p / length^length_penalty (Hugging Face); > 1 favours longer outputs")
            max_new = c[3].number_input("Max new tokens", *BEAM_MAX_NEW, min(runs.task_max_new(model), BEAM_MAX_NEW[1]),
                                        key="maxlen", bind="query-params")
            early = c[4].toggle("early_stopping", key="early", bind="query-params")
            st.form_submit_button("Decode", type="primary", help="Run the beam search with these settings")
        cfg = {"max_new_tokens": int(max_new), "num_beams": int(beams), "length_penalty": float(lp),
               "early_stopping": bool(early), "num_return_sequences": int(beams)}
        if groups and groups > 1:
            cfg.update({"num_beam_groups": int(groups), "diversity_penalty": 1.0})
        engine.GenerationConfig.from_dict(cfg)
        budget.check(cfg, model=model, text=text, record=RECORD)
        bar = display.Progress()
        try:
            tr = runs.run_generate(model, text, runs.cfg_json(cfg), json.dumps(RECORD, sort_keys=True),
                                   progress=bar.callback(0, f"Beam search with {beams} beams"))
        finally:
            bar.done()
    nodes = (tr.get("beam") or {}).get("nodes") or []
    last = max((n["step"] for n in nodes), default=0)
    hyps = tr.get("hypotheses") or []
    cc = box.columns([3, 2, 1])
    if int(st.session_state.get("reveal") if st.session_state.get("reveal") is not None else last) > last:
        st.session_state["reveal"] = last    # a shorter search: the whole tree
    # the default (the whole tree) only while the slider has no value: a default beside a Session State
    # value (set above, or by the presenter's ◀ / ▶) made Streamlit log a warning (issue 13, bug 6)
    reveal_default = {} if "reveal" in st.session_state else {"value": last}
    labels = [f"#{i + 1}: {h['text'][:28]!r} ({display.fmt_score(h.get('normalized_score'))})"
              for i, h in enumerate(hyps)]
    sidebar.follow_labels("bhyp", labels)        # a new search: the box shows its labels, not the old ones
    with cc[0]:
        upto = st.slider("Reveal up to step", 0, max(last, 1), key="reveal", bind="query-params", **reveal_default) \
            if last > 0 else 0
    with cc[1]:
        hyp = st.selectbox("Highlight hypothesis", list(range(len(hyps))), key="bhyp", bind="query-params",
                           format_func=lambda i: labels[i]) if len(hyps) > 1 else 0
    with cc[2]:
        show_pruned = st.toggle("pruned", value=True, key="pruned", bind="query-params",
                                help="show the candidates that were considered and dropped")
    if last > 0:
        presenter.stepper("reveal", list(range(max(last, 1) + 1)), controls=box, play=True)   # ← → PgUp PgDn, P
    counts = charts.beam_counts(tr, upto)
    big = url_state.presenting()            # presenting: one line (cut with …, no "best:"), so the tree keeps its room
    source, best = tr["input"]["text"], hyps[0]["text"] if hyps else ""
    if big:
        source, best = (display.clip(source, presenter.LINE_CHARS["input"]),
                        display.clip(best, presenter.LINE_CHARS["best"]))
    with st.container(key=presenter.ONE_LINE + "_beam") if big else nullcontext():
        st.markdown(f"**{display.md(source)}** → {'' if big else 'best: '}{display.code(best)} · up to step {upto}: "
                    f"{counts['kept']} kept, {counts['finished']} finished, {counts['pruned']} pruned")
    display.plot(view_figures.beam_figure(tr, upto, hyp, show_pruned), "beam-tree")     # built once per server
    if not url_state.presenting():
        st.caption("Each column is a step; each dot a candidate token (hover: token, log-prob, cumulative and "
                   "normalised score). Blue = kept, green diamonds = finished with `<eos>`, grey rings = pruned; "
                   "the red path is the highlighted hypothesis.")
        with st.expander("Final hypotheses"):
            st.dataframe([{"#": i + 1, "text": h["text"], "score": h.get("score"),
                           "normalised": h.get("normalized_score"), "finished": h["finished"]}
                          for i, h in enumerate(hyps)], hide_index=True)


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
