"""The look every figure shares, in one place: the themes and colours of charts/theme.py (re-exported
here), explicit colours (an exported PNG/SVG/HTML looks the same in any viewer), a minimum font size
for every text of a chart (12 px, 14 px in presentation mode) and margins that leave room for titles, ticks and legends. Every builder ends with `finish(fig)`
(Plotly) or `alt_finish(chart)` (Altair); `finish` may be called again on a finished figure, e.g.
with presenting=True by the page. Plus the number formatting of labels.
"""
from __future__ import annotations

import html
import math
import re
from typing import Optional

import plotly.graph_objects as go

from .theme import (AFTER, BEFORE, BG, CHOSEN, CUT, FONT_FAMILY, FR, GRID, INJECTED, INK,  # noqa: F401
                    OKABE_ITO, PALETTE, STATUS_COLOURS, TF, THEME_NAMES, THEMES, WINNER, Theme, _presenting,
                    colour, current_theme, presenting, set_presenting, set_theme, theme)

# -- font sizes ----------------------------------------------------------------------------------------

MIN_PX = {False: 12, True: 14}     # the smallest text of a chart: normally, in presentation mode
# every text role's size; each is >= MIN_PX of its mode (tests/test_charts.py checks it)
SIZES = {
    False: {"base": 14, "tick": 13, "axis_title": 14, "legend": 13, "title": 18, "subtitle": 13, "annotation": 13,
            "data": 13, "height_min": 300},
    True: {"base": 18, "tick": 16, "axis_title": 18, "legend": 16, "title": 22, "subtitle": 16, "annotation": 16,
           "data": 16, "height_min": 520},
}


def plotly_text(text) -> str:
    """Text from a trace, a run or a user, for a Plotly string (a label, a hover, a title): &, < and >
    escaped, so no tag of Plotly's small HTML subset applies. Quotes stay: Plotly decodes no &quot;
    and showed the token " as "&quot;" in the beam tree."""
    return html.escape(str(text), quote=False)


def min_px(present: Optional[bool] = None) -> int:
    return MIN_PX[presenting() if present is None else bool(present)]


def sizes(present: Optional[bool] = None) -> dict:
    return SIZES[presenting() if present is None else bool(present)]


# -- Plotly --------------------------------------------------------------------------------------------

_TAG = re.compile(r"<[a-zA-Z/]")
_SUP = re.compile(r"\s*(?:<br>\s*)?<sup>(.*?)</sup>\s*$", re.S)
_SUM = re.compile(r"Σ_\{([^}]*)\}\s*")
_TEXT_TRACES = ("scatter", "bar", "heatmap")


def plain(text: str) -> str:
    """Notation made readable on a slide: Σ_{t≤T} X -> "sum over t≤T of X"."""
    return _SUM.sub(lambda m: f"sum over {m.group(1)} of ", text)


def _wrap(text: str, max_chars: int) -> str:
    """Break a long axis title once, at the space nearest its middle (never inside a markup tag)."""
    if len(text) <= max_chars or _TAG.search(text) or " " not in text:
        return text
    mid = len(text) // 2
    cut = min((i for i, ch in enumerate(text) if ch == " "), key=lambda i: abs(i - mid))
    return text[:cut] + "<br>" + text[cut + 1:]


def _wrap_lines(text: str, max_chars: int) -> str:
    """Break a title into lines of at most max_chars at spaces (existing <br> kept; markup never split)."""
    out = []
    for part in re.split(r"<br\s*/?>", text):
        if _TAG.search(part) or len(part) <= max_chars:
            out.append(part)
            continue
        line = ""
        for word in part.split(" "):
            if line and len(line) + 1 + len(word) > max_chars:
                out.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        out.append(line)
    return "<br>".join(out)


def _line_labels_to_legend(fig: go.Figure) -> None:
    """Labels of horizontal / vertical reference lines (add_hline / add_vline annotation_text) move
    into the legend as entries with the line's own style: on the plot they sat on the data."""
    shapes = list(fig.layout.shapes or [])
    keep = []
    for a in fig.layout.annotations or []:
        line = None
        if a.xref and str(a.xref).endswith("domain") and a.yref and not str(a.yref).endswith(("domain", "paper")):
            line = next((s for s in shapes if s.type == "line" and s.y0 == s.y1 == a.y and s.yref == a.yref), None)
        elif a.yref and str(a.yref).endswith("domain") and a.xref and not str(a.xref).endswith(("domain", "paper")):
            line = next((s for s in shapes if s.type == "line" and s.x0 == s.x1 == a.x and s.xref == a.xref), None)
        if line is None:
            keep.append(a)
            continue
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=a.text, hoverinfo="skip", showlegend=True,
                                 line=dict(color=line.line.color, dash=line.line.dash, width=line.line.width or 2)))
    fig.layout.annotations = keep


def _few_points_note(fig: go.Figure, s: dict) -> None:
    """A line chart whose every line has at most one finite point draws no curve: say so on the chart."""
    lines = [t for t in fig.data if t.type == "scatter" and t.mode and "lines" in t.mode and t.fill in (None, "none")
             and t.y is not None and t.showlegend is not False and t.x is not None and any(v is not None for v in t.x)]
    if not lines:
        return
    pts = [sum(1 for v in t.y if v is not None and not (isinstance(v, float) and not math.isfinite(v))) for t in lines]
    if max(pts) > 1 or any(a.name == "few-points" for a in fig.layout.annotations or []):
        return
    fig.add_annotation(name="few-points", text=f"only {max(pts)} point measured: no curve to draw" if max(pts) == 1
                       else "nothing measured", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font=dict(size=s["annotation"] + 2, color=INK), bgcolor="rgba(255,255,255,0.85)")


def _map_colours(obj, name: str):
    """Every light-theme colour inside a figure dict as the theme `name` draws it."""
    if isinstance(obj, dict):
        return {k: _map_colours(v, name) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map_colours(v, name) for v in obj]
    if isinstance(obj, str):
        if obj.startswith("#") and len(obj) in (4, 7):
            return colour(obj, name)
        m = re.fullmatch(r"rgba\((\d+),\s*(\d+),\s*(\d+),\s*([\d.]+)\)", obj)
        if m:
            hexed = "#%02x%02x%02x" % tuple(int(g) for g in m.groups()[:3])
            mapped = colour(hexed, name)
            if mapped != hexed:
                return rgba(mapped, float(m.group(4)))
    return obj


# the width a title is broken at, [wide][presenting], for a 1280-px screen: the main column is ~820 px beside
# the sidebar and ~1060 px presented; one of two charts side by side gets 380 / 560 px
TITLE_WIDTH_PX = {False: {False: 380, True: 560}, True: {False: 780, True: 1000}}


def finish(fig: go.Figure, *, title: Optional[str] = None, height: Optional[int] = None,
           legend: Optional[str] = None, presenting: Optional[bool] = None,
           theme_name: Optional[str] = None, wide: bool = True) -> go.Figure:
    """The one style of every Plotly chart. Explicit colours of the theme; every text at least
    MIN_PX (12 px, 14 px presenting); automargins with title standoffs, so axis titles never sit
    on tick labels; the legend outside the plot ("right", or "below": under the x-axis title, in
    its own reserved strip); a title's <sup> line as its subtitle; reference-line labels in the
    legend. Calling it again (e.g. presenting=True) re-applies it from the stored base settings.
    wide: the chart spans the page's main column, as most do, and its title breaks at that width; False:
    one of two charts side by side (runs.figure with wide=False; display.plot keeps it), broken at half of it."""
    present = _presenting.get() if presenting is None else bool(presenting)
    name = theme_name if theme_name in THEMES else current_theme()
    s = SIZES[present]
    meta = dict((fig.layout.meta or {}).get("seqscope", {})) if isinstance(fig.layout.meta, dict) else {}
    if (title is None and height is None and legend is None and "done" in meta
            and meta["done"] == _signature(fig, present, name, wide)):
        return fig                                 # styled for this mode and theme and unchanged since
    if "height" not in meta:                       # first call: remember the builder's settings
        meta["height"] = height or fig.layout.height or 450
        meta["legend"] = legend or ("below" if (fig.layout.legend.orientation == "h") else "right")
        meta["theme"] = "light"
        sub = None
        text = title if title is not None else (fig.layout.title.text if fig.layout.title else None)
        if text:
            m = _SUP.search(text)
            if m:
                text, sub = text[:m.start()], m.group(1)
        meta["title"], meta["subtitle"] = text, sub
        _line_labels_to_legend(fig)
        for ax in _axes(fig):
            if ax.title and ax.title.text:
                ax.title.text = plain(ax.title.text)
    else:
        if height:
            meta["height"] = height
        if legend:
            meta["legend"] = legend
        if title is not None:
            meta["title"] = title
    if name != meta.get("theme", "light"):
        if meta.get("theme", "light") == "light":          # builders draw light; mapped once to the theme
            fig = go.Figure(_map_colours(fig.to_dict(), name))
            meta["theme"] = name
        else:                                               # already mapped to another theme: keep its colours
            name = meta["theme"]
    th = THEMES[name]
    height_px = int(max(meta["height"] * (1.2 if present else 1.0), s["height_min"]))
    n_legend = sum(1 for t in fig.data if t.showlegend is not False and t.name)
    legend_pos = meta["legend"]
    fig.update_layout(
        template="none", paper_bgcolor=th.bg, plot_bgcolor=th.bg, height=height_px,
        font=dict(family=FONT_FAMILY, size=s["base"], color=th.ink),
        hoverlabel=dict(bgcolor=th.bg, font=dict(color=th.ink, size=s["base"])),
        margin=dict(l=20, r=20, t=20, b=20, pad=2, autoexpand=True),
        meta={"seqscope": meta},
        showlegend=n_legend > 1 or (n_legend == 1 and legend_pos != "none"),
    )
    if meta["title"]:
        # titles do not wrap by themselves: break them at the width the chart gets on a 1280-px screen (no
        # sidebar in presentation mode): the main column (wide), else the narrowest, one of two side by side
        # (the lab's pairs, the injected TF / FR runs)
        width = TITLE_WIDTH_PX[bool(wide)][bool(present)]
        t = dict(text=_wrap_lines(meta["title"], int(width / (0.58 * s["title"]))), font=dict(size=s["title"], color=th.ink), x=0.005, xanchor="left", xref="container",
                 y=1, yanchor="bottom", yref="paper", pad=dict(t=6, b=10 + _top_annotation_px(fig, s)),
                 automargin=True)
        if meta["subtitle"]:
            # the subtitle as more lines of the title (a smaller span): Plotly's title automargin measures
            # those, while a multi-line layout.title.subtitle ran into the plot
            lines = _wrap_lines(meta["subtitle"], int(width / (0.58 * s["subtitle"]))).split("<br>")
            t["text"] += "".join(f'<br><span style="font-size:{s["subtitle"]}px">{ln}</span>' for ln in lines)
        fig.update_layout(title=t)
    else:
        fig.update_layout(title=dict(text=None))
    legend_common = dict(bgcolor=th.legend_bg, font=dict(color=th.ink, size=s["legend"]),
                         title=dict(font=dict(color=th.ink, size=s["legend"])))
    if legend_pos == "below":
        fig.update_layout(legend=dict(orientation="h", xref="container", yref="container", x=0.01, y=0.01,
                                      xanchor="left", yanchor="bottom", **legend_common))
    elif legend_pos == "top":
        fig.update_layout(legend=dict(orientation="h", xref="paper", yref="container", x=0, y=0.995,
                                      xanchor="left", yanchor="top", **legend_common))
    else:
        fig.update_layout(legend=dict(orientation="v", xref="paper", yref="paper", x=1.02, y=1, xanchor="left",
                                      yanchor="top", **legend_common))
    for ax in _axes(fig):
        ax.update(automargin=True, gridcolor=th.grid, linecolor=th.ink, zerolinecolor=th.grid,
                  tickfont=dict(color=th.ink, size=s["tick"]), title_standoff=10,
                  title_font=dict(color=th.ink, size=s["axis_title"]))
    for ax in _axes(fig):
        if ax.type == "log" and ax.dtick is None:
            ax.dtick = 1                  # decades only: Plotly draws the 2s and 5s between them smaller
    plot_h = max(120, height_px - 160)
    for ax in fig.select_yaxes():
        if ax.title and ax.title.text:
            ax.title.text = _wrap(ax.title.text.replace("<br>", " "), int(plot_h / (0.6 * s["axis_title"])))
    for a in fig.layout.annotations or []:
        a.font = dict(size=max(s["annotation"], (a.font.size or 0) if a.name == "few-points" else 0),
                      color=a.font.color if a.font.color not in (None, INK) else th.ink)
        if a.name == "few-points":
            a.bgcolor = th.legend_bg
    for tr in fig.data:
        if tr.type in _TEXT_TRACES and hasattr(tr, "textfont"):
            col = tr.textfont.color if tr.textfont and tr.textfont.color not in (None, INK) else th.ink
            tr.textfont = dict(size=s["data"], color=col)
            if tr.type == "bar":              # Plotly shrinks bar text that does not fit: never under the minimum
                tr.constraintext, tr.cliponaxis = "none", False
        if tr.type == "heatmap":
            if th.heat != "blues" and tr.colorscale and str(tr.colorscale[0][1]).replace(" ", "") == "rgb(247,251,255)":
                tr.colorscale = heat_scale(name)
            tr.colorbar = dict(tickfont=dict(size=s["tick"], color=th.ink),
                               title=dict(font=dict(size=s["legend"], color=th.ink),
                                          text=tr.colorbar.title.text if tr.colorbar and tr.colorbar.title else None),
                               outlinecolor=th.grid)
        if th.line_scale != 1 and tr.type == "scatter" and tr.line and tr.line.width:
            tr.line.width = tr.line.width * th.line_scale
    _few_points_note(fig, s)
    meta["done"] = _signature(fig, present, name, wide)
    meta["wide"] = bool(wide)                       # display.plot keeps it (runs.figure styles the half ones)
    fig.layout.meta = {"seqscope": meta}
    return fig


def _signature(fig: go.Figure, present: bool, name: str, wide: bool = True) -> list:
    """What a finished figure was styled for: the mode, the theme and the parts a caller may add to or
    resize after finish (traces, annotations, shapes, the height); calling finish again with the same
    signature changes nothing, so it returns at once (the page re-finishes every figure: that was half
    of a page's styling time)."""
    return [bool(present), name, bool(wide), len(fig.data), len(fig.layout.annotations or ()), len(fig.layout.shapes or ()),
            fig.layout.height]


def _top_annotation_px(fig: go.Figure, s: dict) -> int:
    """Room above the plot for subplot titles (annotations at the top edge), so the title clears them."""
    top = [a for a in fig.layout.annotations or [] if a.yref == "paper" and a.y is not None and a.y >= 0.98
           and a.yanchor == "bottom"]
    return int(max((1 + str(a.text).count("<br>")) * s["annotation"] * 1.3 + 6 for a in top)) if top else 0


def _axes(fig: go.Figure) -> list:
    return list(fig.select_xaxes()) + list(fig.select_yaxes())


def style(fig: go.Figure, *, title: Optional[str] = None, height: Optional[int] = None) -> go.Figure:
    """`finish` with the legend on the right (the decoding views)."""
    return finish(fig, title=title, height=height)


def style_legend_below(fig: go.Figure, *, title: Optional[str] = None, height: Optional[int] = None) -> go.Figure:
    """`finish` with a horizontal legend under the plot: the lab's charts often sit two side by
    side, where a legend on the right would squeeze the plot area."""
    return finish(fig, title=title, height=(height + 60) if height else None, legend="below")


def heat_scale(name: Optional[str] = None) -> str:
    """The theme's sequential colour scale, as Plotly names it."""
    return {"blues": "Blues", "viridis": "Viridis"}[theme(name).heat]


# -- Altair --------------------------------------------------------------------------------------------

def alt_finish(chart, *, presenting: Optional[bool] = None, theme_name: Optional[str] = None):
    """The same theme and minimum font sizes on an Altair chart (the attention maps): axis labels and
    titles, legend, facet headers and title from the top-level config."""
    present = _presenting.get() if presenting is None else bool(presenting)
    th, s = theme(theme_name), SIZES[present]
    return chart.configure(background=th.bg, font=FONT_FAMILY).configure_view(stroke=None).configure_title(
        color=th.ink, fontSize=s["title"] - 2, anchor="start").configure_axis(
        gridColor=th.grid, domainColor=th.ink, tickColor=th.ink, labelColor=th.ink, titleColor=th.ink,
        labelFontSize=s["tick"], titleFontSize=s["axis_title"], labelLimit=260, titlePadding=10,
        # a label that would overlap its neighbour is left out (hover names every cell): presented, a heatmap
        # fitted to the screen has rows shorter than its labels, which ran together
        labelOverlap="greedy", labelSeparation=2).configure_legend(
        labelColor=th.ink, titleColor=th.ink, labelFontSize=s["legend"], titleFontSize=s["legend"]).configure_header(
        labelColor=th.ink, titleColor=th.ink, labelFontSize=s["tick"], titleFontSize=s["axis_title"])


def alt_style(chart):
    """`alt_finish` (kept for callers of the old name)."""
    return alt_finish(chart)


def plotly_config(filename: str = "seqscope", fmt: str = "png") -> dict:
    """The config for st.plotly_chart / the HTML report: the toolbar's camera downloads `fmt`;
    zoom and pan by dragging, double-click resets."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": 2}}


# -- numbers -------------------------------------------------------------------------------------------

def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def finite(x) -> Optional[float]:
    """x as a float, or None when it is missing, not a number or infinite (a gap in a line)."""
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def span_at_least(values, span: float, anchor: str) -> Optional[list]:
    """An axis range at least `span` wide when the finite `values` lie closer together than that (None: let
    Plotly choose): log-probs 1e-5 apart on an axis of their own make a -90µ..0 scale on which tiny
    differences look like deep dips. anchor "top": the range ends at max(values, 0) (log-probs, <= 0);
    "bottom": it starts at min(values, 0) (KL, distances, >= 0)."""
    xs = [v for v in map(finite, values) if v is not None]
    if not xs or max(xs) - min(xs) >= span:
        return None
    pad = 0.04 * span
    if anchor == "top":
        top = max(max(xs), 0.0)
        return [top - span, top + pad]
    bottom = min(min(xs), 0.0)
    return [bottom - pad, bottom + span]


def fmt(x, digits: int = 3) -> str:
    """A number for a label: `digits` decimals ("inf" / "-inf" kept), "—" when missing or not a number."""
    if x is None:
        return "—"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else f"{x:.{digits}f}"


# compatibility: the old font dict (family, base size, ink)
FONT = dict(family=FONT_FAMILY, size=SIZES[False]["base"], color=INK)
