"""Standalone HTML reports: a comparison of runs (`comparison_report`) and a talk deck
(`deck_report`, every view's charts drawn by `view_figures`); both work offline (plotly.js inlined
once), use explicit colours and are one file. Pure functions: traces in, HTML string out. The one
exception, `figure_images`, opens such a file in headless Chromium (dashboard/headless.py) to save
each chart as PNG or SVG with Plotly's own renderer (no kaleido in the pinned packages).

Everything embedded is escaped: every text taken from a trace or a run name is html.escape'd in the
page (and in the charts' labels, which Plotly reads as markup); the figures' JSON inside <script> has
<, >, & and the JavaScript line separators as \\u escapes, so nothing in it can close the script."""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any, Optional

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from dashboard import charts
from dashboard import view_figures as pages     # the pages' own charts and titles (stdlib-only at import)
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


def _fig_html(fig, index: int, name: str, fmt: str = "svg") -> str:
    """One figure: its div and the script that draws it (the figure and its config as script_json)."""
    fid = f"seqscope-figure-{index}"
    height = int(fig.layout.height or 450)
    config = {**charts.plotly_config(f"seqscope-{_slug(name)}", fmt), "responsive": True}
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
    scores and config, the colour key of those probabilities, the per-step comparison chart, and each
    run's beam tree / MBR matrix."""
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
    parts.append(charts.prob_key_html())                    # the key of the token colours, as on the Compare page
    figs = [("compare", charts.compare_figure(runs, title=pages.COMPARE_TITLE))]
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


# -- talk decks ----------------------------------------------------------------------------------------

def _one(params: dict, key: str, default: Any = None) -> Any:
    v = params.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    return default if v in (None, "") else v


def _flag(params: dict, key: str, default: bool) -> bool:
    v = _one(params, key)
    return default if v is None else str(v).lower() in ("true", "1", "yes")


def _index(params: dict, key: str, n: int) -> int:
    """An index from the URL (an int, or a selectbox label such as '#2: ...'), within 0..n-1."""
    v = str(_one(params, key, 0))
    m = re.match(r"#?(\d+)", v)
    i = int(m.group(1)) - (1 if v.startswith("#") else 0) if m else 0
    return min(max(i, 0), max(n - 1, 0))


def attention_figure(trace: dict, kind: str = "cross", layer: int = 0, head: Any = "avg", hyp: int = 0,
                     *, title: Optional[str] = None) -> go.Figure:
    """The attention map as a Plotly heatmap (the page draws it with Altair, whose vega scripts are not
    available offline): generated tokens down, keys across, the same weights (engine.trace.view)."""
    labels, cols, mat = view.attention_matrix(trace, kind, layer, head, hyp)
    xs = [f"{j}: {charts.plotly_text(view.token_label(c))}" for j, c in enumerate(cols)]
    ys = [charts.plotly_text(str(lab)) for lab in labels]
    width = max((len(r) for r in mat), default=0)
    z = [[(None if w is None else float(w)) for w in r] + [None] * (width - len(r)) for r in mat]
    fig = go.Figure(go.Heatmap(z=z, x=xs[:width], y=ys, colorscale="Blues", zmin=0, colorbar=dict(title="weight"),
                               hovertemplate="generated %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text="generated token (step: token)", type="category")
    fig.update_xaxes(title_text="source token" if kind == "cross" else "key (attended-to token)", tickangle=-60,
                     type="category")
    return charts.style(fig, title=title, height=max(320, 26 * len(ys) + 160))


_KINDS = {"cross-attention (source × generated)": "cross", "decoder self-attention": "self"}


def view_figures(page: str, params: dict, resolved) -> list[tuple[str, Any]]:
    """The charts a page draws for a view (`resolved`: dashboard.warmup.Resolved, its runs computed),
    as (name, Plotly figure) pairs: what the deck export shows for that view."""
    r, figs = resolved, []
    if page == "compare" and r.traces:
        figs += pages.compare_figures(r.traces)
    elif page in ("step", "attention"):
        run, tr = next(iter(r.traces.items()))
        hyp = _index(params, "hyp", len(tr.get("hypotheses") or [1]))
        if page == "step":
            rows = charts.hypothesis_steps(tr, hyp)
            if rows:
                t = _index(params, "step", len(rows))
                e = rows[t]["entry"]
                figs.append(("step", charts.step_figure(
                    e, rows[t]["token_id"], log=_flag(params, "log", False),
                    title=f"step {t}: top-{len(e.get('top_before') or [])} before and after the decoding rules "
                          f"({charts.plotly_text(str(tr.get('strategy')))})")))
        else:
            kinds = [k for k in ("cross", "self") if charts.has_attention(tr, k)]
            if kinds:
                kind = _KINDS.get(_one(params, "kind"), _one(params, "kind"))
                kind = kind if kind in kinds else kinds[0]
                n_layers, n_heads = charts.attention_shape(tr, kind)
                layer = _index(params, "layer", n_layers)
                head = str(_one(params, "head", "avg")).removeprefix("head ")
                head = "avg" if head in ("avg", "average of heads") or not head.isdigit() else min(int(head), n_heads - 1)
                what = "head average" if head == "avg" else f"head {head}"
                figs.append(("attention", attention_figure(
                    tr, kind, layer, head, hyp, title=f"{kind} attention, layer {layer}, {what} · {charts.plotly_text(run)}")))
                figs.append(("attention-entropy",
                             charts.attention_entropy_figure(tr, kind, hyp, title=pages.ENTROPY_TITLE)))
    elif page == "beam":
        tr = next(iter(r.traces.values()))
        last = max((n["step"] for n in (tr.get("beam") or {}).get("nodes") or []), default=0)
        figs.append(("beam-tree", pages.beam_figure(tr, min(int(_one(params, "reveal", last)), last),
                                                    _index(params, "bhyp", len(tr.get("hypotheses") or [1])),
                                                    _flag(params, "pruned", True))))
    elif page == "tffr" and r.tffr is not None:
        figs += pages.tffr_figures(r.tffr, r.injected, r.inject_step or 0, r.wrong_label)
    return figs


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p)}</p>" for p in re.split(r"\r?\n\s*\r?\n", text) if p.strip())


def deck_report(title: str, sections: list[dict], *, fmt: str = "svg") -> str:
    """One HTML page for a talk deck: per view (`sections`: dicts with title, note, page, summary,
    link, figures = [(name, figure)], errors = [str]) its title, note, what it shows and its charts;
    plotly.js inlined once. Every text is escaped; each chart's camera button saves `fmt`."""
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title>", _STYLE,
             "<style>.view{border-top:2px solid #1f5fbf;margin-top:2em;padding-top:0.5em}"
             " .note{color:#333;font-size:1.05em} .meta{color:#555;font-size:0.85em}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p class='meta'>{len(sections)} views · generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} "
             "by seqscope · opens offline</p><ol>"]
    parts += [f"<li><a href='#view-{i + 1}'>{html.escape(s['title'])}</a></li>" for i, s in enumerate(sections)]
    parts += ["</ol>", f'<script type="text/javascript">{get_plotlyjs()}</script>']
    k = 0
    for i, s in enumerate(sections):
        parts.append(f"<section class='view' id='view-{i + 1}'><h2>{i + 1}. {html.escape(s['title'])}</h2>"
                     f"<div class='note'>{_paragraphs(s.get('note') or '')}</div>"
                     f"<p class='meta'>{html.escape(s.get('page') or '')} · {html.escape(s.get('summary') or '')}"
                     f"<br>view: <code>{html.escape(s.get('link') or '')}</code></p>")
        parts += [f"<p style='color:#a00'>{html.escape(e)}</p>" for e in s.get("errors") or []]
        for name, fig in s.get("figures") or []:
            parts.append(_fig_html(fig, k, f"{i + 1:02d}-{name}", fmt))
            k += 1
        parts.append("</section>")
    parts.append("<p style='color:#777;font-size:0.8em'>Standalone deck: no network needed. "
                 f"Each chart's camera button saves a{'n SVG' if fmt == 'svg' else ' PNG'}.</p></body></html>")
    return "\n".join(parts)


_IMAGE_JS = """async ([fmt, scale]) => {
  const out = [];
  for (const gd of document.querySelectorAll('.plotly-graph-div')) {
    const w = gd.offsetWidth || 1100, h = gd.offsetHeight || 450;
    out.push([gd.id, await Plotly.toImage(gd, {format: fmt, width: w, height: h, scale: fmt === 'png' ? scale : 1})]);
  }
  return out;
}"""


def figure_images(report_html: str, fmt: str = "png", *, width: int = 1200, scale: int = 2) -> list[tuple[str, bytes]]:
    """Every chart of a standalone report as a PNG or SVG, rendered by Plotly in headless Chromium
    (dashboard/headless.py): [(the div id, file bytes)] in page order. RuntimeError without Chromium."""
    import tempfile

    from dashboard import headless
    if fmt not in ("png", "svg"):
        raise ValueError(f"image format {fmt!r}: png or svg")
    with tempfile.TemporaryDirectory(prefix="seqscope-images-") as tmp:
        path = Path(tmp) / "report.html"
        path.write_text(report_html, encoding="utf-8")
        with headless.browser() as b:
            page = headless.new_page(b, width=width, height=900, timeout_s=120)
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function("() => Array.from(document.querySelectorAll('.plotly-graph-div'))"
                                   ".every(gd => gd._fullLayout)")
            urls = page.evaluate(_IMAGE_JS, [fmt, scale])
    out = []
    for fid, url in urls:
        head, _, data = url.partition(",")
        out.append((fid, base64.b64decode(data) if head.endswith(";base64") else urllib.parse.unquote(data).encode()))
    return out
