"""Attention maps (Altair, so that a click on a row selects a step) and the attention entropy per
step. The weights come from engine.trace.view.attention_matrix."""
from __future__ import annotations

from typing import Any, Optional

import altair as alt
import plotly.graph_objects as go

from dashboard.charts.style import PALETTE, alt_finish, finish, plotly_text, theme
from engine import trace_view as view


def _attention_records(trace, kind, layer, head, hyp) -> list[dict]:
    labels, cols, mat = view.attention_matrix(trace, kind, layer, head, hyp)
    recs = []
    for lab, row in zip(labels, mat):
        step = int(lab.split(":", 1)[0])
        for j, w in enumerate(row):
            if w is None:
                continue
            recs.append({"step": step, "generated": lab, "key_pos": j,
                         "key": f"{j}: {view.token_label(cols[j])}" if j < len(cols) else str(j),
                         "weight": round(float(w), 5)})
    return recs


def attention_heatmap(trace: dict, kind: str = "cross", layer: int = 0, head: Any = "avg", hyp: int = 0,
                      *, title: Optional[str] = None, cell: int = 22) -> alt.Chart:
    """Altair heatmap (generated tokens down, keys across) with a point selection named "pick"
    on the generated token: clicking a row selects that step."""
    recs = _attention_records(trace, kind, layer, head, hyp)
    labels, cols, _ = view.attention_matrix(trace, kind, layer, head, hyp)
    key_order = [f"{j}: {view.token_label(c)}" for j, c in enumerate(cols)]
    pick = alt.selection_point(name="pick", fields=["step"], on="click", clear="dblclick")
    chart = alt.Chart(alt.Data(values=recs)).mark_rect(stroke="#ffffff", strokeWidth=0.5).encode(
        x=alt.X("key:N", sort=key_order, title="source token" if kind == "cross" else "key (attended-to token)",
                axis=alt.Axis(labelAngle=-60)),
        y=alt.Y("generated:N", sort=labels, title="generated token (step: token)",
                axis=alt.Axis()),
        color=alt.Color("weight:Q", scale=alt.Scale(scheme=theme().heat, domainMin=0),
                        legend=alt.Legend(title="weight")),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
        tooltip=[alt.Tooltip("generated:N", title="generated"), alt.Tooltip("key:N", title="key"),
                 alt.Tooltip("weight:Q", format=".3f"), alt.Tooltip("step:Q")],
    ).add_params(pick).properties(
        width=max(200, cell * max(1, len(key_order))), height=max(120, cell * max(1, len(labels))),
        title=title or "")
    return alt_finish(chart)


def encoder_attention_heatmap(trace: dict, layer: int = 0, head: Any = "avg", *, title: Optional[str] = None,
                              cell: int = 24) -> Optional[alt.Chart]:
    """The encoder's self-attention over the source (Transformer encoders): queries down, keys across."""
    trace = view.as_dict(trace)
    enc = trace.get("encoder_attention")
    if not enc:
        return None
    if layer >= len(enc):
        raise ValueError(f"encoder layer {layer} was not recorded (recorded: {len(enc)} layers)")
    heads = enc[layer]
    toks = [f"{j}: {view.token_label(t)}" for j, t in enumerate(trace["input"]["tokens"])]
    recs = []
    for i, q in enumerate(toks):
        for j, k in enumerate(toks):
            w = (sum(h[i][j] for h in heads) / len(heads)) if head == "avg" else heads[int(head)][i][j]
            recs.append({"query": q, "key": k, "weight": round(float(w), 5)})
    chart = alt.Chart(alt.Data(values=recs)).mark_rect(stroke="#ffffff", strokeWidth=0.5).encode(
        x=alt.X("key:N", sort=toks, title="source key", axis=alt.Axis(labelAngle=-60)),
        y=alt.Y("query:N", sort=toks, title="source query", axis=alt.Axis()),
        color=alt.Color("weight:Q", scale=alt.Scale(scheme=theme().heat, domainMin=0),
                        legend=alt.Legend(title="weight")),
        tooltip=["query:N", "key:N", alt.Tooltip("weight:Q", format=".3f")],
    ).properties(width=max(200, cell * len(toks)), height=max(120, cell * len(toks)), title=title or "")
    return alt_finish(chart)


GRID_LAYERS_PER_PAGE = 4        # the grid of a deep model (12 x 12 heads) is shown a few layers at a time


def attention_grid(trace: dict, kind: str = "cross", hyp: int = 0, *, cell: int = 9,
                   max_layers: Optional[int] = None, layer_page: Optional[int] = None,
                   layers_per_page: int = GRID_LAYERS_PER_PAGE) -> alt.Chart:
    """Every recorded layer x head as small heatmaps (rows: layers, columns: heads), headers at the
    chart style's size. layer_page (0, 1, ...) shows layers_per_page layers of a deep model at a time
    (None: all). Records are compact (numeric positions, weights to 3 decimals) to keep the page
    payload small."""
    n_layers, n_heads = view.attention_shape(trace, kind)
    if max_layers is not None:
        n_layers = min(n_layers, max_layers)
    first = 0
    if layer_page is not None:
        first = max(0, min(int(layer_page), max(0, (n_layers - 1) // layers_per_page))) * layers_per_page
        n_layers = min(n_layers, first + layers_per_page)
    # One record per (layer, head, generated position) holding its row of weights in thousandths (the
    # trace's own precision; -1 where nothing was recorded) as one comma-separated string; Vega-Lite splits
    # and flattens the rows and numbers the keys. A record per weight ({"l", "h", "r", "k", "w"}: five
    # 8-byte Arrow columns as Streamlit sends inline data) made a page of GPT-2-small's 4 x 12 heads over
    # 64 steps 8.8 MB (tests/test_chart_payload.py: every chart payload <= 2 MB). A string, not a list:
    # a list of integers reaches the browser's Vega as 64-bit integers that arithmetic refuses.
    recs = []
    n_rows = n_keys = 0
    for layer in range(first, n_layers):
        for head in range(n_heads):
            labels, cols, mat = view.attention_matrix(trace, kind, layer, head, hyp)
            n_rows, n_keys = max(n_rows, len(labels)), max(n_keys, len(cols))
            for i, row in enumerate(mat):
                ws = [-1 if w is None else round(float(w) * 1000) for w in row]
                while ws and ws[-1] == -1:          # a causal row's keys after its own position
                    ws.pop()
                if ws:
                    recs.append({"l": layer, "h": head, "r": i, "m": ",".join(map(str, ws))})
    cell = max(2, min(cell, int(1000 / max(1, n_heads * n_keys))))          # the grid fits 1000 px across
    base = alt.Chart(alt.Data(values=recs)).transform_calculate(m="split(datum.m, ',')").transform_flatten(
        ["m"]).transform_window(k="row_number()", groupby=["l", "h", "r"]).transform_calculate(
        k="datum.k - 1", w="toNumber(datum.m) / 1000").transform_filter("datum.w >= 0").mark_rect().encode(
        x=alt.X("k:O", title=None, axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("r:O", title=None, axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("w:Q", scale=alt.Scale(scheme=theme().heat, domainMin=0),
                        legend=alt.Legend(title="weight")),
        tooltip=[alt.Tooltip("l:O", title="layer"), alt.Tooltip("h:O", title="head"),
                 alt.Tooltip("r:O", title="generated position"), alt.Tooltip("k:O", title="key position"),
                 alt.Tooltip("w:Q", title="weight", format=".3f")],
    ).properties(width=max(60, cell * max(1, n_keys)), height=max(50, cell * max(1, n_rows)))
    chart = base.facet(row=alt.Row("l:O", title="layer", header=alt.Header(labelPadding=4)),
                       column=alt.Column("h:O", title="head", header=alt.Header(labelPadding=4)),
                       spacing=8)
    return alt_finish(chart)


def attention_entropy_figure(trace: dict, kind: str = "cross", hyp: int = 0,
                             *, title: Optional[str] = None) -> go.Figure:
    """Per recorded layer: the head-averaged entropy of the attention weights at each step."""
    ent = view.attention_entropy(trace, kind, hyp)
    key = "cross_attn" if kind == "cross" else "self_attn"
    recorded = [r for r in view.hypothesis_steps(trace, hyp) if r["entry"].get(key) is not None]
    steps = [r["step"] for r in recorded]
    toks = [plotly_text(view.token_label(r["token"])) for r in recorded]          # shown in the hover
    fig = go.Figure()
    for li, vals in ent.items():
        fig.add_trace(go.Scatter(x=steps, y=vals, mode="lines+markers", name=f"layer {li}", text=toks,
                                 line=dict(color=PALETTE[li % len(PALETTE)], width=2.5),
                                 hovertemplate="step %{x} (%{text})<br>H = %{y:.3f}<extra>layer " + str(li) + "</extra>"))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="attention entropy (nats, mean over heads)", rangemode="tozero")
    return finish(fig, title=title, height=320)
