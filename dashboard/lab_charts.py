"""Chart builders of the exposure lab: pure functions from engine.exposure.analyze() results and
engine.experiments results (JSON dicts) to Plotly figures. No Streamlit, no engine imports, explicit
colours (the same `_style` as dashboard/charts.py), so every builder is unit-tested without a browser.
"""
from __future__ import annotations

import math
from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import CHOSEN, GRID, INK, PALETTE, _style

TF, FR = PALETTE[0], PALETTE[1]


def _lstyle(fig: go.Figure, *, title: Optional[str] = None, height: Optional[int] = None) -> go.Figure:
    """dashboard.charts._style plus a horizontal legend under the plot: the lab's charts often sit
    two side by side, where a legend on the right would squeeze the plot area."""
    _style(fig, title=title, height=(height + 60) if height else None)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, x=0, xanchor="left",
                                  bgcolor="rgba(255,255,255,0.85)", font=dict(color=INK, size=12)),
                      margin=dict(b=130, r=20, l=60))
    if title and fig.layout.annotations:       # subplot titles: keep the figure title above them
        fig.update_layout(margin=dict(t=110), title=dict(y=0.98, yanchor="top"))
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _num(x) -> Optional[float]:
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def fmt(x, digits: int = 3) -> str:
    x = _num(x)
    return "—" if x is None else f"{x:.{digits}f}"


def _band(fig, x, lo, hi, colour, name, row=None, col=None, showlegend=False):
    """A filled confidence band between lo and hi (points with a missing bound are skipped)."""
    pts = [(a, _num(l), _num(h)) for a, l, h in zip(x, lo, hi)]
    pts = [(a, l, h) for a, l, h in pts if l is not None and h is not None]
    if not pts:
        return
    xs = [p[0] for p in pts] + [p[0] for p in reversed(pts)]
    ys = [p[2] for p in pts] + [p[1] for p in reversed(pts)]
    kw = {"row": row, "col": col} if row else {}
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=_rgba(colour, 0.18), line=dict(width=0),
                             hoverinfo="skip", name=name, showlegend=showlegend), **kw)


def _line(fig, x, y, colour, name, *, dash=None, row=None, col=None, showlegend=True, symbol="circle",
          hover="%{y:.4f}"):
    kw = {"row": row, "col": col} if row else {}
    fig.add_trace(go.Scatter(x=x, y=[_num(v) for v in y], mode="lines+markers", name=name, showlegend=showlegend,
                             line=dict(color=colour, width=2.5, dash=dash), marker=dict(size=6, symbol=symbol),
                             hovertemplate=f"x=%{{x}}<br>{hover}<extra>{name}</extra>"), **kw)


# -- dataset analysis (engine.exposure.analyze) ----------------------------------------------------

def per_position_figure(res: dict, *, title: Optional[str] = None) -> go.Figure:
    """Token error rate and reference NLL per predicted position, teacher forcing vs free running,
    with the bootstrap bands (resampled examples)."""
    p = res["per_position"]
    x = list(range(len(p["tf_error"])))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=("token error rate", "NLL of the reference token (nats)"))
    for r, key in ((1, "error"), (2, "nll")):
        for mode, colour, label in (("tf", TF, "teacher forcing"), ("fr", FR, "free running")):
            _band(fig, x, p[f"{mode}_{key}_lo"], p[f"{mode}_{key}_hi"], colour, f"{label} 95% band", row=r, col=1)
            _line(fig, x, p[f"{mode}_{key}"], colour, label, row=r, col=1, showlegend=r == 1,
                  dash=None if mode == "tf" else "dot")
    fig.update_xaxes(title_text="predicted position t" + (f" (after a {res.get('prompt_tokens')}-token prompt)"
                                                           if res.get("prompt_tokens") else ""), row=2, col=1)
    fig.update_yaxes(rangemode="tozero")
    return _lstyle(fig, title=title or f"{res.get('model', '')}: per position, TF vs FR "
                  f"({res.get('examples')} examples, 95% bootstrap bands)", height=520)


def reliability_figure(cal: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Reliability diagram: accuracy against confidence per bin, TF and FR contexts, with the
    diagonal of perfect calibration; ECE in the legend; marker size ~ bin count."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color=INK, dash="dash", width=1.2), hoverinfo="skip"))
    for mode, colour, name in (("tf", TF, "teacher forcing"), ("fr", FR, "free running")):
        bins = [b for b in cal.get(f"{mode}_bins") or [] if b.get("count") and b.get("confidence") is not None]
        if not bins:
            continue
        total = sum(b["count"] for b in bins)
        size = [8 + 22 * math.sqrt(b["count"] / total) for b in bins]
        fig.add_trace(go.Scatter(
            x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins], mode="lines+markers",
            name=f"{name} (ECE {fmt(cal.get(f'{mode}_ece'), 4)})", line=dict(color=colour, width=2.5),
            marker=dict(size=size, color=colour, line=dict(color="#ffffff", width=1)),
            customdata=[[b["count"], b["lo"], b["hi"]] for b in bins],
            hovertemplate="bin %{customdata[1]:.1f}–%{customdata[2]:.1f}: %{customdata[0]} tokens<br>"
                          "confidence %{x:.3f}, accuracy %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_xaxes(title_text="confidence (top-token probability)", range=[0, 1.02])
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02])
    return _lstyle(fig, title=title or f"{label + ': ' if label else ''}reliability diagram", height=420)


def recovery_figure(rec: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """After the model's best wrong token is forced at step t0: the share of examples whose next
    tokens match the gold (injected vs not injected) and the share back on the uninjected track."""
    steps = rec.get("steps") or []
    x = [s["steps_since"] for s in steps]
    fig = go.Figure()
    _line(fig, x, [s["uninjected_matches_gold"] for s in steps], TF, "no injection: token = gold", hover="%{y:.3f}")
    _line(fig, x, [s["injected_matches_gold"] for s in steps], FR, "wrong token injected: token = gold",
          hover="%{y:.3f}")
    _line(fig, x, [s.get("injected_matches_uninjected") for s in steps], PALETTE[2],
          "injected run = uninjected run", dash="dot", hover="%{y:.3f}")
    fig.update_xaxes(title_text=f"steps since the injection (t0 = {rec.get('t0')})")
    fig.update_yaxes(title_text="share of examples", range=[0, 1.03])
    seq = (f"<br><sup>rest of the sequence right: {fmt(rec.get('injected_sequence_correct'))} injected vs "
           f"{fmt(rec.get('uninjected_sequence_correct'))} not</sup>") if rec.get("steps") else ""
    return _lstyle(fig, title=title or f"{label + ': ' if label else ''}recovery ({rec.get('examples', 0)} examples){seq}",
                  height=400)


def compounding_figure(comp: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """The measured cumulative NLL gap sum_t (NLL_FR - NLL_TF) against the compounding model's
    prediction (d - c) * sum_t [1 - (1 - e)^(t-1)] with the fitted c, d, e."""
    meas = comp.get("measured_cumulative_gap") or []
    pred = comp.get("predicted_cumulative_gap") or []
    fig = go.Figure()
    _line(fig, list(range(1, len(meas) + 1)), meas, INK, "measured cumulative gap")
    _line(fig, list(range(1, len(pred) + 1)), pred, CHOSEN, "predicted ΔNLL(T)", dash="dash", symbol="diamond")
    fig.update_xaxes(title_text="T (predicted positions)")
    fig.update_yaxes(title_text="Σ_{t≤T} NLL_FR − NLL_TF (nats)")
    sub = (f"c = {fmt(comp.get('c'), 4)}, d = {fmt(comp.get('d'), 4)}, e = {fmt(comp.get('e'), 4)}; "
           f"RMSE {fmt(comp.get('rmse'), 4)} (relative {fmt(comp.get('relative_rmse'), 3)})")
    return _lstyle(fig, title=title or f"{label + ': ' if label else ''}compounding model<br><sup>{sub}</sup>",
                  height=420)


def drift_figure(drift: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """||h_FR - h_TF|| against steps since the inputs first differed, the fitted recursion
    D(s) = alpha * D(s-1) + eps iterated from the first point, and its steady gap eps / (1 - alpha)."""
    curve = drift.get("curve") or []
    x = list(range(len(curve)))
    fig = go.Figure()
    if curve:
        fig.add_trace(go.Scatter(x=x, y=curve, mode="lines+markers", name="measured ‖h_FR − h_TF‖",
                                 line=dict(color=PALETTE[2], width=2.5),
                                 customdata=drift.get("counts") or [None] * len(curve),
                                 hovertemplate="s=%{x}: %{y:.3f} (%{customdata} examples)<extra></extra>"))
        a, e = _num(drift.get("alpha")), _num(drift.get("eps"))
        if a is not None and e is not None:
            d, fit = curve[0], [curve[0]]
            for _ in x[1:]:
                d = a * d + e
                fit.append(d if abs(d) < 1e12 else None)
            _line(fig, x, fit, PALETTE[3], f"fit D(s) = {a:.3f}·D(s−1) + {e:.3f}", dash="dash", symbol="diamond")
        steady = _num(drift.get("predicted_steady_gap"))
        if steady is not None:
            fig.add_hline(y=steady, line=dict(color=CHOSEN, dash="dot", width=2),
                          annotation_text=f"predicted steady gap ε/(1−α) = {steady:.3f}", annotation_font_color=INK)
        plateau = _num(drift.get("measured_plateau"))
        if plateau is not None:
            fig.add_hline(y=plateau, line=dict(color=INK, dash="dot", width=1.2),
                          annotation_text=f"measured plateau {plateau:.3f}", annotation_position="bottom right",
                          annotation_font_color=INK)
    else:
        fig.add_annotation(text=drift.get("regime") or "no drift measured", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper", font=dict(color=INK, size=15))
    fig.update_xaxes(title_text="steps s since the decoder inputs first differed")
    fig.update_yaxes(title_text="hidden-state distance (L2)", rangemode="tozero")
    sub = f"α = {fmt(drift.get('alpha'))}: {drift.get('regime', '')} ({drift.get('examples', 0)} examples drifted)"
    return _lstyle(fig, title=title or f"{label + ': ' if label else ''}hidden-state drift<br><sup>{sub}</sup>",
                  height=420)


def oracle_figure(orc: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Exact per-step KL(oracle || model) on data prefixes vs the model's own prefixes (with bands),
    and %ExAccErr(l) of Arora et al. (2022)."""
    kd, km = orc.get("kl_data_prefixes") or [], orc.get("kl_model_prefixes") or []
    x = list(range(1, len(kd) + 1))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("KL(oracle ‖ model) per step (nats)", "%ExAccErr(l)"))
    _band(fig, x, orc.get("kl_data_lo") or [], orc.get("kl_data_hi") or [], TF, "data band", row=1, col=1)
    _band(fig, x, orc.get("kl_model_lo") or [], orc.get("kl_model_hi") or [], FR, "model band", row=1, col=1)
    _line(fig, x, kd, TF, "on data prefixes", row=1, col=1)
    _line(fig, x, km, FR, f"on the model's own prefixes ({orc.get('decoding_of_model_prefixes', 'sampled')})",
          dash="dot", row=1, col=1)
    _line(fig, x, orc.get("pct_ex_acc_err") or [], PALETTE[3], "%ExAccErr", row=2, col=1, hover="%{y:.2f} %")
    fig.update_xaxes(title_text="position l", row=2, col=1)
    sub = (f"AccErr({orc.get('length')}) = {fmt(orc.get('acc_err_at_length'), 4)}, "
           f"%ExAccErr = {fmt(orc.get('pct_ex_acc_err_at_length'), 2)} %")
    return _lstyle(fig, title=title or f"{label + ': ' if label else ''}oracle KL<br><sup>{sub}</sup>", height=520)


def sequence_rows(results: dict[str, dict]) -> list[dict]:
    """One table row per analysed model: sequence-level figures and the fitted constants."""
    rows = []
    for name, r in results.items():
        s, c, d, cal = r["sequence"], r["compounding"], r["drift"], r["calibration"]
        row = {"model": name, "examples": r.get("examples"),
               "exact match (FR)": s.get("fr_exact_match"),
               "95% band": f"[{fmt(s.get('fr_exact_match_lo'))}, {fmt(s.get('fr_exact_match_hi'))}]",
               "chrF": s.get("chrf"), "BLEU": s.get("bleu"),
               "token error TF": s.get("tf_token_error"), "token error FR": s.get("fr_token_error"),
               "NLL/token TF": s.get("tf_nll_per_token"), "NLL/token FR": s.get("fr_nll_per_token"),
               "ECE TF": cal.get("tf_ece"), "ECE FR": cal.get("fr_ece"),
               "c": c.get("c"), "d": c.get("d"), "e": c.get("e"),
               "drift α": d.get("alpha"), "drift regime": d.get("regime")}
        if "oracle" in r:
            row["%ExAccErr"] = r["oracle"].get("pct_ex_acc_err_at_length")
        rows.append(row)
    return rows


# -- the eight experiments (engine.experiments results) --------------------------------------------

def _bars(items: dict[str, float], *, colour=PALETTE[0], name="", text_digits=3) -> go.Bar:
    keys = list(items)
    vals = [_num(items[k]) for k in keys]
    return go.Bar(x=keys, y=vals, name=name, marker_color=colour,
                  text=[fmt(v, text_digits) for v in vals], textposition="outside",
                  hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>")


def _per_position_error_lines(models: dict[str, dict], key_tf: str, key_fr: Optional[str], title: str) -> go.Figure:
    fig = go.Figure()
    for i, (name, m) in enumerate(models.items()):
        colour = PALETTE[i % len(PALETTE)]
        tf = m[key_tf]
        _line(fig, list(range(len(tf))), tf, colour, f"{name} TF" if key_fr else name)
        if key_fr:
            fr = m[key_fr]
            _line(fig, list(range(len(fr))), fr, colour, f"{name} FR", dash="dot", symbol="x")
    fig.update_xaxes(title_text="predicted position t")
    fig.update_yaxes(title_text="token error rate", rangemode="tozero")
    return _lstyle(fig, title=title, height=420)


def _tf_vs_fr(res: dict) -> list[go.Figure]:
    d = res["data"]
    figs = []
    fig = go.Figure()
    for i, (name, r) in enumerate(d.items()):
        p, colour = r["per_position"], PALETTE[i % len(PALETTE)]
        x = list(range(len(p["tf_error"])))
        _band(fig, x, p["fr_error_lo"], p["fr_error_hi"], colour, f"{name} FR band")
        _line(fig, x, p["tf_error"], colour, f"{name}: teacher forcing")
        _line(fig, x, p["fr_error"], colour, f"{name}: free running", dash="dot", symbol="x")
    fig.update_xaxes(title_text="predicted position t (answer digit)")
    fig.update_yaxes(title_text="token error rate", rangemode="tozero")
    figs.append(_lstyle(fig, title="per-position token error, TF vs FR (FR 95% band)", height=430))
    gap = go.Figure()
    for i, (name, r) in enumerate(d.items()):
        s = r["sequence"]
        gap.add_trace(go.Bar(x=["TF token error", "FR token error", "FR exact-match error"],
                             y=[s["tf_token_error"], s["fr_token_error"], 1 - s["fr_exact_match"]], name=name,
                             marker_color=PALETTE[i % len(PALETTE)],
                             text=[fmt(v, 4) for v in (s["tf_token_error"], s["fr_token_error"], 1 - s["fr_exact_match"])],
                             textposition="outside"))
    gap.update_layout(barmode="group")
    figs.append(_lstyle(gap, title="whole-dataset error rates", height=380))
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
    figs = [_lstyle(fig, title=f"{title_em} ({res['data'].get('steps')} training steps, "
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
            _line(fig, [s["steps_since"] for s in steps], [s["injected_matches_gold"] for s in steps],
                  PALETTE[i % len(PALETTE)], f"{name}, {t0}", dash=dashes[j % len(dashes)], hover="%{y:.3f}")
    fig.update_xaxes(title_text="steps since the injected wrong token")
    fig.update_yaxes(title_text="share of next tokens equal to the gold", range=[0, 1.03])
    figs = [_lstyle(fig, title="back on track after an injected error", height=430)]
    bar = go.Figure()
    for i, (name, by_t0) in enumerate(d.items()):
        bar.add_trace(go.Bar(x=list(by_t0), y=[r.get("injected_sequence_correct") for r in by_t0.values()],
                             name=name, marker_color=PALETTE[i % len(PALETTE)],
                             text=[fmt(r.get("injected_sequence_correct")) for r in by_t0.values()],
                             textposition="outside"))
    bar.update_layout(barmode="group")
    bar.update_yaxes(title_text="rest of the sequence right after the injection", range=[0, 1.1])
    bar.update_xaxes(title_text="injection step")
    figs.append(_lstyle(bar, title="recovered sequences per injection step", height=380))
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
            _line(fig, [r["beam"] for r in rs], [r[key] for r in rs], PALETTE[i], name, row=1, col=col,
                  showlegend=col == 1, dash=None if lp == 0 else "dash")
    fig.update_xaxes(type="log", title_text="beam width", tickvals=sorted({r["beam"] for r in rows}))
    what = "sums" if d.get("model", "").startswith("addition") else "prompts"
    fig = _lstyle(fig, title=f"beam width on {d.get('model')} ({d.get('examples')} {what})", height=420)
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
    figs = [_lstyle(fig, title="reliability diagrams (marker size ~ tokens in the bin)", height=440)]
    ece = go.Figure()
    for i, mode in enumerate(("tf", "fr")):
        ece.add_trace(go.Bar(x=names, y=[d[n]["calibration"][f"{mode}_ece"] for n in names],
                             name="teacher forcing" if mode == "tf" else "free running", marker_color=PALETTE[i],
                             text=[fmt(d[n]["calibration"][f"{mode}_ece"], 4) for n in names], textposition="outside"))
    ece.update_layout(barmode="group")
    ece.update_yaxes(title_text="expected calibration error", rangemode="tozero")
    figs.append(_lstyle(ece, title="expected calibration error", height=360))
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
            vals = [_num(rows[s].get(key)) for s in strategies]
            if key == "self_bleu":
                vals = [None if v is None else v / 100 for v in vals]
            fig.add_trace(go.Bar(x=strategies, y=vals, marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(strategies))],
                                 showlegend=False, hovertemplate="%{x}: %{y:.4f}<extra></extra>"), row=1, col=c)
        fig.update_xaxes(tickangle=-50)
        figs.append(_lstyle(fig, title=f"{model}: decoding strategies", height=430))
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
    return [_lstyle(fig, title=f"vocabulary size ({res['data'].get('steps')} training steps, "
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


# -- training (the Train page) ---------------------------------------------------------------------

def training_figure(steps: list[dict], evals: list[dict], *, title: Optional[str] = None) -> go.Figure:
    """Live training curves: the loss per step (and its running mean), eps of the scheduled-sampling
    schedule, and the validation rows (loss / metric) at each evaluation."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if steps:
        x = [s["step"] for s in steps]
        y = [s["loss"] for s in steps]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="training loss", line=dict(color=_rgba(PALETTE[0], 0.35), width=1)))
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
    return _lstyle(fig, title=title or "training", height=420)


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
    return _lstyle(fig, title=title or f"scheduled sampling: {schedule} schedule", height=300)
