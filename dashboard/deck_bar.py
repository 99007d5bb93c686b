"""The deck controls around every page (one call in dashboard/sidebar.py, through deck.controls):
the presenter bar on a page that presents a deck view (?deck=NAME&at=I) and, outside presentation
mode, the sidebar's "add this view to a deck"."""
from __future__ import annotations

import engine
from dashboard import url_checks
from dashboard.deck import (NEW_DECK, PAGES, Deck, DeckError, add, link_params, load, names, neighbours, new,
                            presenting, save, view_from_url)


def _add_current(page_path: str) -> None:
    """The "Add" button's callback: the current URL state as a view, appended to the chosen deck."""
    import streamlit as st
    from dashboard import url_state
    ss = st.session_state
    name = ss.get("_deck_add_to")
    if name in (None, NEW_DECK):
        name = (ss.get("_deck_add_new") or "").strip()
    try:
        d = load(name) if name in names() else new(name)
        v = view_from_url(page_path, url_checks.query_lists(st.query_params), title=ss.get("_deck_add_title") or "",
                          note=ss.get("_deck_add_note") or "", model=url_state.shared("model"))
        save(add(d, v))
        ss["_deck_add_msg"] = ("ok", f"Added to {name} (view {len(d.views) + 1}).")
        ss["_deck_add_to"], ss["_deck_add_title"], ss["_deck_add_note"] = name, "", ""
    except DeckError as e:
        ss["_deck_add_msg"] = ("error", str(e))


PREV_VIEW_KEY, NEXT_VIEW_KEY = "Shift+Left", "Shift+Right"   # ← / → (PageUp / PageDown) step inside a view
BAR_PX = 76             # the bar's height in presentation mode: the charts get that much shorter (presenter.fit_charts)
# one row of content-wide items at a readable size (presentation mode's 1.35rem cut the labels at 1280×720),
# kept clear of the fixed "Exit presentation" button in the top-right corner; the title takes two lines at most
_CSS = """<style>
.st-key-deck_bar, .st-key-deck_bar * {font-size: 1.05rem !important;}
.st-key-deck_bar {max-width: calc(100% - 190px); flex-wrap: nowrap !important;}
.st-key-deck_bar [data-testid="stMarkdown"] {min-width: 0; flex: 1 1 auto;}
.st-key-deck_bar [data-testid="stMarkdown"] p {margin: 0; line-height: 1.25; overflow: hidden; display: -webkit-box;
  -webkit-line-clamp: 2; -webkit-box-orient: vertical;}
.st-key-deck_bar button, .st-key-deck_bar a {white-space: nowrap;}
</style>"""


def _go(d: Deck, i: int) -> None:
    """Open view i of the deck. The pages' own widgets (not the shared controls, which follow the URL
    through dashboard/url_state.py) forget their values first: two views of the same page in a row
    would otherwise keep the first one's (a widget's Session State outlives a change of its URL)."""
    import streamlit as st
    from dashboard import display, url_state
    for k in url_checks.PARAMS:
        if k not in url_state.SHARED_PARAMS and k in st.session_state:
            del st.session_state[k]
    st.switch_page(display.page_ref(f"views/{d.views[i].page}.py"),
                   query_params=link_params(d.views[i], deck=d.name, at=i, present=True))


def _presenter_bar(d: Deck, at: int) -> None:
    """One row: "◀ view" (the previous view, Shift+←), "2 / 4 · title" (the note in its tooltip),
    "view ▶" (the next view, Shift+→), exit deck (short labels: the keys show beside them). The keys
    are the buttons' shortcuts; ← → PageUp PageDown stay the view's own stepper's."""
    import streamlit as st
    from dashboard import display, presenter, url_state
    v, (prev, nxt) = d.views[at], neighbours(d, at)
    st.html(_CSS)
    bar = st.container(horizontal=True, vertical_alignment="center", gap="small", key="deck_bar")
    if bar.button("◀ view", key="deck_prev", shortcut=PREV_VIEW_KEY, disabled=prev is None,
                  help=f"the deck's previous view (key: {PREV_VIEW_KEY})"):
        _go(d, prev)
    bar.markdown(f"**{at + 1} / {len(d.views)} · {display.md(v.title)}**", help=display.md(v.note) if v.note else None)
    if bar.button("view ▶", key="deck_next", shortcut=NEXT_VIEW_KEY, disabled=nxt is None,
                  help=f"the deck's next view (key: {NEXT_VIEW_KEY})"):
        _go(d, nxt)
    bar.page_link(display.page_ref("views/deck.py"), label="exit deck", query_params={"deck_pick": d.name})
    if v.note and not url_state.presenting():
        st.caption(display.md(v.note))
    presenter.fit_charts(BAR_PX)


def controls(page) -> None:
    """The deck controls around a page: the presenter bar when the link presents a deck (?deck=&at=),
    else (not in presentation mode) the sidebar's "add this view to a deck"."""
    import streamlit as st
    from dashboard import display, url_state
    path = getattr(page, "url_path", "") or "compare"
    if path not in PAGES:
        return
    shown = presenting(url_checks.query_lists(st.query_params))
    if shown is not None:
        _presenter_bar(*shown)
    if url_state.presenting():
        return
    with st.sidebar.popover("Add this view to a deck", icon=":material/playlist_add:", use_container_width=True):
        st.selectbox("Deck", names()[1:] + [NEW_DECK], key="_deck_add_to")
        if st.session_state.get("_deck_add_to") in (None, NEW_DECK):
            st.text_input("New deck name", key="_deck_add_new", placeholder="my-talk", max_chars=64)
        st.text_input("Title", key="_deck_add_title", placeholder=PAGES[path], max_chars=engine.MAX_DECK_TITLE_CHARS)
        st.text_area("Note", key="_deck_add_note", max_chars=engine.MAX_DECK_NOTE_CHARS, height=80)
        st.button("Add", key="_deck_add_btn", on_click=_add_current, args=(path,), type="primary")
    kind, msg = st.session_state.pop("_deck_add_msg", (None, None))
    if kind == "ok":
        st.sidebar.success(display.md(msg))
    elif kind == "error":
        st.sidebar.error(display.md(msg))


