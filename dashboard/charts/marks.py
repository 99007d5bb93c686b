"""The marks the lab's figures are drawn with: a line of values and a shaded confidence band."""
from __future__ import annotations

import plotly.graph_objects as go

from dashboard.charts.style import finite, rgba


def band(fig: go.Figure, x, lo, hi, colour: str, name: str, row=None, col=None, showlegend: bool = False) -> None:
    """A filled confidence band between lo and hi (points with a missing bound are skipped)."""
    pts = [(a, finite(l), finite(h)) for a, l, h in zip(x, lo, hi)]
    pts = [(a, l, h) for a, l, h in pts if l is not None and h is not None]
    if not pts:
        return
    xs = [p[0] for p in pts] + [p[0] for p in reversed(pts)]
    ys = [p[2] for p in pts] + [p[1] for p in reversed(pts)]
    kw = {"row": row, "col": col} if row else {}
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=rgba(colour, 0.18), line=dict(width=0),
                             hoverinfo="skip", name=name, showlegend=showlegend), **kw)


def line(fig: go.Figure, x, y, colour: str, name: str, *, dash=None, row=None, col=None, showlegend: bool = True,
         symbol: str = "circle", hover: str = "%{y:.4f}") -> None:
    """Values as a line with markers (missing or infinite values leave a gap)."""
    kw = {"row": row, "col": col} if row else {}
    fig.add_trace(go.Scatter(x=x, y=[finite(v) for v in y], mode="lines+markers", name=name, showlegend=showlegend,
                             line=dict(color=colour, width=2.5, dash=dash), marker=dict(size=6, symbol=symbol),
                             hovertemplate=f"x=%{{x}}<br>{hover}<extra>{name}</extra>"), **kw)
