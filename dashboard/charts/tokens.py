"""A run's output as coloured token spans (background = the token's probability) and the colour key
that goes under them. The scale is colour-blind safe: it runs from orange (unlikely) through a pale
middle to blue (likely), a blue-orange scale that people with red-green colour vision deficiencies
tell apart, and its lightness changes too, so the order survives a grey-scale print."""
from __future__ import annotations

import html
from typing import Optional

# (p, (r, g, b)): orange -> pale -> blue (Okabe & Ito's orange and sky blue, lightened for text on top)
_STOPS = [(0.0, (230, 159, 0)), (0.5, (238, 232, 213)), (1.0, (86, 180, 233))]
KEY_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def prob_colour(p: float) -> str:
    """Orange (unlikely) -> pale (0.5) -> blue (likely), as an rgb() string; dark text stays readable on it."""
    p = min(1.0, max(0.0, float(p)))
    for (p0, c0), (p1, c1) in zip(_STOPS, _STOPS[1:]):
        if p <= p1:
            f = (p - p0) / (p1 - p0)
            r, g, b = (round(a + (b_ - a) * f) for a, b_ in zip(c0, c1))
            return f"rgb({r},{g},{b})"
    r, g, b = _STOPS[-1][1]
    return f"rgb({r},{g},{b})"


CHAR_EM = 0.6           # a monospace character's width, in em (the spans' font)
SPAN_PX = 8             # a span's padding and margins around its characters
LINE_EM = 2.1           # a row of spans, in em


def line_px(font_size: int) -> int:
    """The height of one row of token spans drawn at `font_size` px with max_lines (tokens_html)."""
    return round(font_size * LINE_EM)


def tokens_html(pairs: list[tuple[str, Optional[float]]], *, font_size: int = 18,
                max_lines: Optional[int] = None, more: bool = False) -> str:
    """Coloured token spans (background = probability), with the probability on hover. max_lines: rows of
    exactly line_px(font_size) each, the box at most that many rows high, the rest scrolled to (presentation
    mode keeps a long output from pushing the chart off the screen); more: the output is longer than that,
    and the box's lower edge fades out to say so (overlay scrollbars show nothing until scrolled)."""
    spans = []
    for tok, p in pairs:
        shown = html.escape(tok).replace(" ", "&nbsp;") or "&nbsp;"
        tip, bg = ("p not recorded", "#dddddd") if p is None else (f"p = {p:.3f}", prob_colour(p))
        spans.append(
            f'<span title="{tip}" style="background:{bg};color:#111;'
            f'padding:2px 3px;margin:1px;border-radius:3px;font-family:monospace;'
            f'font-size:{font_size}px;display:inline-block'
            + (';line-height:1.2;vertical-align:middle' if max_lines else '') + f'">{shown}</span>')
    if not max_lines:
        return '<div style="line-height:2.1">' + "".join(spans) + "</div>"
    row = line_px(font_size)
    fade = "linear-gradient(to bottom, #000 calc(100% - 22px), transparent)"
    return (f'<div class="seqscope-tokens" style="line-height:{row}px;max-height:{row * max_lines}px;'
            f'overflow-y:auto' + (f';-webkit-mask-image:{fade};mask-image:{fade}' if more else '') + '">'
            + "".join(spans) + "</div>")


def rows_needed(tokens: list[str], width_px: float, font_size: int) -> int:
    """How many rows tokens_html's spans take in a box `width_px` wide (a span never breaks: its spaces
    are non-breaking), estimated from the monospace character width."""
    rows, used = 1, 0.0
    for tok in tokens:
        w = max(len(tok), 1) * CHAR_EM * font_size + SPAN_PX
        if used and used + w > width_px:
            rows, used = rows + 1, 0.0
        used += w
    return rows


def prob_key_html(*, font_size: int = 14) -> str:
    """The colour key of tokens_html: a gradient bar from p = 0 to p = 1 with ticks, and the grey of
    'not recorded'. Explicit colours (white card, dark text), so it reads the same in any theme."""
    stops = ", ".join(f"{prob_colour(i / 20)} {i * 5}%" for i in range(21))
    fs = max(12, int(font_size))
    ticks = "".join(f'<span style="position:absolute;left:{p * 100:.0f}%;transform:translateX(-50%)">{p:g}</span>'
                    for p in KEY_TICKS)
    return (f'<div class="seqscope-prob-key" style="display:flex;align-items:center;gap:10px;flex-wrap:wrap;'
            f'font-family:Arial,Helvetica,sans-serif;font-size:{fs}px;color:#1a1a1a;background:#ffffff;'
            f'padding:4px 8px;border-radius:4px;width:fit-content">'
            f'<span>token probability:</span><span style="display:inline-block;width:220px">'
            f'<span style="display:block;height:{fs}px;border-radius:3px;border:1px solid #777;'
            f'background:linear-gradient(to right, {stops})"></span>'
            f'<span style="display:block;position:relative;height:{fs + 4}px;margin:0 2px">{ticks}</span></span>'
            f'<span>unlikely (orange) → likely (blue)</span>'
            f'<span style="display:inline-flex;align-items:center;gap:4px"><span style="display:inline-block;'
            f'width:{fs}px;height:{fs}px;background:#dddddd;border:1px solid #777;border-radius:3px"></span>'
            f'not recorded</span></div>')
