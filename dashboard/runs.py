"""Cached engine calls of the dashboard: the model loaded once per process, decoding runs and
teacher-forcing comparisons cached by (model, input, config as JSON), the lab's analyses and
experiment results, and the store of uploaded traces.

Every function here is a thin st.cache_* wrapper over the engine's public face (`engine.X`); the
knowledge (models, tasks, references, presets) lives in the engine. Changing a view control (a step,
a layer, a head) never re-decodes: the run is cached by the arguments that define it.

A decoding run is computed outside its st.cache_data function (which only stores and returns results,
`_stored`), so the run can report progress on the page at every step and be cancelled there: Streamlit
stops a script at its next st call, which the progress callback makes. One session computes a given run
at a time; another asking for the same run waits for it (and can still be stopped while waiting).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import marshal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import streamlit as st

import engine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "dates-gru-attn"
DEFAULT_RECORD = {"top_k": 20, "layers": "all", "hidden_states": True, "attention": True}
UPLOADED = "uploaded trace"


def cfg_json(d: dict) -> str:
    return json.dumps(d, sort_keys=True)


# -- models ------------------------------------------------------------------------------------

def is_trained(name: str) -> bool:
    """A checkpoint trained on the Train page (runs/dashboard/NAME), not a shipped model."""
    return name.startswith(engine.TRAINED_DIR + "/")


def model_path(name: str) -> str:
    """What engine.load takes for a model name: a shipped name as it is, a trained checkpoint
    (runs/dashboard/NAME) as an absolute path, whatever the working directory."""
    return str(ROOT / name) if is_trained(name) else name


@st.cache_resource(show_spinner="Loading the model…")
def load_model(name: str):
    """engine.Bundle, loaded once per process; never mutated by the dashboard. An hf: model opened with a
    device or precision has them in its name (dashboard/hf_picker.py: "hf:gpt2 [bfloat16]"), so each
    (model, device, dtype) is loaded, cached and run apart."""
    spec, options = engine.split_hf_name(name)
    b = engine.load(model_path(spec), **options)
    b.model.eval()
    return b


@st.cache_data(show_spinner=False)
def shipped_names() -> list[str]:
    names = [m["name"] if isinstance(m, dict) else getattr(m, "name", str(m)) for m in engine.list_models()]
    return names or [DEFAULT_MODEL]


def model_names(trained: bool = True) -> list[str]:
    """The shipped models, then (unless trained=False) the checkpoints saved by the Train page (looked up
    on every call, so a model trained a moment ago is listed) and the Hugging Face models: the local
    cache's and the folders opened from the sidebar's box (dashboard/hf_picker.py)."""
    if not trained:
        return shipped_names()
    from dashboard import hf_picker                 # the local Hugging Face cache, and folders opened here
    return shipped_names() + engine.trained_models() + hf_picker.names()


def forget_model(name: str) -> None:
    """Drop what is cached for a model whose checkpoint was just (re)written by the Train page."""
    load_model.clear(name)
    model_info.clear(name)
    examples.clear(name)
    _stored.clear()


@st.cache_data(show_spinner=False)
def model_info(name: str) -> dict:
    b = load_model(name)
    return {"name": name, "kind": b.kind, "task": b.task, "arch": b.config.get("arch"),
            "card": {k: b.card.get(k) for k in ("summary", "task_description", "tokenizer", "parameters",
                                                            "metrics")}}


def _task(name: str):
    """The engine's Task of a model, or None for a task this build does not know."""
    try:
        return engine.get_task(model_info(name)["task"])
    except ValueError:
        return None


@st.cache_data(show_spinner=False)
def examples(name: str) -> list[str]:
    try:
        return list(_task(name).examples())
    except Exception:  # noqa: BLE001 - a task this build does not know: fall back to the card
        pass
    samples = load_model(name).card.get("samples") or []
    return [s.split(" -> ")[0].split("|")[0] for s in samples][:8] or ["hello"]


@st.cache_data(show_spinner=False)
def default_reference(name: str, text: str) -> str:
    """The task's reference output for an input (engine Task.reference), or "" when it has none."""
    task = _task(name)
    return (task.reference(text) if task is not None else None) or ""


def task_max_new(name: str) -> int:
    """max_new_tokens when a strategy does not say: long enough for the task's outputs."""
    task = _task(name)
    return task.max_new_tokens if task is not None else 32


# -- decoding runs -----------------------------------------------------------------------------

Progress = Callable[[int, int], None]      # (steps done, steps at most): called at every decoding step


class _Miss(Exception):
    """Not in the cache (never cached itself: st.cache_data keeps only returned values)."""


@st.cache_data(show_spinner=False, max_entries=256, max_size="1GB")
def _stored(key: str, _value: Optional[dict] = None) -> dict:
    """The cache of decoding runs by key: a lookup (no value) of a key not stored raises _Miss; a
    store passes the value, which is returned and kept. Bounded in entries and in bytes."""
    if _value is None:
        raise _Miss(key)
    return _value


@st.cache_resource
def _key_locks() -> tuple[threading.Lock, dict]:
    return threading.Lock(), {}


@contextmanager
def _computing(key: str, waiting: Optional[Progress]) -> Iterator[None]:
    """One computation of a key at a time across sessions; `waiting` is called while another session
    holds it (its st call lets Streamlit stop this script)."""
    guard, locks = _key_locks()
    with guard:
        lock = locks.setdefault(key, threading.Lock())
    while not lock.acquire(timeout=0.2):
        if waiting is not None:
            waiting(0, 0)
    try:
        yield
    finally:
        lock.release()
        with guard:
            if not lock.locked():
                locks.pop(key, None)


def _cached(key: str, compute: Callable[[], dict], progress: Optional[Progress]) -> dict:
    try:
        return _stored(key)
    except _Miss:
        pass
    with _computing(key, progress):
        try:
            return _stored(key)               # another session computed it meanwhile
        except _Miss:
            return _stored(key, compute())


def _forced(forced_json: str) -> Optional[dict]:
    """The forced tokens of a run ({step: token}) from their JSON, or None."""
    forced = json.loads(forced_json) if forced_json else None
    return {int(k): v for k, v in forced.items()} if forced else None


def run_generate(model: str, text: str, config_json: str, record_json: str = "", forced_json: str = "",
                 progress: Optional[Progress] = None) -> dict:
    """One decoding run as a trace dict; cached by (model, input, config, recording, forcing).
    `progress(done, total)` is called at every step while it decodes. The engine refuses a run over
    the dashboard's budget (DASHBOARD_MAX_WORK) before any model call (the pages check it first)."""
    def compute() -> dict:
        cfg = engine.GenerationConfig.from_dict(json.loads(config_json))
        record = json.loads(record_json) if record_json else DEFAULT_RECORD
        tr = engine.generate(load_model(model), text, cfg, record=engine.RecordOptions(**record),
                             forced_tokens=_forced(forced_json), budget=engine.DASHBOARD_MAX_WORK, progress=progress)
        return tr.to_dict()
    return _cached(json.dumps(["generate", model, text, config_json, record_json, forced_json]), compute, progress)


def run_tffr(model: str, source: str, reference: str, config_json: str, forced_json: str = "",
             progress: Optional[Progress] = None) -> dict:
    """engine.compare_tf_fr as a dict; cached like run_generate, and refused like it over the dashboard's
    budget (DASHBOARD_MAX_WORK) before any model call."""
    def compute() -> dict:
        cfg = engine.GenerationConfig.from_dict(json.loads(config_json))
        return engine.compare_tf_fr(load_model(model), source, reference, cfg, forced_tokens=_forced(forced_json),
                                    budget=engine.DASHBOARD_MAX_WORK).to_dict()
    return _cached(json.dumps(["tffr", model, source, reference, config_json, forced_json]), compute, progress)


# -- figures -----------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=512, max_size="256MB")
def _figure_dict(key: str, _build: Callable[..., Any], _args: tuple, _kw: dict, _wide: bool = True) -> Optional[dict]:
    fig = _build(*_args, **_kw)
    # styled for the width the page draws it at (builders style for the main column; one of two side by side is
    # styled again here, once), so display.plot's finish is a no-op
    return None if fig is None else _style().finish(fig, wide=_wide).to_dict()


def _style():
    return importlib.import_module("dashboard.charts.style")   # (the package's name `style` is a function)


def _content_key(name: str, build: Callable[..., Any], args: tuple, kw: dict) -> str:
    """A chart's identity: the builder (where it is defined, its defaults and closure), the arguments as
    JSON, and the chart theme and presentation mode it is styled for."""
    style = _style()
    code = getattr(build, "__code__", None)
    ident = [name, getattr(build, "__module__", ""), getattr(build, "__qualname__", ""),
             [code.co_filename, code.co_firstlineno] if code else repr(build), getattr(build, "__defaults__", None),
             [c.cell_contents for c in (getattr(build, "__closure__", None) or ())],
             args, kw, style.current_theme(), style.presenting()]
    # marshal version 2 (no back-references), not pickle: equal data gives equal bytes (pickle's memo differs
    # between a fresh trace and a cached copy), 7x faster than JSON (the home page's three runs: 5 vs 38 ms).
    # What marshal cannot say goes through JSON, with repr, which for a function holds its address (no reuse)
    try:
        blob = b"m" + marshal.dumps(ident, 2)
    except ValueError:
        blob = b"j" + json.dumps(ident, sort_keys=True, default=repr).encode()
    return hashlib.blake2b(blob, digest_size=20).hexdigest()


def figure(name: str, build: Callable[..., Any], *args: Any, wide: bool = True, **kw: Any):
    """`build(*args, **kw)` (a chart builder: data in, finished Plotly figure out), cached across sessions by
    its content (_content_key). A new session opening a view finds the figures built (building and styling
    them was most of a page's script time: bench/dashboard.py). Returns a new go.Figure each call, which the
    caller may change (None when the builder has nothing to draw); it is rebuilt from the cached dict without
    Plotly's validation (the dict came from a validated figure; validating it again took 7-9 ms a chart).
    wide: False for one of two charts side by side; the figure is styled for it, and display.plot keeps
    that width, so it does not style it again (20-35 ms a chart)."""
    import plotly.graph_objects as go

    d = _figure_dict(_content_key(name, build, args, kw) + ("" if wide else "-half"), build, args, kw, wide)
    return None if d is None else go.Figure(d, _validate=False)


@st.cache_data(show_spinner=False, max_entries=256, max_size="256MB")
def _vega_spec(key: str, _build: Callable[..., Any], _args: tuple, _kw: dict) -> Optional[dict]:
    chart = _build(*_args, **_kw)
    if chart is None:
        return None
    style = _style()
    return style.alt_finish(chart, presenting=style.presenting(), theme_name=style.current_theme()).to_dict(
        validate=False)


def vega(name: str, build: Callable[..., Any], *args: Any, **kw: Any) -> Optional[dict]:
    """An Altair chart builder's chart as the finished Vega-Lite spec display.altair draws (the theme and
    presentation mode applied, as display.altair does), cached across sessions like `figure` (building an
    attention heatmap and writing its spec took 0.3-0.5 s). A new dict each call; None when nothing to draw."""
    return _vega_spec(_content_key(name, build, args, kw), build, args, kw)


# -- the exposure-bias lab ---------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=32)
def _analysis(model: str, n: int, seed: int, t0: int, stamp: float) -> dict:
    return engine.analyze(model_path(model), n=n, seed=seed, t0=t0, bundle=load_model(model))


def analysis(model: str, n: int, seed: int, t0: int) -> dict:
    """engine.analyze, cached by (model, n, seed, t0, checkpoint time): the same view never
    recomputes, and a checkpoint retrained on the Train page is analysed afresh."""
    stamp = (ROOT / model / "model.safetensors").stat().st_mtime if is_trained(model) else 0.0
    return _analysis(model, n, seed, t0, stamp)


def experiment_store():
    """engine.ExperimentStore: the shipped results and the user's runs ($SEQSCOPE_LAB_RUNS is read at
    each use)."""
    return engine.ExperimentStore()


@st.cache_data(show_spinner=False, max_entries=64)
def _read_result(path: str, mtime: float) -> dict:
    return experiment_store().read(path)


def read_result(path: Path) -> dict:
    return _read_result(str(path), path.stat().st_mtime)


# -- uploaded traces ---------------------------------------------------------------------------

@st.cache_resource
def _upload_store() -> dict:
    """Uploaded traces' JSON bytes by content hash, for this server's lifetime (the last 16): a link
    with ?trace=<hash> shows an uploaded trace on any page, in any session of this server. The bytes
    are kept (at most 16 × engine.MAX_TRACE_BYTES), not the parsed traces, which are several times larger."""
    return {}


def remember_upload(data: bytes) -> str:
    """Read an uploaded trace through engine.load_trace (size cap, strict JSON, every field and the beam
    graph validated; engine.TraceError otherwise) and keep it: for this session, and for ?trace= links.
    Returns its key."""
    tr = engine.load_trace(data).to_dict()
    key = hashlib.sha256(data).hexdigest()[:16]
    store = _upload_store()
    store[key] = bytes(data)
    while len(store) > 16:
        store.pop(next(iter(store)))
    st.session_state["uploaded_trace"] = tr
    st.session_state["uploaded_key"] = key
    return key


def uploaded_trace() -> Optional[dict]:
    """This session's uploaded trace, or the one the link's ?trace= key names (read through
    engine.load_trace again, like an upload)."""
    tr = st.session_state.get("uploaded_trace")
    if tr is not None:
        return tr
    key = st.query_params.get("trace")
    data = _upload_store().get(key) if key else None
    if data is None:
        return None
    st.session_state["uploaded_trace"] = engine.load_trace(data).to_dict()
    st.session_state["uploaded_key"] = key
    return st.session_state["uploaded_trace"]
