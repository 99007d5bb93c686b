"""Teacher forcing vs free running on one input: the comparison (engine.compare_tf_fr(...).to_dict():
{"rows", "first_divergence", "summary", "tf", "fr"}) per reference position, and the recovery after
a wrong token injected into the free run."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import INJECTED, INK, PALETTE, finish, plotly_text, span_at_least
from engine import trace_view as view

LOGPROB_SPAN = 1.0      # nats: the least height of a log-prob axis (a factor e in probability)
KL_SPAN = 0.1           # nats: the least height of the KL axis


def tffr_figure(cmp: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Per reference position: the reference token's log-prob under TF and FR, the KL between the
    two next-token distributions, and the hidden-state distance; the first divergence dashed, the
    step where the free run was forced a token (its trace's forced tokens) in reddish purple (INJECTED;
    so the KL bars are orange)."""
    rows = cmp["rows"]
    t = [r["t"] for r in rows]
    ref = [plotly_text(view.token_label(r["ref_token"])) for r in rows]          # Plotly reads <b>, <a> as markup
    fr_tok = [plotly_text(view.token_label(r.get("fr_token") or "")) for r in rows]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("log-prob of the reference token", "KL(TF ‖ FR) (nats)",
                                        "hidden-state distance (L2)"))
    fig.add_trace(go.Scatter(x=t, y=[r["tf_logprob"] for r in rows], name="teacher forcing", mode="lines+markers",
                             line=dict(color=PALETTE[0], width=2.5), text=ref,
                             hovertemplate="t=%{x} ref %{text}<br>log p = %{y:.3f}<extra>TF</extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=[r["fr_logprob"] for r in rows], name="free running", mode="lines+markers",
                             line=dict(color=PALETTE[1], width=2.5),
                             customdata=fr_tok, text=ref,
                             marker=dict(symbol=["circle" if r.get("on_track") else "x" for r in rows], size=8),
                             hovertemplate="t=%{x} ref %{text}, FR produced %{customdata}<br>log p = %{y:.3f}<extra>FR</extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=t, y=[r.get("kl") for r in rows], name="KL", marker_color=PALETTE[4], showlegend=False,
                         hovertemplate="t=%{x}<br>KL = %{y:.3f}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=[r.get("hidden_dist") for r in rows], name="hidden distance", showlegend=False,
                             mode="lines+markers", line=dict(color=PALETTE[2], width=2.5),
                             hovertemplate="t=%{x}<br>‖h_TF − h_FR‖ = %{y:.3f}<extra></extra>"), row=3, col=1)
    div = cmp.get("first_divergence")
    if div is not None:
        for row in (1, 2, 3):
            fig.add_vline(x=div, line=dict(color=INK, dash="dash", width=1.5), row=row, col=1)
        title = f"{title or label or ''}{' · ' if (title or label) else ''}first divergence t = {div} (dashed)"
    injected = view.injected_step(cmp["fr"]) if cmp.get("fr") else None
    if injected is not None:
        for row in (1, 2, 3):
            fig.add_vline(x=injected, line=dict(color=INJECTED, width=3), row=row, col=1)
    fig.update_xaxes(title_text="reference position t", tickvals=t, ticktext=[f"{a}<br>{b}" for a, b in zip(t, ref)]
                     if len(t) <= 40 else None, row=3, col=1)
    # a scale of at least LOGPROB_SPAN / KL_SPAN nats: differences of a few µ must look tiny, not like dips
    logps = [r["tf_logprob"] for r in rows] + [r["fr_logprob"] for r in rows]
    fig.update_yaxes(range=span_at_least(logps, LOGPROB_SPAN, "top"), row=1, col=1)
    fig.update_yaxes(range=span_at_least([r.get("kl") for r in rows], KL_SPAN, "bottom"), row=2, col=1)
    return finish(fig, title=title or label or None, height=560)


def recovery_figure(base: dict, injected: dict, step: int, *, title: Optional[str] = None) -> go.Figure:
    """The reference token's free-running log-prob with and without the injected token, one axis."""
    fig = go.Figure()
    for cmp, name, colour in ((base, "undisturbed", PALETTE[0]), (injected, f"wrong token at step {step}", PALETTE[1])):
        rows = cmp["rows"]
        fig.add_trace(go.Scatter(
            x=[r["t"] for r in rows], y=[r["fr_logprob"] for r in rows], mode="lines+markers", name=name,
            line=dict(color=colour, width=2.5), text=[plotly_text(view.token_label(r.get("fr_token") or "")) for r in rows],
            marker=dict(symbol=["circle" if r.get("on_track") else "x" for r in rows], size=9),
            hovertemplate="t=%{x}, produced %{text}<br>log p(ref) = %{y:.3f}<extra>" + name + "</extra>"))
    fig.add_vline(x=step, line=dict(color=INJECTED, width=3))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"injected at step {step}", hoverinfo="skip",
                             line=dict(color=INJECTED, width=3)))
    fig.update_xaxes(title_text="reference position t")
    fig.update_yaxes(title_text="free running: log-prob of the reference token",
                     range=span_at_least([r["fr_logprob"] for c in (base, injected) for r in c["rows"]], LOGPROB_SPAN, "top"))
    return finish(fig, title=title, height=360)
