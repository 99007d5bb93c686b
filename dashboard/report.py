"""A standalone HTML report of a comparison: works offline (plotly.js inlined once), explicit
colours, one file. Pure function: traces in, HTML string out.

Everything embedded is escaped: every text taken from a trace or a run name is html.escape'd in the
page (and in the charts' labels, which Plotly reads as markup); the figures' JSON inside <script> has
<, >, & and the JavaScript line separators as \\u escapes, so nothing in it can close the script."""
from __future__ import annotations

import datetime as _dt
import html
import json
import re

import plotly.io as pio
from plotly.offline import get_plotlyjs

from dashboard import charts
from engine import trace_view as view

_STYLE = ("<style>body{font-family:Arial,Helvetica,sans-serif;color:#1a1a1a;background:#fff;max-width:1200px;"
          "margin:2em auto;padding:0 1em} h1{font-size:1.8em} .run{border:1px solid #ddd;border-radius:6px;"
          "padding:0.6em 1em;margin:0.6em 0} code{background:#f3f3f3;padding:1px 4px} table{border-collapse:collapse}"
          " td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}</style>")


def _slug(name: str) -> str:
    """A run name as a file name for the charts' SVG download: it lands in the <script> that draws
    the chart, so only [A-Za-z0-9._-] (nothing there can close the script)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def script_json(value) -> str:
    """JSON (a value, or JSON text) safe inside a <script> element: `<`, `>`, `&`, U+2028 and U+2029 as
    \\u escapes (they occur only inside JSON strings, where the escape means the same character)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, allow_nan=False)
    for ch in "<>&\u2028\u2029":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


def _fig_html(fig, index: int, name: str) -> str:
    """One figure: its div and the script that draws it (the figure and its config as script_json)."""
    fid = f"seqscope-figure-{index}"
    height = int(fig.layout.height or 450)
    config = {**charts.plotly_config(f"seqscope-{_slug(name)}", "svg"), "responsive": True}
    return (f'<div id="{fid}" class="plotly-graph-div" style="height:{height}px;width:100%"></div>'
            f'<script type="text/javascript">(function(){{var f={script_json(pio.to_json(fig, validate=False))};'
            f'Plotly.newPlot("{fid}",f.data,f.layout,{script_json(config)});}})();</script>')


def _run_html(name: str, tr: dict) -> str:
    hyps = tr.get("hypotheses") or []
    h = hyps[0] if hyps else {"score": float("nan"), "normalized_score": float("nan"), "text": ""}
    cfg = ", ".join(f"{k}={v}" for k, v in sorted((tr.get("config") or {}).items()))
    warnings = "".join(f"<p style='color:#8a5300'>warning: {html.escape(str(w))}</p>" for w in tr.get("warnings") or [])
    return (f"<div class='run'><h3>{html.escape(name)}</h3>"
            + charts.tokens_html(view.token_probs(tr))
            + f"<p>score {charts.fmt(h.get('score'))} · normalised {charts.fmt(h.get('normalized_score'))} · strategy "
              f"{html.escape(str(tr.get('strategy')))} · seed {html.escape(str(tr.get('seed')))}</p>"
            + warnings
            + f"<p style='font-size:0.85em;color:#555'>config: {html.escape(cfg)}</p></div>")


def comparison_report(runs: dict, *, title: str = "seqscope: decoder comparison") -> str:
    """One HTML page: the model and input, each run's output coloured by probability with its
    scores and config, the per-step comparison chart, and each run's beam tree / MBR matrix."""
    if not runs:
        raise ValueError("nothing to report: no runs")
    runs = {name: view.as_dict(tr) for name, tr in runs.items()}       # engine.Trace or its dict
    first = next(iter(runs.values()))
    model = first.get("model") or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>", _STYLE, "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Model <b>{html.escape(str(model.get('name')))}</b> ({html.escape(str(model.get('kind')))}, "
        f"{html.escape(str(model.get('arch')))}) · input <code>{html.escape(first['input']['text'])}</code> · "
        f"generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by seqscope</p>",
    ]
    div = view.first_divergence(runs)
    if len(runs) > 1:
        parts.append("<p><b>" + ("The strategies agree on every token." if div is None
                                  else f"The strategies first part ways at step {div}.") + "</b></p>")
    parts += [_run_html(name, tr) for name, tr in runs.items()]
    figs = [("compare", charts.compare_figure(runs, title="Per step: chosen token's probability and entropy"))]
    for name, tr in runs.items():
        shown = html.escape(name)           # Plotly reads <b>, <br>, … in titles and legends as markup
        if tr.get("beam"):
            figs.append((f"beam-{name}", charts.beam_tree_figure(tr, title=f"{shown}: beam search tree")))
        m = charts.mbr_figure(tr, title=f"{shown}: MBR utility matrix")
        if m is not None:
            figs.append((f"mbr-{name}", m))
    parts.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
    for i, (name, fig) in enumerate(figs):
        parts.append(_fig_html(fig, i, name))
    parts.append("<p style='color:#777;font-size:0.8em'>Standalone report: no network needed. "
                 "Each chart's camera button saves an SVG.</p></body></html>")
    return "\n".join(parts)
