"""Real-browser test: start the dashboard server, open every page in headless Chromium, wait until
the app is idle, check that every chart is drawn and no exception or error is shown, and save the
screenshots to docs/screenshots/ (the README's pictures).

Needs Debian's `chromium` (never downloads a browser). Without it the test is skipped with a
message saying how to install it, except when the CI environment variable is set: then it fails.
"""
import json
from pathlib import Path

import pytest

from dashboard import headless, preload

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

# (screenshot name, url path + query, the charts the page must draw: (plotly, vega))
VIEWS = [
    ("compare", "", (1, 0)),
    ("compare-text-gpt", "?model=text-gpt&input=The+default+value+of&s=greedy&s=top-p+0.9&s=repetition+penalty+1.3", (1, 0)),
    ("step", "step?model=text-gpt&input=A+function+is&run=top-p+0.9&step=3", (1, 0)),
    ("step-dates", "step?step=4&log=true", (1, 0)),
    ("attention", "attention?model=dates-transformer&input=the+third+of+march%2C+two+thousand+twenty-one", (1, 1)),
    ("attention-grid", "attention?model=text-gpt&input=A+function+is&grid=true", (1, 2)),
    ("beam", "beam?beams=8&model=dates-transformer&input=Wed+3+Mar+21", (1, 0)),
    ("tffr", "tffr?input=the+third+of+march%2C+two+thousand+twenty-one&inject=3&wrong=9", (3, 0)),
    ("traces", "traces", (0, 0)),
    ("present", "beam?present=true&beams=8", (1, 0)),
]


@pytest.fixture(scope="module")
def app(need_browser):
    """One server and one browser for the module: (base URL, browser)."""
    with headless.server() as base, headless.browser() as b:
        yield base, b


def test_every_page_draws_its_charts_in_chromium(app):
    base, b = app
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    page = headless.new_page(b)
    for name, path, (n_plotly, n_vega) in VIEWS:
        page.goto(f"{base}/{path}", wait_until="domcontentloaded")
        st = headless.wait_ready(page, timeout=180)
        problems += headless.chart_problems(st, name, n_plotly, n_vega)
        shot = SHOTS / f"{name}.png"
        size = headless.screenshot(page, shot)
        assert size < 300_000, f"{shot} is {size} bytes"
    assert not problems, "\n".join(problems)


def test_attention_click_links_to_step_inspector(app):
    """Clicking a heatmap cell selects its step (Altair selection) and offers a link to it."""
    base, b = app
    page = headless.new_page(b)
    page.goto(f"{base}/attention", wait_until="domcontentloaded")
    st = headless.wait_ready(page, timeout=180)
    assert st["vegaDrawn"] >= 1
    # the heatmap's cells (SVG paths or rects of the rect mark, in data order: step by step)
    cells = page.locator('[data-testid="stVegaLiteChart"] g.mark-rect path, '
                         '[data-testid="stVegaLiteChart"] g.mark-rect rect')
    n = cells.count()
    assert n > 10, f"only {n} heatmap cells drawn"
    cells.nth(n // 2).click()
    link = page.get_by_text("in the step inspector")
    link.wait_for(timeout=180_000)
    link.click()
    page.wait_for_url("**/step?**", timeout=180_000)
    page.wait_for_function("() => { const h = document.querySelector('[data-testid=\"stMain\"] h1'); return h && h.innerText.trim() === 'Step inspector'; }")
    headless.wait_ready(page, timeout=180)
    assert "step=" in page.url



def test_attention_grid_draws_every_cell_in_its_colour(app):
    """The layers x heads grid travels as one string of weights per row (charts/attention.py) that the
    browser's Vega splits, flattens and numbers: every cell is drawn, in many shades (a list of integers
    reached Vega as 64-bit integers, and every cell came out the same colour with a legend of 0)."""
    base, b = app
    page = headless.new_page(b)
    page.goto(f"{base}/attention?model=text-gpt&input=A+function+is&grid=true", wait_until="domcontentloaded")
    st = headless.wait_ready(page, timeout=180)
    assert st["vegaDrawn"] == 2
    fills = page.evaluate("""() => {
      const grid = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].pop();
      return [...grid.querySelectorAll('g.mark-rect path, g.mark-rect rect')].map(e => e.getAttribute('fill'));
    }""")
    n_layers, n_heads = 4, 4                      # text-gpt
    assert len(fills) >= n_layers * n_heads * 40, len(fills)       # at least a row of keys per step and head
    assert len(set(fills)) >= 20, sorted(set(fills))[:5]


def test_url_state_survives_page_switches_and_tours(app):
    """The model, input and strategies stay in the URL across pages; a tour link sets them."""
    base, b = app
    page = headless.new_page(b)
    page.goto(f"{base}/?model=text-gpt&input=When+the&s=greedy&s=top-k+40", wait_until="domcontentloaded")
    headless.wait_ready(page, timeout=180)
    st = headless.navigate(page, "Step inspector")
    assert not st["errors"] and "model=text-gpt" in page.url and "input=When+the" in page.url
    assert page.get_by_text("When the").count() >= 1
    headless.navigate(page, "Compare decoders")
    assert "s=top-k+40" in page.url and page.get_by_text("top-k 40").count() >= 1
    page.get_by_text("Tours: curated views").click()
    page.get_by_text("Greedy loops vs nucleus sampling").click()
    page.wait_for_url("**s=repetition+penalty+1.3**", timeout=180_000)
    st = headless.wait_ready(page, timeout=180)
    assert not st["errors"] and st["plotlyDrawn"] == 1
    if not page.get_by_text("One wrong note").is_visible():      # the expander may still be open
        page.get_by_text("Tours: curated views").click()
    page.get_by_text("One wrong note").click()
    page.wait_for_url("**/tffr?**", timeout=180_000)
    st = headless.wait_ready(page, timeout=180)
    assert not st["errors"] and st["plotlyDrawn"] == 3        # the recovery chart and both TF/FR charts
    page.goto(f"{base}/beam?present=true", wait_until="domcontentloaded")
    headless.wait_ready(page, timeout=180)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()


def test_upload_a_trace_then_a_bad_one(app):
    """Upload a real trace (validated, then viewable without the model), then a broken file."""
    import engine

    base, b = app
    good = json.dumps(engine.generate("dates-gru-attn", "25-Dec-2049").to_dict()).encode()
    page = headless.new_page(b)
    page.goto(f"{base}/traces", wait_until="domcontentloaded")
    headless.wait_ready(page, timeout=180)
    upload = page.locator('[data-testid="stFileUploader"] input[type=file]')
    upload.set_input_files(files=[{"name": "good.json", "mimeType": "application/json", "buffer": good}])
    page.get_by_text("Loaded good.json").wait_for(timeout=180_000)
    headless.wait_ready(page, timeout=180)
    assert page.get_by_text("2049-12-25").count() >= 1
    page.locator('[data-testid="stMain"] [data-testid="stPageLink-NavLink"]', has_text="Step inspector").click()
    page.wait_for_url("**/step?**", timeout=180_000)
    st = headless.wait_ready(page, timeout=180)
    assert st["plotlyDrawn"] == 1 and not st["errors"] and page.get_by_text("25-Dec-2049").count() >= 1
    page.goto(f"{base}/traces", wait_until="domcontentloaded")
    headless.wait_ready(page, timeout=180)
    upload = page.locator('[data-testid="stFileUploader"] input[type=file]')
    upload.set_input_files(files=[{"name": "bad.json", "mimeType": "application/json", "buffer": b'{"format_version": 1}'}])
    page.locator('[data-testid="stAlertContentError"]', has_text="bad.json").wait_for(timeout=180_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_page_without_charts_loads_plotly_and_vega_while_idle(app):
    """dashboard/preload.py: the Decks page (no chart) loads the chart libraries while idle."""
    base, b = app
    page = headless.new_page(b)
    page.goto(f"{base}/deck", wait_until="domcontentloaded")
    st = headless.wait_ready(page, timeout=180)
    assert st["plotly"] == 0 and st["vega"] == 0 and not st["exceptions"] and not st["errors"]
    page.wait_for_function("() => window.__seqscopePreloaded === true", timeout=60_000)
    page.wait_for_function("(names) => names.every(n => performance.getEntriesByType('resource')"
                           ".some(e => e.name.endsWith('/static/js/' + n)))", arg=list(preload.chunk_files()),
                           timeout=60_000)
    # the modules are evaluated once: a chart drawn next finds them (no second request for Plotly)
    page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]', has_text="Compare decoders").first.click()
    st = headless.wait_ready(page, timeout=180)
    assert st["plotly"] >= 1 and st["plotlyDrawn"] == st["plotly"]
    n = page.evaluate("performance.getEntriesByType('resource').filter(e => e.name.includes('/PlotlyChart.')).length")
    assert n == 1
    page.close()
