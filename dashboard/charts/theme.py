"""Themes and colours of every chart, in one place: "light", "dark" and "high-contrast" with a
colour-blind-safe palette (Okabe & Ito), the colours of the roles charts draw (teacher forcing, free
running, the chosen and injected token, the winner, beam statuses), and the mapping of a light-theme
colour to the current theme's. Builders draw with the light names; `style.finish` maps them.

The theme and presentation mode are per script run (a ContextVar: Streamlit runs each session's
script in its own thread): the app calls `set_theme(name)` / `set_presenting(flag)` before the page
draws; builders read `current_theme()` / `presenting()`.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Optional

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {"blue": "#0072B2", "vermillion": "#D55E00", "green": "#009E73", "purple": "#CC79A7",
             "orange": "#E69F00", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}


@dataclass(frozen=True)
class Theme:
    name: str
    bg: str
    ink: str
    grid: str
    muted: str                    # cut tokens, pruned nodes
    palette: tuple
    heat: str                     # sequential colour scale of heatmaps (Plotly and Vega names)
    legend_bg: str
    line_scale: float = 1.0       # high contrast: thicker lines
    extra: dict = field(default_factory=dict)


_LIGHT_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7A5C00", "#555555")
THEMES = {
    "light": Theme("light", bg="#ffffff", ink="#1a1a1a", grid="#d9d9d9", muted="#a6a6a6",
                   palette=_LIGHT_PALETTE, heat="blues", legend_bg="rgba(255,255,255,0.9)"),
    "dark": Theme("dark", bg="#14171c", ink="#eeeeee", grid="#3b4048", muted="#6e7580",
                  palette=("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#F0E442", "#D55E00", "#9BD0F0", "#c8c8c8"),
                  heat="viridis", legend_bg="rgba(20,23,28,0.9)"),
    "high-contrast": Theme("high-contrast", bg="#000000", ink="#ffffff", grid="#5a5a5a", muted="#8c8c8c",
                           palette=("#56B4E9", "#F0E442", "#00C896", "#7755FF", "#E69F00", "#ffffff", "#FF6A3D",
                                    "#B0B0B0"),
                           heat="viridis", legend_bg="rgba(0,0,0,0.9)", line_scale=1.5),
}
THEME_NAMES = tuple(THEMES)

# The light theme's colours, under the names the builders use. Builders draw with these; `finish`
# maps them to the current theme's colours (so a builder never needs to know the theme).
_L = THEMES["light"]
PALETTE = list(_L.palette)
INK, GRID, BG, CUT = _L.ink, _L.grid, _L.bg, _L.muted
CHOSEN = OKABE_ITO["orange"]                       # the chosen token
# the token injected into a free run (TF/FR charts): reddish purple, unlike orange it stays apart from free
# running's vermillion (and teacher forcing's blue) with protanopia and deuteranopia (tests/test_colour_roles.py)
INJECTED = OKABE_ITO["purple"]
WINNER = OKABE_ITO["vermillion"]                   # the highlighted hypothesis
STATUS_COLOURS = {"kept": OKABE_ITO["blue"], "finished": OKABE_ITO["green"], "pruned": "#b8b8b8"}
TF, FR = PALETTE[0], PALETTE[1]                    # teacher forcing and free running, in every lab chart
BEFORE, AFTER = "#9ecae1", "#08519c"               # the step inspector's bars: the model, after the rules
FONT_FAMILY = "Arial, Helvetica, sans-serif"

_ROLE_COLOURS = {                                   # light colour -> (role in other themes)
    "dark": {INK: "#eeeeee", BG: "#14171c", GRID: "#3b4048", CUT: "#6e7580", "#b8b8b8": "#6e7580",
             CHOSEN: "#E69F00", WINNER: "#FF7A3D", BEFORE: "#3d6f8f", AFTER: "#9BD0F0", "#3182bd": "#9BD0F0",
             "#08306b": "#cfe6f5", "#ffffff": "#14171c"},
    "high-contrast": {INK: "#ffffff", BG: "#000000", GRID: "#5a5a5a", CUT: "#8c8c8c", "#b8b8b8": "#8c8c8c",
                      CHOSEN: "#F0E442", WINNER: "#FF6A3D", BEFORE: "#3d6f8f", AFTER: "#56B4E9",
                      "#3182bd": "#ffffff", "#08306b": "#ffffff", "#ffffff": "#000000"},
}

_theme: contextvars.ContextVar[str] = contextvars.ContextVar("seqscope_theme", default="light")
_presenting: contextvars.ContextVar[bool] = contextvars.ContextVar("seqscope_presenting", default=False)


def set_theme(name: Optional[str]) -> str:
    """Choose the theme of the figures built from now on in this script run ("light" when None or
    unknown). Returns the theme set."""
    name = name if name in THEMES else "light"
    _theme.set(name)
    return name


def current_theme() -> str:
    return _theme.get()


def theme(name: Optional[str] = None) -> Theme:
    return THEMES[name if name in THEMES else current_theme()]


def set_presenting(flag: bool) -> None:
    """Presentation mode for the figures built from now on in this script run."""
    _presenting.set(bool(flag))


def presenting() -> bool:
    return _presenting.get()


def colour(light: str, name: Optional[str] = None) -> str:
    """A light-theme colour as the theme `name` (default: current) draws it."""
    name = name or current_theme()
    if name == "light":
        return light
    key = light.lower() if light.startswith("#") else light
    for k, v in _ROLE_COLOURS[name].items():
        if k.lower() == key:
            return v
    for i, c in enumerate(PALETTE):
        if c.lower() == key:
            return THEMES[name].palette[i]
    return light
