"""The exposure lab's dataset analysis (engine.analyze results, docs/exposure.md): teacher forcing vs
free running per position, calibration, recovery after an injected error, the compounding model,
hidden-state drift and the oracle KL."""
from __future__ import annotations

import math
import re
from typing import Optional

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.marks import band, line
from dashboard.charts.style import CHOSEN, FR, INK, PALETTE, TF, finite, fmt, rgba, style_legend_below

SMALL_N = 30            # the default of engine/exposure/stats.py SMALL_N (a result carries its own)
MUTED = "#8a8a8a"       # small-n shading and per-seed lines


def line_n(fig: go.Figure, x, y, n, colour: str, name: str, *, dash=None, row=None, col=None,
           showlegend: bool = True, digits: int = 4, unit: str = "") -> None:
    """Values as a line with markers whose hover gives the number of examples n behind each point;
    a point over fewer than SMALL_N examples is drawn hollow."""
    kw = {"row": row, "col": col} if row else {}
    n = list(n) if n is not None else [None] * len(x)
    symbols = ["circle-open" if (k is not None and k < SMALL_N) else "circle" for k in n]
    fig.add_trace(go.Scatter(x=x, y=[finite(v) for v in y], mode="lines+markers", name=name, showlegend=showlegend,
                             line=dict(color=colour, width=2.5, dash=dash), marker=dict(size=7, symbol=symbols),
                             customdata=[[k] for k in n],
                             hovertemplate=f"x=%{{x}}: %{{y:.{digits}f}}{unit} (n = %{{customdata[0]}})"
                                           f"<extra>{name}</extra>"), **kw)


# engine/exposure/drift.regime names the interval of alpha; the drift chart's subtitle states it just before
_REGIME_INTERVAL = re.compile(r" \(alpha (?:above|below) 1: 95% interval \[[^\]]*\]\)|95% interval of alpha \[[^\]]*\] ")


def regime_label(regime: str) -> str:
    """The drift regime without its interval of alpha: "stable drift", "explosive", "undetermined: the
    interval includes 1" (the subtitle puts the interval in front; stated twice it took a third line)."""
    return _REGIME_INTERVAL.sub(lambda m: "" if m.group(0).startswith(" (") else "interval ", regime or "")


def mark_small_n(fig: go.Figure, x, n, small: int, row=None, col=None) -> list:
    """Grey shading over the positions with fewer than `small` examples; returns those positions."""
    few = [a for a, k in zip(x, n) if k is not None and k < small]
    for a in few:
        fig.add_vrect(x0=a - 0.5, x1=a + 0.5, fillcolor=rgba(MUTED, 0.25), line_width=0, layer="below",
                      **({"row": row, "col": col} if row else {}))
    return few


def n_bars(fig: go.Figure, x, n, small: int, row: int, name: str = "examples n") -> None:
    """A thin panel of bars: the number of examples behind each position (grey below `small`)."""
    fig.add_trace(go.Bar(x=x, y=n, name=name, marker_color=[MUTED if (k or 0) < small else INK for k in n],
                         opacity=0.55, showlegend=False, hovertemplate="position %{x}: n = %{y}<extra></extra>"),
                  row=row, col=1)


def per_position_figure(res: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Token error rate (Wilson 95% intervals) and reference NLL (95% bootstrap bands over examples) per
    predicted position, teacher forcing vs free running; the examples n per position in the hover and
    in a thin bottom panel; positions with n < SMALL_N shaded grey (few examples: wide intervals)."""
    p = res["per_position"]
    x = list(range(len(p["tf_error"])))
    small = p.get("small_n", SMALL_N)
    n_tf, n_fr = p.get("examples") or [None] * len(x), p.get("fr_examples") or p.get("examples") or [None] * len(x)
    # the gaps hold the lower panels' titles: at 0.07 the x axis above ran through them in two columns
    # presented at 1280x720 (tests/test_browser_overlap.py checks axis lines too)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.12, row_heights=[0.42, 0.42, 0.16],
                        subplot_titles=("token error rate (Wilson 95%)", "NLL of the reference token (nats, "
                                        "bootstrap 95%)", "examples n per position"))
    for r, key in ((1, "error"), (2, "nll")):
        for mode, colour, name, n in (("tf", TF, "teacher forcing", n_tf), ("fr", FR, "free running", n_fr)):
            band(fig, x, p[f"{mode}_{key}_lo"], p[f"{mode}_{key}_hi"], colour, f"{name} 95% band", row=r, col=1)
            line_n(fig, x, p[f"{mode}_{key}"], n_tf if key == "error" else n, colour, name, row=r, col=1,
                   showlegend=r == 1, dash=None if mode == "tf" else "dot")
    n_bars(fig, x, n_tf, small, row=3)
    few = [a for a, k in zip(x, n_tf) if k is not None and k < small]
    for r in (1, 2):
        mark_small_n(fig, x, n_tf, small, row=r, col=1)
    fig.update_xaxes(title_text="predicted position t" + (f" (after a {res.get('prompt_tokens')}-token prompt)"
                                                           if res.get("prompt_tokens") else ""), row=3, col=1)
    fig.update_yaxes(rangemode="tozero")
    note = f"; grey: fewer than {small} examples ({len(few)} position{'s' if len(few) != 1 else ''})" if few else ""
    gold = " against one sampled gold token (not exposure bias on hmm)" if res.get("task") == "hmm" else ""
    return style_legend_below(fig, title=title or f"{label or res.get('model', '')}: per position, TF vs FR{gold}"
                              f"<br><sup>{res.get('examples')} examples{note}</sup>", height=600)


def reliability_figure(cal: dict, *, title: Optional[str] = None, label: str = "",
                       y_title: str = "accuracy") -> go.Figure:
    """Reliability diagram: accuracy against confidence per bin, TF and FR contexts, with the
    diagonal of perfect calibration; ECE in the legend; marker size ~ bin count (n in the hover).
    y_title names what "accuracy" is (e.g. the oracle's probability of the chosen token)."""
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
                          "confidence %{x:.3f}, " + y_title + " %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_xaxes(title_text="confidence (top-token probability)", range=[0, 1.02])
    fig.update_yaxes(title_text=y_title, range=[0, 1.02])
    return style_legend_below(fig, title=title or f"{label + ': ' if label else ''}reliability diagram", height=420)


def exposure_recovery_figure(rec: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """After the model's best wrong token is forced at step t0: the share of examples whose next
    tokens match the gold (injected vs not injected, Wilson 95% bands) and the share back on the
    uninjected track; n per step in the hover, steps with n < SMALL_N drawn hollow."""
    steps = rec.get("steps") or []
    x = [s["steps_since"] for s in steps]
    n = [s.get("examples") for s in steps]
    fig = go.Figure()
    for key, colour, name in (("uninjected_matches_gold", TF, "no injection: token = gold"),
                              ("injected_matches_gold", FR, "wrong token injected: token = gold")):
        band(fig, x, [s.get(key + "_lo") for s in steps], [s.get(key + "_hi") for s in steps], colour, name + " band")
        line_n(fig, x, [s[key] for s in steps], n, colour, name, digits=3)
    line_n(fig, x, [s.get("injected_matches_uninjected") for s in steps], n, PALETTE[2],
           "injected run = uninjected run", dash="dot", digits=3)
    fig.update_xaxes(title_text=f"steps since the injection (t0 = {rec.get('t0')})")
    fig.update_yaxes(title_text="share of examples", range=[0, 1.03])
    seq = (f"<br><sup>rest of the sequence right: {fmt(rec.get('injected_sequence_correct'))} injected vs "
           f"{fmt(rec.get('uninjected_sequence_correct'))} not; bands: Wilson 95%</sup>") if rec.get("steps") else ""
    return style_legend_below(
        fig, title=title or f"{label + ': ' if label else ''}recovery ({rec.get('examples', 0)} examples){seq}",
        height=400)


def compounding_figure(comp: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """The measured cumulative NLL gap sum_t (NLL_FR - NLL_TF) against the compounding model's
    prediction (d - c) * sum_t [1 - (1 - e)^(t-1)] with the fitted c, d, e."""
    meas = comp.get("measured_cumulative_gap") or []
    pred = comp.get("predicted_cumulative_gap") or []
    fig = go.Figure()
    line_n(fig, list(range(1, len(meas) + 1)), meas, comp.get("examples"), INK, "measured cumulative gap")
    line(fig, list(range(1, len(pred) + 1)), pred, CHOSEN, "predicted ΔNLL(T)", dash="dash", symbol="diamond")
    fig.update_xaxes(title_text="T (predicted positions)")
    fig.update_yaxes(title_text="Σ_{t≤T} NLL_FR − NLL_TF (nats)")
    # one line presented (style.finish wraps a subtitle at ~60 characters there): "0.126)" wrapped alone
    sub = (f"c={fmt(comp.get('c'), 4)}, d={fmt(comp.get('d'), 4)}, e={fmt(comp.get('e'), 4)} · "
           f"RMSE {fmt(comp.get('rmse'), 4)} (rel. {fmt(comp.get('relative_rmse'), 3)})")
    return style_legend_below(
        fig, title=title or f"{label + ': ' if label else ''}compounding model<br><sup>{sub}</sup>", height=420)


def drift_figure(drift: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """||h_FR - h_TF|| against steps since the inputs first differed, the fitted recursion
    D(s) = alpha * D(s-1) + eps iterated from the first point, and its steady gap eps / (1 - alpha)."""
    curve = drift.get("curve") or []
    x = list(range(len(curve)))
    fig = go.Figure()
    if curve:
        counts = drift.get("counts") or [None] * len(curve)
        fig.add_trace(go.Scatter(x=x, y=curve, mode="lines+markers", name="measured ‖h_FR − h_TF‖",
                                 line=dict(color=PALETTE[2], width=2.5),
                                 marker=dict(symbol=["circle-open" if (k or 0) < SMALL_N else "circle" for k in counts]),
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
    sub = (f"α = {fmt(drift.get('alpha'))} [{fmt(drift.get('alpha_lo'))}, {fmt(drift.get('alpha_hi'))}] (bootstrap 95%): "
           f"{regime_label(drift.get('regime', ''))} ({drift.get('examples', 0)} examples drifted)")
    return style_legend_below(
        fig, title=title or f"{label + ': ' if label else ''}hidden-state drift<br><sup>{sub}</sup>", height=420)


def oracle_figure(orc: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Exact per-step KL(oracle || model) on data prefixes vs the model's own sampled prefixes, with
    95% bootstrap bands over the sequences of all sampling seeds and n per step in the hover."""
    kd, km = orc.get("kl_data_prefixes") or [], orc.get("kl_model_prefixes") or []
    x = list(range(1, len(kd) + 1))
    fig = go.Figure()
    band(fig, x, orc.get("kl_data_lo") or [], orc.get("kl_data_hi") or [], TF, "data band")
    band(fig, x, orc.get("kl_model_lo") or [], orc.get("kl_model_hi") or [], FR, "model band")
    line_n(fig, x, kd, orc.get("kl_data_examples"), TF, "on data prefixes", digits=5)
    line_n(fig, x, km, orc.get("kl_model_examples"), FR,
           f"on the model's own prefixes ({orc.get('decoding_of_model_prefixes', 'sampled')})", dash="dot", digits=5)
    fig.update_xaxes(title_text="position l")
    fig.update_yaxes(title_text="KL(oracle ‖ model) (nats)", rangemode="tozero")
    seeds = orc.get("seeds") or [orc.get("seed", 0)]
    sub = (f"{len(seeds)} sampling seed{'s' if len(seeds) > 1 else ''} × {orc.get('examples')} sequences; "
           f"mean KL {fmt(orc.get('mean_kl_data'), 4)} (data) vs {fmt(orc.get('mean_kl_model'), 4)} (own)")
    return style_legend_below(fig, title=title or f"{label + ': ' if label else ''}KL to the oracle per step"
                              f"<br><sup>{sub}</sup>", height=440)


def acc_err_figure(orc: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Arora et al. (2022), fig. style: AccErr(l) and %ExAccErr(l) against the length l, the mean over
    the sampling seeds with its 95% Student t band, and each seed as a thin grey line (the spread)."""
    x = list(range(1, len(orc.get("acc_err") or []) + 1))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("AccErr(l) (nats)", "%ExAccErr(l)"))
    k = len(orc.get("seeds") or [])
    for r, key, unit in ((1, "acc_err", ""), (2, "pct_ex_acc_err", " %")):
        for i, curve in enumerate(orc.get(f"{key}_per_seed") or []):
            fig.add_trace(go.Scatter(x=x, y=curve, mode="lines", line=dict(color=MUTED, width=1),
                                     name="one sampling seed", showlegend=r == 1 and i == 0, legendgroup="seed",
                                     hovertemplate=f"seed {orc['seeds'][i]}, l=%{{x}}: %{{y:.3f}}{unit}<extra></extra>"),
                          row=r, col=1)
        band(fig, x, orc.get(f"{key}_lo") or [], orc.get(f"{key}_hi") or [], PALETTE[3],
             f"95% t interval over {k} seeds", row=r, col=1, showlegend=r == 1)
        line(fig, x, orc.get(key) or [], PALETTE[3], f"mean over {k} seeds", row=r, col=1, showlegend=r == 1,
             hover="%{y:.3f}" + unit)
        fig.add_hline(y=0, line=dict(color=INK, width=1), row=r, col=1)
    fig.update_xaxes(title_text="length l", row=2, col=1)
    iv = orc.get("pct_ex_acc_err_at_length_interval") or {}
    sub = (f"%ExAccErr({orc.get('length')}) = {fmt(iv.get('mean'), 2)} % [{fmt(iv.get('lo'), 2)}, "
           f"{fmt(iv.get('hi'), 2)}]") if iv else ""
    return style_legend_below(fig, title=title or f"{label + ': ' if label else ''}accumulated error from the own "
                              f"prefixes<br><sup>{sub}</sup>", height=560)


def oracle_reliability(oc: dict) -> dict:
    """The oracle calibration of an analysis as the calibration dict reliability_figure draws."""
    return {f"{m}_{k}": oc.get(f"{m}_{k}_vs_oracle") for m in ("tf", "fr") for k in ("ece", "bins")}


def _iv(d: Optional[dict], digits: int = 4) -> str:
    return f"[{fmt(d.get('lo'), digits)}, {fmt(d.get('hi'), digits)}]" if d else ""


def oracle_rows(results: dict[str, dict]) -> list[dict]:
    """One table row per model of the oracle language: exposure bias against the oracle."""
    rows = []
    for name, r in results.items():
        o, oc = r.get("oracle") or {}, r.get("oracle_calibration") or {}
        if not o:
            continue
        pct = o.get("pct_ex_acc_err_at_length_interval") or {}
        rows.append({"model": name, "seeds × sequences": f"{len(o.get('seeds') or [])} × {o.get('examples')}",
                     "KL/step data prefixes": o.get("mean_kl_data"), "95% (data)": _iv(o.get("mean_kl_data_interval"), 5),
                     "KL/step own prefixes": o.get("mean_kl_model"), "95% (own)": _iv(o.get("mean_kl_model_interval"), 5),
                     f"%ExAccErr({o.get('length')})": pct.get("mean"), "95% (over seeds)": _iv(pct, 2),
                     "seeds min–max": (f"{fmt(min(pct['per_seed']), 2)} – {fmt(max(pct['per_seed']), 2)}"
                                       if pct.get("per_seed") and None not in pct["per_seed"] else ""),
                     "ECE FR vs oracle": oc.get("fr_ece_vs_oracle"), "ECE TF vs oracle": oc.get("tf_ece_vs_oracle"),
                     "FR NLL (expected)": oc.get("fr_nll_expected"), "oracle entropy": oc.get("fr_oracle_entropy"),
                     "oracle NLL of free runs − of data": (o.get("oracle_nll_excess") or {}).get("mean"),
                     "verdict": (o.get("verdict") or {}).get("outcome")})
    return rows


def sequence_rows(results: dict[str, dict]) -> list[dict]:
    """One table row per analysed model: sequence-level figures and the fitted constants (for a model of
    the oracle language these are against one sampled gold token: the page labels them)."""
    rows = []
    for name, r in results.items():
        s, c, d, cal = r["sequence"], r["compounding"], r["drift"], r["calibration"]
        row = {"model": name, "examples": r.get("examples"),
               "exact match (FR)": s.get("fr_exact_match"),
               "95% (Wilson)": f"[{fmt(s.get('fr_exact_match_lo'))}, {fmt(s.get('fr_exact_match_hi'))}]",
               "chrF": s.get("chrf"), "BLEU": s.get("bleu"),
               "token error TF": s.get("tf_token_error"), "token error FR": s.get("fr_token_error"),
               "NLL/token TF": s.get("tf_nll_per_token"), "NLL/token FR": s.get("fr_nll_per_token"),
               "ECE TF": cal.get("tf_ece"), "ECE FR": cal.get("fr_ece"),
               "c": c.get("c"), "d": c.get("d"), "e": c.get("e"),
               "drift α": d.get("alpha"), "α 95%": f"[{fmt(d.get('alpha_lo'))}, {fmt(d.get('alpha_hi'))}]",
               "drift regime": d.get("regime")}
        rows.append(row)
    return rows
