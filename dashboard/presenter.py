"""Presenter mode, for talks driven by a clicker: presentation mode's look (no sidebar, large fonts,
every chart as tall as the screen allows), a visible way out of it, the page's controls folded into a
"Controls" popover, and a stepper a clicker drives: ← / → and PageUp / PageDown move one step (the
keys a presentation clicker sends), P plays / pauses an animation at a chosen speed.

The keys are Streamlit's own button shortcuts (st.button(shortcut=...), one key per button; the
PageUp / PageDown twins of ◀ / ▶ are hidden). Streamlit ignores them while typing in a text field.
Playing is a fragment rerun every `speed` seconds (st.fragment(run_every=...)) that moves the
stepper's widget one step and reruns the page.

A view uses it in three lines:

    box = presenter.controls()            # box.columns(...), box.slider(...): in place, or in the popover
    ...
    presenter.stepper("step", list(range(n)), controls=box, play=True)
"""
from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence

import streamlit as st

from dashboard import url_checks
from dashboard.url_state import presenting, set_shared

EXIT_KEY = "present_exit"
ONE_LINE = "one_line"          # presenting: Markdown in a container keyed one_line* stays on one line (cut with …)
# presenting: the characters a one-line text may keep of the input (its head), of the Step inspector's prefix
# (its tail: the context the next token follows) and of the Beam tree's best hypothesis (its head). At 24 px a
# code character is ~18 px wide; with the rest of each line they fit the 1070-px column at 1280x720 (a
# 30-step prefix wrapped to four lines and pushed the chart's axis off the screen)
LINE_CHARS = {"input": 16, "prefix": 30, "best": 12}
CHART_OFFSET = "170px"         # the height above a chart in presentation mode: toolbar, one line, gaps
PREV_KEYS, NEXT_KEYS = ("Left", "PageUp"), ("Right", "PageDown")
PLAY_KEY = "P"

_CSS = """<style>
section[data-testid="stSidebar"], div[data-testid="stSidebarCollapsedControl"],
header[data-testid="stHeader"] {display: none !important;}
.block-container {max-width: 100% !important; padding-top: 0.75rem !important; padding-bottom: 1rem !important;}
html, body, [class*="st-"], p, li, label {font-size: 1.35rem !important;}
h1 {font-size: 2.6rem !important;} h2, h3 {font-size: 2rem !important;}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * {font-size: 0.85rem !important;}
[data-testid="stMain"] [data-testid="stPlotlyChart"], [data-testid="stMain"] [data-testid="stVegaLiteChart"]
  {height: calc(100vh - OFFSET) !important; min-height: 320px;}
[class*="st-key-one_line"] [data-testid="stMarkdownContainer"] p
  {white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
[class*="st-key-one_line"] [data-testid="stMarkdownContainer"] p code {white-space: nowrap;}
.st-key-EXIT {position: fixed !important; top: 0.5rem; right: 1rem; z-index: 999991; width: auto !important;}
.st-key-EXIT button {background: rgba(255, 255, 255, 0.92);}
</style>"""
_HIDE_TWINS = "<style>[class*='st-key-pk_twin_'] {display: none !important;}</style>"


_EXTRA = "_pk_extra_px"


def fit_charts(extra_px: int) -> None:
    """Something of `extra_px` pixels sits above the main chart besides the toolbar (the deck's
    presenter bar): presentation mode's charts get that much shorter, so the first one still ends on
    the first screen. Adds up within a run (chrome() starts each run at 0)."""
    if not presenting():
        return
    total = int(st.session_state.get(_EXTRA) or 0) + int(extra_px)
    st.session_state[_EXTRA] = total
    st.html(f"<style>[data-testid=\"stMain\"] [data-testid=\"stPlotlyChart\"], [data-testid=\"stMain\"] "
            f"[data-testid=\"stVegaLiteChart\"] {{height: calc(100vh - {CHART_OFFSET} - {total}px) !important;}}</style>")


def _exit() -> None:
    set_shared("present", False)


def chrome() -> None:
    """Presentation mode's look and its way out: an "Exit presentation" button fixed in the page's
    top-right corner (the sidebar with its toggle is hidden). Drawn by the app before the page."""
    st.session_state[_EXTRA] = 0
    if not presenting():
        return
    st.html(_CSS.replace("OFFSET", CHART_OFFSET).replace("EXIT", EXIT_KEY))
    st.button("Exit presentation", key=EXIT_KEY, icon=":material/close_fullscreen:", on_click=_exit,
              help="Back to the normal view with the sidebar (or remove present=true from the address).")


class Controls:
    """A page's controls: drawn in place normally; in presentation mode inside a collapsed
    "Controls" popover in a toolbar row at the top, so that the chart fills the screen. Use it like
    `st`: box.columns(...), box.slider(...), `with box:`."""

    def __init__(self) -> None:
        self.bar: Optional[Any] = None
        if presenting():
            self.bar = st.container(horizontal=True, vertical_alignment="center", key="pk_toolbar", gap="small")
            self._box = self.bar.popover("Controls", icon=":material/tune:")
        else:
            self._box = st

    def __getattr__(self, name: str) -> Any:
        return getattr(self._box, name)

    def row(self, spec, **kw) -> list:
        """Places for a row of controls in the current `with` context: columns side by side normally;
        in presentation mode one under the other (the popover is too narrow for a row of five)."""
        if self.bar is None:
            return st.columns(spec, **kw)
        return [st.container() for _ in (range(spec) if isinstance(spec, int) else spec)]

    def heading(self, text: str) -> None:
        """A section's heading: a subheader normally; in presentation mode bold text in the toolbar
        row beside "Controls" (a subheader there would push the chart below the first screen)."""
        if self.bar is None:
            st.subheader(text)
        else:
            from dashboard import display
            self.bar.markdown(f"**{display.md(text)}**", width="content")

    def __enter__(self):
        self._ctx = contextlib.nullcontext() if self._box is st else self._box
        return self._ctx.__enter__()

    def __exit__(self, *exc) -> Any:
        return self._ctx.__exit__(*exc)


def controls() -> Controls:
    return Controls()


# -- the stepper: ◀ / ▶ (← → PageUp PageDown), play / pause (P) at a speed -------------------------

def _index(value: Any, options: Sequence) -> Optional[int]:
    try:
        return list(options).index(value)
    except ValueError:
        return None


def _move(key: str, options: Sequence, delta: int) -> None:
    """A ◀ / ▶ button (or its key): the widget `key` one option back or on, within the options."""
    options = list(options)
    if not options:
        return
    i = _index(st.session_state.get(key), options)
    if i is None:
        i = -1 if delta > 0 else len(options)
    st.session_state[key] = options[min(max(0, i + delta), len(options) - 1)]


def _play_key(key: str) -> str:
    return f"_playing_{key}"


def playing(key: str) -> bool:
    return bool(st.session_state.get(_play_key(key)))


def _toggle_play(key: str, options: Sequence) -> None:
    """Play / pause; playing from the last option starts again from the first."""
    options = list(options)
    if playing(key):
        st.session_state[_play_key(key)] = False
        return
    if options and _index(st.session_state.get(key), options) in (None, len(options) - 1):
        st.session_state[key] = options[0]
    st.session_state[_play_key(key)] = len(options) > 1


def tick(key: str, options: Sequence) -> bool:
    """One step of the animation: the widget one option on; at the last option playing stops.
    Returns whether it moved."""
    options = list(options)
    i = _index(st.session_state.get(key), options)
    if not options or i is None or i >= len(options) - 1:
        st.session_state[_play_key(key)] = False
        return False
    st.session_state[key] = options[i + 1]
    if i + 1 >= len(options) - 1:
        st.session_state[_play_key(key)] = False
    return True


def _ticker(key: str, options: list, seconds: float) -> None:
    """While playing: a fragment that Streamlit reruns every `seconds`; each of those reruns moves the
    widget one step and reruns the page (the run of the page itself only draws it)."""
    fresh = f"_play_fresh_{key}"

    def frag() -> None:
        if st.session_state.pop(fresh, False):       # drawn by the page's own run: wait for the timer
            return
        if playing(key):
            tick(key, options)
        st.rerun(scope="app")

    st.session_state[fresh] = True
    st.fragment(frag, run_every=seconds, key=f"pk_play_{key}")()


def speed() -> float:
    """Seconds per step while playing (the Speed control, ?speed=)."""
    v = st.session_state.get("speed")
    return float(v if v in url_checks.SPEEDS else url_checks.DEFAULT_SPEED)


def stepper(key: str, options: Sequence, *, controls: Optional[Controls] = None, play: bool = False,
            what: str = "step") -> None:
    """◀ / ▶ buttons moving the widget `key` through `options` (the values it takes), bound to
    ← / → and PageUp / PageDown; with play=True a play / pause button (P) and a speed setting.
    Draw it after the widget `key`. In presentation mode the buttons sit in the toolbar of
    `controls` and the speed in its popover."""
    options = list(options)
    if len(options) < 2:
        return
    where = controls.bar if controls is not None and controls.bar is not None else None
    row = (where or st).container(horizontal=True, vertical_alignment="center", gap="small",
                                  key=f"pk_row_{key}")
    i = _index(st.session_state.get(key), options)
    st.html(_HIDE_TWINS)
    for label, keys, delta in (("◀ previous", PREV_KEYS, -1), ("next ▶", NEXT_KEYS, 1)):
        off = i is not None and (i == 0 if delta < 0 else i == len(options) - 1)
        row.button(label, key=f"pk_{'prev' if delta < 0 else 'next'}_{key}", shortcut=keys[0],
                   on_click=_move, args=(key, options, delta), disabled=off,
                   help=f"{label.strip('◀ ▶')} {what} (keys: {' or '.join(keys)})")
        row.button(label, key=f"pk_twin_{keys[1].lower()}_{key}", shortcut=keys[1], on_click=_move,
                   args=(key, options, delta), disabled=off)
    if not play:
        return
    on = playing(key)
    row.button("pause" if on else "play", key=f"pk_play_btn_{key}", shortcut=PLAY_KEY,
               icon=":material/pause:" if on else ":material/play_arrow:", on_click=_toggle_play,
               args=(key, options), type="primary" if on else "secondary",
               help=f"Play the {what}s one after another, or pause (key: {PLAY_KEY})")
    in_popover = controls is not None and controls.bar is not None
    (controls if in_popover else row).selectbox(
        f"Seconds per {what}", url_checks.SPEEDS, index=url_checks.SPEEDS.index(url_checks.DEFAULT_SPEED),
        key="speed", bind="query-params", label_visibility="visible" if in_popover else "collapsed",
        width=240 if in_popover else 90, help=f"Speed: how long each {what} stays on screen while playing")
    if not in_popover:
        row.caption(f"s per {what}", width="content")
    if on:
        with row:
            _ticker(key, options, speed())
