"""dashboard/preload.py: the chart libraries' code is requested while a page without charts (the Decks
page, where a talk starts) is idle, by the module URLs Streamlit's own lazy imports use, so the first
presented chart does not wait for it (bench/dashboard.py measures the tours)."""
import re

import pytest

from dashboard import headless, preload


def test_the_installed_streamlit_has_every_chunk_it_preloads():
    # a Streamlit upgrade that renames a chunk fails here, not silently in the page
    files = preload.chunk_files()
    assert [f.split(".")[0] for f in files] == list(preload.CHUNKS)
    for f in files:
        assert (preload.static_js_dir() / f).is_file()
        assert re.fullmatch(r"[A-Za-z-]+\.[A-Za-z0-9_-]+\.js", f)


def test_the_script_lists_the_files_and_nothing_else_is_substituted():
    s = preload.script()
    assert "FILES" not in s and all(f'"{f}"' in s for f in preload.chunk_files())
    assert s.startswith("<script>") and s.rstrip().endswith("</script>")


@pytest.fixture(scope="module")
def app(need_browser):
    with headless.server() as base, headless.browser() as b:
        yield base, b


def test_a_page_without_charts_loads_plotly_and_vega_while_idle(app):
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
