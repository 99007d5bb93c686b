"""Real-browser readability check of every chart (issue 13, "Readable everywhere").

One server, one Chromium tab; every page (the decoding pages, the four tours, the lab's dataset view
and its eight experiments) is opened at 1600x1000 and 1280x720, normally and with `?present=true`.
In every Plotly SVG the bounding boxes of the text groups are compared:

- title     the figure title (.gtitle) and the axis titles (.g-xtitle, .g-ytitle, .g-x2title, ...)
- ticks     the tick labels (.xtick text, .ytick text)
- legend    the legend box (.legend .bg)
- annot     annotations (subplot titles, line labels)
- data      text drawn on the data (scatter text, bar text)

A failure is any overlap (more than 1 px both ways) between two different groups, an axis line through a
title or an annotation (a subplot's title on the x axis of the panel above), data labels that run into
each other, a legend or the figure title over a plot area, any chart text outside the figure's svg box
(clipped), any request to another host than the server (offline), and any chart text (text or tspan,
hover excepted) whose computed font size is under the minimum: 12 px normally, 14 px in presentation
mode. Altair charts draw on a canvas; their font sizes are checked on the spec in tests/test_charts.py.
Streamlit's own labels (buttons, widget labels, metrics, page links) cut with an ellipsis fail too, and so
does a row of widgets whose labels wrap to different heights (their boxes no longer line up). The Decks
and Train pages, which draw no chart, are checked for these alone.

With SEQSCOPE_SCREENSHOTS=1 the test also saves docs/screenshots/ (1600x1000 normal under the
README's names, 1280x720 presentation mode as present-<name>.png).
"""
import os
import time
from pathlib import Path

import pytest

from dashboard import headless

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SIZES = [(1600, 1000), (1280, 720)]
MIN_PX = {False: 12.0, True: 14.0}
NO_CHARTS = {"deck", "train"}                # views checked for their labels only
LONG = "the+third+of+march%2C+two+thousand+twenty-one"

# (name, url path + query, screenshot name or None)
VIEWS = [
    ("compare", "?model=dates-transformer", "compare"),
    ("compare-mbr", "?model=dates-transformer&input=Wed+3+Mar+21&s=greedy&s=beam+4&s=MBR", None),
    ("step", "step?model=text-gpt&input=A+function+is&run=top-p+0.9&step=3", "step"),
    ("step-log", "step?step=4&log=true", None),
    ("attention", f"attention?model=dates-transformer&input={LONG}", None),
    ("attention-grid", "attention?model=text-gpt&input=A+function+is&grid=true", None),
    ("beam", "beam?beams=8&model=dates-transformer&input=Wed+3+Mar+21", None),
    ("beam-8x40", "beam?model=text-gpt&input=The+default+value+of&beams=8&maxlen=40", "beam"),
    ("tffr", f"tffr?input={LONG}&inject=3&wrong=9", "tffr"),
    ("tffr-hmm", "tffr?model=hmm-gpt&inject=5", None),
    # the themes (?theme=): same layout, other colours
    ("compare-dark", "?model=dates-transformer&theme=dark", None),
    ("beam-high-contrast", "beam?beams=8&model=dates-transformer&input=Wed+3+Mar+21&theme=high-contrast", None),
    # the four tours of the Compare page
    ("tour-wrong-note", f"tffr?model=dates-gru-attn&input={LONG}&inject=3&wrong=9", None),
    ("tour-greedy-loops", "?model=text-gpt&input=The+default+value+of&s=greedy&s=top-p+0.9"
                          "&s=repetition+penalty+1.3", "compare-text-gpt"),
    ("tour-beam-tree", "beam?model=dates-transformer&input=Wed+3+Mar+21&beams=8&reveal=3", None),
    ("tour-attention", f"attention?model=dates-gru-attn&input={LONG}", None),
    # the Decks page (no chart): the default deck's view rows (title, note, the page's link)
    ("deck", "deck", None),
    ("train", "train", None),           # the Train page's form (no chart until a run)
    # the exposure lab
    ("lab", "lab?lab_n=100", "lab"),                    # its first tab (one section per tab)
    ("lab-hmm", "lab?lab_models=hmm-gpt&lab_models=hmm-gpt-ss&lab_n=100", "lab-hmm"),
] + [(f"lab-{t.split()[0].lower()}", f"lab?lab_n=100&lab_section={t.replace(' ', '+')}", None)   # the other tabs
     for t in ("Calibration", "Recovery", "Compounding", "Drift")] + \
    [(f"lab-hmm-{t.split()[0].lower()}", f"lab?lab_models=hmm-gpt&lab_models=hmm-gpt-ss&lab_n=100"
                                         f"&lab_section={t.replace(' ', '+')}", None)
     for t in ("AccErr", "Oracle calibration", "Drift", "Sampled gold token")] + [(f"lab-{e}", f"lab?lab_view=Experiments&lab_exp={e}", {"tf-vs-fr": "lab-experiments",
                                                           "beam-curse": "lab-beam-curse",
                                                           "decoding": "lab-decoding"}.get(e))
     for e in ("tf-vs-fr", "ss-schedules", "recovery", "beam-curse", "label-smoothing", "decoding", "tbptt",
               "bpe-vocab")]

_CHECK_JS = r"""
(minPx) => {
  const out = [];
  const R = (e) => e.getBoundingClientRect();
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const shown = (e) => { const r = R(e); const s = getComputedStyle(e);
    return r.width > 0.5 && r.height > 0.5 && s.display !== 'none' && s.visibility !== 'hidden' &&
           s.opacity !== '0' && (e.tagName.toLowerCase() === 'rect' || (e.textContent || '').trim().length > 0); };
  const txt = (e) => (e.textContent || '').trim().slice(0, 40);
  const all = (gd, sel) => Array.from(gd.querySelectorAll(sel)).filter(e => !e.closest('.hoverlayer') && shown(e));
  const plots = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'));
  plots.forEach((gd, i) => {
    const t = gd.querySelector('.gtitle');
    const name = `chart ${i + 1} "${t ? txt(t) : ''}"`;
    const svg = gd.querySelector('svg.main-svg');
    if (!svg) return;
    const box = R(svg);
    const groups = {
      title: all(gd, '.gtitle, .gtitle-subtitle, g[class^="g-x"][class$="title"] text, g[class^="g-y"][class$="title"] text'),
      ticks: all(gd, '.xtick text, .ytick text'),
      legend: all(gd, '.legend rect.bg'),
      annot: all(gd, '.annotation-text-g text'),
      data: all(gd, '.textpoint text, text.bartext'),
    };
    const names = Object.keys(groups);
    for (let a = 0; a < names.length; a++) for (let b = a + 1; b < names.length; b++) {
      for (const x of groups[names[a]]) for (const y of groups[names[b]]) {
        if (hit(R(x), R(y))) out.push(`${name}: ${names[a]} "${txt(x)}" overlaps ${names[b]} "${txt(y)}"`);
      }
    }
    const d = groups.data;
    for (let a = 0; a < d.length; a++) for (let b = a + 1; b < d.length; b++) {
      if (hit(R(d[a]), R(d[b]))) out.push(`${name}: data labels "${txt(d[a])}" and "${txt(d[b])}" run together`);
    }
    // an axis line through a title or an annotation (a subplot's title on the panel above's x axis)
    const lines = Array.from(gd.querySelectorAll('path.xlines-above, path.xlines-below, path.ylines-above, '
                                                 + 'path.ylines-below'))
      .filter(e => !e.closest('.hoverlayer') && getComputedStyle(e).display !== 'none'
                   && (e.getAttribute('d') || '').length > 0);
    for (const l of lines) {
      const q = R(l);
      for (const x of groups.title.concat(groups.annot)) {
        const r = R(x);
        const across = q.height < 2
          ? Math.min(q.right, r.right) - Math.max(q.left, r.left) > 1 && q.top > r.top + 2 && q.top < r.bottom - 2
          : q.width < 2 && Math.min(q.bottom, r.bottom) - Math.max(q.top, r.top) > 1
            && q.left > r.left + 2 && q.left < r.right - 2;
        if (across) out.push(`${name}: an axis line runs through "${txt(x)}"`);
      }
    }
    const areas = all(gd, '.draglayer .nsewdrag');
    for (const x of groups.legend.concat(all(gd, '.gtitle, .gtitle-subtitle'))) for (const p of areas) {
      if (hit(R(x), R(p))) out.push(`${name}: ${x.closest('.legend') ? 'legend' : 'title "' + txt(x) + '"'} over a plot area`);
    }
    const texts = Array.from(gd.querySelectorAll('svg text')).filter(e => !e.closest('.hoverlayer') && shown(e));
    for (const e of texts) {
      const r = R(e);
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.push(`${name}: text "${txt(e)}" outside the figure (clipped)`);
    }
    for (const e of texts.concat(Array.from(gd.querySelectorAll('svg tspan')).filter(e => !e.closest('.hoverlayer') && shown(e)))) {
      const m = e.getCTM();                 // Plotly scales bar text that does not fit with a transform
      const px = parseFloat(getComputedStyle(e).fontSize) * (m ? Math.sqrt(m.a * m.a + m.b * m.b) : 1);
      if (px < minPx - 0.01) out.push(`${name}: text "${txt(e)}" is ${px.toFixed(1)} px (< ${minPx})`);
    }
  });
  return {plots: plots.length, problems: Array.from(new Set(out))};
}
"""


# Streamlit labels (buttons, widget labels, metrics, page links) cut with an ellipsis: "◀ pr…", "entropy before th…";
# tabs scrolled out of sight; a row of widgets whose labels wrap to different heights
_TRUNCATED_JS = r"""
() => Array.from(document.querySelectorAll('[data-testid="stMain"] button p, [data-testid="stMain"] label p, '
    + '[data-testid="stMain"] [data-testid="stMetricLabel"] p, [data-testid="stMain"] [data-testid="stMetricLabel"] div, '
    + '[data-testid="stMain"] [data-testid="stPageLink-NavLink"] span'))       // a page link's label: "Teacher" for
                                                                          // "Teacher forcing vs free running"
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).textOverflow === 'ellipsis')
  .map(e => 'label cut to fit: "' + (e.innerText || '').trim().slice(0, 60) + '"')
  // a row of tabs wider than the page: its last tabs scroll out of sight ("Against a sampled" + an arrow)
  .concat(Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stTabs"] [role="tablist"]'))
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map(e => 'tabs: ' + (e.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 60)))
  // a row of widgets (aligned at the top) whose labels wrap to different heights: the boxes under them no
  // longer line up (a row aligned at the bottom keeps them in line)
  .concat(Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stHorizontalBlock"]'))
    .filter(row => row.offsetParent !== null && !Array.from(row.querySelectorAll(
      ':scope > [data-testid="stColumn"] > [data-testid="stVerticalBlock"]'))
      .some(b => ['end', 'flex-end'].includes(getComputedStyle(b).justifyContent)))
    .flatMap(row => {
      const labels = Array.from(row.querySelectorAll(':scope > [data-testid="stColumn"]'))
        .map(c => c.querySelector('[data-testid="stWidgetLabel"]')).filter(l => l && l.offsetParent !== null);
      const hs = labels.map(l => l.getBoundingClientRect().height);
      return labels.length > 1 && Math.max(...hs) - Math.min(...hs) > 4
        ? ['row of labels of unequal height: ' + labels.map(l => (l.innerText || '').trim().slice(0, 30)).join(' | ')]
        : [];
    }))
"""


def _check(page, present: bool, label: str) -> tuple[int, list[str]]:
    res = page.evaluate(_CHECK_JS, MIN_PX[present])
    cut = page.evaluate(_TRUNCATED_JS)
    return res["plots"], [f"{label}: {p}" for p in res["problems"]] + [f"{label}: {t}" for t in cut]


def _resize(page, w: int, h: int) -> None:
    page.set_viewport_size({"width": w, "height": h})
    time.sleep(0.4)                         # Plotly's responsive relayout follows the window's resize event
    headless.wait_ready(page, timeout=60, quiet=0.4)


@pytest.fixture(scope="module")
def app(need_browser):
    with headless.server() as base, headless.browser() as b:
        yield base, b


def test_no_chart_text_overlaps_clips_or_is_too_small(app):
    base, b = app
    shots = os.environ.get("SEQSCOPE_SCREENSHOTS") == "1"
    page = headless.new_page(b, *SIZES[0])
    outside = []        # offline: every request of every page goes to our server (the favicon went to Google)
    page.on("request", lambda r: outside.append(r.url) if r.url.startswith(("http:", "https:", "ws:", "wss:"))
            and not r.url.startswith((base + "/", base.replace("http", "ws", 1) + "/")) else None)
    problems, drawn, t0 = [], 0, time.perf_counter()
    only = os.environ.get("SEQSCOPE_OVERLAP_VIEWS")          # e.g. "beam,tffr": the views whose name has one
    views = [v for v in VIEWS if not only or any(w in v[0] for w in only.split(","))]
    for name, path, shot in views:
        for present in (False, True):
            sep = "&" if "?" in path else "?"
            page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
            page.goto(f"{base}/{path}{sep + 'present=true' if present else ''}", wait_until="domcontentloaded")
            st = headless.wait_ready(page, timeout=180)
            problems += headless.chart_problems(st, name, 0)
            for w, h in SIZES:
                if (w, h) != SIZES[0]:
                    _resize(page, w, h)
                label = f"{name} {w}x{h}{' present' if present else ''}"
                n, found = _check(page, present, label)
                drawn += n
                problems += found
                if shots and shot and (w, h, present) == (1600, 1000, False):
                    headless.screenshot(page, SHOTS / f"{shot}.png", width=1600)
                if shots and shot and (w, h, present) == (1280, 720, True):
                    page.screenshot(path=str(SHOTS / f"present-{shot}.png"))
                    headless.shrink_png(SHOTS / f"present-{shot}.png")
    page.close()
    print(f"\n{len(views)} views x 2 modes x {len(SIZES)} sizes: {drawn} Plotly charts checked in "
          f"{time.perf_counter() - t0:.0f} s; {len(problems)} problems")
    charted = [v for v in views if v[0] not in NO_CHARTS]
    assert not charted or drawn > 3 * len(charted), f"only {drawn} Plotly charts checked"
    assert not outside, f"requests to other hosts: {sorted(set(outside))[:5]}"
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
