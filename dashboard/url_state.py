"""The dashboard's shared state in the URL: every control that defines a view lives in the query
string, so a view is a bookmarkable link.

A page's own controls are widgets bound to a query parameter (`bind="query-params"`). The shared
sidebar controls (SHARED_PARAMS: model, input, strategies, custom configs, presentation mode, chart
format) are synced by hand (sync_from_url / sync_to_url) because a page switch drops entrypoint
bindings; their canonical copy is `st.session_state["_shared"]`, changed only by the widgets'
callbacks, set_shared and the URL.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

import engine
from dashboard import runs

SHARED_PARAMS = ("model", "input", "s", "ca", "cb", "present", "fmt", "theme")
THEMES = ("light", "dark", "high-contrast")           # the charts' themes (dashboard.charts.style.THEMES)
DEFAULT_STRATEGIES = ["greedy", "beam 4", "top-p 0.9"]
CUSTOM = ["custom A", "custom B"]                    # strategies set by hand, as JSON in ?ca= / ?cb=
CUSTOM_KEYS = {"custom A": "ca", "custom B": "cb"}


def strategy_names() -> list[str]:
    """What the strategies control (?s=) may hold: the engine's presets, then the custom ones."""
    return list(engine.PRESETS) + CUSTOM


def set_shared(key: str, value: Any) -> None:
    """Change a shared control from code (a callback): the canonical copy and the widget."""
    st.session_state.setdefault("_shared", {})[key] = value
    st.session_state[key] = value


def changed(key: str) -> None:
    """A shared widget's on_change: its value becomes the canonical copy."""
    st.session_state.setdefault("_shared", {})[key] = st.session_state.get(key)


def _defaults(names: list[str]) -> dict[str, Any]:
    model = runs.DEFAULT_MODEL if runs.DEFAULT_MODEL in names else names[0]
    return {"model": model, "input": "", "s": list(DEFAULT_STRATEGIES), "ca": "", "cb": "",
            "present": False, "fmt": "png", "theme": "light"}


def _url_repr(key: str, value: Any) -> Any:
    """How a shared control's value is written in the URL (None: left out, it is the default)."""
    if key == "s":
        value = list(value or [])     # none chosen ("Clear all"): kept in the session, left out of the URL
        return [str(x) for x in value] if value and value != DEFAULT_STRATEGIES else None
    if key == "present":
        return "true" if value else None
    if key == "model":
        return None if value == runs.DEFAULT_MODEL else str(value)
    if key == "fmt":
        return None if value in (None, "png") else str(value)
    if key == "theme":
        return None if value in (None, "light") else str(value)
    return str(value) if value else None


def _parse_url_value(key: str, raw: Any, names: list[str]) -> Any:
    if key == "s":
        vals = raw if isinstance(raw, list) else [raw]
        ok = [v for v in vals if v in strategy_names()]
        return list(dict.fromkeys(ok))[:4] or list(DEFAULT_STRATEGIES)
    if key == "present":
        return str(raw).lower() in ("true", "1", "yes")
    if key == "model":
        return raw if raw in names else None
    if key == "fmt":
        return raw if raw in ("png", "svg") else "png"
    if key == "theme":
        return raw if raw in THEMES else "light"
    return str(raw)


def sync_from_url(names: list[str]) -> None:
    """Seed the shared controls from the URL on a new session, or when a link changed the URL
    (a tour, a bookmark); otherwise the session's values stand. These controls live in the
    entrypoint and are synced by hand: Streamlit's own binding drops them on a page switch."""
    qp = st.query_params
    url = {}
    for k in SHARED_PARAMS:
        if k in qp:
            url[k] = qp.get_all(k) if k == "s" else qp.get(k)
    last = st.session_state.get("_url_state")
    defaults = _defaults(names)
    shared_ = st.session_state.setdefault("_shared", {})
    if last is None or url != last:
        for k in SHARED_PARAMS:
            v = _parse_url_value(k, url[k], names) if k in url else None
            shared_[k] = defaults[k] if v is None else v
    for k, v in defaults.items():
        shared_.setdefault(k, v)
    if shared_["model"] not in names:
        shared_["model"] = defaults["model"]
    # The canonical values are written into the widgets' keys before the widgets are drawn, on
    # every run and every page.
    for k in SHARED_PARAMS:
        st.session_state[k] = shared_[k]


def sync_to_url() -> None:
    """Write the shared controls' non-default values into the URL (so the view is a link)."""
    written = {}
    for k in SHARED_PARAMS:
        v = _url_repr(k, shared(k))
        if v is None:
            if k in st.query_params:
                del st.query_params[k]
        else:
            written[k] = v
            if (st.query_params.get_all(k) if k == "s" else st.query_params.get(k)) != v:
                st.query_params[k] = v
    st.session_state["_url_state"] = written


def shared(key: str) -> Any:
    """A shared control's value: the canonical copy (kept by the callbacks and the URL sync).
    When a run did not go through the sidebar (no canonical copy yet), the URL is read first."""
    d = st.session_state.get("_shared")
    if d is None:
        try:
            sync_from_url(runs.model_names())
        except Exception:  # noqa: BLE001 - fall back to the defaults below
            pass
        d = st.session_state.get("_shared") or {}
    if key in d and d[key] is not None:
        return d[key]
    v = st.session_state.get(key)
    return v if v is not None else _defaults([runs.DEFAULT_MODEL]).get(key)


def presenting() -> bool:
    """Presentation mode: large fonts, no sidebar, one chart fills the screen."""
    return bool(shared("present"))


def link_params(**extra: Any) -> dict:
    """The current shared URL state plus page-specific params: for st.page_link / st.switch_page."""
    params: dict[str, Any] = {}
    for k in SHARED_PARAMS:
        v = _url_repr(k, shared(k))
        if v is not None:
            params[k] = v
    params.update({k: str(v) for k, v in extra.items() if v is not None})
    return params
