"""Warm-up (dashboard/warmup.py): a background thread computes a deck's runs through the pages' own
cached calls, so that opening a warmed view afterwards decodes nothing."""
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import engine  # noqa: E402
from dashboard import deck, warmup  # noqa: E402

APP = "dashboard/app.py"


def _boom(*a, **k):
    raise AssertionError("the page decoded: the warm-up did not fill the cache it reads")


def test_after_the_warm_up_every_tour_opens_without_decoding(root, monkeypatch):
    views = deck.load(deck.DEFAULT).views
    assert warmup.start([(v.page, v.params) for v in views], label="tours")
    s = warmup.wait(600)
    assert not s.running and s.done == s.total == len(views) and not s.errors, s.errors
    monkeypatch.setattr(engine, "generate", _boom)
    monkeypatch.setattr(engine, "compare_tf_fr", _boom)
    monkeypatch.setattr(engine, "load", _boom)
    want = {"tffr": 3, "compare": 1, "beam": 1, "attention": 1}      # Plotly charts each tour draws
    for v in views:
        at = AppTest.from_file(str(root / APP), default_timeout=120)
        for k, val in v.params.items():
            at.query_params[k] = val
        if v.page != "compare":
            at.switch_page(f"views/{v.page}.py")          # the link opens this page first, as a tour does
        at.run()
        assert not at.exception and not at.error, (v.title, [e.value for e in at.exception], [e.value for e in at.error])
        assert len(at.get("plotly_chart")) >= want[v.page], v.title


def test_one_warm_up_at_a_time_and_a_failing_view_is_reported_not_raised():
    import threading
    gate = threading.Event()

    def slow(page, params):
        gate.wait(30)
        if page == "bad":
            raise ValueError("no such page\nsecond line")
        return warmup.Resolved(page=page, model="m", text="t", errors={"x": "one strategy failed"})

    assert warmup.start([("compare", {}), ("bad", {})], label="t", compute=slow)
    assert warmup.status().running and not warmup.start([("compare", {})], compute=slow)     # refused: one at a time
    gate.set()
    s = warmup.wait(30)
    assert (s.done, s.total, s.running) == (2, 2, False)
    assert s.errors == ["compare: x: one strategy failed", "bad: no such page"]


def test_no_warm_up_at_start_outside_a_server():
    assert warmup.start_once() is False          # AppTest / pytest: no `streamlit run` server


# The Decks page's "Warm up this deck" button: tests/test_stage_speed.py (it also checks that the presented
# views then build no chart).
