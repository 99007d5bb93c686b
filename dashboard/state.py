"""Shared state of the dashboard: model/input/strategy controls bound to the URL, presets, cached
model loading and cached decoding runs, presentation mode, and error display.

Every control that defines a view lives in the URL, so a view is a bookmarkable link: the
page's own controls are widgets bound to a query parameter (`bind="query-params"`); the shared
sidebar controls are synced by hand (sync_from_url / sync_to_url) because a page switch drops
entrypoint bindings. Runs are cached with st.cache_data keyed by model, input and
config (as JSON), so changing a view control (step, layer, head) never re-decodes.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Optional

import streamlit as st

import engine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "dates-gru-attn"

# -- presets -----------------------------------------------------------------------------------
# Hugging Face names and semantics. Sampling presets carry a seed so that a link reproduces a view.
PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "beam 4": {"num_beams": 4},
    "beam 4 + length penalty": {"num_beams": 4, "length_penalty": 2.0},
    "sampling T=0.7": {"do_sample": True, "temperature": 0.7, "seed": 0},
    "top-k 40": {"do_sample": True, "top_k": 40, "seed": 0},
    "top-p 0.9": {"do_sample": True, "top_p": 0.9, "seed": 0},
    "min-p 0.1": {"do_sample": True, "min_p": 0.1, "seed": 0},
    "typical 0.9": {"do_sample": True, "typical_p": 0.9, "seed": 0},
    "repetition penalty 1.3": {"repetition_penalty": 1.3},
    "no-repeat-ngram 3": {"no_repeat_ngram_size": 3},
    "diverse beam": {"num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 1.0, "num_return_sequences": 4},
    "MBR": {"mbr": True, "do_sample": True, "mbr_num_samples": 16, "seed": 0},
}
CUSTOM = ["custom A", "custom B"]
CUSTOM_KEYS = {"custom A": "ca", "custom B": "cb"}
DEFAULT_STRATEGIES = ["greedy", "beam 4", "top-p 0.9"]

# max_new_tokens per task when the preset does not say: long enough for the task's outputs
TASK_MAX_NEW = {"dates": 16, "addition": 12, "text": 40, "hmm": 40}

# Default references for teacher forcing vs free running (examples without a computable gold)
DATE_REFS = {
    "3rd of March 2021": "2021-03-03", "Wednesday, March 3, 2021": "2021-03-03",
    "the third of march, two thousand twenty-one": "2021-03-03", "03/04/1999": "1999-03-04",
    "04.03.1999": "1999-03-04", "Wed 3 Mar 21": "2021-03-03", "July fourth, nineteen seventy-six": "1976-07-04",
    "25-Dec-2049": "2049-12-25", "19500101": "1950-01-01",
}
TEXT_REFS = {
    "The default value of": " the *key* argument is None, which means that the function is called with no arguments.",
    "A function is": " a callable object that returns a value when it is called with the given arguments.",
    "When the": " iterator is exhausted, the loop terminates and the *else* clause is executed.",
    "This module provides": " functions for working with files and directories in a portable way.",
}


# -- cached resources --------------------------------------------------------------------------

TRAINED_DIR = "runs/dashboard"                      # where the Train page saves checkpoints


def trained_models() -> list[str]:
    """Checkpoints saved by the Train page (runs/dashboard/<name>), as repository-relative paths."""
    folder = ROOT / TRAINED_DIR
    if not folder.is_dir():
        return []
    return sorted(f"{TRAINED_DIR}/{p.parent.name}" for p in folder.glob("*/config.json")
                  if (p.parent / "model.safetensors").exists())


def model_path(name: str) -> str:
    """What engine.load takes for a model name: a shipped name as it is, a trained checkpoint
    (runs/dashboard/NAME) as an absolute path, whatever the working directory."""
    return str(ROOT / name) if name.startswith(TRAINED_DIR + "/") else name


@st.cache_resource(show_spinner="Loading the model…")
def load_model(name: str):
    """engine.Bundle, loaded once per process; never mutated by the dashboard."""
    b = engine.load(model_path(name))
    b.model.eval()
    return b


@st.cache_data(show_spinner=False)
def shipped_names() -> list[str]:
    names = [m["name"] if isinstance(m, dict) else getattr(m, "name", str(m)) for m in engine.list_models()]
    return names or [DEFAULT_MODEL]


def model_names(trained: bool = True) -> list[str]:
    """The shipped models, then (unless trained=False) the checkpoints saved by the Train page
    (looked up on every call, so a model trained a moment ago is listed)."""
    return shipped_names() + (trained_models() if trained else [])


def forget_model(name: str) -> None:
    """Drop what is cached for a model whose checkpoint was just (re)written by the Train page."""
    load_model.clear(name)
    model_info.clear(name)
    examples.clear(name)
    run_generate.clear()
    run_tffr.clear()


@st.cache_data(show_spinner=False)
def model_info(name: str) -> dict:
    b = load_model(name)
    return {"name": name, "kind": b.kind, "task": b.task, "arch": b.config.get("arch"),
            "card": {k: b.card.get(k) for k in ("summary", "task_description", "parameters", "metrics")}}


@st.cache_data(show_spinner=False)
def examples(name: str) -> list[str]:
    from engine.tasks import get_task
    try:
        return list(get_task(model_info(name)["task"]).examples())
    except Exception:  # a checkpoint for a task this build does not know: fall back to its card
        samples = load_model(name).card.get("samples") or []
        return [s.split(" -> ")[0].split("|")[0] for s in samples][:8] or ["hello"]


@st.cache_data(show_spinner=False)
def default_reference(name: str, text: str) -> str:
    task = model_info(name)["task"]
    if task == "addition":
        from engine.tasks.addition import solve
        try:
            return solve(text)
        except Exception:
            return ""
    if task == "dates":
        if text in DATE_REFS:
            return DATE_REFS[text]
        try:
            from engine.tasks.dates import handwritten
            for ex in handwritten():
                if ex.src == text:
                    return ex.tgt
        except Exception:
            pass
        return ""
    if task == "hmm":
        from engine.tasks import get_task
        try:
            for s in get_task("hmm").oracle.sample(8, seed=2024):
                if s.startswith(text):
                    return s[len(text):]
        except Exception:
            pass
        return ""
    return TEXT_REFS.get(text, "")


def task_max_new(name: str) -> int:
    return TASK_MAX_NEW.get(model_info(name)["task"], 32)


def config_for(strategy: str, model: str) -> dict:
    """The GenerationConfig dict of a preset or a custom strategy (from the URL)."""
    if strategy in PRESETS:
        d = {"max_new_tokens": task_max_new(model)}
        d.update(PRESETS[strategy])
        return d
    if strategy in CUSTOM:
        raw = shared(CUSTOM_KEYS[strategy]) or ""
        d = {"max_new_tokens": task_max_new(model)}
        if raw.strip():
            try:
                user = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ValueError(f"{strategy}: the config is not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(user, dict):
                raise ValueError(f"{strategy}: the config must be a JSON object of GenerationConfig fields")
            d.update(user)
        return d
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {list(PRESETS) + CUSTOM}")


def validated_config(d: dict):
    return engine.GenerationConfig.from_dict(d)


def _record_options(record: dict):
    return engine.RecordOptions(**record)


DEFAULT_RECORD = {"top_k": 20, "layers": "all", "hidden_states": True, "attention": True}


@st.cache_data(show_spinner=False, max_entries=256)
def run_generate(model: str, text: str, config_json: str, record_json: str = "",
                 forced_json: str = "") -> dict:
    """One decoding run as a trace dict; cached by (model, input, config, recording, forcing)."""
    b = load_model(model)
    cfg = engine.GenerationConfig.from_dict(json.loads(config_json))
    record = json.loads(record_json) if record_json else DEFAULT_RECORD
    forced = json.loads(forced_json) if forced_json else None
    if forced is not None:
        forced = {int(k): v for k, v in forced.items()}
    tr = engine.generate(b, text, cfg, record=_record_options(record), forced_tokens=forced or None)
    return tr.to_dict()


@st.cache_data(show_spinner=False, max_entries=64)
def run_tffr(model: str, source: str, reference: str, config_json: str, forced_json: str = "") -> dict:
    b = load_model(model)
    cfg = engine.GenerationConfig.from_dict(json.loads(config_json))
    forced = json.loads(forced_json) if forced_json else None
    if forced is not None:
        forced = {int(k): v for k, v in forced.items()}
    cmp = engine.compare_tf_fr(b, source, reference, cfg, forced_tokens=forced or None)
    return cmp.to_dict()


def cfg_json(d: dict) -> str:
    return json.dumps(d, sort_keys=True)


# -- the shared sidebar controls (defined in app.py, so they persist across pages) --------------

def set_shared(key: str, value: Any) -> None:
    """Change a shared control from code (a callback): the canonical copy and the widget."""
    st.session_state.setdefault("_shared", {})[key] = value
    st.session_state[key] = value


def _changed(key: str) -> None:
    st.session_state.setdefault("_shared", {})[key] = st.session_state.get(key)


def _on_model_change() -> None:
    _changed("model")
    set_shared("input", "")


def _use_example() -> None:
    ex = st.session_state.get("_example")
    if ex:
        set_shared("input", ex)


def _shared_defaults(names: list[str]) -> dict[str, Any]:
    return {"model": DEFAULT_MODEL if DEFAULT_MODEL in names else names[0], "input": "",
            "s": list(DEFAULT_STRATEGIES), "ca": "", "cb": "", "present": False, "fmt": "png"}


def _url_repr(key: str, value: Any) -> Any:
    """How a shared control's value is written in the URL (None: left out, it is the default)."""
    if key == "s":
        value = list(value or [])
        return [str(x) for x in value] if value != DEFAULT_STRATEGIES else None
    if key == "present":
        return "true" if value else None
    if key == "model":
        return None if value == DEFAULT_MODEL else str(value)
    if key == "fmt":
        return None if value in (None, "png") else str(value)
    return str(value) if value else None


def _parse_url_value(key: str, raw: Any, names: list[str]) -> Any:
    if key == "s":
        vals = raw if isinstance(raw, list) else [raw]
        ok = [v for v in vals if v in PRESETS or v in CUSTOM]
        return list(dict.fromkeys(ok))[:4] or list(DEFAULT_STRATEGIES)
    if key == "present":
        return str(raw).lower() in ("true", "1", "yes")
    if key == "model":
        return raw if raw in names else None
    if key == "fmt":
        return raw if raw in ("png", "svg") else "png"
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
    defaults = _shared_defaults(names)
    shared = st.session_state.setdefault("_shared", {})
    if last is None or url != last:
        for k in SHARED_PARAMS:
            v = _parse_url_value(k, url[k], names) if k in url else None
            shared[k] = defaults[k] if v is None else v
    for k, v in defaults.items():
        shared.setdefault(k, v)
    if shared["model"] not in names:
        shared["model"] = defaults["model"]
    # The canonical values (changed only by the widgets' callbacks, set_shared and the URL) are
    # written into the widgets' keys before the widgets are drawn, on every run and every page.
    for k in SHARED_PARAMS:
        st.session_state[k] = shared[k]


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


def shared_controls() -> None:
    """Model, input, strategies, custom configs, presentation mode: in the sidebar, in the URL."""
    names = model_names()
    sync_from_url(names)
    with st.sidebar:
        st.selectbox("Model", names, key="model", persist_state="session", on_change=_on_model_change,
                     help="A shipped model: seq2seq (dates-*, addition-gru) or language model (text-gpt, hmm-gpt); "
                          "models trained on the Train page follow as runs/dashboard/NAME.")
        model = shared("model")
        exs = examples(model)
        st.text_input("Input", key="input", on_change=_changed, args=("input",), persist_state="session", placeholder=exs[0],
                      help="The source (seq2seq) or the prompt (language model). Empty: the first example.")
        st.selectbox("Examples for this model", exs, index=None, key="_example", on_change=_use_example,
                     placeholder="pick an example…")
        st.multiselect("Strategies (2–4)", list(PRESETS) + CUSTOM, key="s", on_change=_changed, args=("s",), persist_state="session", max_selections=4,
                       help="Presets, or 'custom A/B' set by hand on the Compare page (every GenerationConfig field).")
        with st.expander("Custom strategies (JSON)", expanded=False):
            st.caption("Set by the editor on the Compare page, or paste GenerationConfig fields as JSON.")
            st.text_input("custom A", key="ca", on_change=_changed, args=("ca",), persist_state="session", placeholder='{"num_beams": 3}')
            st.text_input("custom B", key="cb", on_change=_changed, args=("cb",), persist_state="session", placeholder='{"do_sample": true, "top_k": 5}')
        st.toggle("Presentation mode", key="present", on_change=_changed, args=("present",), persist_state="session",
                  help="Large fonts, no sidebar, one chart fills the screen. Add ?present=true to a link.")
        st.selectbox("Chart download format", ["png", "svg"], key="fmt", on_change=_changed, args=("fmt",), persist_state="session",
                     help="What the camera button in each chart's toolbar saves.")
    sync_to_url()


def shared(key: str) -> Any:
    """A shared control's value: the canonical copy (kept by the callbacks and the URL sync).
    When a run did not go through the sidebar (no canonical copy yet), the URL is read first."""
    d = st.session_state.get("_shared")
    if d is None:
        try:
            sync_from_url(model_names())
        except Exception:  # noqa: BLE001 - fall back to the defaults below
            pass
        d = st.session_state.get("_shared") or {}
    if key in d and d[key] is not None:
        return d[key]
    v = st.session_state.get(key)
    return v if v is not None else _shared_defaults([DEFAULT_MODEL]).get(key)


def current_model() -> str:
    return shared("model") or DEFAULT_MODEL


def current_input() -> str:
    text = shared("input") or ""
    return text if text.strip() else examples(current_model())[0]


def current_strategies() -> list[str]:
    s = shared("s")
    return list(s) if s else list(DEFAULT_STRATEGIES)


def presenting() -> bool:
    return bool(shared("present"))


def apply_presentation_css() -> None:
    if presenting():
        st.html("""<style>
        section[data-testid="stSidebar"], div[data-testid="stSidebarCollapsedControl"],
        header[data-testid="stHeader"] {display: none !important;}
        .block-container {max-width: 100% !important; padding-top: 1rem !important;}
        html, body, [class*="st-"], p, li, label {font-size: 1.35rem !important;}
        h1 {font-size: 2.6rem !important;} h2, h3 {font-size: 2rem !important;}
        </style>""")


def chart_config(name: str) -> dict:
    from dashboard.charts import plotly_config
    return plotly_config(f"seqscope-{name}", shared("fmt") or "png")


def plot(fig, name: str, **kw) -> None:
    """st.plotly_chart with explicit colours (theme=None) and the chosen download format."""
    if presenting() and "height" not in kw:
        fig.update_layout(height=max(fig.layout.height or 450, 650), font=dict(size=20),
                          title_font=dict(size=26))
        fig.update_traces(textfont_size=16, selector=dict(type="scatter"))
    st.plotly_chart(fig, theme=None, config=chart_config(name), key=kw.pop("key", None), **kw)


# -- runs with progress and errors -------------------------------------------------------------

def run_strategies(model: str, text: str, strategies: list[str], *, record: Optional[dict] = None
                   ) -> tuple[dict[str, dict], dict[str, str]]:
    """Decode `text` with each strategy (cached); progress while running; errors per strategy."""
    traces, errors = {}, {}
    record_json = json.dumps(record or DEFAULT_RECORD, sort_keys=True)
    bar = None
    for i, s in enumerate(strategies):
        try:
            cfg = config_for(s, model)
            validated_config(cfg)
        except (ValueError, TypeError) as e:
            errors[s] = one_line(e)
            continue
        if bar is None and len(strategies) > 1:
            bar = st.progress(0.0, text="Decoding…")
        if bar is not None:
            bar.progress(i / len(strategies), text=f"Decoding with {s}…")
        try:
            traces[s] = run_generate(model, text, cfg_json(cfg), record_json)
        except (ValueError, TypeError, KeyError) as e:
            errors[s] = one_line(e)
    if bar is not None:
        bar.empty()
    return traces, errors


def one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return (msg[0] if msg else type(e).__name__)[:400]


def guarded(fn: Callable[[], None]) -> None:
    """Run a page body: a user error shows st.error; an unexpected error shows a one-line
    st.error too (never a traceback on the page)."""
    import logging
    import traceback

    try:
        fn()
    except (ValueError, TypeError, KeyError) as e:
        if not isinstance(e, ValueError):   # a user error is a ValueError; anything else is logged
            logging.getLogger("seqscope.dashboard").error("page error\n%s", traceback.format_exc())
        st.error(f"{one_line(e)}")
    except Exception as e:  # noqa: BLE001 - the page must keep working
        if type(e).__name__ in ("RerunException", "StopException", "RerunData"):
            raise
        logging.getLogger("seqscope.dashboard").error("page error\n%s", traceback.format_exc())
        st.error(f"Something went wrong: {type(e).__name__}: {one_line(e)}")


# -- picking one run (for the inspector, attention, beam pages) --------------------------------

UPLOADED = "uploaded trace"
PAGE_OBJECTS: dict = {}   # url path -> st.Page, filled by app.py (links to Page objects stay in the session)


def page_ref(path: str):
    """The st.Page for 'views/step.py' when app.py registered it, else the path itself."""
    name = Path(path).stem
    return PAGE_OBJECTS.get(name, path)


@st.cache_resource
def _upload_store() -> dict:
    """Uploaded traces by content hash, for this server's lifetime (the last 16): a link with
    ?trace=<hash> shows an uploaded trace on any page, in any session of this server."""
    return {}


def remember_upload(tr: dict) -> str:
    import hashlib

    key = hashlib.sha256(json.dumps(tr, sort_keys=True).encode()).hexdigest()[:16]
    store = _upload_store()
    store[key] = tr
    while len(store) > 16:
        store.pop(next(iter(store)))
    st.session_state["uploaded_trace"] = tr
    st.session_state["uploaded_key"] = key
    return key


def uploaded_trace() -> Optional[dict]:
    tr = st.session_state.get("uploaded_trace")
    if tr is not None:
        return tr
    key = st.query_params.get("trace")
    if key and key in _upload_store():
        st.session_state["uploaded_trace"] = _upload_store()[key]
        st.session_state["uploaded_key"] = key
        return st.session_state["uploaded_trace"]
    return None


def run_options() -> list[str]:
    opts = list(current_strategies())
    for p in PRESETS:
        if p not in opts:
            opts.append(p)
    if uploaded_trace() is not None:
        opts.insert(0, UPLOADED)
    return opts


def get_run(choice: str, *, record: Optional[dict] = None) -> dict:
    if choice == UPLOADED:
        tr = uploaded_trace()
        if tr is None:
            raise ValueError("no trace uploaded: upload one on the Traces page")
        return tr
    model, text = current_model(), current_input()
    cfg = config_for(choice, model)
    validated_config(cfg)
    with st.spinner(f"Decoding with {choice}…"):
        return run_generate(model, text, cfg_json(cfg), json.dumps(record or DEFAULT_RECORD, sort_keys=True))


def fmt_score(x: Optional[float]) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.3f}"


SHARED_PARAMS = ("model", "input", "s", "ca", "cb", "present", "fmt")


def link_params(**extra: Any) -> dict:
    """The current shared URL state plus page-specific params: for st.page_link / st.switch_page."""
    params: dict[str, Any] = {}
    for k in SHARED_PARAMS:
        v = _url_repr(k, shared(k))
        if v is not None:
            params[k] = v
    params.update({k: str(v) for k, v in extra.items() if v is not None})
    return params


def altair(chart, **kw):
    """Show an Altair chart with explicit colours (theme=None). The spec is produced without
    re-validating the inline data record by record (the builders are validated in the unit tests),
    which keeps a page with a large heatmap fast."""
    spec = chart.to_dict(validate=False)
    return st.vega_lite_chart(spec, theme=None, **kw)
