"""Load the chart libraries' code while a page is idle, so that the next page's first chart finds it.

Streamlit loads Plotly (4.7 MB of JavaScript, ~1 s to evaluate) and Vega-Embed lazily, when the first
chart of that kind is drawn. A talk starts on the Decks page, which draws no chart: the first presented
view paid the whole load (1.3 s where the others took 0.8 s in bench/dashboard.py), and the first
Attention view paid Vega's. The first element of every run is a hidden script that imports those modules
by the same URLs Streamlit's own lazy imports use (the browser evaluates each once; the chart then finds
it loaded), one after the other when the page is idle and the app runs no script (an evaluation is a long
task: it must not delay what the page is drawing, nor a click on Stop during a decode), and sets
window.__seqscopePreloaded when done. On a page that draws a chart at once (the home page) Streamlit's own
import comes first: measured, the preload neither helps nor delays it there.

The module names are read from the installed Streamlit's static folder: a Streamlit without them (a
renamed chunk) gets no preload, never an error (tests/test_preload.py fails then). The script is ours,
with no user text in it.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st

KEY = "seqscope_preload"
# The chunks, in import order: Plotly first (the home page's chart), then what the Vega-Lite charts
# (attention heatmaps, lab charts drawn with Altair) load.
CHUNKS = ("PlotlyChart", "ArrowVegaLiteChart", "embed", "vega-interpreter")


def static_js_dir() -> Path:
    return Path(st.__file__).resolve().parent / "static" / "static" / "js"


@functools.lru_cache(maxsize=1)
def chunk_files() -> tuple[str, ...]:
    """The file name of each of CHUNKS in this Streamlit's build (one match each, or it is left out)."""
    out = []
    js = static_js_dir()
    for stem in CHUNKS:
        found = sorted(p.name for p in js.glob(f"{stem}.*.js") if p.name.count(".") == 2)
        if len(found) == 1:
            out.append(found[0])
    return tuple(out)


_SCRIPT = """<script>
(() => {
  if (window.__seqscopePreload) return;
  window.__seqscopePreload = true;
  const entry = document.querySelector('script[type="module"][src*="/static/js/"]');
  if (!entry) { window.__seqscopePreloaded = true; return; }
  const base = new URL('.', entry.src);
  // idle: the browser has nothing to do and the app runs no script (a decode's Stop button must answer at once)
  const running = () => !!document.querySelector('[data-testid="stStatusWidgetRunningIcon"], ' +
                                                 '[data-testid="stStatusWidgetRunningManIcon"]');
  const idle = (f) => {
    const go = () => (running() ? setTimeout(() => idle(f), 300) : f());
    return window.requestIdleCallback ? requestIdleCallback(go, {timeout: 1500}) : setTimeout(go, 50);
  };
  const next = (names) => {
    if (!names.length) { window.__seqscopePreloaded = true; return; }     // done (bench/dashboard.py waits for it)
    idle(() => import(new URL(names[0], base).href).catch(() => {}).then(() => next(names.slice(1))));
  };
  next(FILES);
})();
</script>"""


def script() -> str:
    return _SCRIPT.replace("FILES", json.dumps(list(chunk_files())))


def emit() -> None:
    """The preload script in a hidden container (call it first in a run, in the sidebar)."""
    if not chunk_files():
        return
    st.html(f"<style>.st-key-{KEY} {{display: none;}}</style>")     # style only: no space in the page
    with st.container(key=KEY):
        st.html(script(), unsafe_allow_javascript=True)
