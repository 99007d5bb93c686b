"""The dashboard under hostile input (issue 10), with streamlit.testing.v1.AppTest and the real engine:
links are checked before any work, the work budget holds, uploaded and linked traces are validated,
every upload failure is one line, and text from the URL or a trace is shown literally (never as
Markdown or HTML), on the page and in the HTML report."""
import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from apptest_kit import assert_ok, open_app, rendered, shown  # noqa: E402

import engine  # noqa: E402
from dashboard import display, url_checks  # noqa: E402
HOSTILE = ["![m](http://x/y.png)", "[click](https://x)", "`a` ``b`` ```c", "<img src=x onerror=alert(1)>",
           "</script><script>alert(1)</script>", ":red[x] $x$ **b** _i_ # h"]
EVIL = " ".join(HOSTILE)


def _texts(at) -> list[str]:
    """Every Markdown source on the page: markdown, captions, errors, warnings, infos, successes."""
    out = [m.value for m in at.markdown] + [c.value for c in at.caption]
    for kind in ("error", "warning", "info", "success"):
        out += [e.value for e in at.get(kind)]
    return out


def assert_literal(at, wanted):
    """No Markdown source on the page renders a link, an image, raw HTML or broken code, and each
    hostile string in `wanted` is shown literally (character for character) somewhere."""
    texts = _texts(at)
    for src in texts:
        out = rendered(src)
        assert "<a " not in out and "<img" not in out, (src, out)
        assert not re.search(r"<(?!/?(p|strong|em|code|h[1-6]|br|ul|li|ol)\b)", out), (src, out)
    everything = "\n".join(shown(s).replace("⏎", "\n") for s in texts)
    for w in wanted:
        assert w in everything, (w, everything[:2000])


# -- the pieces ------------------------------------------------------------------------------------

def test_md_and_code_render_literally():
    for s in HOSTILE + ["", "`", "a\nb\n\n# c", "\\", "*"]:
        assert shown(display.md(s)) == s.replace("\n", "⏎"), s
        out = rendered(display.code(s))
        assert out.count("<code>") == 1 and "<a " not in out and "<img" not in out, (s, out)
        assert html.unescape(re.sub(r"</?(p|code)>", "", out)).strip() == s.replace("\n", "⏎").strip() or not s.strip()
    assert display.label("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"


def test_url_checks_name_the_parameter_and_the_limit():
    q = {"beams": ["64"], "max_new_tokens": ["4096"], "input": ["x" * (engine.MAX_INPUT_CHARS + 1)],
         "step": ["1e9"], "lp": ["nan"], "s": ["greedy", "rm -rf"], "present": ["maybe"], "trace": ["../../etc"],
         "ca": ["[" * 50_000], "model": ["../../etc/passwd"], "hyp": ["1", "2"], "utm_source": ["x"]}
    lines = url_checks.problems(q)
    by_name = {re.match(r"URL parameter (\w+)", x).group(1): x for x in lines}
    assert set(by_name) == set(q) - {"utm_source"}, lines
    assert "2 to 8" in by_name["beams"] and "python -m engine decode --num-beams" in by_name["beams"]
    assert "custom A or custom B" in by_name["max_new_tokens"]
    assert "MAX_INPUT_CHARS in engine/limits.py" in by_name["input"]
    assert "MAX_JSON_DEPTH" in by_name["ca"]
    assert all("\n" not in x and len(x) < 600 for x in lines)
    assert url_checks.problems({"beams": ["8"], "s": ["greedy", "custom A"], "ca": ['{"num_beams": 3}'],
                                "kind": ["cross-attention (source × generated)"], "head": ["head 1"],
                                "inject": ["none"], "hyp": ["#1: '2021-03-03' (score -0.123)"]}) == []


# -- item 2: a link is checked before any work; the budget holds ----------------------------------

@pytest.fixture
def decodes(monkeypatch):
    """The configs engine.generate was called with while the test runs."""
    seen = []
    real = engine.generate

    def counting(model, text, config=None, **kw):
        seen.append(config.to_dict() if hasattr(config, "to_dict") else dict(config or {}))
        return real(model, text, config, **kw)
    monkeypatch.setattr(engine, "generate", counting)
    return seen


def test_over_the_limit_link_is_refused_before_any_decode(root, decodes):
    at = assert_ok(open_app(root, model="text-gpt", input="hello there", s=["greedy", "beam 4"], beams="64",
                            max_new_tokens="4096"))
    errs = [shown(e.value) for e in at.error]
    assert any(e.startswith("URL parameter beams='64'") and "2 to 8" in e for e in errs), errs
    assert any(e.startswith("URL parameter max_new_tokens") for e in errs), errs
    assert decodes == [] and not at.get("plotly_chart")          # nothing ran
    assert any("Nothing was run" in i.value for i in at.info)


def test_custom_strategy_over_the_budget_is_refused_and_the_rest_runs(root, decodes):
    ca = json.dumps({"num_beams": 64, "max_new_tokens": 4096})
    at = assert_ok(open_app(root, model="text-gpt", input="hello there", s=["greedy", "custom A"], ca=ca))
    errs = [shown(e.value) for e in at.error]
    assert len(errs) == 1 and errs[0].startswith("custom A: this run is "), errs
    assert "work units (--num-beams 64 --max-new-tokens 4096" in errs[0]
    assert "DASHBOARD_MAX_WORK in engine/limits.py" in errs[0] and "python -m engine decode --num-beams 64" in errs[0]
    assert decodes and all(c.get("num_beams", 1) == 1 for c in decodes)      # greedy only
    # the editor on the same page says the same and keeps working
    assert "greedy" in [shown(m.value) for m in at.markdown if m.value.startswith("#### ")]


def test_editor_refuses_a_config_over_the_budget(root, decodes):
    at = assert_ok(open_app(root, model="text-gpt", input="hello there"))
    at.session_state["_editor_open"] = True              # the user opens the editor's box
    at.run()
    decodes.clear()
    at.number_input(key="edit_ca.num_beams").set_value(64)
    at.number_input(key="edit_ca.max_new_tokens").set_value(4096)
    [b for b in at.get("button") if "Apply custom A" in (b.proto.label or "")][0].click().run()
    assert_ok(at)
    errs = [shown(e.value) for e in at.error]
    assert any(e.startswith("this run is ") and "DASHBOARD_MAX_WORK" in e for e in errs), errs
    assert not at.session_state["_shared"]["ca"] and "custom A" not in at.session_state["_shared"]["s"]
    assert all(c.get("num_beams", 1) < 64 for c in decodes)


def test_deep_or_huge_custom_json_is_one_line(root, decodes):
    at = assert_ok(open_app(root, s=["greedy", "custom A"], ca="[" * 50_000))
    errs = [shown(e.value) for e in at.error]
    assert errs and errs[0].startswith("URL parameter ca") and "MAX_JSON_DEPTH" in errs[0], errs
    assert decodes == []


def test_beam_page_link_over_its_slider_is_refused(root, decodes):
    at = assert_ok(open_app(root, model="text-gpt"))                     # the home page decodes its strategies
    decodes.clear()
    at.switch_page("views/beam.py")
    at.query_params["beams"], at.query_params["maxlen"] = "64", "4096"
    assert_ok(at.run())
    errs = [shown(e.value) for e in at.error]
    assert any("beams='64'" in e for e in errs) and any("maxlen='4096'" in e for e in errs), errs
    assert decodes == []
    ok = assert_ok(open_app(root, "views/beam.py", {"beams": "3", "maxlen": "12"}))
    assert not ok.error and ok.slider(key="beams").value == 3


def test_a_decode_reports_every_step_and_is_cancelled_at_one():
    """engine.generate calls the page's callback after every step; a callback that raises (as Streamlit's
    StopException does at an st call once the user stopped the script) ends the decode, nothing is
    cached, and the next request decodes afresh."""
    from dashboard import runs

    class Stop(BaseException):          # Streamlit's StopException is a BaseException too
        pass

    def cancel(done, total):
        calls.append((done, total))
        if done == 3:
            raise Stop

    args = ("dates-gru-attn", "Fri 13 Nov 26", runs.cfg_json({"max_new_tokens": 16}))
    calls = []
    with pytest.raises(Stop):
        runs.run_generate(*args, progress=cancel)
    assert calls == [(1, 16), (2, 16), (3, 16)]
    seen = []
    tr = runs.run_generate(*args, progress=lambda done, total: seen.append(done))
    assert seen == list(range(1, len(tr["steps"]) + 1)) and len(seen) > 3       # decoded afresh, every step
    again = []
    assert runs.run_generate(*args, progress=lambda done, total: again.append(done)) == tr and again == []


def test_progress_bar_updates_at_most_ten_times_a_second():
    from types import SimpleNamespace
    shown = []
    bar = display.Progress(2)
    bar._slot = SimpleNamespace(progress=lambda value, text: shown.append((value, text)), empty=lambda: shown.append(0))
    step = bar.callback(1, "Decoding with <b>x</b>")
    step(5, 10)                          # within 0.1 s of the start: nothing shown (a quick run shows no bar)
    bar._last -= 1
    step(5, 10)
    step(6, 10)                          # within 0.1 s of the last update: skipped
    assert len(shown) == 1 and shown[0][0] == 0.75 and "<b>" not in shown[0][1] and "step 5 of at most 10" in shown[0][1]
    bar.done()
    assert shown[-1] == 0


# -- item 1 and 9: uploads and ?trace= links are validated; failures are one line ------------------

def _real_trace(beam=False) -> dict:
    cfg = {"max_new_tokens": 16, **({"num_beams": 3} if beam else {})}
    rec = engine.RecordOptions(top_k=3, attention=not beam, hidden_states=False)
    return engine.generate(engine.load("dates-gru-attn"), "Wed 3 Mar 21", engine.GenerationConfig.from_dict(cfg),
                           record=rec).to_dict()


def _repeated_ids_trace() -> dict:
    """The issue's trace: beam nodes (0, None), (1, 0), (0, 1), the hypothesis at node 1."""
    tr = _real_trace(beam=True)
    a, b, c = (dict(n) for n in tr["beam"]["nodes"][:3])
    a.update(id=0, parent=None)
    b.update(id=1, parent=0, step=a["step"] + 1)
    c.update(id=0, parent=1, step=a["step"] + 2)
    tr["beam"]["nodes"] = [a, b, c]
    for h in tr["hypotheses"]:
        h["node"] = 1
    return tr


def _upload(at, name: str, data: bytes):
    at.file_uploader(key="upload").set_value((name, data, "application/json")).run()
    return assert_ok(at)


BAD_UPLOADS = {
    "repeated-ids.json": lambda: json.dumps(_repeated_ids_trace()).encode(),
    "deep-config.json": lambda: json.dumps(_real_trace()).replace('"config": {', '"config": {"x": '
                                                                  + "[" * 3000 + "]" * 3000 + ", ", 1).encode(),
    "very-deep.json": lambda: b"[" * 50_000 + b"]" * 50_000,
    "nan.json": lambda: json.dumps(_real_trace()).replace('"total_s": ', '"total_s": NaN, "x": ', 1).encode(),
    "digits.json": lambda: b'{"format_version": ' + b"9" * 5000 + b"}",
    "not-json.json": lambda: b"{not json",
    "not-utf8.json": lambda: b"\xff\xfe{}",
    "wrong-type.json": lambda: json.dumps({**_real_trace(), "input": {"text": 1, "tokens": [1], "token_ids": [1]}
                                           }).encode(),
}


def test_every_bad_upload_is_one_error_line(root):
    at = assert_ok(open_app(root, "views/traces.py"))
    for name, make in BAD_UPLOADS.items():
        _upload(at, name, make())
        errs = [shown(e.value) for e in at.error]
        assert len(errs) == 1 and errs[0].startswith(name + ":"), (name, errs)
        assert "\n" not in errs[0] and "Traceback" not in errs[0] and len(errs[0]) < 600, errs
        assert at.session_state["uploaded_trace"] is None
    assert "repeats" in shown(_upload(at, "r.json", BAD_UPLOADS["repeated-ids.json"]()).error[0].value)


def test_repeated_ids_never_reach_a_page_nor_a_link(root):
    at = assert_ok(open_app(root, "views/traces.py"))
    _upload(at, "repeated-ids.json", json.dumps(_repeated_ids_trace()).encode())
    assert at.session_state["uploaded_trace"] is None
    from dashboard import runs
    with pytest.raises(engine.TraceError, match="repeats"):
        runs.remember_upload(json.dumps(_repeated_ids_trace()).encode())     # kept only once validated
    # a good upload: its ?trace= key opens it in another session; an unknown key shows nothing
    _upload(at, "good.json", json.dumps(_real_trace(beam=True)).encode())
    key = at.session_state["uploaded_key"]
    assert re.fullmatch(r"[0-9a-f]{16}", key) and not at.error
    other = assert_ok(open_app(root, "views/beam.py", trace=key))
    assert other.selectbox(key="beam_src").options[-1] == "uploaded trace"
    missing = assert_ok(open_app(root, "views/step.py", {"run": "uploaded trace"}, trace="0123456789abcdef"))
    assert "uploaded trace" not in missing.selectbox(key="run").options


# -- item 12: text from the URL or a trace is shown literally --------------------------------------

def test_url_text_is_literal_on_compare_and_tffr(root):
    at = assert_ok(open_app(root, input=EVIL))
    assert_literal(at, [f"Input: {EVIL}"])
    short, ref = "![m](http://x/y.png) `a` <img src=x>", "[click](https://x) ``b`` $x$"
    at = assert_ok(open_app(root, "views/tffr.py", {"ref": ref, "inject": "1", "wrong": "<"}, model="text-gpt",
                            input=short))
    assert_literal(at, [f"Input: {short} · reference: {ref}", "'<' at step 1"])
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    assert "<" not in "".join(titles).replace("<br>", "")   # Plotly shows entities as their characters (<br>: a title wrapped by charts.finish)
    assert any(html.unescape(t).startswith("'<' injected at step 1") for t in titles), titles


def _hostile(tr: dict) -> dict:
    tr["model"]["name"] = EVIL
    tr["input"]["text"] = EVIL
    tr["warnings"] = [EVIL]
    tr["hypotheses"][0]["text"] = EVIL
    if tr.get("beam"):
        for n in tr["beam"]["nodes"]:
            n["token"] = EVIL
    else:
        h = tr["steps"][0]["hypotheses"][0]
        h["token"] = EVIL
        h["top_after"][0]["token"] = EVIL
        tr["hypotheses"][0]["tokens"][0] = EVIL
    return tr


def test_trace_text_is_literal_on_every_page(root):
    at = assert_ok(open_app(root, "views/traces.py"))
    _upload(at, EVIL + ".json", json.dumps(_hostile(_real_trace())).encode())
    assert_literal(at, [EVIL])
    at.switch_page("views/step.py").run()
    at.selectbox(key="run").set_value("uploaded trace").run()
    assert_ok(at)
    assert_literal(at, [EVIL])
    step = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert not any("<img" in y or "<script" in y for t in step["data"] for y in t.get("y", [])), step["data"][0]["y"]
    at.switch_page("views/attention.py").run()
    at.selectbox(key="run").set_value("uploaded trace").run()
    assert_ok(at)
    assert_literal(at, [])
    beam = assert_ok(open_app(root, "views/traces.py"))
    _upload(beam, "beam.json", json.dumps(_hostile(_real_trace(beam=True))).encode())
    beam.switch_page("views/beam.py").run()
    beam.selectbox(key="beam_src").set_value("uploaded trace").run()
    assert_ok(beam)
    assert_literal(beam, [EVIL])


# -- item 11: the HTML report escapes everything it embeds ------------------------------------------

class _Scripts(HTMLParser):
    """The <script> elements of a page (their text) and the page's visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self.text, self._in = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = False

    def handle_data(self, data):
        if self._in:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def test_report_escapes_everything_from_a_trace():
    from dashboard.report import comparison_report
    bad = "</script><script>alert(1)</script>"
    greedy = _real_trace()
    greedy.update(model={**greedy["model"], "name": bad}, input={**greedy["input"], "text": bad}, warnings=[bad])
    greedy["hypotheses"][0].update(text=bad, tokens=[bad] + greedy["hypotheses"][0]["tokens"][1:])
    greedy["steps"][0]["hypotheses"][0]["token"] = bad
    beam = _hostile(_real_trace(beam=True))
    for n in beam["beam"]["nodes"]:
        n["token"] = bad
    out = comparison_report({bad: greedy, "beam " + bad: beam})
    page = _Scripts()
    page.feed(out)
    n_figs = out.count("Plotly.newPlot(")
    assert n_figs == 2 and len(page.scripts) == 1 + n_figs          # plotly.js once, then one per figure
    for body in page.scripts[1:]:
        assert "</" not in body and "<script" not in body.lower() and "alert(1)" in body  # inside JSON strings
    text = "".join(page.text)
    assert text.count(bad) >= 4          # run name, model, input, token, warning: shown literally, as text
    assert "warning: " + bad in text
    assert "<script>alert" not in out.replace("&lt;script&gt;alert", "")
