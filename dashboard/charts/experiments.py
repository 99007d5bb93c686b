"""The eight experiments of the exposure lab (engine.experiments results): `experiment_figures(res)`
returns the charts of one result. The charts of tf-vs-fr, ss-schedules, beam-curse and decoding live
here; those of recovery, label-smoothing, tbptt and bpe-vocab in dashboard/charts/lab_setups.py."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.lab_setups import FIGURES as SETUP_FIGURES
from dashboard.charts.marks import band, line
from dashboard.charts.style import PALETTE, finite, fmt, style_legend_below


def _bars(items: dict[str, float], *, colour=PALETTE[0], name="", text_digits=3) -> go.Bar:
    keys = list(items)
    vals = [finite(items[k]) for k in keys]
    return go.Bar(x=keys, y=vals, name=name, marker_color=colour,
                  text=[fmt(v, text_digits) for v in vals], textposition="outside",
                  hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>")


def _tf_vs_fr(res: dict) -> list[go.Figure]:
    d = res["data"]
    figs = []
    fig = go.Figure()
    for i, (name, r) in enumerate(d.items()):
        p, colour = r["per_position"], PALETTE[i % len(PALETTE)]
        x = list(range(len(p["tf_error"])))
        band(fig, x, p["fr_error_lo"], p["fr_error_hi"], colour, f"{name} FR band")
        line(fig, x, p["tf_error"], colour, f"{name}: teacher forcing")
        line(fig, x, p["fr_error"], colour, f"{name}: free running", dash="dot", symbol="x")
    fig.update_xaxes(title_text="predicted position t (answer digit)")
    fig.update_yaxes(title_text="token error rate", rangemode="tozero")
    figs.append(style_legend_below(fig, title="per-position token error, TF vs FR (FR 95% band)", height=430))
    gap = go.Figure()
    for i, (name, r) in enumerate(d.items()):
        s = r["sequence"]
        gap.add_trace(go.Bar(x=["TF token error", "FR token error", "FR exact-match error"],
                             y=[s["tf_token_error"], s["fr_token_error"], 1 - s["fr_exact_match"]], name=name,
                             marker_color=PALETTE[i % len(PALETTE)],
                             text=[fmt(v, 4) for v in (s["tf_token_error"], s["fr_token_error"], 1 - s["fr_exact_match"])],
                             textposition="outside"))
    gap.update_layout(barmode="group")
    figs.append(style_legend_below(gap, title="whole-dataset error rates", height=380))
    return figs


def _beam_curse(res: dict) -> list[go.Figure]:
    d = res["data"]
    rows = d["rows"]
    quality = d.get("quality", "exact match")
    qkey = "quality" if "quality" in rows[0] else "exact_match"          # results saved before the text-gpt run
    panels = [(qkey, quality), ("length_ratio", "output length / reference length")]
    if "mean_log_prob" in rows[0]:
        panels.append(("mean_log_prob", "model log-probability of the output"))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    for i, lp in enumerate(sorted({r["length_penalty"] for r in rows})):
        rs = sorted([r for r in rows if r["length_penalty"] == lp], key=lambda r: r["beam"])
        name = "sum of log-probs (length_penalty 0)" if lp == 0 else f"length-normalised (length_penalty {lp:g})"
        for col, (key, _) in enumerate(panels, start=1):
            line(fig, [r["beam"] for r in rs], [r[key] for r in rs], PALETTE[i], name, row=1, col=col,
                  showlegend=col == 1, dash=None if lp == 0 else "dash")
    fig.update_xaxes(type="log", title_text="beam width", tickvals=sorted({r["beam"] for r in rows}))
    what = "sums" if d.get("model", "").startswith("addition") else "prompts"
    fig = style_legend_below(fig, title=f"beam width on {d.get('model')} ({d.get('examples')} {what})", height=420)
    fig.update_layout(legend=dict(y=-0.3))            # below the x-axis titles
    return [fig]


def _decoding(res: dict) -> list[go.Figure]:
    figs = []
    for model, rows in res["data"].items():
        metrics = [("repetition_4gram", "repeated 4-grams"), ("distinct_2", "distinct-2"), ("self_bleu", "Self-BLEU / 100")]
        if any("oracle_nll_per_symbol" in r for r in rows.values()):
            metrics.append(("oracle_nll_per_symbol", "oracle NLL / symbol"))
        fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[m[1] for m in metrics])
        strategies = list(rows)
        for c, (key, _) in enumerate(metrics, start=1):
            vals = [finite(rows[s].get(key)) for s in strategies]
            if key == "self_bleu":
                vals = [None if v is None else v / 100 for v in vals]
            fig.add_trace(go.Bar(x=strategies, y=vals, marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(strategies))],
                                 showlegend=False, hovertemplate="%{x}: %{y:.4f}<extra></extra>"), row=1, col=c)
        fig.update_xaxes(tickangle=-50)
        figs.append(style_legend_below(fig, title=f"{model}: decoding strategies", height=430))
    return figs


def _ss_schedules(res: dict) -> list[go.Figure]:
    return SETUP_FIGURES["tbptt"](res)


def experiment_figures(res: dict) -> list[go.Figure]:
    """The charts of one experiment result (engine.experiments.run / load_result)."""
    name = res.get("name")
    builders = {"tf-vs-fr": _tf_vs_fr, "ss-schedules": _ss_schedules, "beam-curse": _beam_curse,
                "decoding": _decoding, **SETUP_FIGURES}
    if name not in builders:
        raise ValueError(f"no charts for experiment {name!r}")
    return builders[name](res)
