"""The paths that keep pages quick (issue 13, "Waits"), checked as behaviour, not time: after the server's
warm-up a first visit decodes nothing and builds no chart (dashboard/runs.py's figure cache), the lab's
shipped pairs open on built charts, the home page draws only what a first visit shows, and the sliders
that would decode do so once, on "Decode"."""
import importlib

import pytest

pytest.importorskip("streamlit")
import plotly.graph_objects as go  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import engine  # noqa: E402
from dashboard import runs, warm_imports, warmup  # noqa: E402,F401  (warm_imports builds a figure when first imported)

APP = "dashboard/app.py"


def _boom(*a, **k):
    raise AssertionError("the page decoded: the warm-up did not fill the cache it reads")


class _Layouts:
    """Counts go.Figure.update_layout calls: every chart builder styles its figure through it (charts/style.py
    finish); a figure served from the figure cache is rebuilt from its dict and calls it never."""

    def __init__(self, monkeypatch):
        self.n = 0
        orig = go.Figure.update_layout

        def counted(fig, *a, **k):
            self.n += 1
            return orig(fig, *a, **k)
        monkeypatch.setattr(go.Figure, "update_layout", counted)


def _open(root, page=None, **params):
    at = AppTest.from_file(str(root / APP), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    return at


def test_startup_warm_up_covers_the_tours_every_model_home_and_the_lab_pairs():
    views = warmup.startup_views()
    pages = [p for p, _ in views]
    assert pages.count("compare") >= len(runs.model_names(trained=False))
    assert [p["lab_models"] for page, p in views if page == "lab"] == [["addition-gru", "addition-gru-ss"],
                                                                       ["hmm-gpt", "hmm-gpt-ss"]]


def test_home_page_after_the_warm_up_decodes_nothing_and_builds_no_chart(root, monkeypatch):
    model = "hmm-gpt"               # a model no other test of this file opens first
    assert warmup.start([("compare", {"model": model})], label="home")
    s = warmup.wait(600)
    assert s.done == 1 and not s.errors, s.errors
    monkeypatch.setattr(engine, "generate", _boom)
    monkeypatch.setattr(engine, "load", _boom)
    layouts = _Layouts(monkeypatch)
    at = _open(root, model=model)
    assert len(at.get("plotly_chart")) == 1
    assert layouts.n == 0, "the home page built its chart: the warm-up's figure is not the one it asks for"
    # the counter does count: the same page with another title theme builds its chart
    at = _open(root, model=model, theme="dark")
    assert layouts.n > 0


def test_a_lab_pair_after_the_warm_up_builds_no_chart(root, monkeypatch):
    pair = {"lab_models": ["addition-gru", "addition-gru-ss"]}
    runs._figure_dict.clear()                          # built by an earlier test in this process: start empty
    layouts = _Layouts(monkeypatch)
    assert warmup.start([("lab", pair)], label="lab")
    s = warmup.wait(600)
    assert s.done == 1 and not s.errors, s.errors
    built = layouts.n
    assert built > 0                                   # the warm-up built them
    at = _open(root, "views/lab.py", **pair)
    assert len(at.get("plotly_chart")) == 2            # the first section's tab: a chart per model
    at.query_params["lab_section"] = "Drift"           # another tab: built by the warm-up too
    at.run()
    assert len(at.get("plotly_chart")) == 2 and not at.exception
    assert layouts.n == built, "the lab page built its charts again"


_STYLE = importlib.import_module("dashboard.charts.style")
_BUILT = []


def _build(rows, *, title=""):
    _BUILT.append(title)
    return _STYLE.finish(go.Figure(go.Scatter(y=rows)), title=title)


def test_figure_cache_is_keyed_by_content_theme_and_mode():
    style, calls, build = _STYLE, _BUILT, _build
    calls.clear()
    at_first = runs.figure("t", build, [1, 2, 3], title="a")
    again = runs.figure("t", build, [1, 2, 3], title="a")
    assert len(calls) == 1 and again.to_dict() == at_first.to_dict() and again is not at_first
    runs.figure("t", build, [1, 2, 4], title="a")          # other data
    runs.figure("t", build, [1, 2, 3], title="b")          # another argument
    style.set_theme("dark")
    try:
        runs.figure("t", build, [1, 2, 3], title="a")      # another theme
    finally:
        style.set_theme("light")
    assert len(calls) == 4
    assert runs.figure("t", lambda: None) is None          # a builder with nothing to draw
    n = [0]

    def counter(rows):                                     # its closure is part of the key
        return _build(rows + n)
    runs.figure("t", counter, [1])
    n[0] = 1
    runs.figure("t", counter, [1])
    assert len(calls) == 6


def test_home_page_draws_the_editor_and_the_tours_only_when_opened(root):
    at = _open(root)
    assert not any(w.key.startswith("edit_") for w in at.number_input)    # the editor's box is closed
    at.session_state["_editor_open"] = True                # the user opens it: only the chosen tab's form
    at.run()
    keys = {w.key for w in at.number_input}
    assert any(k.startswith("edit_ca.") for k in keys) and not any(k.startswith("edit_cb.") for k in keys)
    assert not [b for b in at.button if (b.key or "").startswith("tour_")]
    tour_links = len(at.get("page_link"))
    at.session_state["_tours_open"] = True                # the user opens the box: its content runs
    at.run()
    assert len(at.get("page_link")) > tour_links


def test_beams_slider_decodes_once_on_decode_not_at_every_notch(root, monkeypatch):
    # an input no other test decodes: a beam width another test ran is served from the run cache
    at = _open(root, "views/beam.py", model="text-gpt", input="the slider test decodes this once")
    calls = []
    orig = engine.generate

    def counting(*a, **k):
        calls.append(a[2].num_beams if len(a) > 2 else None)
        return orig(*a, **k)
    monkeypatch.setattr(engine, "generate", counting)
    for beams in (5, 6, 7, 8):                             # the keyboard's notches, each a script run
        at.slider(key="beams").set_value(beams)
        at.run()
    assert calls == []
    at.slider(key="beams").set_value(8)                    # (AppTest drops a form's values not submitted)
    at.button(key="FormSubmitter:beam_form-Decode").click().run()
    assert calls == [8]
    at.slider(key="reveal").set_value(2).run()             # a view control: never a decode
    assert calls == [8]
