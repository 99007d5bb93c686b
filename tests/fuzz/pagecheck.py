"""Running a dashboard page under AppTest and checking what it shows: the property of the URL target
(test_fuzz_url.py) and of the uploaded-trace pages (test_fuzz_trace.py)."""
from __future__ import annotations

import logging
from pathlib import Path

from fuzzkit import GB, guard, tally

APP = str(Path(__file__).resolve().parent.parent.parent / "dashboard" / "app.py")
TIMEOUT = 90
ELEMENTS = ("markdown", "caption", "error", "warning", "info", "success", "code", "text", "title", "header",
            "subheader", "exception")


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(self.format(record))


def texts_shown(at) -> list[str]:
    out = []
    for kind in ELEMENTS:
        try:
            els = at.get(kind)
        except Exception:  # noqa: BLE001 - a kind this Streamlit does not have
            continue
        for e in els:
            v = getattr(e, "value", None)
            if v is None:
                proto = getattr(e, "proto", None)
                v = getattr(proto, "body", None) or getattr(proto, "message", "")
            out.append(str(v))
    return out


def check_page(at, what: str) -> None:
    """Run the AppTest `at`; the page must end with no exception element, no traceback or "Something went
    wrong" text, nothing in the dashboard's error log."""
    log = logging.getLogger("seqscope.dashboard")
    handler = _Errors()
    log.addHandler(handler)
    try:
        with guard(TIMEOUT + 60, 2 * GB):
            at.run()
    finally:
        log.removeHandler(handler)
    assert not at.exception, f"{what}: exception elements {[e.value for e in at.exception]}"
    for t in texts_shown(at):
        assert "Traceback (most recent call last)" not in t, f"{what}: a traceback on the page: {t[:800]}"
        assert "Something went wrong" not in t, f"{what}: {t[:800]}"
    assert not handler.records, f"{what}: the page logged an unexpected error:\n{handler.records[0][:3000]}"
    tally("page shows an error" if at.error else "page without error")
