"""The charts of the lab's redesigned setups (engine.experiments results of recovery, label-smoothing,
tbptt and bpe-vocab): `FIGURES[name](res)` returns the figures of one result. Split out of
dashboard/charts/experiments.py (which dispatches here), so that these four can change on their own."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.exposure import reliability_figure
from dashboard.charts.marks import line
from dashboard.charts.style import PALETTE, finite, fmt, style_legend_below


def _bars(items: dict[str, float], *, colour=PALETTE[0], name="", text_digits=3) -> go.Bar:
    keys = list(items)
    vals = [finite(items[k]) for k in keys]
    return go.Bar(x=keys, y=vals, name=name, marker_color=colour,
                  text=[fmt(v, text_digits) for v in vals], textposition="outside",
                  hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>")


def _per_position_error_lines(models: dict[str, dict], key_tf: str, key_fr: Optional[str], title: str) -> go.Figure:
    fig = go.Figure()
    for i, (name, m) in enumerate(models.items()):
        colour = PALETTE[i % len(PALETTE)]
        tf = m[key_tf]
        line(fig, list(range(len(tf))), tf, colour, f"{name} TF" if key_fr else name)
        if key_fr:
            fr = m[key_fr]
            line(fig, list(range(len(fr))), fr, colour, f"{name} FR", dash="dot", symbol="x")
    fig.update_xaxes(title_text="predicted position t")
    fig.update_yaxes(title_text="token error rate", rangemode="tozero")
    return style_legend_below(fig, title=title, height=420)


def _sums(data: dict) -> str:
    """'test sums', or 'test sums of 1–4 digits' for the lab's shorter addition task (addition4)."""
    task = data.get("task", "addition")
    return "test sums" if task == "addition" else f"test sums of 1–{task[len('addition'):]} digits"


def _ss_like(res: dict, models_key: str = "models", title_em: str = "free-running exact match") -> list[go.Figure]:
    models = res["data"][models_key]
    fig = go.Figure(_bars({k: v["fr_exact_match"] for k, v in models.items()}, name="exact match"))
    fig.update_yaxes(title_text="exact match (free running, greedy)", range=[0, 1.1])
    sums = _sums(res["data"])
    figs = [style_legend_below(fig, title=f"{title_em} ({res['data'].get('steps')} training steps, "
                                          f"{res['data'].get('examples')} {sums})", height=380)]
    figs.append(_per_position_error_lines(models, "per_position_tf_error", "per_position_fr_error",
                                          "per-position token error (solid TF, dotted FR)"))
    return figs


def _recovery(res: dict) -> list[go.Figure]:
    d = res["data"]
    fig = go.Figure()
    dashes = ["solid", "dot", "dash", "dashdot"]
    for i, (name, by_t0) in enumerate(d.items()):
        for j, (t0, rec) in enumerate(by_t0.items()):
            steps = rec.get("steps") or []
            line(fig, [s["steps_since"] for s in steps], [s["injected_matches_gold"] for s in steps],
                  PALETTE[i % len(PALETTE)], f"{name}, {t0}", dash=dashes[j % len(dashes)], hover="%{y:.3f}")
    fig.update_xaxes(title_text="steps since the injected wrong token")
    fig.update_yaxes(title_text="share of next tokens equal to the gold", range=[0, 1.03])
    figs = [style_legend_below(fig, title="back on track after an injected error", height=430)]
    bar = go.Figure()
    for i, (name, by_t0) in enumerate(d.items()):
        bar.add_trace(go.Bar(x=list(by_t0), y=[r.get("injected_sequence_correct") for r in by_t0.values()],
                             name=name, marker_color=PALETTE[i % len(PALETTE)],
                             text=[fmt(r.get("injected_sequence_correct")) for r in by_t0.values()],
                             textposition="outside"))
    bar.update_layout(barmode="group")
    bar.update_yaxes(title_text="rest of the sequence right after the injection", range=[0, 1.1])
    bar.update_xaxes(title_text="injection step")
    figs.append(style_legend_below(bar, title="recovered sequences per injection step", height=380))
    return figs


def _label_smoothing(res: dict) -> list[go.Figure]:
    d = res["data"]
    names = list(d)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[f"{n} (ECE TF {fmt(d[n]['calibration']['tf_ece'], 4)}, "
                                                                 f"FR {fmt(d[n]['calibration']['fr_ece'], 4)})" for n in names])
    for c, n in enumerate(names, start=1):
        sub = reliability_figure(d[n]["calibration"])
        for tr in sub.data:
            tr.showlegend = c == 1
            fig.add_trace(tr, row=1, col=c)
        fig.update_xaxes(title_text="confidence", range=[0, 1.02], row=1, col=c)
        fig.update_yaxes(range=[0, 1.02], row=1, col=c)
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    figs = [style_legend_below(fig, title="reliability diagrams (marker size ~ tokens in the bin)", height=440)]
    ece = go.Figure()
    for i, mode in enumerate(("tf", "fr")):
        ece.add_trace(go.Bar(x=names, y=[d[n]["calibration"][f"{mode}_ece"] for n in names],
                             name="teacher forcing" if mode == "tf" else "free running", marker_color=PALETTE[i],
                             text=[fmt(d[n]["calibration"][f"{mode}_ece"], 4) for n in names], textposition="outside"))
    ece.update_layout(barmode="group")
    ece.update_yaxes(title_text="expected calibration error", rangemode="tozero")
    figs.append(style_legend_below(ece, title="expected calibration error", height=360))
    return figs


def _bpe(res: dict) -> list[go.Figure]:
    models = res["data"]["models"]
    keys = list(models)
    labels = [f"{k} ({models[k].get('vocab_size')} tok)" for k in keys]
    fig = make_subplots(rows=1, cols=3, subplot_titles=("steps per answer", "per-token error (TF)",
                                                        "whole-answer error (FR)"))
    for c, key in enumerate(("steps_per_answer", "tf_token_error", "sequence_error"), start=1):
        vals = [models[k].get(key) for k in keys]
        fig.add_trace(go.Bar(x=labels, y=vals, marker_color=PALETTE[c - 1], showlegend=False,
                             text=[fmt(v) for v in vals], textposition="outside",
                             hovertemplate="%{x}: %{y:.4f}<extra></extra>"), row=1, col=c)
    fig.update_yaxes(rangemode="tozero")
    sums = _sums(res["data"])
    return [style_legend_below(fig, title=f"vocabulary size ({res['data'].get('steps')} training steps, "
                                          f"{res['data'].get('examples')} {sums})", height=420),
            _per_position_error_lines(models, "per_position_tf_error", "per_position_fr_error",
                                      "per-position token error (solid TF, dotted FR)")]


# experiment name -> the builder of its figures
FIGURES = {"recovery": _recovery, "label-smoothing": _label_smoothing, "tbptt": _ss_like, "bpe-vocab": _bpe}
