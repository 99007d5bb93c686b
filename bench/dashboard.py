"""Dashboard benchmark in headless Chromium, side by side in one run and one browser:

1. the home page's first visit vs a bare Streamlit page with one Plotly chart (goal <= 1.3x), each in a new
   tab of its own (a new browser context: nothing cached; closed after, no other tab open), each on
   a server of its own (dashboard/headless.server) started and warmed as `./run.sh app` does
   (dashboard/warmup.py: the app run once through /_stcore/script-health-check, then the tours, every
   shipped model's home view and the lab's shipped pairs warmed in the background);
2. a first model switch in the sidebar (text-gpt, hmm-gpt; goal <= 1.5 s);
3. the exposure lab's shipped pairs opened in the same tab (addition-gru vs -ss by the sidebar link,
   hmm-gpt vs -ss by the browser's history, as Back / Forward do), then another section's tab (goal <= 2 s);
4. a tour opening after the warm-up: the default deck presented view by view from the Decks page, once that
   page is done loading (the chart libraries it loads while idle, dashboard/preload.py; goal <= 1 s);
5. the same with both cores busy (one CPU-bound process per core beside it; goal <= 2x idle).

Beside them, a third page splits the ratio: the bare page plus the five kinds of input widget the home page's
sidebar draws (select, text input, a second select, multiselect, toggle; no seqscope code). "widgets / bare"
is what Streamlit's widgets cost a first visit (their code is fetched and run on the first one), "home /
widgets" what seqscope adds on top (links, outputs, folds, a two-panel chart). Home vs bare is their product.

Home vs bare is the median of the paired ratios: each home visit over the bare visit just before it. The
machine's speed drifts within a run (the bare page alone took 3.0-3.9 s in one run of five visits) and
pairing cancels the drift; the ratio of the two medians is printed beside it.

    .venv/bin/python bench/dashboard.py [--json out.json] [--no-busy] [--repeat 5]

Run it alone (flock /tmp/seqscope-heavy.lock ...). Exit status 1 if a page fails to draw or shows an
error, 3 when chromium is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import headless  # noqa: E402

GOALS = {"home_vs_bare": 1.3, "switch_s": 1.5, "lab_s": 2.0, "tour_s": 1.0, "busy_vs_idle": 2.0}
LAB_PAIRS = [("addition-gru", "addition-gru-ss"), ("hmm-gpt", "hmm-gpt-ss")]
SWITCH_TO = ["text-gpt", "hmm-gpt"]
LAB_TAB = "AccErr"          # a section tab opened after the hmm pair
BARE_APP = '''import plotly.graph_objects as go
import streamlit as st

st.title("bare")
st.plotly_chart(go.Figure(go.Scatter(y=[1, 3, 2, 4])), theme=None)
'''
# The bare page plus the kinds of input widget on the home page's sidebar, as on it (the split of home / bare)
WIDGETS_APP = BARE_APP.replace('st.title("bare")', '''with st.sidebar:
    st.selectbox("Model", ["dates-transformer", "text-gpt", "hmm-gpt"], help="a model")
    st.text_input("Input", placeholder="Wed 3 Mar 21")
    st.selectbox("Examples for this model", ["Wed 3 Mar 21", "3/3/2021"], index=None, placeholder="pick…")
    st.multiselect("Strategies (2-4)", ["greedy", "beam 4", "top-p 0.9", "MBR"],
                   default=["greedy", "beam 4", "top-p 0.9"], max_selections=4, help="strategies")
    st.toggle("Presentation mode", help="large fonts")
st.title("bare + widgets")''')
WARM_LINE = "warm-up (server start):"


def wait_warm(log: Path, timeout: float = 300.0) -> float:
    """Wait for the server's background warm-up to finish (its log line); returns its seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for line in log.read_text(errors="replace").splitlines():
            if WARM_LINE in line:
                return float(line.split(" views in ")[1].split(" s")[0])
        time.sleep(0.2)
    raise RuntimeError(f"the warm-up did not finish within {timeout:.0f} s; see {log}")


def _ok(st: dict) -> bool:
    return not st.get("timeout") and not st["exceptions"] and not st["errors"] and st["plotly"] == st["plotlyDrawn"]


def first_visit(b, url: str) -> dict:
    """A page in a new tab (a new browser context: nothing cached in the browser): seconds from the
    navigation to the last chart drawn."""
    page = headless.new_page(b)
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => !!document.body")          # headless.wait_ready reads document.body
    st = headless.wait_ready(page, timeout=180)
    sec = None if st.get("ready_at") is None else st["ready_at"] - t0
    return {"s": sec, "ok": _ok(st) and st["plotly"] >= 1, "errors": st["errors"], "page": page}


def _after(page, t0: float, predicate: str, arg=None) -> dict:
    page.wait_for_function(predicate, arg=arg, timeout=180_000)
    st = headless.wait_ready(page, timeout=180)
    return {"s": None if st.get("ready_at") is None else st["ready_at"] - t0, "ok": _ok(st), "errors": st["errors"]}


def switch_model(page, name: str) -> dict:
    """Pick `name` in the sidebar's Model box: seconds from the pick to the last chart drawn."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    option = page.get_by_role("option", name=name, exact=True)
    t0 = time.perf_counter()
    option.click()
    return _after(page, t0, "(m) => location.search.includes('model=' + m) && "
                            "(document.querySelector('[data-testid=\"stMain\"]') || document.body).innerText.includes(m)",
                  name)


def open_lab_pairs(page) -> dict:
    """The lab's shipped pairs in the open tab: its default pair by the sidebar's "Exposure lab" link, the
    hmm pair by a history entry (pushState + popstate, what Back / Forward make Streamlit do): seconds from
    the click (the event) to the last chart drawn."""
    out = {}
    (a, b), (c, d) = LAB_PAIRS
    st = headless.navigate(page, "Exposure lab", timeout=180)
    out[f"{a} vs {b}"] = {"s": st.get("seconds"), "ok": _ok(st) and st["plotly"] >= 2, "errors": st["errors"]}
    t0 = time.perf_counter()
    page.evaluate("([c, d]) => { history.pushState({}, '', '/lab?lab_models=' + c + '&lab_models=' + d);"
                  " dispatchEvent(new PopStateEvent('popstate', {state: {}})); }", [c, d])
    x = _after(page, t0, "(m) => Array.from(document.querySelectorAll('[data-testid=\"stMain\"] h3'))"
                         ".some(h => h.innerText.includes('oracle')) && document.body.innerText.includes(m)", d)
    x["ok"] = x["ok"] and headless._state(page)["plotly"] >= 2
    out[f"{c} vs {d}"] = x
    tab = page.get_by_role("tab", name=LAB_TAB)           # another section: its tab (one section per tab)
    t0 = time.perf_counter()
    tab.click()
    x = _after(page, t0, "(t) => location.search.includes('lab_section=' + t)", LAB_TAB)
    x["ok"] = x["ok"] and headless._state(page)["plotly"] >= 2
    out[f"{c} vs {d}: tab {LAB_TAB}"] = x
    return out


def present_deck(page, base: str) -> list[dict]:
    """The default deck presented from the Decks page: the first view by "Present from the first view",
    the others by the presenter bar's "view ▶" button: seconds per view."""
    page.goto(f"{base}/deck", wait_until="commit")
    headless.wait_ready(page, timeout=180)
    # the Decks page done loading: its idle-time load of the chart libraries included (dashboard/preload.py)
    page.wait_for_function("() => window.__seqscopePreloaded === true", timeout=180_000)
    out = []
    for i in range(4):
        link = (page.locator('[data-testid="stPageLink-NavLink"]', has_text="Present from the first view").first
                if i == 0 else page.locator(".st-key-deck_next button").first)     # the presenter bar's "view ▶"
        t0 = time.perf_counter()
        link.click()
        out.append(_after(page, t0, "(i) => location.search.includes('at=' + i) && "
                                    "document.body.innerText.includes((i + 1) + ' / 4')", i))
    return out


def scenario(b, tmp: Path, name: str, repeat: int) -> dict:
    bare_py, widgets_py = tmp / "bare_app.py", tmp / "widgets_app.py"
    bare_py.write_text(BARE_APP)
    widgets_py.write_text(WIDGETS_APP)
    app_log, bare_log = tmp / f"app-{name}.log", tmp / f"bare-{name}.log"
    t_start = time.perf_counter()
    with headless.server(log=app_log, prewarm=True, timeout=180) as app, \
            headless.server(script=bare_py, log=bare_log, prewarm=True, timeout=180) as bare, \
            headless.server(script=widgets_py, log=tmp / f"widgets-{name}.log", prewarm=True, timeout=180) as widgets:
        prewarmed_s = time.perf_counter() - t_start
        warm_s = wait_warm(app_log)
        ready_s = time.perf_counter() - t_start
        homes, bares, widget_pages = [], [], []
        for i in range(repeat):                      # alternating, each in a new tab (new session), closed after
            x = first_visit(b, f"{bare}/")
            bares.append(x)
            x.pop("page").close()
            x = first_visit(b, f"{widgets}/")
            widget_pages.append(x)
            x.pop("page").close()
            x = first_visit(b, f"{app}/")
            homes.append(x)
            home_page = x.pop("page")
            if i < repeat - 1:
                home_page.close()                    # the last one goes on: model switches, the lab, the deck
        switches = {m: switch_model(home_page, m) for m in SWITCH_TO}
        labs = open_lab_pairs(home_page)
        tours = present_deck(home_page, app)
        home_page.close()
    med = lambda xs: statistics.median(x["s"] for x in xs) if all(x["s"] is not None for x in xs) else None  # noqa: E731
    visits = homes + bares + widget_pages + list(switches.values()) + list(labs.values()) + tours
    return {"scenario": name, "server_ready_s": round(ready_s, 2), "prewarm_s": round(prewarmed_s, 2),
            "warmup_s": warm_s, "home_s": [x["s"] for x in homes], "bare_s": [x["s"] for x in bares],
            "widgets_s": [x["s"] for x in widget_pages], "home_median_s": med(homes), "bare_median_s": med(bares),
            "switch_s": {m: x["s"] for m, x in switches.items()}, "lab_s": {m: x["s"] for m, x in labs.items()},
            "tour_s": [x["s"] for x in tours],
            "ok": all(x["ok"] for x in visits), "errors": [e for x in visits for e in x["errors"]]}


@contextmanager
def busy_cores(n: int) -> Iterator[None]:
    """n CPU-bound processes (a pure-Python loop each) for the duration."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(1.0)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def paired(a: list, b: list):
    """The median of a[i] / b[i] (visits made one after the other), None when a visit failed."""
    pairs = [x / y for x, y in zip(a, b) if x and y]
    return statistics.median(pairs) if len(pairs) == len(a) else None


def _f(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results as JSON to this path")
    ap.add_argument("--repeat", type=int, default=5, choices=range(1, 11), metavar="1..10",
                    help="new-tab visits of each page, alternating (default 5)")
    ap.add_argument("--no-busy", action="store_true", help="skip the run with both cores busy")
    args = ap.parse_args(argv)
    if headless.chromium_path() is None:
        print(f"bench/dashboard.py: {headless.INSTALL_HINT}", file=sys.stderr)
        return 3
    results = []
    with tempfile.TemporaryDirectory(prefix="seqscope-bench-") as tmp, headless.browser() as b:
        results.append(scenario(b, Path(tmp), "idle", args.repeat))
        print("idle:", json.dumps(results[-1]), flush=True)
        if not args.no_busy:
            with busy_cores(os.cpu_count() or 2):
                results.append(scenario(b, Path(tmp), "busy", args.repeat))
    load_avg = "%.1f %.1f %.1f" % os.getloadavg()
    print(f"{platform.machine()} · {os.cpu_count()} cores · python {platform.python_version()} · load average {load_avg}")
    print("| scenario | server ready (s) | home first visits (s) | bare page (s) | home / bare | switch "
          + " / ".join(SWITCH_TO) + " (s) | lab pairs " + " / ".join(a.split("-")[0] for a, _ in LAB_PAIRS)
          + f" / {LAB_TAB} tab (s) | tours after warm-up (s) |")
    print("|---|---:|---|---|---:|---|---|---|")
    for r in results:
        r["home_vs_bare_medians"] = (r["home_median_s"] / r["bare_median_s"]) if r["home_median_s"] and r["bare_median_s"] else None
        r["home_vs_bare"] = paired(r["home_s"], r["bare_s"])
        r["widgets_vs_bare"] = paired(r["widgets_s"], r["bare_s"])
        r["home_vs_widgets"] = paired(r["home_s"], r["widgets_s"])
        print(f"| {r['scenario']} | {r['server_ready_s']:.1f} (warm-up {r['warmup_s']:.1f}) | "
              f"{', '.join(map(_f, r['home_s']))} | {', '.join(map(_f, r['bare_s']))} | {_f(r['home_vs_bare'])}× ({_f(r['home_vs_bare_medians'])}×) | "
              f"{' / '.join(_f(v) for v in r['switch_s'].values())} | {' / '.join(_f(v) for v in r['lab_s'].values())} | "
              f"{', '.join(map(_f, r['tour_s']))} |")
    for r in results:
        print(f"{r['scenario']}: home / bare {_f(r['home_vs_bare'])}× = widgets / bare {_f(r['widgets_vs_bare'])}× "
              f"(a bare page plus the home page's five kinds of input widget: {', '.join(map(_f, r['widgets_s']))} s) "
              f"x home / widgets {_f(r['home_vs_widgets'])}× (medians of paired ratios: the product is near, "
              "not equal)")
    idle = results[0]
    worst = lambda r, k: max((v for v in (r[k].values() if isinstance(r[k], dict) else r[k]) if v is not None), default=None)  # noqa: E731
    checks = {
        f"home / bare <= {GOALS['home_vs_bare']}x (median of the paired ratios)": idle["home_vs_bare"] is not None
        and idle["home_vs_bare"] <= GOALS["home_vs_bare"],
        f"first model switch <= {GOALS['switch_s']} s": (worst(idle, "switch_s") or 1e9) <= GOALS["switch_s"],
        f"lab's shipped pairs <= {GOALS['lab_s']} s": (worst(idle, "lab_s") or 1e9) <= GOALS["lab_s"],
        f"tour after warm-up <= {GOALS['tour_s']} s": (worst(idle, "tour_s") or 1e9) <= GOALS["tour_s"],
    }
    if len(results) > 1:
        busy = results[1]
        ratios = {k: (worst(busy, k) or 1e9) / (worst(idle, k) or 1e9)
                  for k in ("switch_s", "lab_s", "tour_s")}
        ratios["home"] = (busy["home_median_s"] or 1e9) / (idle["home_median_s"] or 1e9)
        print("busy / idle: " + " · ".join(f"{k.removesuffix('_s')} {v:.2f}×" for k, v in ratios.items()))
        checks[f"busy <= {GOALS['busy_vs_idle']}x idle"] = all(v <= GOALS["busy_vs_idle"] for v in ratios.values())
        busy["busy_vs_idle"] = ratios
    for k, v in checks.items():
        print(f"goal {k}: {'met' if v else 'MISSED'}")
    for r in results:
        if not r["ok"]:
            print(f"{r['scenario']}: a page failed: {r['errors'][:3]}")
    if args.json:
        from engine.files import atomic_write_text
        atomic_write_text(Path(args.json), json.dumps({"results": results, "goals": checks}, indent=2))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
