"""How the dashboard shows things: charts with explicit colours and the chosen download format,
presentation mode's CSS, errors as one line (never a traceback on a page), scores, links to pages,
and text from the URL or a trace made literal for Markdown (`md`, `code`) and for Plotly labels
(`label`): such text is never read as Markdown, HTML or a link."""
from __future__ import annotations

import html
import logging
import math
import re
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Optional

import streamlit as st

from dashboard import charts
from dashboard.url_state import presenting, shared

ROOT = Path(__file__).resolve().parent.parent
PAGE_OBJECTS: dict = {}   # url path -> st.Page, filled by app.py (links to Page objects stay in the session)
_log = logging.getLogger("seqscope.dashboard")


def page_ref(path: str):
    """The st.Page for 'views/step.py' when app.py registered it, else the path itself."""
    return PAGE_OBJECTS.get(Path(path).stem, path)


def apply_presentation_css() -> None:
    """Before a page draws: the charts' theme (?theme=) and presentation mode for the chart style,
    presentation mode's look and its "Exit presentation" button (dashboard/presenter.py)."""
    from dashboard import presenter

    charts.set_theme(shared("theme"))
    charts.set_presenting(presenting())
    presenter.chrome()


def chart_config(name: str) -> dict:
    return charts.plotly_config(f"seqscope-{name}", shared("fmt") or "png")


def plot(fig, name: str, **kw) -> None:
    """st.plotly_chart with explicit colours (theme=None) and the chosen download format. The chart keeps
    the width it was styled for (one of two side by side: runs.figure(..., wide=False))."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    wide = meta.get("seqscope", {}).get("wide", True)
    fig = charts.finish(fig, presenting=presenting(), theme_name=shared("theme"), wide=wide)   # theme, fonts, margins
    if presenting() and "height" not in kw:
        fig.update_layout(height=max(fig.layout.height or 450, 650))
    st.plotly_chart(fig, theme=None, config=chart_config(name), key=kw.pop("key", None), **kw)


def altair(chart, **kw):
    """Show an Altair chart with explicit colours (theme=None). The spec is produced without
    re-validating the inline data record by record (the builders are validated in the unit tests),
    which keeps a page with a large heatmap fast. In presentation mode a single chart (a heatmap)
    fills the height presentation mode gives charts."""
    spec = chart if isinstance(chart, dict) else charts.alt_finish(   # a dict: finished already (runs.vega)
        chart, presenting=presenting(), theme_name=shared("theme")).to_dict(validate=False)   # charts/style.py
    if presenting() and "mark" in spec and "height" not in kw:
        spec.update(width="container", height="container")
        kw["height"] = "stretch"
    return st.vega_lite_chart(spec, theme=None, **kw)


# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping them all leaves
# nothing for Markdown (links, images, emphasis, code spans, HTML, tables) or Streamlit's own
# syntax (:colour[...] directives, $math$) to read.
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029]")


def _one_row(text: str) -> str:
    """Line breaks as a visible ⏎: a shown value stays one line (no new Markdown block)."""
    return _LINE_BREAKS.sub("⏎", text)


def md(text) -> str:
    """`text` (from the URL, a trace, an exception) as literal Markdown: every punctuation character
    backslash-escaped, line breaks shown as ⏎. For st.markdown / st.caption / st.error / st.warning."""
    return _MD_SPECIAL.sub(r"\\\1", _one_row(str(text)))


def code(text) -> str:
    """`text` as a Markdown code span that nothing in it can close: the fence is one backtick longer
    than the longest run of backticks inside (inside a code span nothing is Markdown or HTML)."""
    s = _one_row(str(text))
    runs = re.findall(r"`+", s)
    fence = "`" * (max(map(len, runs), default=0) + 1)
    pad = " " if (s[:1] in ("`", " ") or s[-1:] in ("`", " ")) else ""
    return f"{fence}{pad}{s or ' '}{pad}{fence}"


def label(text) -> str:
    """`text` for a Plotly title, label or hover: HTML-escaped (Plotly reads <b>, <br>, <a href> in
    its text as markup and shows entities as their characters)."""
    return html.escape(str(text))


def clip(text: str, n: int, *, tail: bool = False) -> str:
    """At most n characters of `text`: its head, or (tail=True) its tail, with … where it was cut."""
    if len(text) <= n:
        return text
    return "…" + text[-(n - 1):] if tail else text[:n - 1] + "…"


def one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return (msg[0] if msg else type(e).__name__)[:400]


def log_error(where: str) -> None:
    """The current exception's traceback in the server's log (never on the page)."""
    _log.error("%s\n%s", where, traceback.format_exc())


def error(text) -> None:
    """A one-line st.error of text that may hold input from the URL or a trace (shown literally)."""
    st.error(md(text))


def guarded(fn: Callable[[], None]) -> None:
    """Run a page body: a user error shows st.error; an unexpected error shows a one-line
    st.error too (never a traceback on the page)."""
    try:
        fn()
    except (ValueError, TypeError, KeyError) as e:
        if not isinstance(e, ValueError):   # a user error is a ValueError; anything else is logged
            log_error("page error")
        error(one_line(e))
    except RecursionError:
        log_error("page error")
        error("The input is nested too deeply to show.")
    except Exception as e:  # noqa: BLE001 - the page must keep working
        if type(e).__name__ in ("RerunException", "StopException", "RerunData"):
            raise
        log_error("page error")
        error(f"Something went wrong: {type(e).__name__}: {one_line(e)}")


class Progress:
    """A progress bar for runs that report their steps (runs.Progress callbacks): it appears at the first
    step reported (a cached run shows nothing), shows at most ten updates a second, and goes on done().
    Each update is an st call, where Streamlit stops a script whose user navigated away or pressed Stop:
    that is what makes a long decode cancellable."""

    def __init__(self, n_runs: int = 1):
        self._slot = st.empty()
        self._n = max(1, n_runs)
        self._last = time.monotonic()       # a run done within 0.1 s shows no bar

    def callback(self, index: int, label: str) -> Callable[[int, int], None]:
        """The callback of run `index` (of n_runs): (steps done, steps at most); (0, 0) = waiting."""
        def on_step(done: int, total: int) -> None:
            now = time.monotonic()
            if now - self._last < 0.1:
                return
            self._last = now
            part = min(1.0, done / total) if total else 0.0
            text = (f"{label}: step {done} of at most {total}" if total else
                    f"{label}: waiting for the same run in another session")
            self._slot.progress(min(1.0, (index + part) / self._n), text=md(text) + " (Stop, top right, cancels it)")
        return on_step

    def done(self) -> None:
        self._slot.empty()


def rel_path(p: Path) -> str:
    """A path as a page shows it: relative to the repository when it is inside it."""
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def fmt_score(x: Optional[float]) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.3f}"


def folded(label: str, key: str, *, fold: bool = True):
    """A box whose content runs only while it is open (an st.expander that reruns the script when it is
    opened or closed): the container to draw into when open, else None. fold=False: no box, the content is
    drawn in place. Used where a first visit paid for widgets or charts drawn folded or off the screen."""
    if not fold:
        return nullcontext()
    box = st.expander(label, key=key, on_change="rerun")
    return box if box.open else None
