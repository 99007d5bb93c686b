"""The step inspector: one step's top tokens before and after the decoding rules."""
from __future__ import annotations

import math
from typing import Optional

import plotly.graph_objects as go

from dashboard.charts.style import CHOSEN, CUT, INK, WINNER, finish, plotly_text, presenting

PRESENT_ROWS = 12           # token rows in presentation mode (the chart fills a 1280x720 screen)
from engine import trace_view as view


def _legend(fig: go.Figure, y0: str, *, chosen: bool, cut: bool) -> None:
    """One legend entry per colour of the after-the-rules bars (their own trace is coloured bar by bar,
    so its legend swatch showed the first bar's colour, often the chosen token's): entries that draw
    nothing (x = None) in the same bar slot."""
    entries = [("after the rules (sampled from)", "#08519c", "#08306b", 1)]
    if chosen:
        entries.append(("chosen token", CHOSEN, WINNER, 3))
    if cut:
        entries.append(("cut by the rules (p = 0 after)", CUT, "#08306b", 1))
    for name, colour, edge, width in entries:
        fig.add_trace(go.Bar(y=[y0], x=[None], orientation="h", name=name, offsetgroup="after", hoverinfo="skip",
                             marker=dict(color=colour, line=dict(color=edge, width=width))))


def step_figure(entry: dict, chosen_id: Optional[int], *, title: Optional[str] = None,
                log: bool = False) -> go.Figure:
    """Top-k bars before (raw softmax) and after the decoding rules of one step record; cut tokens
    grey, the chosen token outlined and starred."""
    rows = view.step_rows(entry, chosen_id)
    n_all = len(rows)
    if presenting() and n_all > PRESENT_ROWS:
        # a 720-px screen fits PRESENT_ROWS rows at 16 px (Plotly hid every other label of 20): the top
        # ones, and the chosen token's row when it ranks lower
        low = [r for r in rows[PRESENT_ROWS:] if r["chosen"]]
        rows = rows[:PRESENT_ROWS - len(low)] + low
    labels = [f"{plotly_text(view.token_label(r['token']))}  ·{r['id']}" for r in rows]   # Plotly reads <b>, <a> as markup
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=labels, x=[r["before"] if r["before"] is not None else 0 for r in rows], orientation="h",
        name="before the rules (model)", marker=dict(color="#9ecae1", line=dict(color="#3182bd", width=1)),
        offsetgroup="before", hovertemplate="%{y}<br>raw p = %{x:.4f}<extra></extra>"))
    colours = [CUT if r["cut"] else (CHOSEN if r["chosen"] else "#08519c") for r in rows]
    fig.add_trace(go.Bar(
        y=labels, x=[r["after"] for r in rows], orientation="h", name="after the rules (sampled from)",
        showlegend=False, offsetgroup="after", marker=dict(color=colours, line=dict(color=[WINNER if r["chosen"] else "#08306b" for r in rows],
                                             width=[3 if r["chosen"] else 1 for r in rows])),
        text=["cut" if r["cut"] else ("★ chosen" if r["chosen"] else "") for r in rows],
        textposition="outside", textfont=dict(color=INK, size=13), cliponaxis=False,
        hovertemplate="%{y}<br>processed p = %{x:.4f}<extra></extra>"))
    _legend(fig, labels[0] if labels else "", chosen=any(r["chosen"] for r in rows), cut=any(r["cut"] for r in rows))
    ent = entry.get("entropy")
    ent_raw = entry.get("entropy_raw")
    sub = []
    if ent_raw is not None:
        sub.append(f"entropy before {ent_raw:.3f}")
    if ent is not None:
        sub.append(f"after {ent:.3f} nats")
    fig.update_layout(barmode="group", bargap=0.25, yaxis=dict(autorange="reversed"),
                      legend=dict(orientation="h", y=-0.12))
    if len(rows) < n_all:
        sub.insert(0, f"top {len(rows)} of {n_all} shown")
    xtitle = "probability" + (f"   ({', '.join(sub)})" if sub else "")
    if log:
        # a log axis cannot show 0: cut tokens keep their label and 'cut' text at the axis floor
        floor = min([p for r in rows for p in (r["before"], r["after"]) if p] or [1e-6]) / 3
        fig.data[1].x = [x if x > 0 else floor for x in fig.data[1].x]
        # room right of the longest bar for its "★ chosen" / "cut" text, as on the linear axis
        top = max([p for r in rows for p in (r["before"], r["after"]) if p] or [1.0])
        lo, hi = math.log10(floor) - 0.05, math.log10(top)
        fig.update_xaxes(type="log", title_text=xtitle + ", log scale", range=[lo, hi + 0.3 * (hi - lo) + 0.1])
    else:
        top = max([p for r in rows for p in (r["before"], r["after"]) if p] or [1.0])
        fig.update_xaxes(title_text=xtitle, range=[0, min(1.15, top * 1.3 + 0.02)])
    fig.update_yaxes(automargin=True)
    return finish(fig, title=title, height=max(320, 60 + 30 * len(rows)))
