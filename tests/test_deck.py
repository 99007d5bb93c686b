"""Talk decks (dashboard/deck.py, the Decks page, the presenter bar, the offline export): build a deck,
reorder it, present it view by view, export it as one offline HTML file; bad deck files are one line."""
import json
import re

import pytest

pytest.importorskip("streamlit")

import engine  # noqa: E402
from apptest_kit import assert_ok, open_app  # noqa: E402
from dashboard import deck, deck_export, display  # noqa: E402

EVIL = "<script>alert('x')</script> & <b>bold</b>"


@pytest.fixture
def decks(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQSCOPE_DECKS", str(tmp_path))
    return tmp_path


def _view(page, **params):
    return deck.check_view({"page": page, "params": params, "title": f"{page} view", "note": ""})


# -- files, validation -------------------------------------------------------------------------------

def test_default_deck_is_the_four_tours_and_read_only(decks):
    d = deck.load(deck.DEFAULT)
    assert d.read_only and [v.title for v in d.views] == [
        "One wrong note", "Greedy loops vs nucleus sampling", "The beam grows a tree", "Where the model looks"]
    assert [v.page for v in d.views] == ["tffr", "compare", "beam", "attention"]
    with pytest.raises(deck.DeckError, match="read-only"):
        deck.save(d)
    with pytest.raises(deck.DeckError, match="read-only"):
        deck.move(d, 0, 1)
    assert deck.names() == [deck.DEFAULT]


def test_build_reorder_edit_delete_and_read_back(decks):
    d = deck.new("my-talk", "A talk")
    d = deck.add(d, deck.view_from_url("beam", {"beams": ["8"], "present": ["true"], "deck": ["x"], "at": ["2"]},
                                       title="tree", model="dates-transformer"))
    d = deck.add(d, deck.view_from_url("", {"s": ["greedy", "top-k 40"], "input": ["Wed 3 Mar 21"]}, title="cmp"))
    d = deck.add(d, _view("step", step="2"))
    assert d.views[0].params == {"beams": "8", "model": "dates-transformer"}       # how it was shown is dropped
    assert d.views[1].page == "compare" and d.views[1].params["s"] == ["greedy", "top-k 40"]
    d = deck.move(d, 2, -1)
    assert [v.title for v in d.views] == ["tree", "step view", "cmp"]
    d = deck.move(d, 0, -1)                    # at the top it stays
    d = deck.move(d, 0, 1)
    assert [v.title for v in d.views] == ["step view", "tree", "cmp"]
    d = deck.edit(d, 1, title="the tree", note=EVIL)
    d = deck.remove(d, 0)
    deck.save(d)
    back = deck.load("my-talk")
    assert back == d and back.views[0].note == EVIL and back.title == "A talk"
    assert deck.names() == [deck.DEFAULT, "my-talk"]
    assert json.loads((decks / "my-talk.json").read_text())["format"] == "seqscope-deck"
    assert list(decks.iterdir()) == [decks / "my-talk.json"]          # atomic write: no temporary left


def test_a_copy_is_titled_by_its_name_and_a_title_can_be_changed(decks):
    """A copy of the curated tours is someone's talk: titled by its new name, not "Tours: curated views"
    (the exported file's title); the title can then be set, within its limit, on one line."""
    d = deck.copy_as(deck.load(deck.DEFAULT), "my-talk")
    assert d.title == "my-talk" and len(d.views) == 4 and not d.read_only
    d = deck.retitle(d, "  Exposure bias, live  ")
    assert d.title == "Exposure bias, live" and deck.retitle(d, " ").title == "my-talk"     # empty: its name
    with pytest.raises(deck.DeckError, match="MAX_DECK_TITLE_CHARS"):
        deck.retitle(d, "x" * (engine.MAX_DECK_TITLE_CHARS + 1))
    with pytest.raises(deck.DeckError, match="one line"):
        deck.retitle(d, "a\nb")
    with pytest.raises(deck.DeckError, match="read-only"):
        deck.retitle(deck.load(deck.DEFAULT), "mine")


def test_limits_on_views_titles_and_notes(decks):
    d = deck.new("t")
    for _ in range(engine.MAX_DECK_VIEWS):
        d = deck.add(d, _view("compare"))
    with pytest.raises(deck.DeckError, match="MAX_DECK_VIEWS"):
        deck.add(d, _view("compare"))
    with pytest.raises(deck.DeckError, match="MAX_DECK_TITLE_CHARS"):
        deck.edit(d, 0, title="x" * (engine.MAX_DECK_TITLE_CHARS + 1))
    with pytest.raises(deck.DeckError, match="MAX_DECK_NOTE_CHARS"):
        deck.edit(d, 0, note="x" * (engine.MAX_DECK_NOTE_CHARS + 1))
    with pytest.raises(deck.DeckError, match="one line"):
        deck.edit(d, 0, title="two\nlines")
    with pytest.raises(deck.DeckError, match="uploaded trace"):
        deck.view_from_url("step", {"trace": ["0123456789abcdef"]})
    with pytest.raises(deck.DeckError, match="cannot be a deck view"):
        deck.view_from_url("train", {})
    for bad in ("../evil", "", "default", "a" * 65, "x/y"):
        with pytest.raises(deck.DeckError, match="deck name"):
            deck.new(bad)


def _file(views, **top):
    return {"format": "seqscope-deck", "version": 1, "title": "t", "views": views, **top}


@pytest.mark.parametrize("content, says", [
    ("{not json", "JSON"),
    (json.dumps({"views": []}), "not a seqscope deck"),
    (json.dumps(_file([], version=2)), "version 2"),
    (json.dumps(_file({"a": 1})), "views must be a list"),
    (json.dumps(_file([{"page": "train", "params": {}, "title": "x"}])), "view 1: page 'train'"),
    (json.dumps(_file([{"page": "beam", "params": {"beams": "9"}, "title": "x"}])), "view 1: URL parameter beams='9'"),
    (json.dumps(_file([{"page": "beam", "params": {"rm -rf": "1"}, "title": "x"}])), "not part of a view"),
    (json.dumps(_file([{"page": "beam", "params": {"model": "nope"}, "title": "x"}])), "URL parameter model"),
    (json.dumps(_file([{"page": "beam", "params": {"beams": 8}, "title": "x"}])), "must be text"),
    (json.dumps(_file([{"page": "beam", "params": {}, "title": "x", "script": "1"}])), "unknown field"),
    (json.dumps(_file([{"page": "beam", "params": {}, "title": "x", "note": "n" * 2001}])), "MAX_DECK_NOTE_CHARS"),
    (json.dumps(_file([{"page": "beam", "params": {}, "title": "x"}] * 51)), "MAX_DECK_VIEWS"),
    (json.dumps(_file([], title="y" * 3_000_000)), "MAX_DECK_BYTES"),
])
def test_a_bad_deck_file_is_one_line(decks, content, says):
    (decks / "bad.json").write_text(content)
    with pytest.raises(deck.DeckError) as e:
        deck.load("bad")
    msg = str(e.value)
    assert says in msg and "\n" not in msg and msg.startswith("deck bad") and len(msg) < 700, msg


# -- links, presenting -------------------------------------------------------------------------------

def test_links_and_presenting_in_order(decks):
    d = deck.load(deck.DEFAULT)
    assert deck.link(d.views[1]).startswith("/?model=text-gpt&")
    assert deck.link(d.views[2], deck="default", at=2, present=True).endswith("present=true&deck=default&at=2")
    assert deck.neighbours(d, 0) == (None, 1) and deck.neighbours(d, 2) == (1, 3) and deck.neighbours(d, 3) == (2, None)
    assert deck.presenting({"deck": ["default"], "at": ["3"]}) == (d, 3)
    for bad in ({"deck": ["default"], "at": ["4"]}, {"deck": ["default"], "at": ["-1"]}, {"deck": ["../x"], "at": ["0"]},
                {"deck": ["default"]}, {"deck": ["nope"], "at": ["0"]}):
        assert deck.presenting(bad) is None


# -- export --------------------------------------------------------------------------------------------

def test_export_has_every_views_charts_offline_and_escaped(decks):
    d = deck.new("x", title=EVIL)
    d = deck.add(d, deck.check_view({"page": "compare", "title": EVIL, "note": EVIL,
                                     "params": {"model": "dates-gru-attn", "s": ["greedy", "beam 4"]}}))
    d = deck.add(d, _view("step", model="dates-gru-attn", step="2", run="greedy"))
    d = deck.add(d, _view("attention", model="dates-gru-attn", head="avg"))
    d = deck.add(d, _view("beam", model="dates-transformer", input="Wed 3 Mar 21", beams="3", reveal="2"))
    d = deck.add(d, _view("tffr", model="dates-gru-attn", inject="3", wrong="9"))
    sections = deck_export.export_sections(d)
    assert [[n for n, _ in s["figures"]] for s in sections] == [
        ["compare"], ["step"], ["attention", "attention-entropy"], ["beam-tree"],
        ["recovery", "tffr-base", "tffr-injected"]]
    assert all(not s["errors"] for s in sections), [s["errors"] for s in sections]
    beam = sections[3]["figures"][0][1]
    assert max(x for t in beam.data for x in (t.x or []) if x is not None) <= 2      # revealed up to step 2
    html = deck_export.export_html(d)
    assert html.count("Plotly.newPlot(") == 8 and html.count("<section class='view'") == 5
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*['\"]?(https?:)?//", html, re.I)
    assert html.count("<script") == 1 + 8                     # plotly.js once, then one script per chart
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html


def test_export_of_an_injection_that_changed_nothing_has_the_one_comparison_chart(decks):
    """As the TF-vs-FR page (issue 13, bug 5): the model's own token typed as the wrong note disturbs
    nothing, so the export draws the comparison alone, not 'recovering or derailing?' over two equal runs."""
    from dashboard import view_figures, warmup
    own = view_figures.fr_output(warmup.resolve("tffr", {"model": "hmm-gpt"}).tffr)[5]
    d = deck.add(deck.new("z"), _view("tffr", model="hmm-gpt", inject="5", wrong=own))
    d = deck.add(d, _view("tffr", model="hmm-gpt", inject="5"))          # the runner-up: a real disturbance
    sections = deck_export.export_sections(d)
    assert [[n for n, _ in s["figures"]] for s in sections] == [["tffr"], ["recovery", "tffr-base", "tffr-injected"]]
    assert all(not s["errors"] for s in sections), [s["errors"] for s in sections]


def test_export_of_a_view_that_fails_says_so_and_keeps_the_others(decks):
    d = deck.add(deck.new("y"), _view("compare", model="dates-gru-attn", s=["greedy"], ca='{"num_beams": 64}',))
    d = deck.add(d, _view("compare", model="dates-gru-attn", s=["custom A"], ca='{"temperature": -1}'))
    sections = deck_export.export_sections(d)
    assert [n for n, _ in sections[0]["figures"]] == ["compare"] and not sections[0]["errors"]
    assert sections[1]["figures"] == [] and "temperature" in sections[1]["errors"][0]


# -- the pages (AppTest) -----------------------------------------------------------------------------

def _app(root, page=None, **params):
    return assert_ok(open_app(root, page, **params))


def _links(at):
    return {p.proto.label: p.proto.query_string for p in at.get("page_link")}


def test_decks_page_shows_the_default_deck_with_a_present_link(root, decks):
    at = _app(root, "views/deck.py")
    assert at.title[0].value == "Decks" and not at.error
    links = _links(at)
    q = links["Present from the first view"]
    assert "deck=default" in q and "at=0" in q and "present=true" in q and "inject=3" in q
    assert not [b for b in at.button if b.key and b.key.startswith("_deck_del_")]     # read-only: no delete


def test_add_the_current_view_from_the_sidebar_then_reorder_and_delete(root, decks):
    at = _app(root, model="text-gpt", input="The default value of", s=["greedy", "top-k 40"])
    at.selectbox(key="_deck_add_to").set_value(deck.NEW_DECK).run()
    at.text_input(key="_deck_add_new").set_value("talk")
    at.text_input(key="_deck_add_title").set_value("loops")
    at.text_area(key="_deck_add_note").set_value(EVIL)
    at.button(key="_deck_add_btn").click().run()
    assert not at.exception
    d = deck.load("talk")
    assert d.views[0].page == "compare" and d.views[0].params["s"] == ["greedy", "top-k 40"]
    assert d.views[0].params["model"] == "text-gpt" and d.views[0].note == EVIL
    deck.save(deck.add(d, _view("beam", model="dates-transformer")))
    at.switch_page("views/deck.py")
    at.query_params["deck_pick"] = "talk"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.text_input(key="_deck_t_talk_0").value == "loops"
    at.button(key="_deck_down_0").click().run()
    assert [v.page for v in deck.load("talk").views] == ["beam", "compare"]
    at.text_input(key="_deck_t_talk_1").set_value("greedy loops").run()
    assert deck.load("talk").views[1].title == "greedy loops"
    at.button(key="_deck_del_0").click().run()
    assert [v.title for v in deck.load("talk").views] == ["greedy loops"]
    assert any(EVIL in (t.value or "") for t in at.text_area)           # the note is a widget value: text


def test_copy_the_default_deck_and_retitle_it_on_the_decks_page(root, decks):
    at = _app(root, "views/deck.py")
    at.text_input(key="_deck_new_name").set_value("talk")
    at.button[[b.label for b in at.button].index("Copy default under this name")].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert deck.load("talk").title == "talk" and any(m.value == "### talk" for m in at.markdown)
    at.text_input(key="_deck_title_talk").set_value("Exposure bias, live").run()
    assert deck.load("talk").title == "Exposure bias, live"
    assert any(m.value == "### " + display.md("Exposure bias, live") for m in at.markdown)
    assert any(p.proto.label == "Teacher forcing vs free running" and "inject=3" in p.proto.query_string
               for p in at.get("page_link"))                                # each view's link: its page's name


def test_presenter_bar_steps_through_the_views_with_shift_arrows(root, decks):
    """The presenter bar: previous / next view are buttons bound to Shift+← / Shift+→ (← → PageUp PageDown
    stay the view's own stepper); pressing one opens the neighbouring view, still presenting the deck."""
    from dashboard import deck_bar
    d = deck.load(deck.DEFAULT)
    v = d.views[1]
    at = _app(root, **{**v.params, "deck": "default", "at": "1", "present": "true"})
    assert any("2 / 4" in m.value and "Greedy loops" in m.value for m in at.markdown)
    prev, nxt = at.button(key="deck_prev"), at.button(key="deck_next")
    assert (prev.proto.shortcut, nxt.proto.shortcut) == ("shift+left", "shift+right")
    assert deck_bar.PREV_VIEW_KEY == "Shift+Left" and not prev.disabled and not nxt.disabled
    assert _links(at)["exit deck"] == "deck_pick=default"
    assert not {b.proto.shortcut for b in at.button if (b.key or "").startswith("pk_")} & {"shift+left", "shift+right"}
    nxt.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("3 / 4" in m.value and "The beam grows a tree" in m.value for m in at.markdown)
    assert at.slider(key="beams").value == 8 and "(8 beams)" in at.get("plotly_chart")[0].proto.spec
    at.button(key="deck_next").click().run()
    assert any("4 / 4" in m.value for m in at.markdown) and at.button(key="deck_next").disabled
    at.button(key="deck_prev").click().run()
    at.button(key="deck_prev").click().run()
    at.button(key="deck_prev").click().run()
    assert any("1 / 4" in m.value and "One wrong note" in m.value for m in at.markdown)
    assert at.button(key="deck_prev").disabled and not at.exception


def test_lab_views_in_a_deck_are_added_presented_and_exported(root, decks):
    """An experiment's result and an analysis pair of the Exposure lab as deck views: saved from the
    sidebar, presented with the bar, exported with their charts."""
    at = _app(root, "views/lab.py", lab_view="Experiments", lab_exp="label-smoothing")
    at.selectbox(key="_deck_add_to").set_value(deck.NEW_DECK).run()
    at.text_input(key="_deck_add_new").set_value("lab-talk")
    at.text_input(key="_deck_add_title").set_value("smoothing")
    at.button(key="_deck_add_btn").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    d = deck.load("lab-talk")
    assert d.views[0].page == "lab" and d.views[0].params["lab_exp"] == "label-smoothing"
    assert d.views[0].params["lab_view"] == "Experiments"
    d = deck.add(d, deck.view_from_url("lab", {"lab_models": ["hmm-gpt", "hmm-gpt-ss"], "lab_n": ["1000"],
                                              "present": ["true"]}, title="hmm pair"))
    deck.save(d)
    assert d.views[1].params == {"lab_models": ["hmm-gpt", "hmm-gpt-ss"], "lab_n": "1000"}
    assert deck.link(d.views[1]).startswith("/lab?lab_models=hmm-gpt&lab_models=hmm-gpt-ss")
    at = _app(root, "views/lab.py", **{**d.views[0].params, "deck": "lab-talk", "at": "0", "present": "true"})
    assert any("1 / 2" in m.value for m in at.markdown) and at.get("plotly_chart")
    at.button(key="deck_next").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("2 / 2" in m.value and "hmm pair" in m.value for m in at.markdown)
    assert sum("KL to the oracle" in c.proto.spec for c in at.get("plotly_chart")) == 2
    sections = deck_export.export_sections(d)
    assert [s["errors"] for s in sections] == [[], []]
    assert "label-smoothing" in sections[0]["summary"] and sections[0]["figures"]
    names = [n for n, _ in sections[1]["figures"]]
    assert "oracle-hmm-gpt" in names and "oracle-hmm-gpt-ss" in names and "accerr-hmm-gpt" in names
    html = deck_export.export_html(d)
    assert "hmm pair" in html and "KL to the oracle" in html


def test_a_bad_deck_file_on_the_decks_page_is_one_error_line(root, decks):
    (decks / "broken.json").write_text(json.dumps(_file([{"page": "beam", "params": {"beams": "99"}, "title": "x"}])))
    at = _app(root, "views/deck.py", deck_pick="broken")
    errs = [e.value for e in at.error]
    assert len(errs) == 1 and "beams" in errs[0] and "\n" not in errs[0]


# -- in Chromium: present the default deck, export it, open the export offline ----------------------------

def test_present_and_export_the_default_deck_in_chromium(need_browser, monkeypatch, tmp_path):
    """The presenter bar survives the links (a regression: ?deck= was dropped when the Decks page, whose
    picker was bound to it, was left); the exported file draws every chart from a file:// URL."""
    from dashboard import headless
    monkeypatch.setenv("SEQSCOPE_WARMUP", "0")
    with headless.server() as base, headless.browser() as b:
        page = headless.new_page(b, width=1280, height=720)
        page.goto(f"{base}/deck", wait_until="commit")
        headless.wait_ready(page, timeout=180)
        nav = '[data-testid="stPageLink-NavLink"]'
        page.locator(nav, has_text="Present from the first view").first.click()
        for i in range(4):
            if i:
                page.locator(".st-key-deck_next button").first.click()
            page.wait_for_function("(i) => location.search.includes('deck=default') && location.search.includes("
                                   "'at=' + i) && document.body.innerText.includes((i + 1) + ' / 4')", arg=i)
            st = headless.wait_ready(page, timeout=180)
            # the Attention view presented: its heatmap (Vega) alone; the others one Plotly chart or more
            assert not headless.chart_problems(st, f"view {i + 1}", 0 if i == 3 else 1, 1 if i == 3 else 0), st
            assert "present=true" in page.url
        assert page.locator(".st-key-deck_next button").first.is_disabled()
        page.locator(nav, has_text="exit deck").first.click()
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"] h1')?.innerText.trim() === 'Decks'")
        headless.wait_ready(page, timeout=180)
        page.get_by_role("button", name="Build the offline HTML").click()
        with page.expect_download(timeout=180_000) as dl:
            page.get_by_role("button", name=re.compile(r"Download default\.html")).click()
        path = tmp_path / "default.html"
        dl.value.save_as(path)
        offline = b.new_context(offline=True).new_page()
        offline.goto(path.as_uri(), wait_until="load")
        offline.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length === 7 && Array.from("
                                  "document.querySelectorAll('.js-plotly-plot')).every(g => g._fullData && g._fullData.length)")
        assert offline.locator("section.view h2").all_inner_texts() == [
            "1. One wrong note", "2. Greedy loops vs nucleus sampling", "3. The beam grows a tree", "4. Where the model looks"]
