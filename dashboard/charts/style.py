"""The look every figure shares: a white background, dark text and a fixed palette, so that an
exported PNG/SVG looks the same on a slide as on the page; plus the number formatting of labels."""
from __future__ import annotations

import math
from typing import Optional

import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
INK = "#1a1a1a"
GRID = "#d9d9d9"
BG = "#ffffff"
CUT = "#b0b0b0"
CHOSEN = "#ff7f0e"
STATUS_COLOURS = {"kept": "#1f77b4", "finished": "#2ca02c", "pruned": "#b8b8b8"}
WINNER = "#d62728"
FONT = dict(family="Arial, Helvetica, sans-serif", size=14, color=INK)
TF, FR = PALETTE[0], PALETTE[1]            # teacher forcing and free running, in every lab chart


def style(fig: go.Figure, *, title: Optional[str] = None, height: Optional[int] = None) -> go.Figure:
    """Explicit colours, fonts and margins on a Plotly figure (returned for chaining)."""
    fig.update_layout(
        template="none", paper_bgcolor=BG, plot_bgcolor=BG, font=FONT,
        title=dict(text=title, font=dict(size=17, color=INK)) if title else None,
        margin=dict(l=60, r=20, t=60 if title else 30, b=50),
        legend=dict(bgcolor="rgba(255,255,255,0.85)", font=dict(color=INK)),
        hoverlabel=dict(bgcolor="#ffffff", font=dict(color=INK)),
    )
    if height:
        fig.update_layout(height=height)
    fig.update_xaxes(gridcolor=GRID, linecolor=INK, zerolinecolor=GRID, tickfont=dict(color=INK))
    fig.update_yaxes(gridcolor=GRID, linecolor=INK, zerolinecolor=GRID, tickfont=dict(color=INK))
    return fig


def style_legend_below(fig: go.Figure, *, title: Optional[str] = None, height: Optional[int] = None) -> go.Figure:
    """`style` plus a horizontal legend under the plot: the lab's charts often sit two side by
    side, where a legend on the right would squeeze the plot area."""
    style(fig, title=title, height=(height + 60) if height else None)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0, xanchor="left",
                                  bgcolor="rgba(255,255,255,0.85)", font=dict(color=INK, size=12)),
                      margin=dict(b=130, r=20, l=60))
    if title and fig.layout.annotations:       # subplot titles: keep the figure title above them
        fig.update_layout(margin=dict(t=110), title=dict(y=0.98, yanchor="top"))
    return fig


def alt_style(chart):
    """The same colours on an Altair chart (the attention maps)."""
    return chart.configure(background=BG).configure_view(stroke=None).configure_title(
        color=INK, fontSize=16).configure_axis(gridColor=GRID, domainColor=INK, tickColor=INK)


def plotly_config(filename: str = "seqscope", fmt: str = "png") -> dict:
    """The config for st.plotly_chart / the HTML report: the toolbar's camera downloads `fmt`."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": 2}}


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def finite(x) -> Optional[float]:
    """x as a float, or None when it is missing, not a number or infinite (a gap in a line)."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def fmt(x, digits: int = 3) -> str:
    """A number for a label: `digits` decimals ("inf" / "-inf" kept), "—" when missing or not a number."""
    if x is None:
        return "—"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else f"{x:.{digits}f}"
