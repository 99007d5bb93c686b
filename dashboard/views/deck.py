"""Decks: talk decks (titled, ordered views with notes): pick, edit, reorder, present, warm up, export.
The logic is dashboard/deck.py (files, editing) and dashboard/deck_export.py; this page is widgets."""
from __future__ import annotations

import streamlit as st

import engine
from dashboard import deck, deck_export, display, warmup

PRESENT_ICON = ":material/slideshow:"


def _saved(d: deck.Deck) -> None:
    try:
        deck.save(d)
    except deck.DeckError as e:
        st.session_state["_deck_msg"] = str(e)


def _edit(d: deck.Deck, i: int, field: str, key: str) -> None:
    try:
        _saved(deck.edit(d, i, **{field: st.session_state.get(key) or ""}))
    except deck.DeckError as e:
        st.session_state["_deck_msg"] = str(e)


def _op(fn, *args) -> None:
    try:
        _saved(fn(*args))
    except deck.DeckError as e:
        st.session_state["_deck_msg"] = str(e)


def _retitle(d: deck.Deck, key: str) -> None:
    _op(deck.retitle, d, st.session_state.get(key) or "")


def _create(source: deck.Deck | None) -> None:
    name = (st.session_state.get("_deck_new_name") or "").strip()
    try:
        if name in deck.names():
            raise deck.DeckError(f"deck {name} exists already: pick it above")
        d = deck.copy_as(source, name) if source is not None else deck.new(name)
        deck.save(d)
        st.session_state["deck_pick"] = name
    except deck.DeckError as e:
        st.session_state["_deck_msg"] = str(e)


def _view_row(d: deck.Deck, i: int, v: deck.View) -> None:
    """A view: title, note (and, editable, ↑ ↓ ✕) on one row; below, the link to its page (the page's whole
    name: in a column of its own it was cut to "Teacher" at 1280x720) beside the link's URL."""
    with st.container(border=True):
        if d.read_only:
            c = st.columns([5, 7], vertical_alignment="center")
            c[0].markdown(f"**{i + 1}. {display.md(v.title)}**")
            c[1].caption(display.md(v.note))
        else:
            c = st.columns([5, 7, 1, 1, 1], vertical_alignment="center")
            tk, nk = f"_deck_t_{d.name}_{i}", f"_deck_n_{d.name}_{i}"
            st.session_state[tk], st.session_state[nk] = v.title, v.note
            c[0].text_input(f"{i + 1}. title", key=tk, on_change=_edit, args=(d, i, "title", tk))
            c[1].text_area("note", key=nk, on_change=_edit, args=(d, i, "note", nk), height=68)
            c[2].button("↑", key=f"_deck_up_{i}", on_click=_op, args=(deck.move, d, i, -1), disabled=i == 0,
                        help="move up")
            c[3].button("↓", key=f"_deck_down_{i}", on_click=_op, args=(deck.move, d, i, 1),
                        disabled=i == len(d.views) - 1, help="move down")
            c[4].button("✕", key=f"_deck_del_{i}", on_click=_op, args=(deck.remove, d, i), help="delete this view")
        line = st.container(horizontal=True, vertical_alignment="center", gap="small")
        line.page_link(display.page_ref(f"views/{v.page}.py"), label=deck.PAGES[v.page], icon=":material/open_in_new:",
                       query_params=v.params)
        line.caption(display.code(deck.link(v)))


def _export(d: deck.Deck) -> None:
    c = st.columns([2, 2, 3], vertical_alignment="bottom")
    fmt = c[0].selectbox("Camera button saves", ["svg", "png"], key="_deck_fmt")
    if c[1].button("Build the offline HTML", icon=":material/download:"):
        with st.spinner("Computing every view's runs and charts…"):
            st.session_state["_deck_export"] = (d.name, deck_export.export_html(d, fmt=fmt))
    built = st.session_state.get("_deck_export")
    if built and built[0] == d.name:
        c[2].download_button(f"Download {d.name}.html ({len(built[1]) / 1e6:.1f} MB)", built[1],
                             file_name=f"{d.name}.html", mime="text/html")
    st.caption("One file, opens offline: every view's charts (plotly.js inlined once), titles and notes. PNG or "
               "SVG files per chart: `python -m dashboard.deck export NAME --images png`.")


def _warm(page: str, params: dict):
    """A deck view warmed for both ways it opens: its runs and its charts as linked, then its charts as
    presented (the figure cache's key holds the mode; the deck is presented with present=true)."""
    with warmup.styled(params):
        out = deck_export.warm(page, params)
    presented = {**params, "present": "true"}
    with warmup.styled(presented):
        deck_export.warm(page, presented)
    return out


def _warmup(d: deck.Deck) -> None:
    s = warmup.status()
    c = st.columns([2, 5], vertical_alignment="center")
    if c[0].button("Warm up this deck", icon=":material/local_fire_department:", disabled=s.running,
                   help="Load the models and compute every view's runs in the background: each view then opens "
                        "without waiting."):
        warmup.start([(v.page, v.params) for v in d.views], label=d.name, compute=_warm)
        s = warmup.status()
    if s.total:
        c[1].caption(display.md(f"warm-up ({s.label}): {s.done} of {s.total} views"
                                + (" …" if s.running else f" done in {s.seconds:.1f} s")
                                + (f"; {len(s.errors)} could not run: {s.errors[0]}" if s.errors else "")))


def main() -> None:
    # ?deck_pick= (not ?deck=, which a presented view carries: Streamlit drops a widget's bound query
    # parameter when the page with the widget is left)
    st.title("Decks")
    st.caption("A deck is a talk: views (a page and its settings) with a title and a note, in order. Add the "
               "view you are looking at from the sidebar's **Add this view to a deck**.")
    names = deck.names()
    name = st.selectbox("Deck", names, key="deck_pick", bind="query-params")
    msg = st.session_state.pop("_deck_msg", None)
    if msg:
        display.error(msg)
    try:
        d = deck.load(name or deck.DEFAULT)
    except deck.DeckError as e:
        display.error(e)
        d = None
    with st.expander("New deck" if d is None or not d.read_only else "Copy this deck to edit it (or a new deck)"):
        st.text_input("Name", key="_deck_new_name", placeholder="my-talk", max_chars=64)
        c = st.columns(2)
        c[0].button("Create an empty deck", on_click=_create, args=(None,))
        if d is not None:
            c[1].button(f"Copy {d.name} under this name", on_click=_create, args=(d,))
    if d is None:
        return
    st.markdown(f"### {display.md(d.title)}")
    if not d.read_only:
        tk = f"_deck_title_{d.name}"
        st.session_state[tk] = d.title
        st.text_input("Deck title (the exported file's title)", key=tk, max_chars=engine.MAX_DECK_TITLE_CHARS,
                      on_change=_retitle, args=(d, tk))
    st.caption(f"{len(d.views)} views" + (" · read-only (the curated tours)" if d.read_only else
                                          f" · {display.md(display.rel_path(deck.path_of(d.name)))}"))
    if d.views:
        st.page_link(display.page_ref(f"views/{d.views[0].page}.py"), label="Present from the first view",
                     icon=PRESENT_ICON, query_params=deck.link_params(d.views[0], deck=d.name, at=0, present=True))
        _warmup(d)
    for i, v in enumerate(d.views):
        _view_row(d, i, v)
    if d.views:
        st.markdown("#### Export")
        _export(d)


if __name__ == "__main__":         # how st.Page runs a page; importing the module (a test reading a
    display.guarded(main)          # constant) runs nothing
