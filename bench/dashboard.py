"""Dashboard benchmark in headless Chromium: for each page, the time from navigation to the last
chart drawn on a first visit (the home page by URL right after the server is up, the others by the
sidebar, with cold run caches), on a cached revisit (by the sidebar again), and on a full reload in
a new tab (new session, warm caches); and the payload (bytes received over the Streamlit websocket).

    .venv/bin/python bench/dashboard.py [--json out.json]

Goals (issue 4): cached revisit <= 1 s, first visit of the home page <= 3 s after the server is up,
payload <= 2 MB. Exit status 1 if a page fails to draw or shows an error, 2 for bad arguments,
3 when chromium is missing.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import headless  # noqa: E402

GOALS = {"revisit_s": 1.0, "home_first_s": 3.0, "payload_mb": 2.0}


def _row(st: dict, seconds, payload: int) -> dict:
    return {"seconds": None if seconds is None else round(seconds, 3), "payload_kb": round(payload / 1024, 1),
            "charts": st["plotly"] + st["vega"],
            "ok": not st.get("timeout") and not st["exceptions"] and not st["errors"]
            and st["plotly"] == st["plotlyDrawn"] and st["vega"] == st["vegaDrawn"],
            "errors": st["errors"]}


def load(b, url: str) -> dict:
    """A full page load in a new tab (new session)."""
    page = headless.new_page(b)
    meter = headless.PayloadMeter(page)
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    st = headless.wait_ready(page, timeout=180)
    out = _row(st, None if st.get("ready_at") is None else st["ready_at"] - t0, meter.bytes)
    return out, page, meter


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results as JSON to this path")
    args = ap.parse_args(argv)
    if headless.chromium_path() is None:
        print(f"bench/dashboard.py: {headless.INSTALL_HINT}", file=sys.stderr)
        return 3
    t_start = time.perf_counter()
    first, again, reload_ = {}, {}, {}
    with headless.server() as base:
        up_s = time.perf_counter() - t_start
        with headless.browser() as b:
            # 1. the home page, right after the server is up (cold model and run caches, cold browser)
            home, page, meter = load(b, f"{base}/")
            first["compare"] = home
            # 2. every other page for the first time, by the sidebar (cold run caches for that page)
            for name, _, title in headless.PAGES[1:]:
                meter.reset()
                st = headless.navigate(page, title, timeout=180)
                first[name] = _row(st, st["seconds"], meter.bytes)
            # 3. every page again, by the sidebar: the cached revisit
            for name, _, title in headless.PAGES:
                meter.reset()
                st = headless.navigate(page, title, timeout=180)
                again[name] = _row(st, st["seconds"], meter.bytes)
            page.close()
            # 4. a full reload of each page in a new tab (new session, warm caches)
            for name, path, _ in headless.PAGES:
                reload_[name], p, _ = load(b, f"{base}/{path}")
                p.close()
    try:
        load_avg = " · load average %.1f %.1f %.1f" % __import__("os").getloadavg()
    except OSError:
        load_avg = ""
    print(f"server up in {up_s:.1f} s · {platform.machine()} · python {platform.python_version()}{load_avg}")
    print("| page | first visit (s) | cached revisit (s) | full reload, warm (s) | payload (KB) | charts | ok |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name, _, _ in headless.PAGES:
        f, a, r = first[name], again[name], reload_[name]
        ok = f["ok"] and a["ok"] and r["ok"]
        payload = max(f["payload_kb"], a["payload_kb"], r["payload_kb"])
        rows.append({"page": name, "first_s": f["seconds"], "revisit_s": a["seconds"], "reload_s": r["seconds"],
                     "payload_kb": payload, "charts": f["charts"], "ok": ok,
                     "errors": f["errors"] + a["errors"] + r["errors"]})
        print(f"| {name} | {f['seconds']} | {a['seconds']} | {r['seconds']} | {payload} | {f['charts']} | "
              f"{'yes' if ok else 'NO ' + str(rows[-1]['errors'])} |")
    checks = {
        "home first visit <= 3 s": rows[0]["first_s"] is not None and rows[0]["first_s"] <= GOALS["home_first_s"],
        "every cached revisit <= 1 s": all(r["revisit_s"] is not None and r["revisit_s"] <= GOALS["revisit_s"]
                                           for r in rows),
        "every payload <= 2 MB": all(r["payload_kb"] <= GOALS["payload_mb"] * 1024 for r in rows),
    }
    for k, v in checks.items():
        print(f"goal {k}: {'met' if v else 'MISSED'}")
    if args.json:
        from engine.checkpoint import atomic_write_text
        atomic_write_text(Path(args.json), json.dumps({"server_up_s": round(up_s, 2), "pages": rows,
                                                       "goals": checks}, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
