"""The beam search tree: every node of the search graph, laid out by engine.trace.view.beam_layout."""
from __future__ import annotations

import html
from typing import Optional

import plotly.graph_objects as go

from dashboard.charts.style import INK, STATUS_COLOURS, WINNER, fmt, style
from engine import trace_view as view

_SYMBOLS = {"kept": "circle", "finished": "diamond", "pruned": "circle-open"}
_SIZES = {"kept": 13, "finished": 15, "pruned": 8}


def _hover(n: dict) -> str:
    return (f"<b>{html.escape(view.token_label(n['token'] or ''))}</b> (id {n['token_id']})<br>"
            f"{'start' if n['parent'] is None else 'step ' + str(n['step'])}"
            f"<br>log-prob {fmt(n.get('logprob'))}<br>cumulative {fmt(n.get('cum_logprob'))}"
            f"<br>normalised score {fmt(n.get('score'))}<br>{n['status']}"
            + (f", group {n.get('group')}" if n.get("group") else ""))


def beam_tree_figure(trace: dict, upto_step: Optional[int] = None, *, hyp: int = 0,
                     title: Optional[str] = None, show_pruned: bool = True) -> go.Figure:
    """The search graph: kept (blue), finished (green diamonds), pruned (grey) nodes; the chosen
    hypothesis's path in red. upto_step reveals the tree up to that step."""
    nodes = {n["id"]: n for n in (view.as_dict(trace).get("beam") or {}).get("nodes") or []}
    # x = the node's step index as in the trace (first generated token = step 0, the root = -1), the
    # same number the hover, the step inspector and "Reveal up to step" use (issue 13, bug 4)
    pos = {i: (x - 1, y) for i, (x, y) in view.beam_layout(trace, upto_step).items()}
    win = set(view.winner_path(trace, hyp))
    statuses = ("pruned", "kept", "finished") if show_pruned else ("kept", "finished")
    fig = go.Figure()
    for status in statuses:
        ex, ey = [], []
        for nid, (x, y) in pos.items():
            n = nodes[nid]
            if n["status"] != status or n["parent"] is None or n["parent"] not in pos:
                continue
            px, py = pos[n["parent"]]
            ex += [px, x, None]
            ey += [py, y, None]
        if ex:
            fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", hoverinfo="skip", showlegend=False,
                                     line=dict(color=STATUS_COLOURS[status], width=1 if status == "pruned" else 1.6)))
    wx, wy = [], []
    for nid in win:
        n = nodes.get(nid)
        if n and n["parent"] is not None and nid in pos and n["parent"] in pos:
            px, py = pos[n["parent"]]
            x, y = pos[nid]
            wx += [px, x, None]
            wy += [py, y, None]
    if wx:
        fig.add_trace(go.Scatter(x=wx, y=wy, mode="lines", hoverinfo="skip", name="chosen hypothesis",
                                 line=dict(color=WINNER, width=4)))
    label_text = len(pos) <= 700
    for status in statuses:
        ids = [i for i in pos if nodes[i]["status"] == status or (status == "kept" and nodes[i]["parent"] is None)]
        if status != "kept":
            ids = [i for i in ids if nodes[i]["parent"] is not None]
        if not ids:
            continue
        ns = [nodes[i] for i in ids]
        fig.add_trace(go.Scatter(
            x=[pos[i][0] for i in ids], y=[pos[i][1] for i in ids],
            mode="markers+text" if (label_text and status != "pruned") else "markers",
            name=status, text=[html.escape(view.token_label(n["token"] or "") if n["parent"] is not None else "<bos>")
                               for n in ns],
            textposition="middle right", textfont=dict(color=INK, size=11),
            marker=dict(symbol=_SYMBOLS[status], size=_SIZES[status], color=STATUS_COLOURS[status],
                        line=dict(color=[WINNER if i in win else "#ffffff" for i in ids], width=2)),
            hovertext=[_hover(n) for n in ns], hoverinfo="text"))
    n_steps = max((x for x, _ in pos.values()), default=0)
    every = 1 if n_steps <= 25 else 5
    fig.update_xaxes(title_text="step", tickvals=[-1] + list(range(0, n_steps + 1, every)),
                     ticktext=["start"] + [str(t) for t in range(0, n_steps + 1, every)],
                     range=[-1.5, n_steps + 2])
    fig.update_yaxes(showticklabels=False, title_text=None, zeroline=False)
    height = max(360, min(900, 40 * (max((abs(y) for _, y in pos.values()), default=1) * 2 + 3)))
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=0))
    fig = style(fig, title=title, height=int(height))
    if n_steps > 20:
        fig.update_layout(width=None)
    return fig
