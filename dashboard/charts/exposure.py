"""The exposure lab's dataset analysis (engine.analyze results, docs/exposure.md): teacher forcing vs
free running per position, calibration, recovery after an injected error, the compounding model,
hidden-state drift and the oracle KL."""
from __future__ import annotations

import math
from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.marks import band, line
from dashboard.charts.style import CHOSEN, FR, INK, PALETTE, TF, finite, fmt, style_legend_below


def per_position_figure(res: dict, *, title: Optional[str] = None) -> go.Figure:
    """Token error rate and reference NLL per predicted position, teacher forcing vs free running,
    with the bootstrap bands (resampled examples)."""
    p = res["per_position"]
    x = list(range(len(p["tf_error"])))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=("token error rate", "NLL of the reference token (nats)"))
    for r, key in ((1, "error"), (2, "nll")):
        for mode, colour, label in (("tf", TF, "teacher forcing"), ("fr", FR, "free running")):
            band(fig, x, p[f"{mode}_{key}_lo"], p[f"{mode}_{key}_hi"], colour, f"{label} 95% band", row=r, col=1)
            line(fig, x, p[f"{mode}_{key}"], colour, label, row=r, col=1, showlegend=r == 1,
                  dash=None if mode == "tf" else "dot")
    fig.update_xaxes(title_text="predicted position t" + (f" (after a {res.get('prompt_tokens')}-token prompt)"
                                                           if res.get("prompt_tokens") else ""), row=2, col=1)
    fig.update_yaxes(rangemode="tozero")
    return style_legend_below(fig, title=title or f"{res.get('model', '')}: per position, TF vs FR "
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
    return style_legend_below(fig, title=title or f"{label + ': ' if label else ''}reliability diagram", height=420)


def exposure_recovery_figure(rec: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """After the model's best wrong token is forced at step t0: the share of examples whose next
    tokens match the gold (injected vs not injected) and the share back on the uninjected track."""
    steps = rec.get("steps") or []
    x = [s["steps_since"] for s in steps]
    fig = go.Figure()
    line(fig, x, [s["uninjected_matches_gold"] for s in steps], TF, "no injection: token = gold", hover="%{y:.3f}")
    line(fig, x, [s["injected_matches_gold"] for s in steps], FR, "wrong token injected: token = gold",
          hover="%{y:.3f}")
    line(fig, x, [s.get("injected_matches_uninjected") for s in steps], PALETTE[2],
          "injected run = uninjected run", dash="dot", hover="%{y:.3f}")
    fig.update_xaxes(title_text=f"steps since the injection (t0 = {rec.get('t0')})")
    fig.update_yaxes(title_text="share of examples", range=[0, 1.03])
    seq = (f"<br><sup>rest of the sequence right: {fmt(rec.get('injected_sequence_correct'))} injected vs "
           f"{fmt(rec.get('uninjected_sequence_correct'))} not</sup>") if rec.get("steps") else ""
    return style_legend_below(
        fig, title=title or f"{label + ': ' if label else ''}recovery ({rec.get('examples', 0)} examples){seq}",
        height=400)


def compounding_figure(comp: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """The measured cumulative NLL gap sum_t (NLL_FR - NLL_TF) against the compounding model's
    prediction (d - c) * sum_t [1 - (1 - e)^(t-1)] with the fitted c, d, e."""
    meas = comp.get("measured_cumulative_gap") or []
    pred = comp.get("predicted_cumulative_gap") or []
    fig = go.Figure()
    line(fig, list(range(1, len(meas) + 1)), meas, INK, "measured cumulative gap")
    line(fig, list(range(1, len(pred) + 1)), pred, CHOSEN, "predicted ΔNLL(T)", dash="dash", symbol="diamond")
    fig.update_xaxes(title_text="T (predicted positions)")
    fig.update_yaxes(title_text="Σ_{t≤T} NLL_FR − NLL_TF (nats)")
    sub = (f"c = {fmt(comp.get('c'), 4)}, d = {fmt(comp.get('d'), 4)}, e = {fmt(comp.get('e'), 4)}; "
           f"RMSE {fmt(comp.get('rmse'), 4)} (relative {fmt(comp.get('relative_rmse'), 3)})")
    return style_legend_below(
        fig, title=title or f"{label + ': ' if label else ''}compounding model<br><sup>{sub}</sup>", height=420)


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
        a, e = finite(drift.get("alpha")), finite(drift.get("eps"))
        if a is not None and e is not None:
            d, fit = curve[0], [curve[0]]
            for _ in x[1:]:
                d = a * d + e
                fit.append(d if abs(d) < 1e12 else None)
            line(fig, x, fit, PALETTE[3], f"fit D(s) = {a:.3f}·D(s−1) + {e:.3f}", dash="dash", symbol="diamond")
        steady = finite(drift.get("predicted_steady_gap"))
        if steady is not None:
            fig.add_hline(y=steady, line=dict(color=CHOSEN, dash="dot", width=2),
                          annotation_text=f"predicted steady gap ε/(1−α) = {steady:.3f}", annotation_font_color=INK)
        plateau = finite(drift.get("measured_plateau"))
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
    return style_legend_below(
        fig, title=title or f"{label + ': ' if label else ''}hidden-state drift<br><sup>{sub}</sup>", height=420)


def oracle_figure(orc: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Exact per-step KL(oracle || model) on data prefixes vs the model's own prefixes (with bands),
    and %ExAccErr(l) of Arora et al. (2022)."""
    kd, km = orc.get("kl_data_prefixes") or [], orc.get("kl_model_prefixes") or []
    x = list(range(1, len(kd) + 1))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("KL(oracle ‖ model) per step (nats)", "%ExAccErr(l)"))
    band(fig, x, orc.get("kl_data_lo") or [], orc.get("kl_data_hi") or [], TF, "data band", row=1, col=1)
    band(fig, x, orc.get("kl_model_lo") or [], orc.get("kl_model_hi") or [], FR, "model band", row=1, col=1)
    line(fig, x, kd, TF, "on data prefixes", row=1, col=1)
    line(fig, x, km, FR, f"on the model's own prefixes ({orc.get('decoding_of_model_prefixes', 'sampled')})",
          dash="dot", row=1, col=1)
    line(fig, x, orc.get("pct_ex_acc_err") or [], PALETTE[3], "%ExAccErr", row=2, col=1, hover="%{y:.2f} %")
    fig.update_xaxes(title_text="position l", row=2, col=1)
    sub = (f"AccErr({orc.get('length')}) = {fmt(orc.get('acc_err_at_length'), 4)}, "
           f"%ExAccErr = {fmt(orc.get('pct_ex_acc_err_at_length'), 2)} %")
    return style_legend_below(fig, title=title or f"{label + ': ' if label else ''}oracle KL<br><sup>{sub}</sup>", height=520)


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
