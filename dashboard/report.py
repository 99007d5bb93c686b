"""A standalone HTML report of a comparison: works offline (plotly.js inlined once), explicit
colours, one file. Pure function: traces in, HTML string out."""
from __future__ import annotations

import datetime as _dt
import html

import plotly.io as pio

from dashboard import charts


def _fig_html(fig, first: bool, name: str) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=True if first else False,
                       config=charts.plotly_config(f"seqscope-{name}", "svg"), default_width="100%")


def comparison_report(runs: dict[str, dict], *, title: str = "seqscope: decoder comparison") -> str:
    if not runs:
        raise ValueError("nothing to report: no runs")
    first = next(iter(runs.values()))
    model = first.get("model") or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:Arial,Helvetica,sans-serif;color:#1a1a1a;background:#fff;max-width:1200px;"
        "margin:2em auto;padding:0 1em} h1{font-size:1.8em} .run{border:1px solid #ddd;border-radius:6px;"
        "padding:0.6em 1em;margin:0.6em 0} code{background:#f3f3f3;padding:1px 4px} table{border-collapse:collapse}"
        " td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Model <b>{html.escape(str(model.get('name')))}</b> ({html.escape(str(model.get('kind')))}, "
        f"{html.escape(str(model.get('arch')))}) · input <code>{html.escape(first['input']['text'])}</code> · "
        f"generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by seqscope</p>",
    ]
    div = charts.first_divergence(runs)
    if len(runs) > 1:
        parts.append("<p><b>" + ("The strategies agree on every token." if div is None
                                  else f"The strategies first part ways at step {div}.") + "</b></p>")
    for name, tr in runs.items():
        hyps = tr.get("hypotheses") or []
        h = hyps[0] if hyps else {"score": float("nan"), "normalized_score": float("nan"), "text": ""}
        cfg = ", ".join(f"{k}={v}" for k, v in sorted((tr.get("config") or {}).items()))
        parts.append(f"<div class='run'><h3>{html.escape(name)}</h3>"
                     + charts.tokens_html(charts.token_probs(tr))
                     + f"<p>score {charts.fmt(h.get('score'))} · normalised {charts.fmt(h.get('normalized_score'))} · strategy "
                       f"{html.escape(str(tr.get('strategy')))} · seed {tr.get('seed')}</p>"
                     + f"<p style='font-size:0.85em;color:#555'>config: {html.escape(cfg)}</p></div>")
    figs = [("compare", charts.compare_figure(runs, title="Per step: chosen token's probability and entropy"))]
    for name, tr in runs.items():
        if tr.get("beam"):
            figs.append((f"beam-{name}", charts.beam_tree_figure(tr, title=f"{name}: beam search tree")))
        m = charts.mbr_figure(tr, title=f"{name}: MBR utility matrix")
        if m is not None:
            figs.append((f"mbr-{name}", m))
    for i, (name, fig) in enumerate(figs):
        parts.append(_fig_html(fig, i == 0, name))
    parts.append("<p style='color:#777;font-size:0.8em'>Standalone report: no network needed. "
                 "Each chart's camera button saves an SVG.</p></body></html>")
    return "\n".join(parts)
