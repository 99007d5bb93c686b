"""Talk decks: a titled, ordered list of views, each a page, its URL state, a title and a note.

- The default deck (`decks/default.json`, read-only) holds the curated tours of the Compare page.
- A user's decks are `runs/decks/NAME.json` ($SEQSCOPE_DECKS overrides the folder), written atomically
  (engine/files.py) and validated field by field on every read: the format, at most MAX_DECK_VIEWS
  views, titles and notes within MAX_DECK_TITLE_CHARS / MAX_DECK_NOTE_CHARS, only the pages of PAGES
  and only URL parameters dashboard/url_checks.py knows, each checked as a link's would be. A bad file
  is one DeckError line naming the deck, the view and the field.
- Editing (add, move, remove, retitle) is pure: a Deck in, a new Deck out; `save` writes it.
- Presenting: a view's link carries ?deck=NAME&at=I; `controls` (one call in dashboard/sidebar.py)
  draws the presenter bar (previous / next / exit) on such a page and the sidebar's "add this view"
  (dashboard/deck_bar.py).
- Export: one offline HTML file, PNG or SVG per chart (dashboard/deck_export.py; `python -m
  dashboard.deck export NAME` runs its command line).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlencode

import engine
from dashboard import url_checks

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "default"
DEFAULT_FILE = ROOT / "decks" / "default.json"
FORMAT, VERSION = "seqscope-deck", 1
PAGES = {"compare": "Compare decoders", "step": "Step inspector", "attention": "Attention",
         "beam": "Beam tree", "tffr": "Teacher forcing vs free running", "lab": "Exposure lab"}
NEW_DECK = "+ new deck"                 # the sidebar's choice of a deck not written yet
NOT_A_VIEW = ("present", "fmt", "deck", "at", "embed", "embed_options")   # how a view is shown, not what
NOT_IN_DECK = ("trace", "dl_run")       # an uploaded trace lives as long as the server; a download choice
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_VIEW_KEYS = {"page", "params", "title", "note"}


class DeckError(ValueError):
    """A deck that cannot be read, saved or changed: one line."""


@dataclass(frozen=True)
class View:
    page: str                       # a key of PAGES
    params: dict                    # URL parameter -> str (or list of str for ?s= / ?lab_models=)
    title: str
    note: str = ""


@dataclass(frozen=True)
class Deck:
    name: str
    title: str
    views: tuple = ()
    read_only: bool = False


def user_dir() -> Path:
    return Path(os.environ.get("SEQSCOPE_DECKS") or ROOT / "runs" / "decks")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == DEFAULT:
        shown = repr(name)[:40]
        raise DeckError(f"deck name {shown}: use 1-64 letters, digits, - or _ (not {DEFAULT!r}, which is read-only)")
    return name


def _text(value: Any, what: str, limit: int, limit_name: str, one_line: bool) -> str:
    if not isinstance(value, str):
        raise DeckError(f"{what} is not text")
    if len(value) > limit:
        raise DeckError(f"{what} has {len(value):,} characters, over the limit of {limit:,} ({limit_name} in engine/limits.py)")
    if one_line and re.search(r"[\r\n\u2028\u2029]", value):
        raise DeckError(f"{what} must be one line")
    return value


def check_params(params: Any, where: str = "") -> dict:
    """A view's URL state: known parameters only (dashboard/url_checks.py), each value checked as a
    link's would be. Returns it normalised (str, or a list of str where many values are allowed)."""
    if not isinstance(params, dict):
        raise DeckError(f"{where}params must be an object of URL parameters")
    out, lists = {}, {}
    for k, v in params.items():
        entry = url_checks.PARAMS.get(k) if isinstance(k, str) else None
        if entry is None or k in NOT_A_VIEW or k in NOT_IN_DECK:
            raise DeckError(f"{where}URL parameter {str(k)[:40]!r} is not part of a view")
        vals = v if isinstance(v, list) else [v]
        if not vals or not all(isinstance(x, str) for x in vals):
            raise DeckError(f"{where}URL parameter {k}: the value must be text (or a list of text)")
        many = entry[1]
        if len(vals) > 1 and not many:
            raise DeckError(f"{where}URL parameter {k}: given {len(vals)} times; give it once")
        out[k], lists[k] = (list(vals) if many else vals[0]), vals
    bad = url_checks.problems(lists)
    if bad:
        raise DeckError(f"{where}{bad[0]}")
    return out


def check_view(d: Any, where: str = "") -> View:
    if not isinstance(d, dict):
        raise DeckError(f"{where}not an object with page, params, title, note")
    extra = set(d) - _VIEW_KEYS
    if extra:
        raise DeckError(f"{where}unknown field {sorted(map(str, extra))[0][:40]!r} (a view has {', '.join(sorted(_VIEW_KEYS))})")
    page = d.get("page")
    if page not in PAGES:
        raise DeckError(f"{where}page {str(page)[:40]!r} is not one of {', '.join(PAGES)}")
    title = _text(d.get("title", ""), f"{where}title", engine.MAX_DECK_TITLE_CHARS, "MAX_DECK_TITLE_CHARS", True)
    note = _text(d.get("note", ""), f"{where}note", engine.MAX_DECK_NOTE_CHARS, "MAX_DECK_NOTE_CHARS", False)
    return View(page=page, params=check_params(d.get("params", {}), where), title=title or PAGES[page], note=note)


def from_dict(d: Any, name: str, read_only: bool = False) -> Deck:
    """A deck from its JSON value, every field checked."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise DeckError(f"deck {name}: not a seqscope deck (\"format\": \"{FORMAT}\" missing)")
    if d.get("version") != VERSION:
        raise DeckError(f"deck {name}: version {str(d.get('version'))[:20]} is not {VERSION}")
    views = d.get("views")
    if not isinstance(views, list):
        raise DeckError(f"deck {name}: views must be a list")
    if len(views) > engine.MAX_DECK_VIEWS:
        raise DeckError(f"deck {name}: {len(views)} views, over the limit of {engine.MAX_DECK_VIEWS} "
                        "(MAX_DECK_VIEWS in engine/limits.py)")
    title = _text(d.get("title", name), f"deck {name}: title", engine.MAX_DECK_TITLE_CHARS, "MAX_DECK_TITLE_CHARS", True)
    return Deck(name=name, title=title or name, read_only=read_only,
                views=tuple(check_view(v, f"deck {name}: view {i + 1}: ") for i, v in enumerate(views)))


def to_dict(deck: Deck) -> dict:
    return {"format": FORMAT, "version": VERSION, "title": deck.title,
            "views": [{"page": v.page, "params": v.params, "title": v.title, "note": v.note} for v in deck.views]}


def path_of(name: str) -> Path:
    return DEFAULT_FILE if name == DEFAULT else user_dir() / f"{check_name(name)}.json"


def load(name: str) -> Deck:
    """The default deck or a user's deck, read within MAX_DECK_BYTES and validated (DeckError otherwise)."""
    path = path_of(name)
    try:
        d = engine.read_json(path, engine.MAX_DECK_BYTES, engine.MAX_JSON_DEPTH, "MAX_DECK_BYTES")
    except FileNotFoundError:
        raise DeckError(f"deck {name}: no such deck ({path.name})") from None
    except (engine.UnsafeFile, ValueError) as e:
        raise DeckError(f"deck {name}: {str(e).splitlines()[0][:300]}") from None
    return from_dict(d, name, read_only=name == DEFAULT)


def save(deck: Deck) -> Path:
    """Write a user's deck atomically (validated first: what is saved can be read back)."""
    if deck.read_only or deck.name == DEFAULT:
        raise DeckError(f"deck {deck.name} is read-only: copy it under a new name to change it")
    d = to_dict(deck)
    from_dict(json.loads(json.dumps(d)), deck.name)
    path = user_dir() / f"{check_name(deck.name)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    engine.atomic_write_text(path, json.dumps(d, indent=2, ensure_ascii=False) + "\n")
    return path


def names() -> list[str]:
    """The default deck, then the user's decks (file names that are valid deck names)."""
    folder = user_dir()
    found = sorted(p.stem for p in folder.glob("*.json") if _NAME.fullmatch(p.stem) and p.stem != DEFAULT) \
        if folder.is_dir() else []
    return [DEFAULT] + found[:500]


def new(name: str, title: str = "") -> Deck:
    return Deck(name=check_name(name), title=_text(title or name, "title", engine.MAX_DECK_TITLE_CHARS,
                                                   "MAX_DECK_TITLE_CHARS", True))


# -- editing (pure: a new Deck) -------------------------------------------------------------------------

def _editable(deck: Deck) -> None:
    if deck.read_only:
        raise DeckError(f"deck {deck.name} is read-only: copy it under a new name to change it")


def _at(deck: Deck, i: int) -> int:
    if not 0 <= i < len(deck.views):
        raise DeckError(f"deck {deck.name} has no view {i + 1}")
    return i


def add(deck: Deck, view: View) -> Deck:
    _editable(deck)
    if len(deck.views) >= engine.MAX_DECK_VIEWS:
        raise DeckError(f"deck {deck.name} is full: {engine.MAX_DECK_VIEWS} views (MAX_DECK_VIEWS in engine/limits.py)")
    return replace(deck, views=deck.views + (view,))


def move(deck: Deck, i: int, delta: int) -> Deck:
    """View i moved up (delta -1) or down (+1); at either end it stays."""
    _editable(deck)
    j = min(max(_at(deck, i) + delta, 0), len(deck.views) - 1)
    views = list(deck.views)
    views.insert(j, views.pop(i))
    return replace(deck, views=tuple(views))


def remove(deck: Deck, i: int) -> Deck:
    _editable(deck)
    _at(deck, i)
    return replace(deck, views=deck.views[:i] + deck.views[i + 1:])


def edit(deck: Deck, i: int, *, title: Optional[str] = None, note: Optional[str] = None) -> Deck:
    _editable(deck)
    v = deck.views[_at(deck, i)]
    d = {"page": v.page, "params": v.params, "title": v.title if title is None else title,
         "note": v.note if note is None else note}
    views = list(deck.views)
    views[i] = check_view(d, f"view {i + 1}: ")
    return replace(deck, views=tuple(views))


def retitle(deck: Deck, title: str) -> Deck:
    """The deck's title (the Decks page's heading, the exported file's title); empty: its name."""
    _editable(deck)
    return replace(deck, title=_text(title.strip() or deck.name, "the deck's title", engine.MAX_DECK_TITLE_CHARS,
                                     "MAX_DECK_TITLE_CHARS", True))


def copy_as(deck: Deck, name: str) -> Deck:
    """A copy under a new name, titled by it (a copy of the curated tours is someone's own talk)."""
    return Deck(name=check_name(name), title=name, views=deck.views)


def view_from_url(page: str, query: dict, *, title: str = "", note: str = "", model: Optional[str] = None) -> View:
    """The current view (a page's url path and its query string as name -> list of values) as a deck
    view: how it is shown (presentation mode, download format, the deck being presented) is left out;
    the model is written even when it is the default, so the view stays the same if the default changes."""
    page = page or "compare"
    if page not in PAGES:
        raise DeckError(f"the {page} page cannot be a deck view (views: {', '.join(PAGES.values())})")
    if "trace" in query:
        raise DeckError("a view of an uploaded trace cannot be saved in a deck (the upload lasts as long as the server)")
    params = {k: (list(v) if url_checks.PARAMS.get(k, (None, False))[1] else v[-1])
              for k, v in query.items() if k not in NOT_A_VIEW and k not in NOT_IN_DECK and v}
    if model and "model" not in params:
        params["model"] = model
    return check_view({"page": page, "params": params, "title": title or PAGES[page], "note": note})


# -- links and presenting ---------------------------------------------------------------------------------

def url_path(page: str) -> str:
    return "" if page == "compare" else page


def link_params(view: View, *, deck: Optional[str] = None, at: Optional[int] = None, present: bool = False) -> dict:
    params = dict(view.params)
    if present:
        params["present"] = "true"
    if deck is not None and at is not None:
        params.update({"deck": deck, "at": str(at)})
    return params


def link(view: View, **kw) -> str:
    """The view as a relative URL ("/beam?model=...&beams=8")."""
    q = urlencode(link_params(view, **kw), doseq=True)
    return f"/{url_path(view.page)}" + (f"?{q}" if q else "")


def neighbours(deck: Deck, at: int) -> tuple[Optional[int], Optional[int]]:
    """The previous and next view of a deck being presented (None at either end)."""
    n = len(deck.views)
    return (at - 1 if at > 0 else None), (at + 1 if at + 1 < n else None)


def presenting(query: dict) -> Optional[tuple[Deck, int]]:
    """The deck and view index a link asks to present (?deck=NAME&at=I), or None (bad values: None)."""
    name, at = (query.get("deck") or [None])[-1], (query.get("at") or [None])[-1]
    if not name or at is None or not re.fullmatch(r"\d{1,3}", str(at)):
        return None
    try:
        d = load(name)
    except DeckError:
        return None
    return (d, int(at)) if int(at) < len(d.views) else None


def controls(page) -> None:
    """The deck controls around a page (dashboard/deck_bar.py): the presenter bar when the link
    presents a deck, else the sidebar's "add this view to a deck"."""
    from dashboard import deck_bar
    deck_bar.controls(page)


if __name__ == "__main__":          # python -m dashboard.deck export NAME (dashboard/deck_export.py)
    from dashboard import deck_export
    raise SystemExit(deck_export.main())
