"""The eight experiments of the exposure lab (engine.experiments results): `experiment_figures(res)`
returns the charts of one result."""
from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.exposure import reliability_figure
from dashboard.charts.marks import band, line
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


def experiment_figures(res: dict) -> list[go.Figure]:
    """The charts of one experiment result (engine.experiments.run / load_result)."""
    name = res.get("name")
    builders = {"tf-vs-fr": _tf_vs_fr, "ss-schedules": _ss_like, "recovery": _recovery, "beam-curse": _beam_curse,
                "label-smoothing": _label_smoothing, "decoding": _decoding, "tbptt": _ss_like, "bpe-vocab": _bpe}
    if name not in builders:
        raise ValueError(f"no charts for experiment {name!r}")
    return builders[name](res)
