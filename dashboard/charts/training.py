"""The Train page's figures: live training curves and a scheduled-sampling schedule."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import CHOSEN, GRID, PALETTE, rgba, style_legend_below


def training_figure(steps: list[dict], evals: list[dict], *, title: Optional[str] = None) -> go.Figure:
    """Live training curves: the loss per step (and its running mean), eps of the scheduled-sampling
    schedule, and the validation rows (loss / metric) at each evaluation."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if steps:
        x = [s["step"] for s in steps]
        y = [s["loss"] for s in steps]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="training loss", line=dict(color=rgba(PALETTE[0], 0.35), width=1)))
        w = max(1, len(y) // 30)
        smooth = [sum(y[max(0, i - w + 1):i + 1]) / len(y[max(0, i - w + 1):i + 1]) for i in range(len(y))]
        fig.add_trace(go.Scatter(x=x, y=smooth, mode="lines", name=f"running mean ({w} steps)",
                                 line=dict(color=PALETTE[0], width=2.5)))
        if any(s.get("eps") is not None and s.get("eps") != 1.0 for s in steps):
            fig.add_trace(go.Scatter(x=x, y=[s.get("eps") for s in steps], mode="lines", name="ε (gold-token probability)",
                                     line=dict(color=CHOSEN, width=2, dash="dash")), secondary_y=True)
    for i, key in enumerate(_eval_keys(evals)):
        fig.add_trace(go.Scatter(x=[e["step"] for e in evals], y=[e.get(key) for e in evals], mode="lines+markers",
                                 name=f"validation {key}", line=dict(color=PALETTE[(i + 1) % len(PALETTE)], width=2.5),
                                 marker=dict(size=9)), secondary_y=not _on_loss_axis(key))
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="loss (nats)", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="ε / validation metric", secondary_y=True, range=[0, 1.05], gridcolor=GRID,
                     tickmode="linear", tick0=0, dtick=0.2, showgrid=False)
    return style_legend_below(fig, title=title or "training", height=420)


def _on_loss_axis(key: str) -> bool:
    return "nll" in key or "loss" in key


def _eval_keys(evals: list[dict]) -> list[str]:
    """Numeric validation fields worth plotting (not bookkeeping like step, elapsed or eps)."""
    skip = {"step", "elapsed", "eps", "train_loss", "train_reward_sample", "train_reward_greedy", "valid_ppl"}
    keys: list[str] = []
    for e in evals:
        for k, v in e.items():
            if k not in skip and k not in keys and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.append(k)
    return keys[:3]


def schedule_figure(steps: list[int], eps: list[float], schedule: str, *, title: Optional[str] = None) -> go.Figure:
    """ε_i, the probability of feeding the gold token, over the training steps of a schedule."""
    fig = go.Figure(go.Scatter(x=steps, y=eps, mode="lines", name=schedule, line=dict(color=CHOSEN, width=3),
                               hovertemplate="step %{x}: ε = %{y:.3f}<extra></extra>"))
    fig.update_xaxes(title_text="training step i")
    fig.update_yaxes(title_text="ε_i (gold-token probability)", range=[0, 1.05])
    return style_legend_below(fig, title=title or f"scheduled sampling: {schedule} schedule", height=300)
