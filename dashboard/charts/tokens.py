"""A run's output as coloured token spans (background = the token's probability)."""
from __future__ import annotations

import html
from typing import Optional


def prob_colour(p: float) -> str:
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
        tip, bg = ("p not recorded", "#dddddd") if p is None else (f"p = {p:.3f}", prob_colour(p))
        spans.append(
            f'<span title="{tip}" style="background:{bg};color:#111;'
            f'padding:2px 3px;margin:1px;border-radius:3px;font-family:monospace;'
            f'font-size:{font_size}px;display:inline-block">{shown}</span>')
    return '<div style="line-height:2.1">' + "".join(spans) + "</div>"
