"""Compare decoders: per step, the chosen token's probability and the entropy of every run."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import INK, PALETTE, finish, plotly_text, span_at_least
from engine import trace_view as view

ENTROPY_SPAN = 0.5      # nats: the least height of the entropy axis


def compare_figure(runs: dict[str, dict], *, title: Optional[str] = None) -> go.Figure:
    """Per step: the chosen token's probability (top) and the entropy (bottom) of every run; the
    first step where the runs' best outputs differ dashed."""
    # the gap holds the lower panel's title: at 0.08 the upper panel's x axis ran through it when presented
    # at 1280x720 with two rows of outputs above (tests/test_browser_overlap.py checks axis lines too)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        subplot_titles=("probability of the chosen token", "entropy after the decoding rules (nats)"))
    entropies = []
    for i, (label, tr) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        shown = plotly_text(label)             # Plotly reads <b>, <br>, … in legends and hovers as markup
        rows = view.hypothesis_steps(tr, 0)
        entropies += [r["entropy"] for r in rows]
        xs = [r["step"] for r in rows]
        text = [plotly_text(r["token"]) for r in rows]          # shown in the hover
        fig.add_trace(go.Scatter(
            x=xs, y=[r["prob"] for r in rows], mode="lines+markers", name=shown, legendgroup=shown,
            line=dict(color=colour, width=2.5), marker=dict(size=7, color=colour), text=text,
            hovertemplate="step %{x}<br>token %{text}<br>p = %{y:.3f}<extra>" + shown + "</extra>"),
            row=1, col=1)
        fig.add_trace(go.Scatter(
            x=xs, y=[r["entropy"] for r in rows], mode="lines+markers", name=shown, legendgroup=shown,
            showlegend=False, line=dict(color=colour, width=2.5, dash="dot"), marker=dict(size=6, color=colour),
            text=text, hovertemplate="step %{x}<br>token %{text}<br>H = %{y:.3f}<extra>" + shown + "</extra>"),
            row=2, col=1)
    div = view.first_divergence(runs)
    if div is not None:
        for row in (1, 2):
            fig.add_vline(x=div, line=dict(color=INK, dash="dash", width=1.5), row=row, col=1)
        title = f"{title or ''}{' · ' if title else ''}first divergence at step {div} (dashed)"
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    # at least ENTROPY_SPAN high: beam search's 4e-4 nats must not fill the axis like a real uncertainty
    fig.update_yaxes(range=span_at_least(entropies, ENTROPY_SPAN, "bottom"),
                     row=2, col=1)
    return finish(fig, title=title, height=480)
