"""The sidebar around every page: the page links and the shared controls (model, input, strategies,
custom configs, presentation mode, chart format; drawn by run_app in the entrypoint so they persist
across pages, kept in the URL by url_state), what they currently say, and the runs they define: a
strategy name resolved to a GenerationConfig dict (an engine preset or a custom JSON config),
decoded through the cached runs."""
from __future__ import annotations

import json
from typing import Optional

import streamlit as st

import engine
from dashboard import budget, deck, display, hf_picker, preload, runs, url_checks, url_state
from dashboard.display import one_line
from dashboard.url_state import CUSTOM, CUSTOM_KEYS, changed, set_shared, shared


def _on_model_change() -> None:
    changed("model")
    set_shared("input", "")


def _use_example() -> None:
    ex = st.session_state.get("_example")
    if ex:
        set_shared("input", ex)


def shared_controls() -> None:
    """Model, input, strategies, custom configs, presentation mode: in the sidebar, in the URL."""
    names = runs.model_names()
    url_state.sync_from_url(names)
    with st.sidebar:
        label = hf_picker.labels(names)
        st.selectbox("Model", names, key="model", persist_state="session", on_change=_on_model_change,
                     format_func=lambda n: label.get(n, n),
                     help="A shipped model: seq2seq (dates-*, addition-gru) or language model (text-gpt, hmm-gpt); "
                          "models trained on the Train page follow as runs/dashboard/NAME, then Hugging Face "
                          "models (hf:...) from the local cache or opened in the box below.")
        hf_picker.open_box(runs.load_model)
        exs = runs.examples(shared("model"))
        st.text_input("Input", key="input", on_change=changed, args=("input",), persist_state="session",
                      placeholder=exs[0], help="The source (seq2seq) or the prompt (language model). "
                                               "Empty: the first example.")
        st.selectbox("Examples for this model", exs, index=None, key="_example", on_change=_use_example,
                     placeholder="pick an example…")
        st.multiselect("Strategies (2–4)", url_state.strategy_names(), key="s", on_change=changed, args=("s",),
                       persist_state="session", max_selections=4,
                       help="Presets, or 'custom A/B' set by hand on the Compare page (every GenerationConfig field).")
        with st.expander("Custom strategies (JSON)", expanded=False):
            st.caption("Set by the editor on the Compare page, or paste GenerationConfig fields as JSON.")
            st.text_input("custom A", key="ca", on_change=changed, args=("ca",), persist_state="session",
                          placeholder='{"num_beams": 3}')
            st.text_input("custom B", key="cb", on_change=changed, args=("cb",), persist_state="session",
                          placeholder='{"do_sample": true, "top_k": 5}')
        st.toggle("Presentation mode", key="present", on_change=changed, args=("present",), persist_state="session",
                  help="Large fonts, no sidebar, one chart fills the screen. Add ?present=true to a link.")
        st.selectbox("Chart theme", url_state.THEMES, key="theme", on_change=changed, args=("theme",),
                     persist_state="session", help="light, dark or high-contrast charts (a projector in a bright room: "
                                                   "high-contrast). Add ?theme=dark to a link.")
        st.selectbox("Chart download format", ["png", "svg"], key="fmt", on_change=changed, args=("fmt",),
                     persist_state="session", help="What the camera button in each chart's toolbar saves.")
    url_state.sync_to_url()


def run_app(pages: list) -> None:
    """The app around the pages: the shared controls, the page links (drawn by hand, st.navigation's
    own menu is hidden, so that every link carries the shared URL state: switching pages keeps the
    model, input and strategies), presentation mode, then the chosen page."""
    with st.sidebar:
        preload.emit()          # the chart libraries' code, loading while the page draws (dashboard/preload.py)
    nav_box = st.sidebar.container()
    try:
        bad = url_checks.checked(st.query_params)     # before anything reads the URL
        shared_controls()
    except Exception as e:  # noqa: BLE001 - e.g. no shipped models: say so, never a traceback
        display.error(f"The dashboard could not start: {one_line(e)}")
        st.stop()
    display.PAGE_OBJECTS.update({p.url_path or "compare": p for p in pages})
    page = st.navigation(pages, position="hidden")
    if not url_state.presenting():
        with nav_box:
            params = url_state.link_params()
            for p in pages:
                st.page_link(p, query_params=params)
            st.divider()
    display.apply_presentation_css()
    if bad:
        for line in bad:
            display.error(line)
        st.info("Nothing was run for this link. Fix the parameter in the address bar, or open a page from the "
                "sidebar (its links keep only the valid settings).")
        return
    deck.controls(page)         # the deck presenter bar and "add this view to a deck" (dashboard/deck.py)
    page.run()


def current_model() -> str:
    return shared("model") or runs.DEFAULT_MODEL


def current_input() -> str:
    text = shared("input") or ""
    return text if text.strip() else runs.examples(current_model())[0]


def current_strategies() -> list[str]:
    """The chosen strategies; [] after "Clear all" (a page then says "pick a strategy")."""
    return list(shared("s") or [])


# -- strategies -> configs -> runs -------------------------------------------------------------

def _not_a_number(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _custom_json(strategy: str, raw: str) -> dict:
    """A custom strategy's JSON (from the URL or the sidebar), read within the size and nesting limits."""
    try:
        url_checks.check_custom_json(raw)
        user = json.loads(raw, parse_constant=_not_a_number)
    except url_checks.BadParam as e:
        raise engine.LimitError(f"{strategy}: the config is {e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{strategy}: the config is not valid JSON ({e.msg} at column {e.colno})") from None
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{strategy}: the config is not valid JSON ({one_line(e)[:100]})") from None
    if not isinstance(user, dict):
        raise ValueError(f"{strategy}: the config must be a JSON object of GenerationConfig fields")
    return user


def config_for(strategy: str, model: str) -> dict:
    """The GenerationConfig dict of a preset or a custom strategy (from the URL); not yet checked."""
    d = {"max_new_tokens": runs.task_max_new(model)}
    if strategy in engine.PRESETS:
        d.update(engine.PRESETS[strategy])
        return d
    if strategy in CUSTOM:
        raw = shared(CUSTOM_KEYS[strategy]) or ""
        if raw.strip():
            d.update(_custom_json(strategy, raw))
        return d
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {url_state.strategy_names()}")


def checked_config(strategy: str, model: str, text: str, record: Optional[dict] = None) -> dict:
    """config_for, checked before any work: the engine's validation (one line naming the field), then
    the dashboard's work budget for this input and recording (engine.LimitError naming DASHBOARD_MAX_WORK)."""
    cfg = config_for(strategy, model)
    engine.GenerationConfig.from_dict(cfg)    # a one-line ValueError when invalid
    budget.check(cfg, model=model, text=text, record=record or runs.DEFAULT_RECORD)
    return cfg


def _record_json(record: Optional[dict]) -> str:
    return json.dumps(record or runs.DEFAULT_RECORD, sort_keys=True)


def run_strategies(model: str, text: str, strategies: list[str], *, record: Optional[dict] = None
                   ) -> tuple[dict[str, dict], dict[str, str]]:
    """Decode `text` with each strategy (cached); progress at every step while decoding (cancellable);
    errors per strategy."""
    traces, errors = {}, {}
    bar = display.Progress(len(strategies))
    try:
        for i, s in enumerate(strategies):
            try:
                cfg = checked_config(s, model, text, record)
                traces[s] = runs.run_generate(model, text, runs.cfg_json(cfg), _record_json(record),
                                              progress=bar.callback(i, f"Decoding with {s}"))
            except (ValueError, TypeError, KeyError) as e:
                errors[s] = one_line(e)
    finally:
        bar.done()
    return traces, errors


def error_lines(errors: dict[str, str], strategies: list[str]) -> list[str]:
    """The strategies' errors, each message once, after the names of the strategies it concerns; a
    message every chosen strategy shares (too long an input, say) is shown alone."""
    by_msg: dict[str, list[str]] = {}
    for s, msg in errors.items():
        by_msg.setdefault(msg, []).append(s)
    return [msg if len(names) > 1 and set(names) == set(strategies) else f"{', '.join(names)}: {msg}"
            for msg, names in by_msg.items()]


def follow_labels(key: str, labels: list[str]) -> None:
    """Before a choice box (`key`, options 0..n-1 shown as `labels`) is drawn: when its labels changed
    (another run, a new search), send its choice again. With the same key and the same option values,
    Streamlit keeps the widget and the browser keeps showing the old label (issue 13, bug 3)."""
    seen = f"_labels_{key}"
    if st.session_state.get(seen) != labels and st.session_state.get(key) is not None:
        st.session_state[key] = min(int(st.session_state[key]), max(len(labels) - 1, 0))
    st.session_state[seen] = labels


def run_options() -> list[str]:
    """The runs a single-run page offers: the sidebar's strategies, the other presets, and the
    uploaded trace first when there is one."""
    opts = list(current_strategies())
    opts += [p for p in engine.PRESETS if p not in opts]
    if runs.uploaded_trace() is not None:
        opts.insert(0, runs.UPLOADED)
    return opts


def get_run(choice: str, *, record: Optional[dict] = None) -> dict:
    """The trace dict of one of run_options() on the current model and input."""
    if choice == runs.UPLOADED:
        tr = runs.uploaded_trace()
        if tr is None:
            raise ValueError("no trace uploaded: upload one on the Traces page")
        return tr
    model, text = current_model(), current_input()
    cfg = checked_config(choice, model, text, record)
    bar = display.Progress()
    try:
        return runs.run_generate(model, text, runs.cfg_json(cfg), _record_json(record),
                                 progress=bar.callback(0, f"Decoding with {choice}"))
    finally:
        bar.done()
