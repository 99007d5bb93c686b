"""Chart builders: pure functions from trace dicts (docs/trace-format.md) to Plotly / Altair figures.

Nothing here imports Streamlit or the engine, so every builder is unit-tested without a browser
and reused by the offline HTML report. Figures carry explicit colours (white background, dark
text, a fixed palette) so that an exported PNG/SVG looks the same on a slide as on the page.
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Optional

import altair as alt
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# -- colours -----------------------------------------------------------------------------------
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
INK = "#1a1a1a"
GRID = "#d9d9d9"
BG = "#ffffff"
CUT = "#b0b0b0"
CHOSEN = "#ff7f0e"
STATUS_COLOURS = {"kept": "#1f77b4", "finished": "#2ca02c", "pruned": "#b8b8b8"}
WINNER = "#d62728"
FONT = dict(family="Arial, Helvetica, sans-serif", size=14, color=INK)


def _style(fig: go.Figure, *, title: Optional[str] = None, height: Optional[int] = None) -> go.Figure:
    fig.update_layout(
        template="none", paper_bgcolor=BG, plot_bgcolor=BG, font=FONT,
        title=dict(text=title, font=dict(size=17, color=INK)) if title else None,
        margin=dict(l=60, r=20, t=60 if title else 30, b=50),
        legend=dict(bgcolor="rgba(255,255,255,0.85)", font=dict(color=INK)),
        hoverlabel=dict(bgcolor="#ffffff", font=dict(color=INK)),
    )
    if height:
        fig.update_layout(height=height)
    fig.update_xaxes(gridcolor=GRID, linecolor=INK, zerolinecolor=GRID, tickfont=dict(color=INK))
    fig.update_yaxes(gridcolor=GRID, linecolor=INK, zerolinecolor=GRID, tickfont=dict(color=INK))
    return fig


def plotly_config(filename: str = "seqscope", fmt: str = "png") -> dict:
    """The config for st.plotly_chart / the HTML report: the toolbar's camera downloads `fmt`."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": 2}}


# -- reading traces ----------------------------------------------------------------------------

def _entropy(probs: Iterable[float]) -> float:
    return float(-sum(p * math.log(p) for p in probs if p > 0))


def best_path_ids(trace: dict, hyp: int = 0) -> list[int]:
    hyps = trace.get("hypotheses") or []
    return list(hyps[hyp]["token_ids"]) if hyp < len(hyps) else []


def _beam_path_nodes(trace: dict, hyp: int = 0) -> list[int]:
    """Node ids from the root to the end of hypothesis `hyp` (root first)."""
    beam = trace.get("beam") or {}
    nodes = {n["id"]: n for n in beam.get("nodes") or []}
    hyps = trace.get("hypotheses") or []
    if not nodes or hyp >= len(hyps) or hyps[hyp].get("node") is None:
        return []
    path, cur = [], hyps[hyp]["node"]
    while cur is not None and cur in nodes:
        path.append(cur)
        cur = nodes[cur]["parent"]
    return path[::-1]


def hypothesis_steps(trace: dict, hyp: int = 0) -> list[dict]:
    """The step records along one final hypothesis, one per generated token.

    Each item: {"step", "entry" (the steps[t].hypotheses record), "token_id", "token", "prob",
    "logprob", "entropy"}. Greedy/sampling have one live hypothesis; for beam search the record at
    step t is the one whose prefix is the hypothesis's first t tokens (found through the graph
    nodes, or the prefix ids); for MBR the chosen candidate's slot when recorded.
    """
    steps = trace.get("steps") or []
    hyps = trace.get("hypotheses") or []
    if hyp >= len(hyps):
        return []
    h = hyps[hyp]
    ids, toks = list(h["token_ids"]), list(h["tokens"])
    lps = list(h.get("token_logprobs") or [])
    path = _beam_path_nodes(trace, hyp)
    want_slot = None
    if trace.get("strategy") == "mbr" and trace.get("mbr") and hyp == 0:
        want_slot = trace["mbr"].get("chosen")
    out = []
    for t, rec in enumerate(steps):
        if t >= len(ids):
            break
        entries = rec.get("hypotheses") or []
        if not entries:
            continue
        entry = None
        if path and t < len(path):
            entry = next((e for e in entries if e.get("node") == path[t]), None)
        if entry is None:
            entry = next((e for e in entries if list(e.get("prefix_ids") or []) == ids[:t]
                          and (e.get("token_id") in (None, ids[t]))), None)
        if entry is None and want_slot is not None:
            entry = next((e for e in entries if e.get("slot") == want_slot), None)
        if entry is None:
            entry = entries[0]
        tid = ids[t]
        prob = None
        if entry.get("token_id") == tid and entry.get("prob") is not None:
            prob = float(entry["prob"])
        else:
            prob = _lookup_prob(entry.get("top_after"), tid)
            if prob is None and t < len(lps) and lps[t] is not None:
                prob = math.exp(lps[t])
        out.append({"step": t, "entry": entry, "token_id": tid, "token": toks[t] if t < len(toks) else str(tid),
                    "prob": prob, "logprob": lps[t] if t < len(lps) else None,
                    "entropy": entry.get("entropy"), "entropy_raw": entry.get("entropy_raw")})
    return out


def _lookup_prob(top: Optional[list], tid: int) -> Optional[float]:
    for item in top or []:
        if item["id"] == tid:
            return float(item["prob"])
    return None


def token_probs(trace: dict, hyp: int = 0) -> list[tuple[str, float]]:
    """(token, probability under the model's raw distribution) for each generated token."""
    hyps = trace.get("hypotheses") or []
    if hyp >= len(hyps):
        return []
    h = hyps[hyp]
    lps = list(h.get("token_logprobs") or [])
    lps += [None] * (len(h["tokens"]) - len(lps))
    return [(tok, math.exp(lp) if lp is not None else None) for tok, lp in zip(h["tokens"], lps)]


def first_divergence(runs: dict[str, dict]) -> Optional[int]:
    """The first step at which the best outputs of the runs differ (None if they are identical)."""
    seqs = [best_path_ids(t) for t in runs.values()]
    if len(seqs) < 2:
        return None
    n = min(len(s) for s in seqs)
    for i in range(n):
        if len({s[i] for s in seqs}) > 1:
            return i
    if len({len(s) for s in seqs}) > 1:
        return n
    return None


def _prob_colour(p: float) -> str:
    """Red (unlikely) -> yellow -> green (likely), as an rgb() string."""
    p = min(1.0, max(0.0, p))
    if p < 0.5:
        r, g = 230, int(80 + 2 * p * 150)
    else:
        r, g = int(230 - (p - 0.5) * 2 * 170), 200
    return f"rgb({r},{g},90)"


def tokens_html(pairs: list[tuple[str, Optional[float]]], *, font_size: int = 18) -> str:
    """Coloured token spans (background = probability), with the probability on hover."""
    spans = []
    for tok, p in pairs:
        shown = html.escape(tok).replace(" ", "&nbsp;") or "&nbsp;"
        tip, bg = ("p not recorded", "#dddddd") if p is None else (f"p = {p:.3f}", _prob_colour(p))
        spans.append(
            f'<span title="{tip}" style="background:{bg};color:#111;'
            f'padding:2px 3px;margin:1px;border-radius:3px;font-family:monospace;'
            f'font-size:{font_size}px;display:inline-block">{shown}</span>')
    return '<div style="line-height:2.1">' + "".join(spans) + "</div>"


# -- compare decoders --------------------------------------------------------------------------

def compare_figure(runs: dict[str, dict], *, title: Optional[str] = None) -> go.Figure:
    """Per step: the chosen token's probability (top) and the entropy (bottom) of every run."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("probability of the chosen token", "entropy (nats)"))
    for i, (label, tr) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        rows = hypothesis_steps(tr, 0)
        xs = [r["step"] for r in rows]
        text = [r["token"] for r in rows]
        fig.add_trace(go.Scatter(
            x=xs, y=[r["prob"] for r in rows], mode="lines+markers", name=label, legendgroup=label,
            line=dict(color=colour, width=2.5), marker=dict(size=7, color=colour), text=text,
            hovertemplate="step %{x}<br>token %{text}<br>p = %{y:.3f}<extra>" + html.escape(label) + "</extra>"),
            row=1, col=1)
        fig.add_trace(go.Scatter(
            x=xs, y=[r["entropy"] for r in rows], mode="lines+markers", name=label, legendgroup=label,
            showlegend=False, line=dict(color=colour, width=2.5, dash="dot"), marker=dict(size=6, color=colour),
            text=text, hovertemplate="step %{x}<br>token %{text}<br>H = %{y:.3f}<extra>" + html.escape(label) + "</extra>"),
            row=2, col=1)
    div = first_divergence(runs)
    if div is not None:
        for row in (1, 2):
            fig.add_vline(x=div, line=dict(color=INK, dash="dash", width=1.5), row=row, col=1)
        title = f"{title or ''}{' · ' if title else ''}first divergence at step {div} (dashed)"
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    return _style(fig, title=title, height=480)


# -- step inspector ----------------------------------------------------------------------------

def step_rows(entry: dict, chosen_id: Optional[int]) -> list[dict]:
    """The union of the top lists before/after the rules: one row per token, best raw first."""
    before = {d["id"]: d for d in entry.get("top_before") or []}
    after = {d["id"]: d for d in entry.get("top_after") or []}
    ids = list(before) + [i for i in after if i not in before]
    rows = []
    for i in ids:
        b, a = before.get(i), after.get(i)
        p_after = float(a["prob"]) if a else 0.0
        rows.append({"id": i, "token": (b or a)["token"], "before": float(b["prob"]) if b else None,
                     "after": p_after, "cut": b is not None and p_after <= 0.0,
                     "chosen": i == chosen_id})
    return rows


def _tok_label(tok: str) -> str:
    """A token as a label: spaces at the ends shown as ␣, control characters escaped."""
    if not tok:
        return "∅"
    out = tok.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    if out.strip() != out:
        out = out.replace(" ", "␣")
    return out


def step_figure(entry: dict, chosen_id: Optional[int], *, title: Optional[str] = None,
                log: bool = False) -> go.Figure:
    """Top-k bars before (raw softmax) and after the decoding rules; cut tokens grey and hatched,
    the chosen token outlined and starred."""
    rows = step_rows(entry, chosen_id)
    labels = [f"{_tok_label(r['token'])}  ·{r['id']}" for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=labels, x=[r["before"] if r["before"] is not None else 0 for r in rows], orientation="h",
        name="before the rules (model)", marker=dict(color="#9ecae1", line=dict(color="#3182bd", width=1)),
        hovertemplate="%{y}<br>raw p = %{x:.4f}<extra></extra>"))
    colours = [CUT if r["cut"] else (CHOSEN if r["chosen"] else "#08519c") for r in rows]
    fig.add_trace(go.Bar(
        y=labels, x=[r["after"] for r in rows], orientation="h", name="after the rules (sampled from)",
        marker=dict(color=colours, line=dict(color=[WINNER if r["chosen"] else "#08306b" for r in rows],
                                             width=[3 if r["chosen"] else 1 for r in rows])),
        text=["cut" if r["cut"] else ("★ chosen" if r["chosen"] else "") for r in rows],
        textposition="outside", textfont=dict(color=INK, size=13), cliponaxis=False,
        hovertemplate="%{y}<br>processed p = %{x:.4f}<extra></extra>"))
    ent = entry.get("entropy")
    ent_raw = entry.get("entropy_raw")
    sub = []
    if ent_raw is not None:
        sub.append(f"entropy before {ent_raw:.3f}")
    if ent is not None:
        sub.append(f"after {ent:.3f} nats")
    fig.update_layout(barmode="group", bargap=0.25, yaxis=dict(autorange="reversed"),
                      legend=dict(orientation="h", y=-0.12))
    xtitle = "probability" + (f"   ({', '.join(sub)})" if sub else "")
    if log:
        # a log axis cannot show 0: cut tokens keep their label and 'cut' text at the axis floor
        floor = min([p for r in rows for p in (r["before"], r["after"]) if p] or [1e-6]) / 3
        fig.data[1].x = [x if x > 0 else floor for x in fig.data[1].x]
        fig.update_xaxes(type="log", title_text=xtitle + ", log scale")
    else:
        top = max([p for r in rows for p in (r["before"], r["after"]) if p] or [1.0])
        fig.update_xaxes(title_text=xtitle, range=[0, min(1.15, top * 1.3 + 0.02)])
    fig.update_yaxes(automargin=True)
    return _style(fig, title=title, height=max(320, 60 + 30 * len(rows)))


# -- attention ---------------------------------------------------------------------------------

def attention_matrix(trace: dict, kind: str = "cross", layer: int = 0, head: Any = "avg",
                     hyp: int = 0) -> tuple[list[str], list[str], list[list[Optional[float]]]]:
    """(row labels = generated tokens, column labels = keys, weights[row][col]).

    kind "cross": columns are the source tokens. kind "self": columns are every key seen by the
    last step (<bos>, prompt, generated); a step's row has None for keys it could not see yet.
    head: an int or "avg" (the mean over heads).
    """
    rows = hypothesis_steps(trace, hyp)
    key = "cross_attn" if kind == "cross" else "self_attn"
    if kind == "cross":
        cols = list(trace["input"]["tokens"])
    else:
        cols = []
        for r in rows:
            k = r["entry"].get("self_attn_keys") or []
            if len(k) > len(cols):
                cols = list(k)
    labels, mat = [], []
    for r in rows:
        att = r["entry"].get(key)
        if att is None:
            continue
        if layer >= len(att):
            raise ValueError(f"layer {layer} was not recorded (recorded: {len(att)} layers)")
        heads = att[layer]
        if head == "avg":
            n = len(heads)
            vec = [sum(h[j] for h in heads) / n for j in range(len(heads[0]))]
        else:
            vec = list(heads[int(head)])
        vec = vec + [None] * (len(cols) - len(vec))
        labels.append(f"{r['step']}: {_tok_label(r['token'])}")
        mat.append(vec[:len(cols)] if cols else vec)
    return labels, cols, mat


def has_attention(trace: dict, kind: str) -> bool:
    key = "cross_attn" if kind == "cross" else "self_attn"
    return any(e.get(key) is not None for s in trace.get("steps") or [] for e in s.get("hypotheses") or [])


def attention_shape(trace: dict, kind: str) -> tuple[int, int]:
    """(recorded layers, heads) of the cross or self attention."""
    key = "cross_attn" if kind == "cross" else "self_attn"
    for s in trace.get("steps") or []:
        for e in s.get("hypotheses") or []:
            if e.get(key) is not None:
                return len(e[key]), len(e[key][0])
    return 0, 0


def _attention_records(trace, kind, layer, head, hyp) -> list[dict]:
    labels, cols, mat = attention_matrix(trace, kind, layer, head, hyp)
    recs = []
    for i, (lab, row) in enumerate(zip(labels, mat)):
        step = int(lab.split(":", 1)[0])
        for j, w in enumerate(row):
            if w is None:
                continue
            recs.append({"step": step, "generated": lab, "key_pos": j,
                         "key": f"{j}: {_tok_label(cols[j])}" if j < len(cols) else str(j),
                         "weight": round(float(w), 5)})
    return recs


def attention_heatmap(trace: dict, kind: str = "cross", layer: int = 0, head: Any = "avg", hyp: int = 0,
                      *, title: Optional[str] = None, cell: int = 22) -> alt.Chart:
    """Altair heatmap (generated tokens down, keys across) with a point selection named "pick"
    on the generated token: clicking a row selects that step."""
    recs = _attention_records(trace, kind, layer, head, hyp)
    labels, cols, _ = attention_matrix(trace, kind, layer, head, hyp)
    key_order = [f"{j}: {_tok_label(c)}" for j, c in enumerate(cols)]
    pick = alt.selection_point(name="pick", fields=["step"], on="click", clear="dblclick")
    chart = alt.Chart(alt.Data(values=recs)).mark_rect(stroke="#ffffff", strokeWidth=0.5).encode(
        x=alt.X("key:N", sort=key_order, title="source token" if kind == "cross" else "key (attended-to token)",
                axis=alt.Axis(labelAngle=-60, labelColor=INK, titleColor=INK, labelFontSize=12)),
        y=alt.Y("generated:N", sort=labels, title="generated token (step: token)",
                axis=alt.Axis(labelColor=INK, titleColor=INK, labelFontSize=12)),
        color=alt.Color("weight:Q", scale=alt.Scale(scheme="blues", domainMin=0),
                        legend=alt.Legend(title="weight", labelColor=INK, titleColor=INK)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
        tooltip=[alt.Tooltip("generated:N", title="generated"), alt.Tooltip("key:N", title="key"),
                 alt.Tooltip("weight:Q", format=".3f"), alt.Tooltip("step:Q")],
    ).add_params(pick).properties(
        width=max(200, cell * max(1, len(key_order))), height=max(120, cell * max(1, len(labels))),
        title=title or "")
    return _alt_style(chart)


def _alt_style(chart):
    return chart.configure(background=BG).configure_view(stroke=None).configure_title(
        color=INK, fontSize=16).configure_axis(gridColor=GRID, domainColor=INK, tickColor=INK)


def encoder_attention_heatmap(trace: dict, layer: int = 0, head: Any = "avg", *, title: Optional[str] = None,
                              cell: int = 24) -> Optional[alt.Chart]:
    """The encoder's self-attention over the source (Transformer encoders): queries down, keys across."""
    enc = trace.get("encoder_attention")
    if not enc:
        return None
    if layer >= len(enc):
        raise ValueError(f"encoder layer {layer} was not recorded (recorded: {len(enc)} layers)")
    heads = enc[layer]
    toks = [f"{j}: {_tok_label(t)}" for j, t in enumerate(trace["input"]["tokens"])]
    recs = []
    for i, q in enumerate(toks):
        for j, k in enumerate(toks):
            w = (sum(h[i][j] for h in heads) / len(heads)) if head == "avg" else heads[int(head)][i][j]
            recs.append({"query": q, "key": k, "weight": round(float(w), 5)})
    chart = alt.Chart(alt.Data(values=recs)).mark_rect(stroke="#ffffff", strokeWidth=0.5).encode(
        x=alt.X("key:N", sort=toks, title="source key", axis=alt.Axis(labelAngle=-60, labelColor=INK, titleColor=INK)),
        y=alt.Y("query:N", sort=toks, title="source query", axis=alt.Axis(labelColor=INK, titleColor=INK)),
        color=alt.Color("weight:Q", scale=alt.Scale(scheme="blues", domainMin=0),
                        legend=alt.Legend(title="weight", labelColor=INK, titleColor=INK)),
        tooltip=["query:N", "key:N", alt.Tooltip("weight:Q", format=".3f")],
    ).properties(width=max(200, cell * len(toks)), height=max(120, cell * len(toks)), title=title or "")
    return _alt_style(chart)


def attention_grid(trace: dict, kind: str = "cross", hyp: int = 0, *, cell: int = 9,
                   max_layers: Optional[int] = None) -> alt.Chart:
    """Every recorded layer x head as small heatmaps (rows: layers, columns: heads). Records are
    compact (numeric positions, weights to 3 decimals) to keep the page payload small."""
    n_layers, n_heads = attention_shape(trace, kind)
    if max_layers is not None:
        n_layers = min(n_layers, max_layers)
    recs = []
    n_rows = n_keys = 0
    for layer in range(n_layers):
        for head in range(n_heads):
            labels, cols, mat = attention_matrix(trace, kind, layer, head, hyp)
            n_rows, n_keys = max(n_rows, len(labels)), max(n_keys, len(cols))
            for i, row in enumerate(mat):
                for j, w in enumerate(row):
                    if w is not None:
                        recs.append({"l": layer, "h": head, "r": i, "k": j, "w": round(float(w), 3)})
    cell = max(2, min(cell, int(1000 / max(1, n_heads * n_keys))))
    base = alt.Chart(alt.Data(values=recs)).mark_rect().encode(
        x=alt.X("k:O", title=None, axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("r:O", title=None, axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("w:Q", scale=alt.Scale(scheme="blues", domainMin=0),
                        legend=alt.Legend(title="weight", labelColor=INK, titleColor=INK)),
        tooltip=[alt.Tooltip("l:O", title="layer"), alt.Tooltip("h:O", title="head"),
                 alt.Tooltip("r:O", title="generated position"), alt.Tooltip("k:O", title="key position"),
                 alt.Tooltip("w:Q", title="weight", format=".3f")],
    ).properties(width=max(60, cell * max(1, n_keys)), height=max(50, cell * max(1, n_rows)))
    chart = base.facet(row=alt.Row("l:O", title="layer", header=alt.Header(labelColor=INK, titleColor=INK, labelFontSize=13)),
                       column=alt.Column("h:O", title="head", header=alt.Header(labelColor=INK, titleColor=INK, labelFontSize=13)),
                       spacing=6)
    return _alt_style(chart)


def attention_entropy(trace: dict, kind: str = "cross", hyp: int = 0) -> dict[int, list[Optional[float]]]:
    """Per recorded layer: per step, the head-averaged entropy (nats) of the attention weights."""
    rows = hypothesis_steps(trace, hyp)
    key = "cross_attn" if kind == "cross" else "self_attn"
    out: dict[int, list[Optional[float]]] = {}
    for r in rows:
        att = r["entry"].get(key)
        if att is None:
            continue
        for li, heads in enumerate(att):
            out.setdefault(li, []).append(sum(_entropy(h) for h in heads) / len(heads))
    return out


def attention_entropy_figure(trace: dict, kind: str = "cross", hyp: int = 0,
                             *, title: Optional[str] = None) -> go.Figure:
    ent = attention_entropy(trace, kind, hyp)
    rows = hypothesis_steps(trace, hyp)
    steps = [r["step"] for r in rows if r["entry"].get("cross_attn" if kind == "cross" else "self_attn") is not None]
    toks = [r["token"] for r in rows if r["entry"].get("cross_attn" if kind == "cross" else "self_attn") is not None]
    fig = go.Figure()
    for li, vals in ent.items():
        fig.add_trace(go.Scatter(x=steps, y=vals, mode="lines+markers", name=f"layer {li}", text=toks,
                                 line=dict(color=PALETTE[li % len(PALETTE)], width=2.5),
                                 hovertemplate="step %{x} (%{text})<br>H = %{y:.3f}<extra>layer " + str(li) + "</extra>"))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="attention entropy (nats, mean over heads)", rangemode="tozero")
    return _style(fig, title=title, height=320)


# -- beam tree ---------------------------------------------------------------------------------

def beam_layout(trace: dict, upto_step: Optional[int] = None) -> dict[int, tuple[int, float]]:
    """Node id -> (x = step + 1, y): each step's candidates are stacked in their parent's order,
    best log-prob first, so the edges never cross and the height is at most 2K rows."""
    nodes = (trace.get("beam") or {}).get("nodes") or []
    by_step: dict[int, list[dict]] = {}
    for n in nodes:
        if upto_step is not None and n["step"] > upto_step:
            continue
        by_step.setdefault(n["step"], []).append(n)
    pos: dict[int, tuple[int, float]] = {}
    rank: dict[int, int] = {}
    for step in sorted(by_step):
        cands = by_step[step]
        cands.sort(key=lambda n: (rank.get(n["parent"], 0) if n["parent"] is not None else 0,
                                  -(n.get("logprob") or 0.0)))
        m = len(cands)
        for i, n in enumerate(cands):
            rank[n["id"]] = i
            pos[n["id"]] = (step + 1, (m - 1) / 2.0 - i)
    return pos


def winner_path(trace: dict, hyp: int = 0) -> list[int]:
    return _beam_path_nodes(trace, hyp)


def beam_tree_figure(trace: dict, upto_step: Optional[int] = None, *, hyp: int = 0,
                     title: Optional[str] = None, show_pruned: bool = True) -> go.Figure:
    """The search graph: kept (blue), finished (green diamonds), pruned (grey) nodes; the chosen
    hypothesis's path in red. upto_step reveals the tree up to that step."""
    nodes = {n["id"]: n for n in (trace.get("beam") or {}).get("nodes") or []}
    pos = beam_layout(trace, upto_step)
    win = set(winner_path(trace, hyp))
    fig = go.Figure()
    n_vis = len(pos)
    label_text = n_vis <= 700
    for status in ("pruned", "kept", "finished"):
        if status == "pruned" and not show_pruned:
            continue
        ex, ey = [], []
        for nid, (x, y) in pos.items():
            n = nodes[nid]
            if n["status"] != status or n["parent"] is None or n["parent"] not in pos:
                continue
            px, py = pos[n["parent"]]
            ex += [px, x, None]
            ey += [py, y, None]
        if ex:
            fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", hoverinfo="skip", showlegend=False,
                                     line=dict(color=STATUS_COLOURS[status], width=1 if status == "pruned" else 1.6)))
    wx, wy = [], []
    for nid in win:
        n = nodes.get(nid)
        if n and n["parent"] is not None and nid in pos and n["parent"] in pos:
            px, py = pos[n["parent"]]
            x, y = pos[nid]
            wx += [px, x, None]
            wy += [py, y, None]
    if wx:
        fig.add_trace(go.Scatter(x=wx, y=wy, mode="lines", hoverinfo="skip", name="chosen hypothesis",
                                 line=dict(color=WINNER, width=4)))
    symbols = {"kept": "circle", "finished": "diamond", "pruned": "circle-open"}
    sizes = {"kept": 13, "finished": 15, "pruned": 8}
    for status in ("pruned", "kept", "finished"):
        if status == "pruned" and not show_pruned:
            continue
        ids = [i for i in pos if nodes[i]["status"] == status or (status == "kept" and nodes[i]["parent"] is None)]
        if status != "kept":
            ids = [i for i in ids if nodes[i]["parent"] is not None]
        if not ids:
            continue
        ns = [nodes[i] for i in ids]
        hover = [f"<b>{html.escape(_tok_label(n['token'] or ''))}</b> (id {n['token_id']})<br>step {n['step']}"
                 f"<br>log-prob {_fmt(n.get('logprob'))}<br>cumulative {_fmt(n.get('cum_logprob'))}"
                 f"<br>normalised score {_fmt(n.get('score'))}<br>{n['status']}"
                 + (f", group {n.get('group')}" if n.get("group") else "") for n in ns]
        fig.add_trace(go.Scatter(
            x=[pos[i][0] for i in ids], y=[pos[i][1] for i in ids],
            mode="markers+text" if (label_text and status != "pruned") else "markers",
            name=status, text=[_tok_label(n["token"] or "") if n["parent"] is not None else "<bos>" for n in ns],
            textposition="middle right", textfont=dict(color=INK, size=11),
            marker=dict(symbol=symbols[status], size=sizes[status], color=STATUS_COLOURS[status],
                        line=dict(color=[WINNER if i in win else "#ffffff" for i in ids], width=2)),
            hovertext=hover, hoverinfo="text"))
    n_steps = max((x for x, _ in pos.values()), default=1)
    fig.update_xaxes(title_text="step", dtick=1 if n_steps <= 25 else 5, range=[-0.5, n_steps + 1])
    fig.update_yaxes(showticklabels=False, title_text=None, zeroline=False)
    height = max(360, min(900, 40 * (max((abs(y) for _, y in pos.values()), default=1) * 2 + 3)))
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=0))
    fig = _style(fig, title=title, height=int(height))
    if n_steps > 20:
        fig.update_layout(width=None)
    return fig


def fmt(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:.3f}"


_fmt = fmt


def beam_counts(trace: dict, upto_step: Optional[int] = None) -> dict[str, int]:
    nodes = (trace.get("beam") or {}).get("nodes") or []
    out = {"kept": 0, "finished": 0, "pruned": 0}
    for n in nodes:
        if n["parent"] is None or (upto_step is not None and n["step"] > upto_step):
            continue
        out[n["status"]] = out.get(n["status"], 0) + 1
    return out


# -- teacher forcing vs free running -----------------------------------------------------------

def tffr_figure(cmp: dict, *, title: Optional[str] = None, label: str = "") -> go.Figure:
    """Per reference position: the reference token's log-prob under TF and FR, the KL between the
    two next-token distributions, and the hidden-state distance; first divergence marked."""
    rows = cmp["rows"]
    t = [r["t"] for r in rows]
    ref = [_tok_label(r["ref_token"]) for r in rows]
    fr_tok = [_tok_label(r.get("fr_token") or "") for r in rows]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("log-prob of the reference token", "KL(TF ‖ FR) (nats)",
                                        "hidden-state distance (L2)"))
    fig.add_trace(go.Scatter(x=t, y=[r["tf_logprob"] for r in rows], name="teacher forcing", mode="lines+markers",
                             line=dict(color=PALETTE[0], width=2.5), text=ref,
                             hovertemplate="t=%{x} ref %{text}<br>log p = %{y:.3f}<extra>TF</extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=[r["fr_logprob"] for r in rows], name="free running", mode="lines+markers",
                             line=dict(color=PALETTE[1], width=2.5),
                             customdata=fr_tok, text=ref,
                             marker=dict(symbol=["circle" if r.get("on_track") else "x" for r in rows], size=8),
                             hovertemplate="t=%{x} ref %{text}, FR produced %{customdata}<br>log p = %{y:.3f}<extra>FR</extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=t, y=[r.get("kl") for r in rows], name="KL", marker_color=PALETTE[3], showlegend=False,
                         hovertemplate="t=%{x}<br>KL = %{y:.3f}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=[r.get("hidden_dist") for r in rows], name="hidden distance", showlegend=False,
                             mode="lines+markers", line=dict(color=PALETTE[2], width=2.5),
                             hovertemplate="t=%{x}<br>‖h_TF − h_FR‖ = %{y:.3f}<extra></extra>"), row=3, col=1)
    div = cmp.get("first_divergence")
    if div is not None:
        for row in (1, 2, 3):
            fig.add_vline(x=div, line=dict(color=INK, dash="dash", width=1.5), row=row, col=1)
        title = f"{title or label or ''}{' · ' if (title or label) else ''}first divergence t = {div} (dashed)"
    injected = cmp.get("injected_step")
    if injected is not None:
        for row in (1, 2, 3):
            fig.add_vline(x=injected, line=dict(color=CHOSEN, width=3), row=row, col=1)
    fig.update_xaxes(title_text="reference position t", tickvals=t, ticktext=[f"{a}<br>{b}" for a, b in zip(t, ref)]
                     if len(t) <= 40 else None, row=3, col=1)
    return _style(fig, title=title or label or None, height=560)


def recovery_figure(base: dict, injected: dict, step: int, *, title: Optional[str] = None) -> go.Figure:
    """The reference token's free-running log-prob with and without the injected token, one axis."""
    fig = go.Figure()
    for cmp, name, colour in ((base, "undisturbed", PALETTE[0]), (injected, f"wrong token at step {step}", PALETTE[1])):
        rows = cmp["rows"]
        fig.add_trace(go.Scatter(
            x=[r["t"] for r in rows], y=[r["fr_logprob"] for r in rows], mode="lines+markers", name=name,
            line=dict(color=colour, width=2.5), text=[_tok_label(r.get("fr_token") or "") for r in rows],
            marker=dict(symbol=["circle" if r.get("on_track") else "x" for r in rows], size=9),
            hovertemplate="t=%{x}, produced %{text}<br>log p(ref) = %{y:.3f}<extra>" + name + "</extra>"))
    fig.add_vline(x=step, line=dict(color=CHOSEN, width=3))
    fig.add_annotation(x=step, y=1.05, yref="paper", showarrow=False, text="injected", font=dict(color=INK))
    fig.update_xaxes(title_text="reference position t")
    fig.update_yaxes(title_text="free running: log-prob of the reference token")
    return _style(fig, title=title, height=360)


# -- MBR ---------------------------------------------------------------------------------------

def mbr_figure(trace: dict, *, title: Optional[str] = None) -> Optional[go.Figure]:
    m = trace.get("mbr")
    if not m:
        return None
    cands = [f"{i}: {c[:24]}" for i, c in enumerate(m["candidates"])]
    fig = go.Figure(go.Heatmap(z=m["matrix"], x=cands, y=cands, colorscale="Blues",
                               hovertemplate="candidate %{y}<br>vs pseudo-reference %{x}<br>utility %{z:.2f}<extra></extra>"))
    chosen = m.get("chosen")
    if chosen is not None:
        fig.add_shape(type="rect", x0=-0.5, x1=len(cands) - 0.5, y0=chosen - 0.5, y1=chosen + 0.5,
                      line=dict(color=WINNER, width=3))
    fig.update_yaxes(autorange="reversed", title_text="candidate")
    fig.update_xaxes(title_text="pseudo-reference", tickangle=-45)
    return _style(fig, title=title or f"MBR: {m.get('utility')} utility matrix (chosen outlined)", height=480)
