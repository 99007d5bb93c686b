"""Every dashboard page under streamlit.testing.v1.AppTest: it runs without an exception, and
changing the key widgets changes what is shown. Uses the shipped models and the real engine."""
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from apptest_kit import assert_ok, open_app, plotly_specs, shown  # noqa: E402

from dashboard.url_state import DEFAULT_STRATEGIES  # noqa: E402


def _md(at):
    return "\n".join(shown(m.value) for m in at.markdown)


def _headings(at):
    return [shown(m.value) for m in at.markdown if m.value.startswith("#### ")]


def test_compare_page_runs_and_strategies_change_output(root):
    at = assert_ok(open_app(root))
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Compare decoders"
    for s in DEFAULT_STRATEGIES:
        assert s in _headings(at)
    fig = plotly_specs(at)[0]
    names = [t.get("name") for t in fig["data"] if t.get("showlegend", True) is not False]
    assert names == DEFAULT_STRATEGIES
    at.multiselect(key="s").set_value(["greedy", "beam 4 + length penalty"]).run()
    assert_ok(at)
    assert "beam 4 + length penalty" in _headings(at) and "top-p 0.9" not in _headings(at)
    fig = plotly_specs(at)[0]
    assert [t.get("name") for t in fig["data"] if t.get("showlegend", True) is not False] == \
        ["greedy", "beam 4 + length penalty"]


def test_compare_page_language_model_and_input(root):
    at = assert_ok(open_app(root, model="text-gpt", input="A function is", s=["greedy", "top-k 40"]))
    assert not at.error, [e.value for e in at.error]
    assert "Input: A function is" in _md(at)
    before = plotly_specs(at)[0]
    at.text_input(key="input").set_value("When the").run()
    assert_ok(at)
    assert "Input: When the" in _md(at)
    assert plotly_specs(at)[0] != before


def test_bad_custom_config_shows_error_and_page_keeps_working(root):
    at = assert_ok(open_app(root, s=["greedy", "custom A"], ca='{"top_p": 7}'))
    errs = [shown(e.value) for e in at.error]
    assert any("custom A" in e and "top_p" in e for e in errs), errs
    assert "greedy" in _headings(at)                     # the other strategy still shows
    at2 = assert_ok(open_app(root, s=["greedy", "custom A"], ca="{not json"))
    assert any("not valid JSON" in shown(e.value) for e in at2.error)


def test_custom_editor_applies_every_field(root):
    at = assert_ok(open_app(root))
    at.session_state["_editor_open"] = True              # the user opens the editor's box: its form is drawn
    at.run()
    at.number_input(key="edit_ca.num_beams").set_value(3)
    at.number_input(key="edit_ca.length_penalty").set_value(0.5)
    form_buttons = [b for b in at.get("button") if "Apply custom A" in (b.proto.label or "")]
    assert form_buttons, "no Apply button"
    form_buttons[0].click().run()
    assert_ok(at)
    cfg = json.loads(at.session_state["_shared"]["ca"])
    assert cfg["num_beams"] == 3 and cfg["length_penalty"] == 0.5
    assert "custom A" in at.session_state["_shared"]["s"]
    assert "custom A" in _headings(at)


def test_step_inspector_slider_and_buttons(root):
    at = assert_ok(open_app(root, "views/step.py"))
    assert at.title[0].value == "Step inspector"
    first = plotly_specs(at)[0]
    at.slider(key="step").set_value(3).run()
    assert_ok(at)
    assert "step 3 of" in _md(at)
    assert plotly_specs(at)[0] != first
    nxt = [b for b in at.button if "next" in b.label][0]
    nxt.click().run()
    assert "step 4 of" in _md(at)
    # bars before the rules match the trace's top list for beam search as well
    at.selectbox(key="run").set_value("top-k 40").run()
    assert_ok(at)
    fig = plotly_specs(at)[0]
    assert fig["data"][1]["name"].startswith("after the rules") and len(fig["data"][0]["x"]) >= 2


def test_attention_page_heatmap_head_and_language_model(root):
    at = assert_ok(open_app(root, "views/attention.py", model="dates-transformer"))
    assert at.title[0].value == "Attention"
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert charts
    spec0 = charts[0].proto.spec
    at.selectbox(key="head").set_value("1").run()
    assert_ok(at)
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert charts[0].proto.spec != spec0
    at.toggle(key="grid").set_value(True).run()
    assert_ok(at)
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) == 2
    at.toggle(key="enc").set_value(True).run()             # the Transformer encoder's self-attention
    assert_ok(at)
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) == 3
    lm = assert_ok(open_app(root, "views/attention.py", model="text-gpt", input="The following"))
    assert not lm.error, [e.value for e in lm.error]
    assert lm.radio(key="kind").options == ["decoder self-attention"]


def test_attention_page_no_attention_model(root):
    at = assert_ok(open_app(root, "views/attention.py", model="dates-gru-noattn"))
    assert any("thought vector" in i.value for i in at.info)


def test_beam_tree_page_beams_and_reveal(root):
    at = assert_ok(open_app(root, "views/beam.py"))
    assert at.title[0].value == "Beam tree"
    fig = plotly_specs(at)[0]
    assert {t.get("name") for t in fig["data"]} >= {"kept", "pruned", "finished", "chosen hypothesis"}
    md = _md(at)
    at.slider(key="beams").set_value(8)
    at.button(key="FormSubmitter:beam_form-Decode").click().run()     # the search settings are a form
    assert_ok(at)
    assert _md(at) != md
    at.slider(key="reveal").set_value(2).run()
    assert_ok(at)
    fig = plotly_specs(at)[0]
    xs = [x for t in fig["data"] if t.get("mode", "").startswith("markers") for x in t["x"]]
    assert max(xs) == 2                                   # x = the step index (issue 13, bug 4)


def test_tffr_page_and_injection(root):
    at = assert_ok(open_app(root, "views/tffr.py", input="the third of march, two thousand twenty-one"))
    assert not at.error, [e.value for e in at.error]
    assert len(plotly_specs(at)) == 1
    at.selectbox(key="inject").set_value("3").run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert len(plotly_specs(at)) == 3
    assert "injected at step 3" in _md(at) or "at step 3" in _md(at)
    at.text_input(key="wrong").set_value("9").run()
    assert_ok(at)
    assert "'9' at step 3" in _md(at)


def test_traces_page_download_and_uploaded_trace_view(root):
    at = assert_ok(open_app(root, "views/traces.py"))
    assert at.title[0].value == "Traces"
    assert not at.error, [e.value for e in at.error]
    from test_charts import make_greedy_trace
    at.session_state["uploaded_trace"] = make_greedy_trace(out="1999")
    at.switch_page("views/step.py").run()
    assert_ok(at)
    at.selectbox(key="run").set_value("uploaded trace").run()
    assert_ok(at)
    assert "Mar 3" in _md(at)


def test_presentation_mode_hides_titles(root):
    at = assert_ok(open_app(root, present="true"))
    assert not at.title
    assert plotly_specs(at)


def test_bad_input_is_an_error_not_a_traceback(root):
    at = assert_ok(open_app(root, input="x" * 3000))
    assert at.error and all("at most" in shown(e.value) for e in at.error)
    at = assert_ok(open_app(root, "views/attention.py", input="x" * 3000))
    assert at.error
    at = assert_ok(open_app(root, input="日本 ☃"))
    assert len(at.warning) == 1 and "<unk>" in shown(at.warning[0].value)    # once, not once per strategy



def test_pages_import_only_the_engine_face_and_stay_small(root):
    """Pages and the dashboard's own modules import `engine` (the public face) and `dashboard`
    modules only (never an engine submodule); a view is widgets plus calls, well under 200 lines.
    (The chart builders and the HTML report read traces through engine.trace.view.)"""
    import ast
    pages = sorted((root / "dashboard" / "views").glob("*.py")) + [
        root / "dashboard" / f"{m}.py" for m in ("app", "sidebar", "url_state", "runs", "display", "strategy_editor",
                                                  "train_form")]
    for path in pages:
        src = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.module == "engine":
                    names = ["engine." + a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in ("engine", "dashboard") or name == "engine" or top == "dashboard", \
                    f"{path.name} imports {name}: pages use `import engine` and engine.X only"
        if path.parent.name == "views":
            assert len(src.splitlines()) < 200, f"{path.name}: {len(src.splitlines())} lines"


def test_importing_a_page_module_runs_nothing(monkeypatch):
    """A page runs only as st.Page runs it (as __main__): a test that imported a page for a constant ran the
    page and left a form open in AppTest's thread, and every later AppTest in the process failed."""
    import importlib

    from dashboard import display
    ran = []
    monkeypatch.setattr(display, "guarded", lambda f: ran.append(f.__module__))
    pages = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "dashboard" / "views").glob("*.py"))
    assert len(pages) == 9
    for name in pages:
        monkeypatch.delitem(sys.modules, f"dashboard.views.{name}", raising=False)
        mod = importlib.import_module(f"dashboard.views.{name}")
        assert callable(mod.main)
    assert ran == []
    assert importlib.import_module("dashboard.views.compare").PRESENT_FONT == 24
