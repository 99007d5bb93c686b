"""The charts of the lab's redesigned setups (engine.experiments results of recovery, label-smoothing,
tbptt and bpe-vocab): `FIGURES[name](res)` returns the figures of one result. Every chart shows its
intervals (bands or error bars; how each is computed is in the hover and the title) and n; the last
figure of each is the verdict's effect: the declared estimate with its 95% interval against 0."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.marks import band, line
from dashboard.charts.style import GRID, INK, PALETTE, finite, fmt, style_legend_below

DASHES = ("solid", "dot", "dash", "dashdot")


def _err(mean, lo, hi) -> dict:
    """Asymmetric error bars from mean / lo / hi lists (a missing bound draws no bar)."""
    up = [None if finite(h) is None or finite(m) is None else h - m for m, h in zip(mean, hi)]
    down = [None if finite(lo_) is None or finite(m) is None else m - lo_ for m, lo_ in zip(mean, lo)]
    return dict(type="data", symmetric=False, array=up, arrayminus=down, thickness=1.5, width=5)


def _zero(fig: go.Figure, axis: str = "y", **kw) -> None:
    (fig.add_hline if axis == "y" else fig.add_vline)(0, line=dict(color=INK, width=1, dash="dash"), **kw)


def effect_figure(res: dict) -> go.Figure:
    """The verdict: the declared effect (> 0 = as predicted) with its 95% interval, against no effect."""
    est, lo, hi = res.get("estimate"), res.get("lo"), res.get("hi")
    fig = go.Figure(go.Scatter(x=[finite(est)], y=[0], mode="markers", marker=dict(size=13, color=PALETTE[0]),
                               name="estimate", hovertemplate="estimate %{x:.4f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[finite(lo), finite(hi)], y=[0, 0], mode="lines+markers", name="95% interval",
                             line=dict(color=PALETTE[0], width=4), marker=dict(symbol="line-ns-open", size=16),
                             hovertemplate="%{x:.4f}<extra>95% interval</extra>"))
    _zero(fig, "x")
    fig.update_xaxes(title_text="effect (> 0: as the literature predicts), 95% interval")
    fig.update_yaxes(showticklabels=False)
    n = res.get("n")
    title = (f"verdict: {res.get('outcome', '—')} — {fmt(est, 4)} [{fmt(lo, 4)}, {fmt(hi, 4)}], "
             f"{len(res.get('seeds') or [])} seeds" + (f", n = {n:,}" if n else "")
             + f"<sup>{res.get('test', '')}</sup>")
    return style_legend_below(fig, title=title, height=240)


# -- tbptt -----------------------------------------------------------------------------------------

def _tbptt(res: dict) -> list[go.Figure]:
    d = res["data"]
    if "curves" not in d:                      # an old result (or ss-schedules' layout): per-model bars
        return _ss_like(res)
    gaps, n_gap, seeds = d["gaps"], d["per_gap_examples"], len(d["seeds"])
    fig = go.Figure()
    for i, (name, c) in enumerate(d["curves"].items()):
        colour = PALETTE[i % len(PALETTE)]
        band(fig, gaps, c["lo"], c["hi"], colour, f"{name} band")
        line(fig, gaps, c["mean"], colour, name, hover="%{y:.3f}")
        inside = d["in_window"].get(name)
        if inside:                                          # the gaps whose gradient the window reaches
            fig.add_trace(go.Scatter(x=[g for g, ok in zip(gaps, inside) if ok],
                                     y=[m for m, ok in zip(c["mean"], inside) if ok], mode="markers",
                                     marker=dict(size=13, color=colour, symbol="circle-open", line=dict(width=2)),
                                     name=f"{name}: inside its window", hoverinfo="skip"))
    fig.add_hline(d["chance"], line=dict(color=GRID, width=2, dash="dash"), annotation_text="chance (1/8)")
    fig.update_xaxes(title_text="gap k (random digits between the key and '=')", dtick=1)
    fig.update_yaxes(title_text="accuracy of the recalled key (teacher forced)", range=[0, 1.05])
    title = (f"recall accuracy against the gap: mean of {seeds} seeds, band = Student t 95% interval over seeds"
             f"<sup>n = {n_gap} test examples per gap and seed; {d['steps']} training steps; open circles: the gaps "
             f"whose gradient reaches the key within the window</sup>")
    figs = [style_legend_below(fig, title=title, height=460)]
    bar = go.Figure()
    names = list(d["beyond_window"])
    vals = [d["beyond_window"][k] for k in names] + [d["beyond"], d["inside"]]
    labels = [f"{k}: beyond its window" for k in names] + ["all windows: beyond", "all windows: inside"]
    bar.add_trace(go.Scatter(x=labels, y=[v[0] for v in vals], mode="markers", marker=dict(size=11, color=PALETTE[0]),
                             error_y=_err([v[0] for v in vals], [v[1] for v in vals], [v[2] for v in vals]),
                             name="full − L", hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    _zero(bar)
    bar.update_yaxes(title_text="accuracy(full) − accuracy(L)")
    figs.append(style_legend_below(bar, title=f"full backpropagation minus the truncated windows (t interval over "
                                              f"{seeds} seeds)", height=380))
    return figs + [effect_figure(res)]


# -- recovery ----------------------------------------------------------------------------------------

def _recovery(res: dict) -> list[go.Figure]:
    d = res["data"]
    if "curves" not in d:
        return []
    fig = go.Figure()
    for i, (model, by_t0) in enumerate(d["curves"].items()):
        colour = PALETTE[i % len(PALETTE)]
        for j, (t0, rows) in enumerate(by_t0.items()):
            x = [r["steps_since"] for r in rows]
            ex = [r["excess"] for r in rows]
            band(fig, x, [e[1] for e in ex], [e[2] for e in ex], colour, f"{model} {t0} band")
            fig.add_trace(go.Scatter(
                x=x, y=[finite(e[0]) for e in ex], mode="lines+markers", name=f"{model}, injected at {t0}",
                line=dict(color=colour, width=2.5, dash=DASHES[j % len(DASHES)]), customdata=[r["n"] for r in rows],
                hovertemplate="step %{x} after: excess %{y:.3f}, n = %{customdata}<extra></extra>"))
    _zero(fig)
    fig.update_xaxes(title_text="steps since the injected token", dtick=1)
    fig.update_yaxes(title_text="error rate: injected − undisturbed run")
    figs = [style_legend_below(fig, title=f"excess error after a forced wrong token (pooled over {len(d['seeds'])} "
                                          f"seeds; band: paired bootstrap over examples, n in the hover)"
                                          f"<sup>0 = back to the undisturbed run's error: recovered</sup>", height=440)]
    seeds = go.Figure()
    for i, model in enumerate(d["by_seed"]):
        rows = d["by_seed"][model]
        seeds.add_trace(go.Scatter(x=[f"seed {r['seed']}" for r in rows], y=[r["excess"] for r in rows],
                                   mode="markers+lines", name=model, marker=dict(size=10, color=PALETTE[i]),
                                   line=dict(color=PALETTE[i], width=1, dash="dot"),
                                   hovertemplate="%{x}: excess %{y:.3f}<extra>" + model + "</extra>"))
        m = d["excess"][model]
        seeds.add_trace(go.Scatter(x=["mean"], y=[m[0]], mode="markers", marker=dict(size=13, color=PALETTE[i],
                                   symbol="diamond"), error_y=_err([m[0]], [m[1]], [m[2]]), showlegend=False,
                                   hovertemplate="mean %{y:.3f} (t interval over seeds)<extra>" + model + "</extra>"))
    _zero(seeds)
    seeds.update_yaxes(title_text="mean excess error after the injection")
    figs.append(style_legend_below(seeds, title=f"per seed (paired: same data and test sums), {d['test_examples']} "
                                                f"test sums each; TF changes its next token after an injection in "
                                                f"{fmt(100 * (d['tf_changed_next'][0] or 0), 1)}% of cases", height=380))
    return figs + [effect_figure(res)]


# -- label smoothing ---------------------------------------------------------------------------------

def _label_smoothing(res: dict) -> list[go.Figure]:
    d = res["data"]
    if "runs" not in d:
        return []
    conds, runs = d["conditions"], d["runs"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("expected calibration error", "token accuracy"))
    for c, key in enumerate(("ece", "accuracy"), start=1):
        for i, cond in enumerate(conds):
            pts = [r[cond] for r in runs]
            kw = dict(error_y=_err([p[key] for p in pts], [p["ece_lo"] for p in pts], [p["ece_hi"] for p in pts])) \
                if key == "ece" else {}
            fig.add_trace(go.Scatter(x=[cond] * len(pts), y=[p[key] for p in pts], mode="markers",
                                     marker=dict(size=7, color=PALETTE[i], opacity=0.6), showlegend=False,
                                     customdata=[r["seed"] for r in runs],
                                     hovertemplate="seed %{customdata}: %{y:.4f}<extra>" + cond + "</extra>", **kw),
                          row=1, col=c)
            s = d["summary"][cond][key]
            fig.add_trace(go.Scatter(x=[cond], y=[s[0]], mode="markers", marker=dict(size=14, symbol="diamond",
                                     color=PALETTE[i]), error_y=_err([s[0]], [s[1]], [s[2]]), name=cond,
                                     showlegend=c == 1, hovertemplate="mean %{y:.4f}<extra>" + cond + "</extra>"),
                          row=1, col=c)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    title = (f"base, base + temperature scaling, label smoothing α = {d['alpha']}: per seed (dots, ECE with a "
             f"bootstrap interval over {d['test_examples']} test sums) and mean (diamond, t interval over "
             f"{len(runs)} seeds)")
    figs = [style_legend_below(fig, title=title, height=430)]
    rel = go.Figure()
    rel.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=GRID, dash="dash"),
                             name="perfect calibration", hoverinfo="skip"))
    for i, cond in enumerate(conds):
        tot = [{"count": 0, "conf": 0.0, "acc": 0.0} for _ in runs[0][cond]["bins"]]
        for r in runs:                                          # pooled over seeds, weighted by tokens
            for t, b in zip(tot, r[cond]["bins"]):
                if b["count"]:
                    t["count"] += b["count"]
                    t["conf"] += b["count"] * b["confidence"]
                    t["acc"] += b["count"] * b["accuracy"]
        pts = [t for t in tot if t["count"]]
        rel.add_trace(go.Scatter(x=[t["conf"] / t["count"] for t in pts], y=[t["acc"] / t["count"] for t in pts],
                                 mode="lines+markers", name=cond, line=dict(color=PALETTE[i], width=2.5),
                                 customdata=[t["count"] for t in pts],
                                 hovertemplate="confidence %{x:.3f}, accuracy %{y:.3f}, n = %{customdata} tokens"
                                               "<extra>" + cond + "</extra>"))
    rel.update_xaxes(title_text="mean confidence in the bin", range=[0, 1.02])
    rel.update_yaxes(title_text="accuracy in the bin", range=[0, 1.02])
    figs.append(style_legend_below(rel, title=f"reliability diagram (10 bins, pooled over {len(runs)} seeds; n per "
                                              f"bin in the hover)", height=440))
    return figs + [effect_figure(res)]


# -- bpe-vocab ---------------------------------------------------------------------------------------

FLOOR = 0.9          # = engine.experiments.bpe_vocab.FLOOR (charts import no torch)
BPE_PANELS = (("sequence_error", "whole-answer error (greedy)"), ("bits_per_char", "bits per character (TF)"),
              ("tokens_per_answer", "tokens per answer"), ("tf_token_error", "token error (TF)"))


def _bpe(res: dict) -> list[go.Figure]:
    d = res["data"]
    if "summary" not in d:
        return []
    vocabs, sizes = d["vocabularies"], d["vocab_sizes"]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[t for _, t in BPE_PANELS], vertical_spacing=0.26)
    for k, (key, _) in enumerate(BPE_PANELS):
        row, col = k // 2 + 1, k % 2 + 1
        for v, size in zip(vocabs, sizes):
            runs = d["runs"][v]
            fig.add_trace(go.Scatter(x=[size] * len(runs), y=[r[key] for r in runs], mode="markers",
                                     marker=dict(size=6, color=PALETTE[1], opacity=0.5), showlegend=False,
                                     customdata=[r["seed"] for r in runs],
                                     hovertemplate=f"{v}: " + "seed %{customdata}: %{y:.4f}<extra></extra>"),
                          row=row, col=col)
        s = [d["summary"][v][key] for v in vocabs]
        fig.add_trace(go.Scatter(x=sizes, y=[m[0] for m in s], mode="lines+markers", line=dict(color=PALETTE[0], width=2.5),
                                 marker=dict(size=9), error_y=_err([m[0] for m in s], [m[1] for m in s], [m[2] for m in s]),
                                 name="mean over seeds (t 95% interval)", showlegend=k == 0,
                                 hovertemplate="%{x} tokens: %{y:.4f}<extra></extra>"), row=row, col=col)
        fig.update_xaxes(type="log", tickvals=sizes, title_text="vocabulary size (log)" if row == 2 else None,
                         row=row, col=col)                 # the top row's title would sit on the panel titles below
    tr = d["trend"]
    seq = [d["summary"][v]["sequence_error"][0] for v in vocabs]
    title = (f"characters and plain BPE: per seed (dots) and mean; {d['test_examples']} test sums per seed, "
             f"{len(d['seeds'])} seeds, {d['steps']} training steps<sup>per doubling of the vocabulary: sequence "
             f"error {fmt(tr['sequence_error'][0], 3)} [{fmt(tr['sequence_error'][1], 3)}, {fmt(tr['sequence_error'][2], 3)}], "
             f"bits/char {fmt(tr['bits_per_char'][0], 3)} [{fmt(tr['bits_per_char'][1], 3)}, {fmt(tr['bits_per_char'][2], 3)}]"
             + (f"; every vocabulary is near the floor (whole-answer error ≥ {FLOOR}): this budget cannot show "
                "whether fewer steps help — read bits per character" if min(seq) >= FLOOR else "") + "</sup>")
    return [style_legend_below(fig, title=title, height=700), effect_figure(res)]


# -- the old per-model layout (ss-schedules and results from before the redesign) ---------------------

def _per_position_error_lines(models: dict[str, dict], title: str) -> go.Figure:
    fig = go.Figure()
    for i, (name, m) in enumerate(models.items()):
        colour = PALETTE[i % len(PALETTE)]
        tf, fr = m["per_position_tf_error"], m["per_position_fr_error"]
        line(fig, list(range(len(tf))), tf, colour, f"{name} TF")
        line(fig, list(range(len(fr))), fr, colour, f"{name} FR", dash="dot", symbol="x")
    fig.update_xaxes(title_text="predicted position t")
    fig.update_yaxes(title_text="token error rate", rangemode="tozero")
    return style_legend_below(fig, title=title, height=420)


def _ss_like(res: dict, models_key: str = "models") -> list[go.Figure]:
    models = res["data"][models_key]
    keys = list(models)
    vals = [finite(models[k]["fr_exact_match"]) for k in keys]
    fig = go.Figure(go.Bar(x=keys, y=vals, marker_color=PALETTE[0], text=[fmt(v) for v in vals],
                           textposition="outside", hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    fig.update_yaxes(title_text="exact match (free running, greedy)", range=[0, 1.1])
    task = res["data"].get("task", "addition")
    sums = "test sums" if task == "addition" else f"test sums of 1–{task[len('addition'):]} digits"
    return [style_legend_below(fig, title=f"free-running exact match ({res['data'].get('steps')} training steps, "
                                          f"{res['data'].get('examples')} {sums})", height=380),
            _per_position_error_lines(models, "per-position token error (solid TF, dotted FR)")]


def ss_like(res: dict) -> list[go.Figure]:
    """The per-model layout (bars of exact match, per-position error lines) of results that have one."""
    return _ss_like(res)


# experiment name -> the builder of its figures
FIGURES = {"recovery": _recovery, "label-smoothing": _label_smoothing, "tbptt": _tbptt, "bpe-vocab": _bpe}
