"""Fuzz target "URL parameters": every dashboard page opened under streamlit.testing.v1.AppTest with
random query parameters — the shared ones (model, input, strategies, custom configs as JSON,
presentation mode, chart format) and the page's own (step, layer, head, beams, length penalty,
reveal, injected step, lab and train choices, ?trace= keys): valid values, values out of range,
wrong types, repeated keys, unicode, Markdown and HTML, huge custom configs.

Property: the page runs to the end within its timeout, with no exception element, no traceback or
"Something went wrong" text in any element, and nothing in the dashboard's error log (display.guarded
logs every unexpected exception a page catches: a crash shown as a one-line error is still a crash).
AppTest runs are slow: this target is small under the ci profile.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import engine
from fuzzkit import GB, NASTY_STRINGS, cases, guard, texts

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent.parent / "dashboard" / "app.py")
TIMEOUT = 90
MODELS = [m["name"] for m in engine.list_models()]
PRESETS = list(engine.PRESETS) + ["custom A", "custom B", "uploaded trace"]
JUNK = ["", " ", "-1", "0", "1", "2", "3", "7", "8", "64", "99", "4096", "1e309", "nan", "inf", "-inf", "1.5",
        "true", "false", "yes", "None", "null", "[]", "{}", "x", "\x00", "é", "☃", "9" * 400, "a" * 3000,
        "</script><script>alert(1)</script>", "![m](http://127.0.0.1/x.png)", "[click](https://example.invalid)",
        "`", "**b**", "$x$", "<b>x</b>", "avg"]
WORD = st.one_of(st.sampled_from(JUNK), st.text(max_size=10), st.integers(-5, 70).map(str))
CONFIGS = st.one_of(
    st.dictionaries(st.sampled_from([f.name for f in engine.GENERATION_FIELDS]),
                    st.one_of(st.integers(-2, 70), st.sampled_from([5e-324, 1e300, -400.0, 400.0, 4096, 64, 128]),
                              st.booleans(), st.none(), st.sampled_from(["never", "nbest", "bleu", "x"])),
                    max_size=4).map(json.dumps),
    st.sampled_from([json.dumps({"num_beams": 64, "max_new_tokens": 4096}),
                     json.dumps({"mbr": True, "mbr_num_samples": 128, "max_new_tokens": 4096}),
                     json.dumps({"do_sample": True, "temperature": 5e-324}),
                     json.dumps({"length_penalty": -400.0, "num_beams": 3}),
                     json.dumps({"additive_repetition_penalty": 1e39, "num_beams": 3}),
                     "[" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, "{not json", "NaN", '{"top_p": NaN}']),
    WORD,
)


def one_of_or_junk(values: list) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(values), WORD)


SHARED = {
    "model": one_of_or_junk(MODELS + ["runs/dashboard/x", "../checkpoints/text-gpt", "hf:gpt2"]),
    "input": st.one_of(texts(30), st.sampled_from(NASTY_STRINGS)),
    "s": st.lists(one_of_or_junk(PRESETS), min_size=1, max_size=6),
    "ca": CONFIGS, "cb": CONFIGS,
    "present": one_of_or_junk(["true", "false", "1"]),
    "fmt": one_of_or_junk(["png", "svg"]),
}
INTS = st.one_of(st.integers(-2, 12).map(str), WORD)
PAGES = {
    "views/compare.py": {},
    "views/step.py": {"run": one_of_or_junk(PRESETS), "hyp": INTS, "step": INTS, "log": WORD},
    "views/attention.py": {"run": one_of_or_junk(PRESETS), "kind": one_of_or_junk(["cross", "self"]), "layer": INTS,
                           "head": one_of_or_junk(["avg", "0", "1", "3"]), "hyp": INTS, "grid": WORD, "enc": WORD},
    "views/beam.py": {"beams": INTS, "groups": one_of_or_junk(["1", "2", "4", "8"]),
                      "lp": one_of_or_junk(["-2", "-2.0", "0.5", "1.0", "4.0", "-400", "400", "1e308"]),
                      "maxlen": one_of_or_junk(["1", "5", "64", "65", "4096"]), "early": WORD, "reveal": INTS,
                      "bhyp": INTS, "pruned": WORD, "trace": WORD},
    "views/tffr.py": {"ref": st.one_of(texts(20), st.sampled_from(NASTY_STRINGS)), "inject": INTS,
                      "wrong": st.one_of(texts(4), st.sampled_from(NASTY_STRINGS))},
    "views/traces.py": {"dl_run": one_of_or_junk(PRESETS), "trace": WORD},
    "views/lab.py": {"lab_models": st.lists(one_of_or_junk(MODELS), max_size=3),
                     "lab_n": one_of_or_junk(["50", "100"]), "lab_t0": INTS, "lab_seed": INTS,
                     "lab_exp": one_of_or_junk(list(engine.EXPERIMENTS)), "lab_quick": WORD,
                     "lab_view": one_of_or_junk(["Dataset analysis", "Experiments"])},
    "views/train.py": {"tr_recipe": one_of_or_junk(list(engine.RECIPES)), "tr_task": one_of_or_junk(list(engine.TASK_ARCHS)),
                       "tr_source": one_of_or_junk(["scratch", "recipe", "a shipped model"])},
}
ELEMENTS = ("markdown", "caption", "error", "warning", "info", "success", "code", "text", "title", "header",
            "subheader", "exception")


@st.composite
def requests(draw):
    page = draw(st.sampled_from(sorted(PAGES)), label="page")
    params = {}
    for k, strat in {**SHARED, **PAGES[page]}.items():
        if draw(st.integers(0, 2), label=f"{k}?") == 0:
            params[k] = draw(strat, label=k)
    return page, params


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(self.format(record))


def texts_shown(at) -> list[str]:
    out = []
    for kind in ELEMENTS:
        try:
            els = at.get(kind)
        except Exception:  # noqa: BLE001 - a kind this Streamlit does not have
            continue
        for e in els:
            v = getattr(e, "value", None)
            if v is None:
                v = getattr(getattr(e, "proto", None), "body", None) or getattr(getattr(e, "proto", None), "message", "")
            out.append(str(v))
    return out


@given(req=requests())
@cases(ci=30, long=600)
def test_pages_with_random_query_params(one_torch_thread, req):
    page, params = req
    event(f"page {page}")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    if page != "views/compare.py":
        at.switch_page(page)
    log = logging.getLogger("seqscope.dashboard")
    handler = _Errors()
    log.addHandler(handler)
    try:
        with guard(TIMEOUT + 60, 2 * GB):
            at.run()
    finally:
        log.removeHandler(handler)
    assert not at.exception, f"{page} {params}: exception elements {[e.value for e in at.exception]}"
    for t in texts_shown(at):
        assert "Traceback (most recent call last)" not in t, f"{page} {params}: a traceback on the page: {t[:800]}"
        assert "Something went wrong" not in t, f"{page} {params}: {t[:800]}"
    assert not handler.records, f"{page} {params}: the page logged an unexpected error:\n{handler.records[0][:3000]}"
