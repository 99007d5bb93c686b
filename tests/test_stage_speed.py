"""Issue 13 "Waits", the tours: after the server's warm-up a presented deck's views (TF vs FR, Compare, Beam
tree, Attention) find their charts built (dashboard/runs.py figure / vega, filled by dashboard/warmup.py with
the same keys: theme and presentation mode included), the TF-vs-FR warm-up injects the page's own runner-up,
and the warm-up compiles every page's script. Behaviour, not time: bench/dashboard.py measures the time."""
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
import altair as alt  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import engine  # noqa: E402
from dashboard import deck, runs, view_figures, warm_imports, warmup  # noqa: E402,F401

APP = "dashboard/app.py"


def _boom(*a, **k):
    raise AssertionError("the page decoded: the warm-up did not fill the cache it reads")


class _Builds:
    """Charts built (not served from the figure cache): every Plotly builder styles its figure through
    charts.style.finish, whose update_layout sets the template (a page's own height change in presentation
    mode does not); an Altair chart is turned into its spec by to_dict (a cached spec is a dict already)."""

    def __init__(self, monkeypatch):
        self.plotly = self.vega = 0
        layout, to_dict = go.Figure.update_layout, alt.Chart.to_dict

        def counted_layout(fig, *a, **k):
            self.plotly += "template" in k
            return layout(fig, *a, **k)

        def counted_to_dict(chart, *a, **k):
            self.vega += 1
            return to_dict(chart, *a, **k)
        monkeypatch.setattr(go.Figure, "update_layout", counted_layout)
        monkeypatch.setattr(alt.Chart, "to_dict", counted_to_dict)


def _open(root, page, **params):
    at = AppTest.from_file(str(root / APP), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    return at


def _presented():
    d = deck.load(deck.DEFAULT)
    return [(v.page, deck.link_params(v, deck=d.name, at=i, present=True)) for i, v in enumerate(d.views)]


def test_startup_warms_the_tours_as_linked_and_as_presented():
    views = warmup.startup_views()
    for v in deck.load(deck.DEFAULT).views:
        assert (v.page, v.params) in views
    for view in _presented():
        assert view in views


def test_presented_tours_after_the_warm_up_decode_nothing_and_build_no_chart(root, monkeypatch):
    runs._figure_dict.clear()                          # built by an earlier test in this process: start empty
    runs._vega_spec.clear()
    views = _presented()
    assert warmup.start(views, label="tours")
    s = warmup.wait(900)
    assert s.done == len(views) and not s.errors, s.errors
    for name in ("generate", "compare_tf_fr", "load"):
        monkeypatch.setattr(engine, name, _boom)
    builds = _Builds(monkeypatch)
    # presented: TF vs FR's two runs and the attention entropy folded into boxes (drawn when opened)
    charts = {"tffr": (1, 0), "compare": (1, 0), "beam": (1, 0), "attention": (0, 1)}
    for page, params in views:
        at = _open(root, f"views/{page}.py", **params)
        assert (len(at.get("plotly_chart")), len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))) == charts[page], page
        assert (builds.plotly, builds.vega) == (0, 0), f"{page}: a chart was built, not found in the figure cache"
    # the counters do count: the same views in another chart theme build their charts
    _open(root, "views/tffr.py", **views[0][1], theme="dark")
    _open(root, "views/attention.py", **views[3][1], theme="dark")
    assert builds.plotly >= 1 and builds.vega == 1


def test_presented_tffr_draws_the_recovery_chart_and_the_runs_when_opened(root):
    """Presentation mode: the recovery chart fills the first screen; the two runs' charts below it are drawn
    when their box is opened (each ← / → step draws one chart, not three)."""
    params = dict(model="dates-gru-attn", input="the third of march, two thousand twenty-one", inject="3",
                  wrong="9", present="true")
    at = _open(root, "views/tffr.py", **params)
    assert len(at.get("plotly_chart")) == 1
    assert "both runs, position by position" in [e.label for e in at.expander]
    at.session_state["_tffr_runs"] = True             # the presenter opens the box
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 3
    params.pop("present")
    assert len(_open(root, "views/tffr.py", **params).get("plotly_chart")) == 3     # not presenting: all three


def test_presented_attention_draws_the_heatmap_and_the_entropy_when_opened(root):
    params = dict(model="dates-gru-attn", input="the third of march, two thousand twenty-one")
    at = _open(root, "views/attention.py", **params, present="true")
    assert len(at.get("plotly_chart")) == 0 and len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) == 1
    at.session_state["_att_entropy"] = True
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 1
    assert len(_open(root, "views/attention.py", **params).get("plotly_chart")) == 1    # not presenting: drawn


def test_tffr_warm_up_injects_the_pages_runner_up(root, monkeypatch):
    # hmm-gpt on this input: at t = 2 free running already left the reference; its own token is the most
    # probable alternative, which the page skips (injecting it changes nothing: issue 13, bug 5). The warm-up
    # took it and computed another run than the page's.
    params = {"model": "hmm-gpt", "input": "pobpslsl", "inject": "2"}
    r = warmup.resolve("tffr", params)
    assert r.injected is not None and r.wrong_label
    own = r.tffr["rows"][2].get("fr_id")
    assert own != r.tffr["rows"][2]["ref_id"]
    with monkeypatch.context() as m:
        m.setattr(engine, "compare_tf_fr", _boom)
        m.setattr(engine, "load", _boom)
        at = _open(root, "views/tffr.py", **params)
    assert len(at.get("plotly_chart")) in (1, 3)
    assert view_figures.runner_up(r.tffr, 2)[0] != own


def test_warm_up_compiles_every_page_into_the_servers_script_cache(monkeypatch):
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    assert warmup.compile_pages() == 0                 # no server (AppTest, a test process): nothing to do

    class _Server:
        _script_cache = ScriptCache()
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: True))
    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: _Server))
    views = sorted((Path(warmup.__file__).resolve().parent / "views").glob("*.py"))
    assert warmup.compile_pages() == len(views) >= 9
    cache = _Server._script_cache
    assert sorted(cache._cache) == [str(p) for p in views]
    first = cache.get_bytecode(str(views[0]))
    assert cache.get_bytecode(str(views[0])) is first   # a page's first visit finds it compiled


def test_decks_warm_up_button_builds_the_presented_charts_too(root, monkeypatch):
    runs._figure_dict.clear()
    runs._vega_spec.clear()
    at = AppTest.from_file(str(root / APP), default_timeout=180)
    at.run()
    at.switch_page("views/deck.py")
    at.run()
    at.button[[b.label for b in at.button].index("Warm up this deck")].click().run()
    assert not at.exception
    s = warmup.wait(900)
    assert s.label == deck.DEFAULT and s.done == s.total == 4 and not s.errors, s.errors
    for name in ("generate", "compare_tf_fr", "load"):
        monkeypatch.setattr(engine, name, _boom)
    builds = _Builds(monkeypatch)
    d = deck.load(deck.DEFAULT)
    for page, params in _presented() + [(v.page, v.params) for v in d.views]:   # as presented, and as linked
        _open(root, f"views/{page}.py", **params)
        assert (builds.plotly, builds.vega) == (0, 0), f"{page} {params.get('present')}: a chart was built"


@pytest.mark.skipif(__import__("sys").platform == "win32", reason="uvloop is not installed on Windows")
def test_the_server_runs_on_uvloop_and_httptools():
    """requirements.txt pins uvloop and httptools: Streamlit's bootstrap runs the server's event loop on
    uvloop and uvicorn parses HTTP with httptools (bench: first visits ~7% faster, bare page and home alike)."""
    from streamlit.web import bootstrap
    from uvicorn.config import Config
    factory = bootstrap._get_uvloop_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
    cfg = Config(app=lambda *a: None)
    cfg.load()
    assert cfg.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"


def test_a_cached_figure_is_styled_for_the_width_its_page_draws_it_at(monkeypatch):
    """runs.figure styles a chart for the width display.plot draws it at (wide, or one of two side by side),
    so the page's finish changes nothing: restyling a chart for the page's width took 20-35 ms a chart."""
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_charts import make_tffr

    from dashboard import charts
    style = importlib.import_module("dashboard.charts.style")
    cmp, title = make_tffr(), "a title long enough to be broken into lines at half the page's width"
    wide = runs.figure("tffr", charts.tffr_figure, cmp, title=title)
    half = runs.figure("tffr", charts.tffr_figure, cmp, title=title, wide=False)
    assert wide.layout.title.text.count("<br>") < half.layout.title.text.count("<br>")
    calls = []
    real = style._wrap_lines
    monkeypatch.setattr(style, "_wrap_lines", lambda *a: calls.append(a) or real(*a))
    style.finish(wide, presenting=False, wide=True)
    style.finish(half, presenting=False, wide=False)
    assert calls == []                                   # already styled for it: no work
    style.finish(half, presenting=False, wide=True)
    assert calls                                         # another width: restyled
