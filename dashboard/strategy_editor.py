"""The custom-strategy editor (custom A / custom B on the Compare page): one widget per row of the
engine's table of generation parameters (engine.GENERATION_FIELDS), so a parameter added to the
table appears here with no other edit. Applying a form writes the non-default fields as JSON into
the shared ?ca= / ?cb= controls and adds the strategy to the sidebar's choice."""
from __future__ import annotations

import json
from typing import Any

import streamlit as st

import engine
from dashboard import budget, display, runs, sidebar, url_state
from dashboard.display import one_line


def _widget_value(f, key: str) -> Any:
    """A field's value from its widget; optional numbers are typed as text (blank: None)."""
    v = st.session_state.get(f"edit_{key}.{f.name}")
    if not f.optional:
        return v
    v = str(v or "").strip()
    if not v:
        return None
    try:
        return int(v) if f.kind == "optint" else float(v)
    except ValueError:
        raise ValueError(f"{f.name}: {v!r} is not a number") from None


def _apply(slot: str) -> None:
    key = url_state.CUSTOM_KEYS[slot]
    out = {}
    try:
        for f in engine.GENERATION_FIELDS:
            v = _widget_value(f, key)
            if f.name == "max_new_tokens" or v != f.default:
                out[f.name] = v
        engine.GenerationConfig.from_dict(out)
        budget.check(out, model=sidebar.current_model(), text=sidebar.current_input(),
                     record=runs.DEFAULT_RECORD)    # refused here already, not only when it would run
    except (ValueError, TypeError) as e:
        st.session_state[f"_edit_err_{key}"] = one_line(e)
        return
    st.session_state[f"_edit_err_{key}"] = ""
    url_state.set_shared(key, json.dumps(out, separators=(",", ":")))
    chosen = list(url_state.shared("s") or [])
    if slot not in chosen and len(chosen) < 4:
        url_state.set_shared("s", chosen + [slot])


def _widget(f, wkey: str, val: Any) -> None:
    """The widget of one field, seeded with `val` (the current custom config or the default)."""
    help_ = f"{f.help}. Allowed: {f.allowed()}."
    if f.kind == "bool":
        st.session_state.setdefault(wkey, bool(val))
        st.checkbox(f.name, key=wkey, help=help_)
    elif f.kind == "int":
        st.session_state.setdefault(wkey, int(val if val is not None else 0))
        st.number_input(f.name, key=wkey, step=1, min_value=0, help=help_)
    elif f.kind == "float":
        st.session_state.setdefault(wkey, float(val if val is not None else 0.0))
        st.number_input(f.name, key=wkey, step=0.05, format="%.3f", help=help_)
    elif f.optional:
        st.session_state.setdefault(wkey, "" if val is None else str(val))
        st.text_input(f.name, key=wkey, help=help_, placeholder=f.none)
    else:                                                    # choice, early_stopping
        opts = list(f.choices)
        st.session_state.setdefault(wkey, val if any(type(val) is type(o) and val == o for o in opts) else opts[0])
        st.selectbox(f.name, opts, key=wkey, help=help_, format_func=lambda o: json.dumps(o))


def custom_editor(model: str) -> None:
    """Tabs custom A / custom B, each a form over every generation parameter."""
    for slot, tab in zip(url_state.CUSTOM, st.tabs(url_state.CUSTOM, key="_editor_tab", on_change="rerun")):
        key = url_state.CUSTOM_KEYS[slot]
        with tab:
            if not tab.open:        # only the chosen tab's form is drawn (the home page's first visit: bench/dashboard.py)
                continue
            try:
                current = sidebar.config_for(slot, model)
            except ValueError as e:
                display.error(one_line(e))
                current = {"max_new_tokens": runs.task_max_new(model)}
            with st.form(f"form_{key}"):
                cols = st.columns(4)
                for i, f in enumerate(engine.GENERATION_FIELDS):
                    with cols[i % 4]:
                        _widget(f, f"edit_{key}.{f.name}", current.get(f.name, f.default))
                st.form_submit_button(f"Apply {slot}", on_click=_apply, args=(slot,), type="primary")
            err = st.session_state.get(f"_edit_err_{key}")
            if err:
                display.error(err)
