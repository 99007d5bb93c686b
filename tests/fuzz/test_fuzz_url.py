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

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import engine
from fuzzkit import NASTY_STRINGS, cases, tally, texts

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from pagecheck import APP, TIMEOUT, check_page  # noqa: E402
from dashboard.url_checks import LAB_GOLD_TAB, LAB_SECTIONS  # noqa: E402

MODELS = [m["name"] for m in engine.list_models()]
PRESETS = list(engine.PRESETS) + ["custom A", "custom B", "uploaded trace"]
JUNK = ["", " ", "-1", "0", "1", "2", "3", "7", "8", "64", "99", "4096", "1e309", "nan", "inf", "-inf", "1.5",
        "true", "false", "yes", "None", "null", "[]", "{}", "x", "\x00", "é", "☃", "9" * 400, "a" * 3000,
        "</script><script>alert(1)</script>", "![m](http://127.0.0.1/x.png)", "[click](https://example.invalid)",
        "`", "**b**", "$x$", "<b>x</b>", "avg"]


def url_safe(s: str) -> str:
    """A URL carries UTF-8: a lone surrogate cannot reach the server (AppTest could not even quote it)."""
    return s.encode("utf-8", "replace").decode("utf-8")


WORD = st.one_of(st.sampled_from(JUNK), st.text(max_size=10).map(url_safe), st.integers(-5, 70).map(str))
TEXT = st.one_of(texts(30).map(url_safe), st.sampled_from([url_safe(x) for x in NASTY_STRINGS]))
FIELD_NAMES = [f.name for f in engine.GENERATION_FIELDS]
CONFIGS = st.one_of(
    st.dictionaries(st.sampled_from(FIELD_NAMES),
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
SMALL_CONFIGS = st.fixed_dictionaries({"max_new_tokens": st.integers(1, 12)}, optional={
    "num_beams": st.integers(1, 6), "do_sample": st.booleans(), "top_p": st.floats(0.05, 1.0),
    "temperature": st.sampled_from([5e-324, 0.5, 1.0, 30.0]), "repetition_penalty": st.sampled_from([1.0, 1.3, 1e300]),
    "length_penalty": st.sampled_from([-2.0, 0.0, 1.0, 4.0]), "no_repeat_ngram_size": st.integers(0, 3),
    "seed": st.integers(0, 100)}).map(json.dumps)
INTS = st.integers(0, 12).map(str)


def page_params(valid: bool) -> dict:
    """Each parameter: its valid values (valid=True), or anything (valid values 3 times out of 4)."""
    def v(values):
        good = st.sampled_from(values) if isinstance(values, list) else values
        return good if valid else st.one_of(good, good, good, WORD)
    shared = {"model": v(MODELS + ([] if valid else ["runs/dashboard/x", "../checkpoints/text-gpt", "hf:gpt2"])),
              "input": v(st.sampled_from(["", "3 march 2021", "12+34", "The default value of", "ab ☃ 日本"])
                         if valid else TEXT),
              "s": st.lists(v(PRESETS[:-1] if valid else PRESETS), min_size=1, max_size=4 if valid else 6),
              "ca": SMALL_CONFIGS if valid else CONFIGS, "cb": SMALL_CONFIGS if valid else CONFIGS,
              "present": v(["true", "false"]), "fmt": v(["png", "svg"])}
    pages = {
        "views/compare.py": {},
        "views/step.py": {"run": v(PRESETS[:-1]), "hyp": v(INTS), "step": v(INTS), "log": v(["true", "false"])},
        "views/attention.py": {"run": v(PRESETS[:-1]), "kind": v(["cross", "self"]), "layer": v(INTS),
                               "head": v(["avg", "0", "1", "3"]), "hyp": v(INTS), "grid": v(["true", "false"]),
                               "enc": v(["true", "false"])},
        "views/beam.py": {"beams": v(["2", "3", "4", "8"]), "groups": v(["1", "2", "4", "8"]),
                          "lp": v(["-2", "-2.0", "0.5", "1.0", "4.0"]), "maxlen": v(["1", "5", "16", "64"]),
                          "early": v(["true", "false"]), "reveal": v(INTS), "bhyp": v(INTS),
                          "pruned": v(["true", "false"])} | ({} if valid else {"trace": WORD}),
        "views/tffr.py": {"ref": v(st.sampled_from(["2021-03-03", "46", "x"]) if valid else TEXT),
                          "inject": v(INTS), "wrong": v(st.sampled_from(["", "9", "a"]) if valid else TEXT)},
        "views/traces.py": {"dl_run": v(PRESETS[:-1])} | ({} if valid else {"trace": WORD}),
        "views/lab.py": {"lab_models": st.lists(v(["addition-gru", "addition-gru-ss", "hmm-gpt"]), max_size=2),
                         "lab_n": v(["50", "100"]), "lab_t0": v(INTS), "lab_seed": v(INTS),
                         "lab_exp": v(list(engine.EXPERIMENTS)), "lab_quick": v(["true", "false"]),
                         "lab_view": v(["Dataset analysis", "Experiments"]),
                         "lab_section": v(list(LAB_SECTIONS.values()) + [LAB_GOLD_TAB])},   # any kind's tab
        "views/train.py": {"tr_recipe": v(list(engine.RECIPES)), "tr_task": v(list(engine.TASK_ARCHS)),
                           "tr_source": v(["recipe", "task + architecture"])},
    }
    return shared, pages


PARAMS = {True: page_params(True), False: page_params(False)}
PAGES = sorted(PARAMS[True][1])


@st.composite
def requests(draw):
    """(page, query parameters): a clean link (every value valid) or a hostile one."""
    valid = draw(st.booleans(), label="clean link")
    shared, pages = PARAMS[valid]
    page = draw(st.sampled_from(PAGES), label="page")
    params = {}
    for k, strat in {**shared, **pages[page]}.items():
        if draw(st.integers(0, 2), label=f"{k}?") == 0:
            params[k] = draw(strat, label=k)
    return page, params


@given(req=requests())
@cases(ci=30, long=600)
@example(req=("views/compare.py", {"model": "text-gpt", "s": ["custom A"],                   # issue 10, item 2
                                   "ca": json.dumps({"num_beams": 64, "max_new_tokens": 4096})}))
@example(req=("views/step.py", {"model": "text-gpt", "s": ["custom A"], "run": "custom A",
                                "ca": json.dumps({"mbr": True, "mbr_num_samples": 128, "max_new_tokens": 4096})}))
def test_pages_with_random_query_params(one_torch_thread, req):
    page, params = req
    tally(f"page {page}")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    if page != "views/compare.py":
        at.switch_page(page)
    check_page(at, f"{page} {params}")
