"""Minimum Bayes risk: the utility of every candidate against every pseudo-reference."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go

from dashboard.charts.style import WINNER, finish, heat_scale, plotly_text
from engine import trace_view as view


def mbr_figure(trace: dict, *, title: Optional[str] = None) -> Optional[go.Figure]:
    """The trace's MBR utility matrix as a heatmap, the chosen candidate's row outlined (None when
    the trace has no MBR section)."""
    m = view.as_dict(trace).get("mbr")
    if not m:
        return None
    cands = [f"{i}: {plotly_text(c[:24])}" for i, c in enumerate(m["candidates"])]    # Plotly reads <b>, <a> as markup
    fig = go.Figure(go.Heatmap(z=m["matrix"], x=cands, y=cands, colorscale=heat_scale(),
                               hovertemplate="candidate %{y}<br>vs pseudo-reference %{x}<br>utility %{z:.2f}<extra></extra>"))
    chosen = m.get("chosen")
    if chosen is not None:
        fig.add_shape(type="rect", x0=-0.5, x1=len(cands) - 0.5, y0=chosen - 0.5, y1=chosen + 0.5,
                      line=dict(color=WINNER, width=3))
    fig.update_yaxes(autorange="reversed", title_text="candidate")
    fig.update_xaxes(title_text="pseudo-reference", tickangle=-45)
    return finish(fig, title=title or f"MBR: {m.get('utility')} utility matrix (chosen outlined)", height=480)
