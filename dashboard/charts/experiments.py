"""The eight experiments of the exposure lab (engine.experiments results): `experiment_figures(res)`
returns the charts of one result. The charts of tf-vs-fr, ss-schedules, beam-curse and decoding live
here; those of recovery, label-smoothing, tbptt and bpe-vocab in dashboard/charts/lab_setups.py."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.lab_setups import FIGURES as SETUP_FIGURES
from dashboard.charts.lab_setups import ss_like
from dashboard.charts.marks import band, line
from dashboard.charts.style import PALETTE, finite, fmt, style_legend_below


def _err_bars(x, est, lo, hi, colour, name, *, text_digits=3) -> go.Bar:
    """Bars of estimates with their 95% interval as error bars (None bounds: no bar)."""
    est = [finite(v) for v in est]
    up = [None if e is None or finite(h) is None else finite(h) - e for e, h in zip(est, hi)]
    down = [None if e is None or finite(l_) is None else e - finite(l_) for e, l_ in zip(est, lo)]
    return go.Bar(x=x, y=est, name=name, marker_color=colour, text=[fmt(v, text_digits) for v in est],
                  textposition="outside", error_y=dict(type="data", array=up, arrayminus=down, visible=True),
                  hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>")


def _zero_line(fig: go.Figure, label: str = "no effect") -> None:
    fig.add_hline(y=0, line_dash="dash", line_color=PALETTE[3], annotation_text=label)


def _tf_vs_fr(res: dict) -> list[go.Figure]:
    d = res["data"]
    analysis = d.get("analysis", d)            # results saved before issue 11: {model: analysis}
    figs = []
    fig = go.Figure()
    for i, (name, r) in enumerate(analysis.items()):
        p, colour = r["per_position"], PALETTE[i % len(PALETTE)]
        x = list(range(len(p["tf_error"])))
        band(fig, x, p["fr_error_lo"], p["fr_error_hi"], colour, f"{name} FR band")
        line(fig, x, p["tf_error"], colour, f"{name}: teacher forcing")
        line(fig, x, p["fr_error"], colour, f"{name}: free running", dash="dot", symbol="x")
    fig.update_xaxes(title_text="predicted position t (answer digit)")
    fig.update_yaxes(title_text="token error rate", rangemode="tozero")
    seed = f", test sample of seed {d['charts_seed']}" if "charts_seed" in d else ""
    figs.append(style_legend_below(fig, title=f"per-position token error, TF vs FR (FR 95% band{seed})", height=430))
    if "models" in d and "per_seed" in d:
        names = list(d["models"])
        gap = go.Figure(_err_bars(names, [d["models"][m]["gap_per_sum"] for m in names],
                                  [d["models"][m]["gap_per_sum_lo"] for m in names],
                                  [d["models"][m]["gap_per_sum_hi"] for m in names], PALETTE[0],
                                  "FR − TF error tokens per sum", text_digits=4))
        gap.update_yaxes(title_text="extra error tokens per sum (FR − TF)")
        figs.append(style_legend_below(gap, title=f"free running minus teacher forcing, all seeds pooled "
                                                  f"(95% bootstrap; {res.get('n')} sums)", height=380))
        seeds = [str(r["seed"]) for r in d["per_seed"]]
        per = go.Figure(go.Scatter(x=seeds, y=[r["gap_difference_per_sum"] for r in d["per_seed"]], mode="markers",
                                   marker=dict(size=10, color=PALETTE[1]), name="one test sample"))
        if isinstance(res.get("estimate"), (int, float)):
            per.add_hline(y=res["estimate"], line_color=PALETTE[0], annotation_text="pooled estimate")
            if isinstance(res.get("lo"), (int, float)):
                per.add_hrect(y0=res["lo"], y1=res["hi"], fillcolor=PALETTE[0], opacity=0.12, line_width=0)
        _zero_line(per)
        per.update_xaxes(title_text="seed of the test sample", type="category")
        per.update_yaxes(title_text="gap of TF-trained − gap of SS-trained, per sum")
        figs.append(style_legend_below(per, title="the declared test, per test sample and pooled (band: its 95% interval); "
                                                  "> 0: scheduled sampling narrows the gap",
                                       height=380))
    return figs


def _ss_schedules(res: dict) -> list[go.Figure]:
    d = res["data"]
    models = d["models"]
    if "exact_match_per_seed" not in next(iter(models.values())):       # saved before issue 11
        return ss_like(res)
    names = list(models)
    fig = go.Figure(_err_bars(names, [models[m]["mean"] for m in names], [models[m]["lo"] for m in names],
                              [models[m]["hi"] for m in names], PALETTE[0], "mean over seeds (t 95%)"))
    for j, s in enumerate(d.get("seeds", [])):
        fig.add_trace(go.Scatter(x=names, y=[models[m]["exact_match_per_seed"][j] for m in names], mode="markers",
                                 marker=dict(size=8, color=PALETTE[(j + 1) % len(PALETTE)], symbol="diamond"),
                                 name=f"seed {s}"))
    fig.update_yaxes(title_text="free-running exact match", range=[0, 1.05])
    figs = [style_legend_below(fig, title=f"exact match per schedule ({d.get('steps')} training steps, "
                                          f"{d.get('examples')} test sums, {len(d.get('seeds', []))} seeds)", height=420)]
    vs = d["versus_gold"]
    keys = list(vs)
    diff = go.Figure(_err_bars(keys, [vs[k]["mean"] for k in keys], [vs[k]["lo"] for k in keys],
                               [vs[k]["hi"] for k in keys], PALETTE[1], "minus always-gold (t 95%)"))
    _zero_line(diff)
    diff.update_yaxes(title_text="exact match minus always-gold's, paired by seed")
    figs.append(style_legend_below(diff, title="each schedule minus always-gold (same seed), mean and t interval",
                                   height=400))
    return figs


def _beam_curse(res: dict) -> list[go.Figure]:
    d = res["data"]
    rows = d["rows"]
    if "exact_match_lo" not in rows[0]:                      # saved before issue 11
        return _beam_curse_old(res)
    panels = [("exact_match", "exact match"), ("too_short", "too-short outputs"), ("length_ratio", "length / reference")]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    models = list(dict.fromkeys(r.get("model", d.get("model")) for r in rows))
    for m, lp in ((m, lp) for m in models for lp in sorted({r["length_penalty"] for r in rows})):
        rs = sorted([r for r in rows if r.get("model", d.get("model")) == m and r["length_penalty"] == lp],
                    key=lambda r: r["beam"])
        if not rs:
            continue
        name = (f"{m}, " if len(models) > 1 else "") + ("sum of log-probs (length_penalty 0)" if lp == 0
                                                         else f"length-normalised (length_penalty {lp:g})")
        x = [r["beam"] for r in rs]
        colour = PALETTE[models.index(m) % len(PALETTE)]          # one colour per model; the dash is the penalty
        for col, (key, _) in enumerate(panels, start=1):
            if key + "_lo" in rs[0]:
                band(fig, x, [r[key + "_lo"] for r in rs], [r[key + "_hi"] for r in rs], colour, name, row=1, col=col)
            line(fig, x, [r[key] for r in rs], colour, name, row=1, col=col, showlegend=col == 1,
                 dash=None if lp == 0 else "dash",
                 hover="%{y:.4f}<br>n = " + str(rs[0]["n"]) + ("<br>outputs unlike greedy's: %{customdata}"
                                                              if "differs_from_greedy" in rs[0] else ""))
            if "differs_from_greedy" in rs[0]:
                fig.data[-1].customdata = [r["differs_from_greedy"] for r in rs]
    fig.update_xaxes(type="log", title_text="beam width", tickvals=sorted({r["beam"] for r in rows}))
    fig.update_yaxes(rangemode="tozero")
    ns = ", ".join(f"{m} {next(r['n'] for r in rows if r.get('model', d.get('model')) == m)}" for m in models)
    # a short title and the inputs as its subtitle: presented, "beam width (dates-gru-attn 246," was a line of its own
    fig = style_legend_below(fig, title=f"against beam width<br><sup>inputs: {ns} · Wilson 95% bands</sup>",
                             height=420 + 20 * len(models))
    fig.update_layout(legend=dict(y=-0.3))            # below the x-axis titles
    return [fig]


def _beam_curse_old(res: dict) -> list[go.Figure]:
    d = res["data"]
    rows = d["rows"]
    qkey = "quality" if "quality" in rows[0] else "exact_match"
    fig = make_subplots(rows=1, cols=2, subplot_titles=[d.get("quality", "exact match"), "output length / reference length"])
    for i, lp in enumerate(sorted({r["length_penalty"] for r in rows})):
        rs = sorted([r for r in rows if r["length_penalty"] == lp], key=lambda r: r["beam"])
        name = "sum of log-probs (length_penalty 0)" if lp == 0 else f"length-normalised (length_penalty {lp:g})"
        for col, key in enumerate((qkey, "length_ratio"), start=1):
            line(fig, [r["beam"] for r in rs], [r[key] for r in rs], PALETTE[i], name, row=1, col=col,
                 showlegend=col == 1, dash=None if lp == 0 else "dash")
    fig.update_xaxes(type="log", title_text="beam width", tickvals=sorted({r["beam"] for r in rows}))
    return [style_legend_below(fig, title=f"beam width on {d.get('model')}", height=420)]


def _decoding(res: dict) -> list[go.Figure]:
    d = res["data"]
    figs = []
    loops = d.get("text-gpt", {})
    keys = [k for k, r in loops.items() if "loop_share" in r]
    if keys:
        meta = d.get("text-gpt-meta", {})
        fig = go.Figure(_err_bars(keys, [loops[k]["loop_share"] for k in keys], [loops[k]["loop_share_lo"] for k in keys],
                                  [loops[k]["loop_share_hi"] for k in keys], PALETTE[0], "share ending in a loop"))
        fig.update_yaxes(title_text="continuations ending in a repetition loop", range=[0, 1.05])
        fig.update_xaxes(tickangle=-30)
        figs.append(style_legend_below(fig, title=f"text-gpt: Holtzman et al.'s repetition measure "
                                                  f"({meta.get('prompts')} prompts x {meta.get('max_new_tokens')} "
                                                  "tokens; Wilson 95%)", height=420))
    for model, rows in d.items():
        if not isinstance(rows, dict) or model.endswith(("-meta", "-per-prompt")):
            continue
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
        figs.append(style_legend_below(fig, title=f"{model}: decoding strategies (first seed)", height=430))
    return figs


def experiment_figures(res: dict) -> list[go.Figure]:
    """The charts of one experiment result (engine.experiments.run / load_result)."""
    name = res.get("name")
    builders = {"tf-vs-fr": _tf_vs_fr, "ss-schedules": _ss_schedules, "beam-curse": _beam_curse,
                "decoding": _decoding, **SETUP_FIGURES}
    if name not in builders:
        raise ValueError(f"no charts for experiment {name!r}")
    return builders[name](res)
