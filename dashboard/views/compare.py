"""Compare decoders (home page): 2-4 strategies side by side on one model and input."""
from __future__ import annotations

import streamlit as st

from dashboard import charts, display, runs, sidebar, strategy_editor, url_state

TOURS = [
    ("One wrong note", "views/tffr.py",
     {"model": "dates-gru-attn", "input": "the third of march, two thousand twenty-one", "inject": "3", "wrong": "9"},
     "Inject a wrong digit into a date and watch the model recover or derail."),
    ("Greedy loops vs nucleus sampling", "views/compare.py",
     {"model": "text-gpt", "input": "The default value of", "s": ["greedy", "top-p 0.9", "repetition penalty 1.3"]},
     "Greedy decoding repeats itself on a language model; top-p and a repetition penalty do not."),
    ("The beam grows a tree", "views/beam.py",
     {"model": "dates-transformer", "input": "Wed 3 Mar 21", "beams": "8", "reveal": "3"},
     "Eight beams, every candidate kept, finished or pruned; move the step slider to grow it."),
    ("Where the model looks", "views/attention.py",
     {"model": "dates-gru-attn", "input": "the third of march, two thousand twenty-one"},
     "Cross-attention jumps to the year first, then the month, then the day."),
]


def _start_tour(params: dict) -> None:
    """A tour on this page: set the shared (URL-bound) controls; the URL follows."""
    url_state.set_shared("model", params["model"])
    url_state.set_shared("input", params.get("input", ""))
    if "s" in params:
        url_state.set_shared("s", list(params["s"]))


def tours() -> None:
    cols = st.columns(len(TOURS))
    for col, (label, page, params, blurb) in zip(cols, TOURS):
        with col:
            if page == "views/compare.py":
                st.button(label, icon=":material/movie:", on_click=_start_tour, args=(params,), key=f"tour_{label}",
                          type="tertiary")
            else:
                st.page_link(display.page_ref(page), label=label, icon=":material/movie:", query_params=params)
            st.caption(blurb)


def render_outputs(traces: dict[str, dict], big: bool) -> None:
    cols = st.columns(len(traces))
    for col, (name, tr) in zip(cols, traces.items()):
        with col:
            st.markdown(f"#### {display.md(name)}")
            hyps = tr.get("hypotheses") or []
            if not hyps:
                st.warning("no hypothesis")
                continue
            h = hyps[0]
            st.html(charts.tokens_html(charts.token_probs(tr), font_size=24 if big else 18))
            st.caption(f"score (sum log p) **{display.fmt_score(h.get('score'))}** · normalised "
                       f"**{display.fmt_score(h.get('normalized_score'))}** · {len(h.get('token_ids') or [])} tokens"
                       + (" · finished" if h.get("finished") else " · not finished (length cap)")
                       + f" · {tr.get('timing', {}).get('total_s', 0) * 1000:.0f} ms")
            if len(hyps) > 1:
                with st.expander(f"all {len(hyps)} returned hypotheses"):
                    st.dataframe([{"text": x["text"], "score": x.get("score"),
                                   "normalised": x.get("normalized_score"), "finished": x["finished"]}
                                  for x in hyps], hide_index=True)


def main() -> None:
    model, text, strategies = sidebar.current_model(), sidebar.current_input(), sidebar.current_strategies()
    info = runs.model_info(model)
    big = url_state.presenting()
    if not big:
        st.title("Compare decoders")
        st.caption(f"**{display.md(model)}** ({display.md(info['kind'])}, {display.md(info['arch'])}) · "
                   + display.md(info['card'].get('task_description') or ''))
        with st.expander("Tours: curated views, one link each", expanded=False):
            tours()
        with st.expander("Set strategies by hand (custom A / custom B: every GenerationConfig field)"):
            strategy_editor.custom_editor(model)
    st.markdown(f"**Input:** {display.code(text)}")
    if len(strategies) < 1:
        st.info("Pick two to four strategies in the sidebar.")
        return
    traces, errors = sidebar.run_strategies(model, text, strategies)
    for s, msg in errors.items():
        display.error(f"{s}: {msg}")
    if not traces:
        return
    seen = []
    for tr in traces.values():
        for w in tr.get("warnings") or []:
            if w not in seen:
                seen.append(w)
                st.warning(display.md(w))
    render_outputs(traces, big)
    div = charts.first_divergence(traces)
    if len(traces) > 1:
        st.markdown("**The strategies agree on every token.**" if div is None else
                    f"**The strategies first part ways at step {div}.**")
    display.plot(charts.compare_figure(traces, title="Per step: chosen token's probability and entropy"), "compare")
    for name, tr in traces.items():
        fig = charts.mbr_figure(tr, title=f"{display.label(name)}: MBR utility matrix (chosen candidate outlined)")
        if fig is not None:
            display.plot(fig, f"mbr-{name}")


display.guarded(main)
