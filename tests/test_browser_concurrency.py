"""8 browser sessions opened at once on a fresh server (issue 10, item 10): every page draws its charts
with no exception and no error; in particular none shows "partially initialized module 'pandas' ...",
which 5-6 of 8 first page loads showed while Plotly's lazy imports raced across the script threads
(dashboard/warm_imports.py now loads them before any page runs). One of the sessions carries hostile
text in its link: the page shows it literally (no image, no link, no element made from it).
Then a long decode shows its progress and stops within a moment when Stop is pressed.

Needs Debian's `chromium` (never downloads a browser); skipped with a hint without it, except in CI.
"""
import json
import time
from urllib.parse import quote

import pytest

from dashboard import headless

HOSTILE = "![m](http://x/y.png) `a` <img src=x>"
# (url path and query, plotly charts, vega charts): the first page load of 8 sessions at once
PAGES = [
    ("", 1, 0),
    ("?model=text-gpt&input=The+default+value+of&s=greedy&s=top-p+0.9", 1, 0),
    ("step?step=2", 1, 0),
    ("attention?model=dates-transformer&input=Wed+3+Mar+21", 1, 1),
    ("beam?beams=3", 1, 0),
    ("tffr?input=the+third+of+march%2C+two+thousand+twenty-one", 1, 0),
    ("traces", 0, 0),
    (f"?input={quote(HOSTILE)}&s=greedy&s=beam+4", 1, 0),
]
RACE = "partially initialized module"


@pytest.fixture(scope="module")
def fresh(need_browser):
    """A server no page has run on yet, and a browser: (base URL, browser)."""
    with headless.server() as base, headless.browser() as b:
        yield base, b


def test_eight_first_page_loads_at_once(fresh):
    base, b = fresh
    pages = [headless.new_page(b) for _ in PAGES]
    for page, (path, _, _) in zip(pages, PAGES):      # all eight start before any is waited for
        page.goto(f"{base}/{path}", wait_until="commit")
    problems = []
    for page, (path, n_plotly, n_vega) in zip(pages, PAGES):
        name = path or "compare"
        st = headless.wait_ready(page, timeout=420)
        problems += headless.chart_problems(st, name, n_plotly, n_vega)
        text = page.inner_text("body")
        if RACE in text:
            problems.append(f"{name}: {RACE!r} shown")
    assert not problems, "\n".join(problems)

    page = pages[-1]                                   # the hostile link: shown literally
    main = page.locator('[data-testid="stMain"]')
    assert f"Input: {HOSTILE}" in main.inner_text()
    assert main.locator('img[src="x"], img[src="http://x/y.png"]').count() == 0
    assert main.locator("code", has_text="<img src=x>").count() >= 1
    warning = main.locator('[data-testid="stAlertContentWarning"]').first.inner_text()   # escaped Markdown
    assert "became <unk>: '" in warning and "\\" not in warning, warning
    for page in pages:
        page.close()


def test_a_long_decode_shows_progress_and_stops(fresh):
    """A run of ~2 s (within DASHBOARD_MAX_WORK: 3 x 250 steps) shows its steps; Stop ends it at the next
    step, and the run's chart is never drawn. Stop is clicked by a MutationObserver in the page, the moment
    the run's bar appears: the run lasts ~1.2 s after that. A click from the test lost the race in clean-clone
    runs: found, then checked for being visible and stable, the button was re-drawn and by the retry the run
    had ended; found and clicked in one polled call, the bar was first seen late under load and the decode
    ended before the stop reached the server, so the chart came."""
    base, b = fresh
    ca = json.dumps({"do_sample": True, "num_return_sequences": 3, "max_new_tokens": 250, "min_new_tokens": 250,
                     "seed": 1})
    page = headless.new_page(b)
    page.add_init_script("""
        window.__stopClicked = null;
        new MutationObserver(() => {
            if (window.__stopClicked) return;
            const bar = [...document.querySelectorAll('[data-testid="stProgress"]')]
                .find(e => e.innerText.includes('Decoding with custom A: step '));
            const stop = bar && [...document.querySelectorAll('button')].find(e => e.innerText.trim() === 'Stop');
            if (!stop) return;
            stop.click();
            window.__stopClicked = bar.innerText;
        }).observe(document, {childList: true, subtree: true, characterData: true});
    """)
    page.goto(f"{base}/?model=text-gpt&input=The+default+value+of&s=greedy&s=custom+A&ca={quote(ca)}",
              wait_until="domcontentloaded")
    clicked = page.wait_for_function("() => window.__stopClicked", timeout=180_000).json_value()
    print("Stop clicked at:", clicked)
    t0 = time.perf_counter()
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"], "
                           "[data-testid=\"stStatusWidgetRunningManIcon\"]')", timeout=60_000)
    assert time.perf_counter() - t0 < 5
    step = int(clicked.split("step ")[1].split()[0])
    assert step < 250, clicked
    main = page.locator('[data-testid="stMain"]')
    assert main.locator(".js-plotly-plot").count() == 0          # stopped: the run's chart never came
    assert "Decoding with custom A: step " in main.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
