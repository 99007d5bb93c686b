"""Warm-up: the runs a view needs, computed through the same cached calls as its page
(dashboard/runs.py: load_model, run_generate, run_tffr), so that opening the view afterwards finds
every model loaded and every decode cached and only draws.

`resolve(page, params)` reads a view's URL state the way its page does (the same defaults, the same
configs, the same recording options: the cache keys match) and returns what it computed; the deck
export (dashboard/deck.py) draws from it. `start(views)` runs it for a list of views in one
background thread (one warm-up at a time per server); `start_once()` (called by dashboard/app.py after
each script run; it acts once per server process) warms the tours and every shipped model's home view.
`python -m dashboard.warmup PORT` (./run.sh app) makes that happen at server start: it requests
/_stcore/script-health-check, which runs the app once before any browser. Streamlit's caches are
process-wide: a thread without a session fills the same st.cache_resource / st.cache_data stores the
pages read (tests/test_warmup.py checks it).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

from dashboard.view_figures import (BEAM_RECORD, attention_figures, beam_figure, compare_figures,  # stdlib-only
                                     runner_up, tffr_figures)

# Only the standard library at import: `python -m dashboard.warmup PORT` (run.sh) stays light. Streamlit,
# the engine and the cached calls are imported where they are used (already loaded in a server).
_log = logging.getLogger("seqscope.warmup")


@dataclass
class Resolved:
    """What a view shows, computed: its model and input, and the runs its page draws."""
    page: str
    model: str
    text: str
    traces: dict = field(default_factory=dict)        # run name -> trace dict (compare, step, attention, beam)
    tffr: Optional[dict] = None                       # the undisturbed TF-vs-FR comparison
    injected: Optional[dict] = None                   # the one with the wrong token (tffr with inject=)
    inject_step: Optional[int] = None
    wrong_label: str = ""
    reference: str = ""
    errors: dict = field(default_factory=dict)        # run name -> one-line message


def _deps():
    import engine
    from dashboard import budget, runs, url_checks, url_state
    return engine, budget, runs, url_checks, url_state


def _one(params: dict, key: str, default: Any = None) -> Any:
    v = params.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    return default if v in (None, "") else v


def _custom_json(params: dict, strategy: str) -> dict:
    engine, budget, runs, url_checks, url_state = _deps()
    raw = _one(params, url_state.CUSTOM_KEYS[strategy], "") or ""
    if not raw.strip():
        return {}
    url_checks.check_custom_json(raw)
    user = json.loads(raw)
    if not isinstance(user, dict):
        raise ValueError(f"{strategy}: the config must be a JSON object of GenerationConfig fields")
    return user


def strategy_config(strategy: str, model: str, params: dict) -> dict:
    """The GenerationConfig dict of a sidebar strategy, as dashboard/sidebar.py's config_for makes it
    (the task's max_new_tokens, then the preset or the custom JSON of ?ca= / ?cb=)."""
    engine, budget, runs, url_checks, url_state = _deps()
    d = {"max_new_tokens": runs.task_max_new(model)}
    if strategy in engine.PRESETS:
        d.update(engine.PRESETS[strategy])
    elif strategy in url_state.CUSTOM:
        d.update(_custom_json(params, strategy))
    else:
        raise ValueError(f"unknown strategy {strategy!r}")
    return d


def _generate(model: str, text: str, cfg: dict, record: dict) -> dict:
    engine, budget, runs, url_checks, url_state = _deps()
    engine.GenerationConfig.from_dict(cfg)
    budget.check(cfg, model=model, text=text, record=record)
    return runs.run_generate(model, text, runs.cfg_json(cfg), json.dumps(record, sort_keys=True))


def strategies(params: dict) -> list[str]:
    from dashboard import url_state
    s = params.get("s")
    s = [s] if isinstance(s, str) else list(s or [])
    return s or list(url_state.DEFAULT_STRATEGIES)


def _tffr(r: Resolved, params: dict) -> None:
    engine, budget, runs, url_checks, url_state = _deps()
    r.reference = _one(params, "ref") or runs.default_reference(r.model, r.text)
    if not r.reference:
        raise ValueError("no reference for this input: give ?ref=")
    cfg = runs.cfg_json({"max_new_tokens": max(runs.task_max_new(r.model), 4)})
    r.tffr = runs.run_tffr(r.model, r.text, r.reference, cfg)
    inject = _one(params, "inject", "none")
    if inject == "none" or not r.tffr["rows"]:
        return
    t = min(int(inject), len(r.tffr["rows"]) - 1)
    wrong = _one(params, "wrong", "") or ""
    if wrong.strip():
        token: Any = wrong if runs.model_info(r.model)["kind"] == "lm" else wrong.strip()
        r.wrong_label = token
    else:
        token, r.wrong_label = runner_up(r.tffr, t)
    r.inject_step = t
    r.injected = runs.run_tffr(r.model, r.text, r.reference, cfg, json.dumps({str(t): token}))


def _attention(r: Resolved, run: str, params: dict) -> None:
    """The Attention page's first drawing of the run, with its widgets' defaults (or the link's values)."""
    from dashboard import charts
    from dashboard.url_checks import ATTENTION_KINDS
    tr = r.traces[run]
    kinds = [k for k in ATTENTION_KINDS if charts.has_attention(tr, k)]
    if not kinds:
        return
    kind = _one(params, "kind", kinds[0])
    kind = kind if kind in kinds else kinds[0]
    n_layers, n_heads = charts.attention_shape(tr, kind)
    layer = int(_one(params, "layer", 0)) if n_layers > 1 else 0
    head = str(_one(params, "head", "avg")) if n_heads > 1 else "0"
    hyp = int(_one(params, "hyp", 0)) if len(tr.get("hypotheses") or []) > 1 else 0
    attention_figures(tr, run, kind, layer, head, hyp)


def _yes(v: Any) -> bool:
    return str(v).lower() in ("true", "1", "yes")


def _beam(tr: dict, params: dict) -> None:
    nodes = (tr.get("beam") or {}).get("nodes") or []
    last = max((n["step"] for n in nodes), default=0)
    upto = min(int(_one(params, "reveal", last)), last) if last > 0 else 0
    hyp = int(_one(params, "bhyp", 0)) if len(tr.get("hypotheses") or []) > 1 else 0
    beam_figure(tr, upto, hyp, _yes(_one(params, "pruned", "true")))


@contextmanager
def styled(params: dict) -> Iterator[None]:
    """Charts built inside are styled as the view's page styles them: its ?theme= and ?present= (the
    figure cache's key holds both). The caller's own theme and mode are restored afterwards."""
    from dashboard.charts import theme
    t1 = theme._theme.set(_one(params, "theme", "light") if _one(params, "theme") in theme.THEMES else "light")
    t2 = theme._presenting.set(_yes(_one(params, "present", "false")))
    try:
        yield
    finally:
        theme._presenting.reset(t2)
        theme._theme.reset(t1)


def resolve(page: str, params: dict) -> Resolved:
    """Compute (through the cache) every run the page `page` draws for the URL state `params`
    (name -> str or list of str, as a deck stores it). Errors of single strategies are collected in
    .errors (the page shows them the same way); anything else raises a one-line ValueError."""
    engine, budget, runs, url_checks, url_state = _deps()
    model = _one(params, "model") or runs.DEFAULT_MODEL
    text = _one(params, "input") or runs.examples(model)[0]
    r = Resolved(page=page, model=model, text=text)
    if page == "compare":
        for s in strategies(params):
            try:
                r.traces[s] = _generate(model, text, strategy_config(s, model, params), runs.DEFAULT_RECORD)
            except (ValueError, TypeError, KeyError) as e:
                r.errors[s] = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        if r.traces:
            with styled(params):
                compare_figures(r.traces)
    elif page in ("step", "attention"):
        run = _one(params, "run") or strategies(params)[0]
        if run == runs.UPLOADED:
            raise ValueError("an uploaded trace is not part of a deck")
        r.traces[run] = _generate(model, text, strategy_config(run, model, params), runs.DEFAULT_RECORD)
        if page == "attention":
            with styled(params):
                _attention(r, run, params)
    elif page == "beam":
        beams = int(_one(params, "beams", 4))
        cfg = {"max_new_tokens": int(_one(params, "maxlen", min(runs.task_max_new(model), url_checks.BEAM_MAX_NEW[1]))),
               "num_beams": beams, "length_penalty": float(_one(params, "lp", 1.0)),
               "early_stopping": _yes(_one(params, "early", "false")),
               "num_return_sequences": beams}
        groups = int(_one(params, "groups", 1))
        if groups > 1:
            cfg.update({"num_beam_groups": groups, "diversity_penalty": 1.0})
        r.traces[f"beam {beams}"] = _generate(model, text, cfg, BEAM_RECORD)
        with styled(params):
            _beam(r.traces[f"beam {beams}"], params)
    elif page == "tffr":
        _tffr(r, params)
        with styled(params):
            tffr_figures(r.tffr, r.injected, r.inject_step or 0, r.wrong_label)
    elif page == "lab":
        if _one(params, "lab_view", url_checks.LAB_VIEWS[0]) != url_checks.LAB_VIEWS[0]:
            raise ValueError("only the lab's dataset view is warmed here")
        from dashboard import lab_analysis
        with styled(params):
            lab_analysis.view_figures(params)          # the analyses (precomputed when shipped) and their charts
    else:
        raise ValueError(f"page {page!r} has no runs to compute")
    return r


# -- in the background -------------------------------------------------------------------------------

@dataclass
class Status:
    """A warm-up's progress (read by the Decks page and bench/dashboard.py's log)."""
    total: int = 0
    done: int = 0
    running: bool = False
    seconds: float = 0.0
    errors: list = field(default_factory=list)
    label: str = ""


_STATE = {"lock": threading.Lock(), "status": Status(), "thread": None, "started": False}


def _state() -> dict:
    """The server's warm-up (module state: the module is imported once per process, not per script run)."""
    return _STATE


def status() -> Status:
    return _state()["status"]


def _low_priority() -> None:
    """The warm-up thread yields the CPU to the pages (Linux schedules threads one by one)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def _work(views: list[tuple[str, dict]], label: str, compute: Callable[[str, dict], Any]) -> None:
    s = _state()["status"]
    _low_priority()
    t0 = time.perf_counter()
    for page, params in views:
        try:
            r = compute(page, params)
            s.errors.extend(f"{page}: {k}: {v}" for k, v in getattr(r, "errors", {}).items())
        except Exception as e:  # noqa: BLE001 - a warm-up never stops the server; the page will say it again
            s.errors.append(f"{page}: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}")
            _log.warning("warm-up of %s failed: %s", page, e)
        s.done += 1
        s.seconds = time.perf_counter() - t0
    s.running = False
    _log.warning("warm-up (%s): %d views in %.1f s%s", label, s.done, s.seconds,
                 f"; {len(s.errors)} failed: {s.errors[0]}" if s.errors else "")


def start(views: Iterable[tuple[str, dict]], label: str = "",
          compute: Callable[[str, dict], Any] = resolve) -> bool:
    """Warm `views` ((page, params) pairs) in one background thread; False when a warm-up is already
    running (one at a time: the machine has few cores)."""
    views = list(views)
    state = _state()
    with state["lock"]:
        if state["status"].running:
            return False
        state["status"] = Status(total=len(views), running=True, label=label)
        th = threading.Thread(target=_work, args=(views, label, compute), name="seqscope-warmup", daemon=True)
        state["thread"] = th
        th.start()
    return True


def wait(timeout: Optional[float] = None) -> Status:
    th = _state()["thread"]
    if th is not None:
        th.join(timeout)
    return status()


def startup_views() -> list[tuple[str, dict]]:
    """What a server warms when it starts: the default deck (the tours, as linked from the home page and as
    presented from the Decks page: their charts in both styles), then the home page of every
    shipped model (its default strategies on its first example: a first model switch finds it done),
    then the exposure lab's shipped pairs (their precomputed analyses and charts)."""
    from dashboard import deck, lab_analysis, runs
    d = deck.load(deck.DEFAULT)
    views = [(v.page, v.params) for v in d.views]            # the home page's tour links
    views += [(v.page, deck.link_params(v, deck=d.name, at=i, present=True)) for i, v in enumerate(d.views)]
    shipped = runs.model_names(trained=False)
    lab = [("lab", {"lab_models": [a, b]}) for a, b in lab_analysis.PAIRS.items() if a in shipped and b in shipped]
    return views + [("compare", {"model": m}) for m in shipped] + lab


def compile_pages() -> int:
    """Streamlit compiles a page's script (after rewriting it for "magic") on the page's first visit in a
    server process, 40-90 ms a page: done here for every page, into the server's script cache the page runs
    read. Returns the pages compiled (0 without a server, e.g. under AppTest)."""
    from pathlib import Path

    from streamlit.runtime import Runtime
    cache = getattr(Runtime.instance(), "_script_cache", None) if Runtime.exists() else None
    if cache is None:
        return 0
    pages = sorted((Path(__file__).resolve().parent / "views").glob("*.py"))   # app.py's paths
    for path in pages:
        cache.get_bytecode(str(path))
    return len(pages)


def _startup(page: str, params: dict) -> Any:
    return compile_pages() if page == "pages" else resolve(page, params)


def start_once() -> bool:
    """startup_views() warmed once per server process (SEQSCOPE_WARMUP=0 turns it off). Only in a real
    server (`streamlit run`): AppTest runs the app in a test process with no server."""
    from streamlit import config as st_config
    if os.environ.get("SEQSCOPE_WARMUP", "1") == "0" or getattr(st_config, "_server_mode", None) is None:
        return False
    with _STATE["lock"]:
        if _STATE["started"]:
            return False
        _STATE["started"] = True
    try:
        views = startup_views()
    except ValueError as e:
        _log.warning("no warm-up: %s", e)
        return False
    return start([("pages", {})] + views, label="server start", compute=_startup)


def prewarm(base: str, timeout: float = 120.0) -> str:
    """Run the app once on a server that just started, before any browser: wait for /_stcore/health,
    then GET /_stcore/script-health-check (server.scriptHealthCheckEnabled in .streamlit/config.toml),
    which runs dashboard/app.py in a session of its own: the imports, the default model, the home page's
    runs, and start_once() (the warm-up of the tours and the models). Returns the server's answer."""
    import urllib.error
    import urllib.request
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if time.monotonic() - t0 > timeout:
            return "the server did not come up"
        time.sleep(0.2)
    try:
        with urllib.request.urlopen(f"{base}/_stcore/script-health-check", timeout=timeout) as r:
            return r.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}" + (" (server.scriptHealthCheckEnabled is off)" if e.code == 404 else "")
    except OSError as e:
        return str(e)


if __name__ == "__main__":
    import sys
    port = sys.argv[1] if len(sys.argv) > 1 else "8501"
    print(f"seqscope warm-up: {prewarm(f'http://127.0.0.1:{port}')}", file=sys.stderr)
