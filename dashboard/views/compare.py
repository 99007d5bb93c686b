"""Compare decoders (home page): 2-4 strategies side by side on one model and input."""
from __future__ import annotations

import streamlit as st

from dashboard import charts, deck, display, presenter, runs, sidebar, strategy_editor, url_state, view_figures

# presentation mode: above the chart sit each run's name line, its output and the colour key. An output is a box
# of at most PRESENT_ROWS rows of tokens (a longer one scrolls), so the chart still ends on the first screen
PRESENT_ABOVE_PX = 80       # the name lines and the colour key; each row of tokens adds charts.line_px(PRESENT_FONT)
PRESENT_FONT = 24
PRESENT_ROWS = 2
PRESENT_WIDTH_PX = 1070     # the main column's width at 1280 px (the narrowest screen fitted), presenting
COLUMN_GAP_PX = 16


def output_rows(tr: dict, n_runs: int) -> int:
    """The rows of tokens a run's output takes when presented beside n_runs - 1 others, estimated for the
    narrowest screen fitted (on a wider one it may take fewer)."""
    width = (PRESENT_WIDTH_PX - COLUMN_GAP_PX * (n_runs - 1)) / max(n_runs, 1)
    return charts.rows_needed([t for t, _ in charts.token_probs(tr)], width, PRESENT_FONT)


def present_rows(rows: dict) -> int:
    """The rows of tokens the tallest output box takes when presented (1..PRESENT_ROWS), of each run's
    output_rows: the chart is fitted below them (on a wider screen a box may take fewer: the chart then ends
    a little above the bottom)."""
    return min(max(rows.values(), default=1), PRESENT_ROWS)


def _start_tour(params: dict) -> None:
    """A tour on this page: set the shared (URL-bound) controls; the URL follows. (A page link to the page
    it is on does not navigate: the browser test caught it.)"""
    url_state.set_shared("model", params["model"])
    url_state.set_shared("input", params.get("input", ""))
    if "s" in params:
        url_state.set_shared("s", list(params["s"]))


def tours() -> None:
    """The curated tours: the views of the default deck (decks/default.json), one link each (a tour on
    this page: a link-styled button that sets the controls)."""
    views = deck.load(deck.DEFAULT).views
    for col, v in zip(st.columns(len(views)), views):
        with col:
            if v.page == "compare":
                st.button(v.title, icon=":material/movie:", on_click=_start_tour, args=(v.params,),
                          key=f"tour_{v.title}", type="tertiary")
            else:
                st.page_link(display.page_ref(f"views/{v.page}.py"), label=v.title, icon=":material/movie:",
                             query_params=v.params)
            st.caption(display.md(v.note))


def render_outputs(traces: dict[str, dict], big: bool, rows: dict) -> None:
    """Each run's name, output and score side by side; `rows` (presenting): each output's output_rows."""
    # presenting: each run's name line stays one line (cut with … in narrow columns), so the chart's room holds
    cols = (st.container(key=presenter.ONE_LINE + "_outputs") if big else st).columns(len(traces))
    for col, (name, tr) in zip(cols, traces.items()):
        with col:
            hyps = tr.get("hypotheses") or []
            if big and hyps:        # presentation mode: name and score on one line, so the chart ends on the screen
                h = hyps[0]
                st.markdown(f"**{display.md(name)}** :small[score {display.fmt_score(h.get('score'))}"
                            + ("" if h.get("finished") else " · not finished") + "]")
            else:
                st.markdown(f"#### {display.md(name)}")
            if not hyps:
                st.warning("no hypothesis")
                continue
            h = hyps[0]
            box = dict(font_size=PRESENT_FONT, max_lines=PRESENT_ROWS, more=rows[name] > PRESENT_ROWS) if big else {}
            st.html(charts.tokens_html(charts.token_probs(tr), **box))
            n_tok = len(h.get("token_ids") or [])
            if not big:
                st.caption(f"score (sum log p) **{display.fmt_score(h.get('score'))}** · normalised "
                           f"**{display.fmt_score(h.get('normalized_score'))}** · {n_tok} tokens"
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
        tok = info["card"].get("tokenizer")
        st.caption(f"**{display.md(model)}** ({display.md(info['kind'])}, {display.md(info['arch'])}"
                   + (f", tokens: {display.md(tok)}" if tok else "") + ") · "
                   + display.md(info['card'].get('task_description') or ''))
        # The tours and the editor run only when their box is open (a rerun on opening; the editor then draws
        # only its chosen tab): a first visit drew both of its 24-widget forms, half the home page's elements.
        tours_box = display.folded("Tours: curated views, one link each", "_tours_open")
        if tours_box is not None:
            with tours_box:
                tours()
        editor_box = display.folded("Set strategies by hand (custom A / custom B: every GenerationConfig field)",
                                    "_editor_open")
        if editor_box is not None:
            with editor_box:
                strategy_editor.custom_editor(model)
    st.markdown(f"**Input:** {display.code(text)}")
    if len(strategies) < 1:
        st.info("No strategy chosen: pick a strategy (up to four) in the sidebar's Strategies box.")
        return
    traces, errors = sidebar.run_strategies(model, text, strategies)
    for line in sidebar.error_lines(errors, strategies):
        display.error(line)
    if not traces:
        return
    seen = []
    for tr in traces.values():
        for w in tr.get("warnings") or []:
            if w not in seen:
                seen.append(w)
                st.warning(display.md(w))
    rows = {name: output_rows(tr, len(traces)) for name, tr in traces.items() if tr.get("hypotheses")} if big else {}
    render_outputs(traces, big, rows)
    st.html(charts.prob_key_html(font_size=18 if big else 14))     # the key of the token colours (UI-STYLE)
    div = charts.first_divergence(traces)
    if len(traces) > 1 and not big:             # presenting: the chart's title says it (one line less above it)
        st.markdown("**The strategies agree on every token.**" if div is None else
                    f"**The strategies first part ways at step {div}.**")
    if big:
        presenter.fit_charts(PRESENT_ABOVE_PX + present_rows(rows) * charts.line_px(PRESENT_FONT))
    figures = view_figures.compare_figures(traces)        # built once per server (the warm-up builds them first)
    display.plot(figures[0][1], "compare")
    if not big:
        st.caption("Both are of the distribution each token was picked from, after the decoding rules: greedy picks "
                   "from one token (entropy 0), top-p from the nucleus, beam search from the model's own distribution. "
                   "The step inspector shows the entropy before and after the rules.")
    for name, fig in figures[1:]:
        display.plot(fig, name)


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
