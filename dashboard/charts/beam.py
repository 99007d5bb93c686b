"""The beam search tree: every node of the search graph, laid out by engine.trace.view.beam_layout.
Labels go only where they fit (estimated at presentation size, so they fit in both modes): the
highlighted hypothesis first, then finished and kept nodes by score; the rest show on hover. Zoom
and pan (drag, the toolbar) bring hidden labels back into reach."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go

from dashboard.charts.style import INK, SIZES, STATUS_COLOURS, WINNER, finish, fmt, plotly_text, presenting
from engine import trace_view as view

_SYMBOLS = {"kept": "circle", "finished": "diamond", "pruned": "circle-open"}
_SIZES = {"kept": 13, "finished": 15, "pruned": 8}
PLOT_WIDTH_PX = 800          # the plot area assumed when deciding which labels fit (a 1280-px screen)
PRESENT_CHART_PX = 540       # a chart's height in presentation mode on a 1280x720 screen (dashboard/presenter.py)
LABEL_ROOM_PX = 110          # kept free right of the last step for the final tokens' labels
CHAR_EM = 0.62               # average glyph width of the label font, in em (generous for Arial)


def _hover(n: dict) -> str:
    return (f"<b>{plotly_text(view.token_label(n['token'] or ''))}</b> (id {n['token_id']})<br>"
            f"{'start' if n['parent'] is None else 'step ' + str(n['step'])}"
            f"<br>log-prob {fmt(n.get('logprob'))}<br>cumulative {fmt(n.get('cum_logprob'))}"
            f"<br>normalised score {fmt(n.get('score'))}<br>{n['status']}"
            + (f", group {n.get('group')}" if n.get("group") else ""))


def _label(n: dict) -> str:
    return view.token_label(n["token"] or "") if n["parent"] is not None else "<bos>"


def fitting_labels(pos: dict, nodes: dict, win: set, *, height_px: int, plot_width_px: int = PLOT_WIDTH_PX,
                   font_px: int = SIZES[True]["data"], x_range: tuple = (-1.5, 1.0),
                   y_range: tuple = (-1.0, 1.0)) -> set:
    """The node ids whose label (right of the marker; above it for the highlighted path) fits: inside
    the plot, clear of every other chosen label and of every marker. Greedy, most important first."""
    sx = plot_width_px / max(1e-9, x_range[1] - x_range[0])
    sy = max(60, height_px - 170) / max(1e-9, y_range[1] - y_range[0])
    px = {i: ((x - x_range[0]) * sx, (y_range[1] - y) * sy) for i, (x, y) in pos.items()}
    r = 8
    # marker boxes (a pruned node's small ring counts as half a marker)
    markers = [(cx - q, cy - q, cx + q, cy + q) for i, (cx, cy) in px.items()
               for q in [r / 2 if nodes[i]["status"] == "pruned" and i not in win else r]]
    h = font_px * 1.15

    def box(i):
        cx, cy = px[i]
        w = len(_label(nodes[i])) * CHAR_EM * font_px + 4
        if i in win:                                # above the node, centred (clear of the red edges)
            return (cx - w / 2, cy - r - 2 - h, cx + w / 2, cy - r - 2)
        return (cx + r + 2, cy - h / 2, cx + r + 2 + w, cy + h / 2)

    def clash(a, b):
        return min(a[2], b[2]) - max(a[0], b[0]) > 0 and min(a[3], b[3]) - max(a[1], b[1]) > 0

    order = sorted((i for i in pos if nodes[i]["status"] != "pruned" or i in win),
                   key=lambda i: (i not in win, nodes[i]["status"] != "finished", -(nodes[i].get("score") or -1e9)
                                  if nodes[i].get("score") is not None else 1e9, pos[i][0]))
    chosen, boxes = set(), []
    for i in order:
        b = box(i)
        if b[0] < 0 or b[2] > plot_width_px or b[1] < 0 or b[3] > (y_range[1] - y_range[0]) * sy:
            continue
        if any(clash(b, o) for o in boxes) or any(clash(b, m) for j, m in zip(px, markers) if j != i):
            continue
        chosen.add(i)
        boxes.append(b)
    return chosen


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
    n_steps = max((x for x, _ in pos.values()), default=0)
    max_y = max((abs(y) for _, y in pos.values()), default=1)
    height = int(max(380, min(900, 44 * (max_y * 2 + 3))))
    # room right of the last column for the final tokens' labels (LABEL_ROOM_PX of the plot's width)
    extra = max(1.5, LABEL_ROOM_PX * (n_steps + 3) / (PLOT_WIDTH_PX - LABEL_ROOM_PX))
    # presentation mode fits the chart to a 720-px screen (PRESENT_CHART_PX high), whatever its height
    chart_px = min(height, PRESENT_CHART_PX) if presenting() else height
    # room above the top row for the highlighted path's labels (they sit above its nodes, and the path
    # usually runs along the top row): fitting_labels' label height in data units, with 20% to spare
    label_px = 8 + 2 + SIZES[True]["data"] * 1.15 + 2
    top = max(0.9, 1.2 * label_px * (2 * max_y + 1.5) / max(60, chart_px - 170))
    x_range, y_range = (-1.5, n_steps + extra), (-max_y - 0.6, max_y + top)
    shown_ids = [i for i in pos if show_pruned or nodes[i]["status"] != "pruned" or nodes[i]["parent"] is None]
    labelled = fitting_labels({i: pos[i] for i in shown_ids}, nodes, win, height_px=chart_px,
                              x_range=x_range, y_range=y_range)
    for status in statuses:
        ids = [i for i in pos if nodes[i]["status"] == status or (status == "kept" and nodes[i]["parent"] is None)]
        if status != "kept":
            ids = [i for i in ids if nodes[i]["parent"] is not None]
        if not ids:
            continue
        ns = [nodes[i] for i in ids]
        fig.add_trace(go.Scatter(
            x=[pos[i][0] for i in ids], y=[pos[i][1] for i in ids],
            mode="markers+text" if any(i in labelled and i not in win for i in ids) else "markers",
            name=status, text=[plotly_text(_label(n)) if (i in labelled and i not in win) else ""
                               for i, n in zip(ids, ns)],
            textposition="middle right", textfont=dict(color=INK),
            marker=dict(symbol=_SYMBOLS[status], size=_SIZES[status], color=STATUS_COLOURS[status],
                        line=dict(color=[WINNER if i in win else "#ffffff" for i in ids], width=2)),
            hovertext=[_hover(n) for n in ns], hoverinfo="text"))
    # the highlighted hypothesis's tokens above its nodes, on an opaque label (clear of the red line)
    for i in sorted(win & labelled, key=lambda i: pos[i][0]):
        fig.add_annotation(x=pos[i][0], y=pos[i][1], text=plotly_text(_label(nodes[i])), showarrow=False,
                           yanchor="bottom", yshift=8, bgcolor="rgba(255,255,255,0.9)", bordercolor=WINNER,
                           borderwidth=1, borderpad=1, font=dict(color=INK), name="winner-label")
    every = 1 if n_steps <= 25 else 5
    fig.update_xaxes(title_text="step", tickvals=[-1] + list(range(0, n_steps + 1, every)),
                     ticktext=["start"] + [str(t) for t in range(0, n_steps + 1, every)], range=list(x_range),
                     showgrid=False)
    fig.update_yaxes(showticklabels=False, title_text=None, zeroline=False, range=list(y_range), showgrid=False)
    fig.update_layout(dragmode="zoom", hovermode="closest")
    return finish(fig, title=title, height=height, legend="below")
