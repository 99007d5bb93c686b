"""Attention: cross- and self-attention heatmaps per layer and head, the head grid, the head
average and the attention entropy per step. Clicking a generated token selects that step and
links to the step inspector."""
from __future__ import annotations

import streamlit as st

from dashboard import charts, display, presenter, sidebar, url_state, view_figures
from dashboard.url_checks import ATTENTION_KINDS as KINDS


def main() -> None:
    opts = sidebar.run_options()
    if not url_state.presenting():
        st.title("Attention")
    box = presenter.controls()          # in presentation mode: folded into the "Controls" popover
    c = box.columns([2, 2, 1, 1])
    with c[0]:
        choice = st.selectbox("Run", opts, key="run", bind="query-params")
    tr = sidebar.get_run(choice)
    kinds = [k for k in KINDS if charts.has_attention(tr, k)]
    if not kinds:
        arch = (tr.get("model") or {}).get("arch", "")
        st.info(f"This run has no recorded attention ({display.md(tr['model'].get('name'))}, {display.md(arch)}). "
                + ("The GRU without attention squeezes the whole source into one vector, the 'thought vector' "
                   "bottleneck: there is nothing to look at, which is the point. Try dates-gru-attn."
                   if "noattn" in arch else "Record attention when decoding, or pick another model."))
        return
    hyps = tr.get("hypotheses") or []
    with c[1]:
        kind = st.radio("Attention", kinds, key="kind", bind="query-params", format_func=KINDS.get,
                        horizontal=True)
    n_layers, n_heads = charts.attention_shape(tr, kind)
    with c[2]:
        layer = st.selectbox("Layer", list(range(n_layers)), key="layer", bind="query-params") if n_layers > 1 else 0
    with c[3]:
        head_opts = ["avg"] + [str(h) for h in range(n_heads)]
        head = st.selectbox("Head", head_opts, key="head", bind="query-params",
                            format_func=lambda h: "average of heads" if h == "avg" else f"head {h}") \
            if n_heads > 1 else "0"
    hyp = 0
    if len(hyps) > 1:
        labels = [f"#{i + 1}: {h['text'][:40]!r} (score {display.fmt_score(h.get('score'))})"
                  for i, h in enumerate(hyps)]
        sidebar.follow_labels("hyp", labels)     # another run: the box shows its labels, not the old ones
        hyp = box.selectbox("Hypothesis (beam search: whose attention)", list(range(len(hyps))), key="hyp",
                            bind="query-params", format_func=lambda i: labels[i])
    # the heatmap's spec and the entropy chart: built once per server (the warm-up builds a deck's first)
    spec, entropy = view_figures.attention_figures(tr, choice, kind, layer, head, hyp)
    event = display.altair(spec, on_select="rerun", key="att_heatmap", selection_mode="pick")
    picked = None
    try:
        sel = (event or {}).get("selection", {}).get("pick") or []
        if sel:
            picked = int(sel[0]["step"])
    except (AttributeError, KeyError, TypeError, ValueError):
        picked = None
    rows = charts.hypothesis_steps(tr, hyp)
    if picked is not None and picked < len(rows):
        row = rows[picked]
        st.markdown(f"**Selected step {picked}: {display.md(repr(row['token']))}** "
                    f"(p = {display.fmt_score(row['prob'])})")
        params = url_state.link_params(run=choice, step=picked, hyp=hyp or None)
        st.page_link(display.page_ref("views/step.py"), label=f"Open step {picked} in the step inspector", icon=":material/biotech:",
                     query_params=params)
        display.plot(charts.step_figure(row["entry"], row["token_id"], title=f"step {picked}: top tokens"),
                   "attention-step")
    elif not url_state.presenting():
        st.caption("Click a cell to select its generated token (double-click clears): the step's distribution "
                   "appears here, with a link to the step inspector.")
    # presenting: below the heatmap, off the first screen, so drawn when its box is opened
    box = display.folded("attention entropy per step", "_att_entropy", fold=url_state.presenting())
    if box is not None:
        with box:
            display.plot(entropy, "attention-entropy")
    if not url_state.presenting():
        if st.toggle("Show the grid of all layers × heads", key="grid", bind="query-params"):
            n_layers = charts.attention_shape(tr, kind)[0]
            page = None
            if n_layers > charts.GRID_LAYERS_PER_PAGE:      # a deep model (GPT-2: 12 x 12): a few layers at a time
                per = charts.GRID_LAYERS_PER_PAGE
                pages = list(range((n_layers + per - 1) // per))
                page = st.segmented_control("Layers", pages, default=0, key="grid_page",
                                            format_func=lambda p: f"{p * per}–{min(n_layers, (p + 1) * per) - 1}")
                page = 0 if page is None else page
            display.altair(charts.attention_grid(tr, kind, hyp, layer_page=page))
        enc = tr.get("encoder_attention")
        if enc and st.toggle("Show the encoder's self-attention over the source", key="enc", bind="query-params"):
            ec = st.columns([1, 1, 4])
            el = ec[0].selectbox("Encoder layer", list(range(len(enc))), key="enc_layer")
            eh = ec[1].selectbox("Encoder head", ["avg"] + [str(h) for h in range(len(enc[0]))], key="enc_head",
                                 format_func=lambda h: "average" if h == "avg" else f"head {h}")
            display.altair(charts.encoder_attention_heatmap(
                tr, el, eh if eh == "avg" else int(eh), title=f"encoder self-attention, layer {el}"))


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
