"""Presenter mode in headless Chromium (dashboard/presenter.py): at 1280×720 (a projector) and
1600×1000 the main chart of every page starts on the first screen and is at least 70% of the
window's height (a deck view: 62%, below its presenter bar; the lab and a deck view end on the first
screen too); "Exit presentation" leaves presentation mode; the keys a clicker sends (← → and
PageUp / PageDown) step through the Step inspector, the Beam tree's reveal and the TF-vs-FR
positions; Shift+← / Shift+→ step through a deck's views, whose presenter bar is not clipped; play
advances the step and pause stops it; the Beams slider moved by keyboard decodes nothing until "Decode".

Screenshots of presentation mode go to $SEQSCOPE_PRESENT_SHOTS (default: pytest's tmp folder).
Needs Debian's chromium (see tests/test_browser.py).
"""
import os
import re
import time
from pathlib import Path

import pytest

from dashboard import headless

SIZES = [(1280, 720), (1600, 1000)]
# (name, url path + query): every page with a chart, in presentation mode
PAGES = [
    pytest.param("compare", "?present=true", id="compare"),
    # long outputs in four narrow columns: each box holds two rows of tokens, the name lines one line each
    pytest.param("compare-long", "?present=true&model=text-gpt&s=greedy&s=beam+4&s=top-k+40&s=min-p+0.1",
                 id="compare-long"),
    pytest.param("step", "step?present=true&model=text-gpt&input=A+function+is&run=top-p+0.9&step=3", id="step"),
    # a 30-token prefix: the line above the chart stays one line (it wrapped to four, the axis off the screen)
    pytest.param("step-long", "step?present=true&model=text-gpt&input=A+function+is&run=greedy&step=30", id="step-long"),
    pytest.param("attention", "attention?present=true&model=dates-transformer&input=the+third+of+march%2C+two+thousand+twenty-one", id="attention"),
    pytest.param("beam", "beam?present=true&model=dates-transformer&input=Wed+3+Mar+21&beams=8", id="beam"),
    # text-gpt's 40-token best hypothesis: the line above the tree stays one line (it took two)
    pytest.param("beam-long", "beam?present=true&model=text-gpt&input=A+function+is&beams=4", id="beam-long"),
    pytest.param("tffr", "tffr?present=true&input=the+third+of+march%2C+two+thousand+twenty-one&inject=3&wrong=9", id="tffr"),
    # long outputs (hmm-gpt, 40 tokens): the verdict and the two outputs one line each, cut with …
    pytest.param("tffr-hmm", "tffr?present=true&model=hmm-gpt&inject=5", id="tffr-hmm"),
    pytest.param("lab", "lab?present=true&lab_view=Experiments", id="lab"),
    pytest.param("lab-analysis", "lab?present=true&lab_models=hmm-gpt&lab_models=hmm-gpt-ss", id="lab-analysis"),
    # the gold-token tab: its charts come before its caption and table (they were 530 px down at 1280x720)
    pytest.param("lab-gold", "lab?present=true&lab_models=hmm-gpt&lab_models=hmm-gpt-ss&lab_section=Sampled+gold+token",
                 id="lab-gold"),
    pytest.param("deck", "beam?model=dates-transformer&input=Wed+3+Mar+21&beams=8&reveal=3&deck=default&at=2&present=true",
                 id="deck"),
]
MAIN_CHART_JS = r"""
() => {
  const c = document.querySelector('[data-testid="stMain"] [data-testid="stPlotlyChart"], '
                                    + '[data-testid="stMain"] [data-testid="stVegaLiteChart"]');
  if (!c) return null;
  const r = c.getBoundingClientRect();
  const scroller = document.querySelector('[data-testid="stMain"]');
  return {top: r.top + (scroller ? scroller.scrollTop : 0), height: r.height, bottom: r.bottom,
          vh: window.innerHeight, vw: window.innerWidth};
}
"""


@pytest.fixture(scope="module")
def app(need_browser):
    with headless.server() as base, headless.browser() as b:
        yield base, b


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    d = Path(os.environ.get("SEQSCOPE_PRESENT_SHOTS") or tmp_path_factory.mktemp("present"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _open(b, base, path, size=(1280, 720)):
    page = headless.new_page(b, *size)
    page.goto(f"{base}/{path}", wait_until="domcontentloaded")
    st = headless.wait_ready(page, timeout=300)
    assert not headless.chart_problems(st, path, 0), headless.chart_problems(st, path, 0)
    return page


def _wait_text(page, pattern: str, timeout: float = 120):
    """Wait until the main area's text matches `pattern` (a regex); returns the match."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        text = page.locator('[data-testid="stMain"]').inner_text()
        m = re.search(pattern, text)
        if m:
            return m
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not shown within {timeout} s; the page says: {text[:600]!r}")


@pytest.mark.parametrize("name,path", PAGES)
def test_main_chart_fills_the_first_screen(app, shots, name, path):
    base, b = app
    problems = []
    for w, h in SIZES:
        page = _open(b, base, path, (w, h))
        box = page.evaluate(MAIN_CHART_JS)
        page.screenshot(path=str(shots / f"present-{name}-{w}x{h}.png"))
        print(f"{name} {w}x{h}: main chart {box}")
        if box is None:
            problems.append(f"{w}x{h}: no chart")
        else:
            if not 0 <= box["top"] < h:
                problems.append(f"{w}x{h}: the main chart starts at y = {box['top']:.0f}, below the first screen")
            # a deck: its presenter bar above the chart; TF vs FR with a wrong note: the verdict line above it
            # Compare: the outputs and the colour key above it
            least = 0.62 if name == "deck" else 0.55 if name.startswith("tffr") else 0.45 if name.startswith("compare") else 0.7
            if box["height"] < least * h:
                problems.append(f"{w}x{h}: the main chart is {box['height']:.0f} px high, under {least:.0%} of {h}")
            if name.startswith(("lab", "deck", "tffr", "compare", "step", "beam")) and box["top"] + box["height"] > h + 2:
                problems.append(f"{w}x{h}: the main chart ends at y = {box['top'] + box['height']:.0f}, below the "
                                "first screen")
        assert page.locator('[data-testid="stSidebar"]').is_visible() is False
        assert page.get_by_role("button", name="Exit presentation").is_visible()
        page.close()
    assert not problems, f"{name}: " + "; ".join(problems)


def test_exit_presentation_button_leaves_presentation_mode(app):
    base, b = app
    page = _open(b, base, "step?present=true&step=2")
    assert not page.locator('[data-testid="stSidebar"]').is_visible()
    exit_ = page.get_by_role("button", name="Exit presentation")
    box = exit_.bounding_box()
    assert box["y"] < 80 and box["x"] + box["width"] > 1280 - 120        # the top-right corner
    exit_.click()
    page.locator('[data-testid="stSidebar"]').wait_for(state="visible", timeout=120_000)
    headless.wait_ready(page, timeout=180)
    assert "present=" not in page.url and "step=2" in page.url
    assert page.get_by_role("button", name="Exit presentation").count() == 0
    page.close()


def _press(page, key, pattern):
    page.keyboard.press(key)
    return _wait_text(page, pattern)


def test_keys_step_through_the_step_inspector(app):
    base, b = app
    page = _open(b, base, "step?present=true&step=1")
    _wait_text(page, r"\(step 1 of \d+")
    _press(page, "ArrowRight", r"\(step 2 of \d+")
    _press(page, "PageDown", r"\(step 3 of \d+")
    _press(page, "ArrowLeft", r"\(step 2 of \d+")
    _press(page, "PageUp", r"\(step 1 of \d+")
    headless.wait_ready(page, timeout=120)
    assert "step=1" in page.url
    page.close()


def test_keys_step_through_the_beam_reveal_and_tffr_positions(app):
    base, b = app
    page = _open(b, base, "beam?present=true&reveal=2")
    _wait_text(page, r"up to step 2:")
    _press(page, "ArrowRight", r"up to step 3:")
    _press(page, "PageDown", r"up to step 4:")
    _press(page, "PageUp", r"up to step 3:")
    page.close()
    page = _open(b, base, "tffr?present=true")
    page.keyboard.press("ArrowRight")
    _wait_text(page, r"at step 0")                   # the wrong note injected at position 0
    _press(page, "PageDown", r"at step 1")
    _press(page, "ArrowLeft", r"at step 0")
    headless.wait_ready(page, timeout=120)
    assert "inject=0" in page.url
    page.close()


def _step(page) -> int:
    return int(_wait_text(page, r"\(step (\d+) of \d+").group(1))


def test_play_advances_the_steps_and_pause_stops_them(app):
    base, b = app
    page = _open(b, base, "step?present=true&speed=0.5&step=0&model=text-gpt&input=A+function+is")
    page.keyboard.press("p")                          # P: play
    _wait_text(page, r"\(step [3-9]\d* of \d+", timeout=60)
    page.get_by_role("button", name="pause").click()
    page.get_by_role("button", name="play").wait_for(timeout=60_000)
    time.sleep(1.0)                                   # a tick already under way when pause was pressed lands
    headless.wait_ready(page, timeout=60)
    stopped = _step(page)
    time.sleep(2.5)                                   # five ticks at 0.5 s if it were still playing
    assert _step(page) == stopped
    assert page.get_by_role("button", name="play").is_visible()
    page.close()


def test_beams_slider_by_keyboard_decodes_only_on_decode(app):
    """Beams 4 -> 8 with the arrow keys: no decode at each notch (the slider is in a form)."""
    base, b = app
    page = _open(b, base, "beam?model=dates-transformer&input=Wed+3+Mar+21", (1600, 1000))
    title = lambda: page.locator('[data-testid="stPlotlyChart"] .gtitle').first.text_content()  # noqa: E731
    assert "(4 beams)" in title()
    thumb = page.locator('[data-testid="stSlider"]', has_text="Beams").get_by_role("slider")
    thumb.focus()
    t0 = time.perf_counter()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    headless.wait_ready(page, timeout=60)
    notches = time.perf_counter() - t0
    slider = page.locator('[data-testid="stSlider"]', has_text="Beams")
    assert slider.locator('[data-testid="stSliderThumbValue"]').inner_text().strip() == "8"
    assert "(4 beams)" in title()                      # nothing decoded yet
    t0 = time.perf_counter()
    page.get_by_role("button", name="Decode").click()
    page.wait_for_function("() => { const t = document.querySelector('[data-testid=\"stPlotlyChart\"] .gtitle');"
                           " return t && t.textContent.includes('(8 beams)'); }", timeout=180_000)
    headless.wait_ready(page, timeout=180)
    print(f"4 notches by keyboard: {notches:.2f} s; Decode to the 8-beam tree: {time.perf_counter() - t0:.2f} s")
    page.close()


def test_play_grows_the_beam_tree_and_stops_at_the_end(app):
    base, b = app
    page = _open(b, base, "beam?present=true&speed=0.5&reveal=0&model=dates-transformer&input=Wed+3+Mar+21")
    _wait_text(page, r"up to step 0:")
    page.get_by_role("button", name="play").click()
    _wait_text(page, r"up to step [2-9]\d*:", timeout=60)
    page.get_by_role("button", name="pause").wait_for(timeout=10_000)
    last = _wait_text(page, r"up to step 10:", timeout=90)       # dates: 11 steps (0-10); playing stops there
    assert last
    page.get_by_role("button", name="play").wait_for(timeout=30_000)
    headless.wait_ready(page, timeout=60)
    assert page.get_by_role("button", name="next ▶").is_disabled()
    page.close()


DECK_BAR_JS = r"""
() => {
  const bar = document.querySelector('.st-key-deck_bar');
  const exit = document.querySelector('.st-key-present_exit');
  if (!bar) return null;
  const cut = Array.from(bar.querySelectorAll('button, a, [data-testid="stMarkdown"] p'))
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
    .map(e => e.innerText);
  const b = bar.getBoundingClientRect(), x = exit ? exit.getBoundingClientRect() : null;
  const overlaps = x && !(b.right <= x.left || b.bottom <= x.top || x.bottom <= b.top);
  return {cut, overlaps: !!overlaps, height: b.height};
}
"""


def test_shift_arrows_step_through_a_deck_and_the_bar_is_not_clipped(app, shots):
    """Shift+→ / Shift+← open the deck's next / previous view; → alone still steps inside the view (the
    beam reveal); the presenter bar's labels are whole and clear of "Exit presentation" at both sizes."""
    base, b = app
    for w, h in SIZES:
        page = _open(b, base, "?model=text-gpt&input=The+default+value+of&s=greedy&s=top-p+0.9"
                              "&s=repetition+penalty+1.3&deck=default&at=1&present=true", (w, h))
        _wait_text(page, r"2 / 4 · Greedy loops")
        bar = page.evaluate(DECK_BAR_JS)
        page.screenshot(path=str(shots / f"present-deck-bar-{w}x{h}.png"))
        assert bar and not bar["cut"] and not bar["overlaps"] and bar["height"] < 60, bar
        if (w, h) != SIZES[0]:
            page.close()
            continue
        _press(page, "Shift+ArrowRight", r"3 / 4 · The beam grows a tree")
        headless.wait_ready(page, timeout=180)
        assert "at=2" in page.url and "beams=8" in page.url and "present=true" in page.url
        _wait_text(page, r"up to step 3:")
        headless.wait_ready(page, timeout=180)      # the view's script has finished: its key buttons are live
        _press(page, "ArrowRight", r"up to step 4:")                 # the view's own stepper
        assert "3 / 4" in page.locator('[data-testid="stMain"]').inner_text()
        headless.wait_ready(page, timeout=180)
        _press(page, "Shift+ArrowLeft", r"2 / 4 · Greedy loops")
        headless.wait_ready(page, timeout=180)
        assert "at=1" in page.url
        page.close()
