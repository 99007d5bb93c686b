"""Drive the dashboard in headless Chromium (Debian's `chromium`, via Playwright's Python API):
start a server on a free 127.0.0.1 port, open a page, wait until the app is idle and every chart
is drawn, count exceptions and errors, measure the websocket payload.

Used by tests/test_browser.py and bench/dashboard.py. Never downloads a browser.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("Chromium is needed for the browser test: on Debian/Ubuntu `sudo apt-get install -y chromium` "
                "(./run.sh test does it when run as root); or set SEQSCOPE_CHROMIUM=/path/to/chromium.")

# Pages: (name, url path, title in the sidebar and the page's h1). The default view of each page.
PAGES = [
    ("compare", "", "Compare decoders"),
    ("step", "step", "Step inspector"),
    ("attention", "attention", "Attention"),
    ("beam", "beam", "Beam tree"),
    ("tffr", "tffr", "Teacher forcing vs free running"),
    ("traces", "traces", "Traces"),
]

_STATE_JS = r"""
() => {
  if (!document.body) return {running: true, stale: 0, plotly: 0, plotlyDrawn: 0, vega: 0, vegaDrawn: 0,
                              exceptions: 0, errors: [], mainText: 0};   // a navigation just committed
  const q = (s) => Array.from(document.querySelectorAll(s));
  const plots = q('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const plotlyDrawn = plots.filter(gd => gd._fullData && gd._fullData.length > 0 &&
      gd.querySelectorAll('.scatterlayer .trace, .barlayer .trace, .heatmaplayer .hm, .imagelayer image').length > 0).length;
  const vegas = q('[data-testid="stVegaLiteChart"]');
  let vegaDrawn = 0;
  for (const v of vegas) {
    const c = v.querySelector('canvas');
    if (c && c.width > 0 && c.height > 0) {
      const ctx = c.getContext('2d');
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 0; i < d.length; i += 4 * 37) { if (d[i + 3] > 0 && (d[i] < 235 || d[i + 1] < 235 || d[i + 2] < 235)) { ink++; if (ink > 20) break; } }
      if (ink > 20) vegaDrawn++;
    } else if (v.querySelector('svg .mark-rect path, svg .mark-rect rect, svg g.mark-rect')) {
      vegaDrawn++;
    }
  }
  return {
    running: q('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"], [data-testid="stAppSkeleton"], [data-testid="stSkeleton"]').length > 0 || q('[data-testid="stApp"]').length === 0,
    stale: q('.stale-element, [data-stale="true"]').length,
    plotly: plots.length, plotlyDrawn,
    vega: vegas.length, vegaDrawn,
    exceptions: q('[data-testid="stException"]').length,
    errors: q('[data-testid="stAlertContentError"]').map(e => e.innerText.slice(0, 300)),
    mainText: (document.querySelector('[data-testid="stMain"]') || document.body).innerText.length,
  };
}
"""


def chromium_path() -> Optional[str]:
    p = os.environ.get("SEQSCOPE_CHROMIUM")
    if p and Path(p).exists():
        return p
    for cand in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if cand and Path(cand).exists():
            return cand
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(port: Optional[int] = None, timeout: float = 60.0, *, script: Optional[Path] = None,
           log: Optional[Path] = None, prewarm: bool = False) -> Iterator[str]:
    """Start `streamlit run dashboard/app.py` (or `script`) on 127.0.0.1:port with the repository's
    .streamlit/config.toml; yield the base URL once /_stcore/health answers. The server's output goes
    to `log` (a temporary file when None: a pipe nobody reads would stall a chatty server).
    prewarm=True warms it as `./run.sh app` does (dashboard/warmup.prewarm: the app run once before any
    browser, which starts the background warm-up of the tours and models)."""
    import tempfile

    port = port or free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "streamlit", "run", str(script or ROOT / "dashboard" / "app.py"),
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with tempfile.TemporaryDirectory(prefix="seqscope-server-") as tmp:
        log = Path(log) if log is not None else Path(tmp) / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            t0 = time.time()
            while True:
                if proc.poll() is not None:
                    out = log.read_text(errors="replace")
                    raise RuntimeError(f"the streamlit server exited with {proc.returncode}:\n{out[-2000:]}")
                try:
                    with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.time() - t0 > timeout:
                    raise RuntimeError(f"the streamlit server did not come up within {timeout:.0f} s")
                time.sleep(0.1)
            if prewarm:
                from dashboard import warmup
                answer = warmup.prewarm(base, timeout=max(timeout, 180.0))
                if answer != "ok":
                    raise RuntimeError(f"the warm-up run answered {answer!r}; see {log}")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError(INSTALL_HINT)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _state(page) -> dict:
    """_STATE_JS on the page; while a navigation replaces the document, "running" (no state yet)."""
    from playwright.sync_api import Error as PlaywrightError
    try:
        return page.evaluate(_STATE_JS)
    except PlaywrightError as e:
        if "context was destroyed" not in str(e) and "navigat" not in str(e):
            raise
        return {"running": True, "stale": 0, "plotly": 0, "plotlyDrawn": 0, "vega": 0, "vegaDrawn": 0,
                "exceptions": 0, "errors": [], "mainText": 0}


def wait_ready(page, timeout: float = 90.0, quiet: float = 0.6) -> dict:
    """Poll until the app is idle, every chart is drawn and nothing changed for `quiet` seconds.
    Returns the final state plus `ready_s`: seconds from the call to the moment that state was
    first reached (the last chart drawn)."""
    t0 = time.perf_counter()
    last, since = None, None
    while True:
        st = _state(page)
        now = time.perf_counter()
        done = (not st["running"] and st["plotly"] == st["plotlyDrawn"] and st["vega"] == st["vegaDrawn"]
                and st["mainText"] > 0)
        key = (st["plotly"], st["plotlyDrawn"], st["vega"], st["vegaDrawn"], st["exceptions"], len(st["errors"]),
               st["mainText"] // 50)
        if done:
            if key != last or since is None:
                last, since = key, now
            elif now - since >= quiet:
                st["ready_s"] = since - t0
                st["ready_at"] = since
                return st
        else:
            last, since = None, None
        if now - t0 > timeout:
            st["ready_s"] = None
            st["timeout"] = True
            return st
        time.sleep(0.05)


class PayloadMeter:
    """Bytes the page receives over the Streamlit websocket (the forward messages of a run)."""

    def __init__(self, page):
        self.bytes = 0
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        self.bytes += len(payload) if payload is not None else 0

    def reset(self) -> None:
        self.bytes = 0


def shrink_png(path: Path, max_bytes: int = 300_000, max_width: int = 1400) -> int:
    """Resize / quantize a screenshot in place until it is under max_bytes; returns its size."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if img.width > max_width:
        img = img.resize((max_width, int(img.height * max_width / img.width)), Image.LANCZOS)
    colours = 256
    while True:
        q = img.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
        tmp = path.with_suffix(".tmp.png")
        q.save(tmp, optimize=True)
        size = tmp.stat().st_size
        if size <= max_bytes or (colours <= 32 and img.width <= 700):
            os.replace(tmp, path)
            return size
        if colours > 32:
            colours //= 2
        else:
            img = img.resize((int(img.width * 0.8), int(img.height * 0.8)), Image.LANCZOS)


def screenshot(page, path: Path, width: int = 1400, max_height: int = 2600) -> int:
    """Screenshot of the whole page: Streamlit scrolls inside its main container, so the viewport
    is grown to the content's height first. Returns the PNG's size after shrinking."""
    h = page.evaluate("""() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
        '[data-testid="stMainBlockContainer"]'].map(s => { const e = document.querySelector(s);
        return e ? e.scrollHeight : 0; }), document.body.scrollHeight)""")
    old = page.viewport_size
    page.set_viewport_size({"width": width, "height": int(min(max(h + 40, 800), max_height))})
    wait_ready(page, timeout=60, quiet=0.4)
    page.screenshot(path=str(path))
    page.set_viewport_size(old)
    return shrink_png(Path(path))


def navigate(page, title: str, timeout: float = 120.0) -> dict:
    """In-app navigation (a click on the sidebar link, as a user does): returns wait_ready's state
    with `seconds` from the click to the last chart drawn."""
    t0 = time.perf_counter()
    page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]', has_text=title).first.click()
    page.wait_for_function("(t) => { const h = document.querySelector('[data-testid=\"stMain\"] h1');"
                           " return h && h.innerText.trim() === t; }", arg=title, timeout=timeout * 1000)
    st = wait_ready(page, timeout=timeout)
    st["seconds"] = None if st.get("ready_at") is None else st["ready_at"] - t0
    return st


def new_page(b, width: int = 1400, height: int = 1000, timeout_s: float = 180.0):
    """A tab with generous timeouts: the machine may be busy (2 shared cores)."""
    page = b.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout_s * 1000)
    page.set_default_navigation_timeout(timeout_s * 1000)
    return page


def chart_problems(st: dict, name: str, n_plotly: int, n_vega: int = 0) -> list[str]:
    """What is wrong with a page after `wait_ready`: not idle, exception boxes, errors shown, or fewer
    charts drawn than expected (the browser tests' one definition of "the page is drawn")."""
    problems = []
    if st.get("timeout"):
        problems.append(f"{name}: not idle after the timeout ({st})")
    if st["exceptions"]:
        problems.append(f"{name}: {st['exceptions']} exception box(es)")
    if st["errors"]:
        problems.append(f"{name}: error shown: {st['errors']}")
    if st["plotly"] < n_plotly or st["plotlyDrawn"] < st["plotly"]:
        problems.append(f"{name}: plotly charts {st['plotlyDrawn']}/{st['plotly']} drawn, want {n_plotly}")
    if st["vega"] < n_vega or st["vegaDrawn"] < st["vega"]:
        problems.append(f"{name}: vega charts {st['vegaDrawn']}/{st['vega']} drawn, want {n_vega}")
    return problems
