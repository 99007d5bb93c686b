"""A talk deck exported offline: every view's runs computed (dashboard/warmup.py, the cached calls
of the pages; a lab view: dashboard/lab_analysis.py) and its charts drawn into one HTML file
(dashboard/report.py); `python -m dashboard.deck export NAME` also writes PNG or SVG files per chart
(headless Chromium)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import engine
from dashboard.deck import PAGES, Deck, link, load


def _summary(r) -> str:
    return f"model {r.model} · input {r.text!r}" + (f" · reference {r.reference!r}" if r.reference else "")


def export_sections(deck: Deck) -> list[dict]:
    """Every view's runs computed (cached, as its page does) and its charts drawn."""
    from dashboard import lab_analysis, report, warmup
    out = []
    for v in deck.views:
        s = {"title": v.title, "note": v.note, "page": PAGES[v.page], "link": link(v), "figures": [], "errors": []}
        try:
            if v.page == "lab":             # an analysis pair or an experiment's result (dashboard/lab_analysis.py)
                s["summary"], s["figures"] = lab_analysis.view_figures(v.params)
                out.append(s)
                continue
            r = warmup.resolve(v.page, v.params)
            s["summary"] = _summary(r)
            s["figures"] = report.view_figures(v.page, v.params, r)
            s["errors"] = [f"{k}: {m}" for k, m in r.errors.items()]
        except (ValueError, TypeError, KeyError) as e:
            s["errors"] = [str(e).splitlines()[0][:300] if str(e) else type(e).__name__]
        out.append(s)
    return out


def warm(page: str, params: dict):
    """One view's runs computed (the warm-up's work for a deck): a lab view's analyses or result, else
    dashboard/warmup.py's resolve."""
    from dashboard import lab_analysis, warmup
    return lab_analysis.view_figures(params) if page == "lab" else warmup.resolve(page, params)


def export_html(deck: Deck, fmt: str = "svg") -> str:
    from dashboard import report
    return report.deck_report(deck.title, export_sections(deck), fmt=fmt)



def main(argv: Optional[list] = None) -> int:
    """python -m dashboard.deck export NAME [--out DIR] [--images png|svg]"""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="python -m dashboard.deck", description="Export a talk deck offline.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="one offline HTML file, and PNG / SVG files per chart")
    ex.add_argument("name", help="a deck name (default, or one of runs/decks/NAME.json)")
    ex.add_argument("--out", default="runs/decks/export", help="output folder (default: runs/decks/export)")
    ex.add_argument("--images", choices=["png", "svg"], help="also save every chart as PNG or SVG (headless Chromium)")
    args = ap.parse_args(argv)
    try:
        d = load(args.name)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        from dashboard import report
        sections = export_sections(d)
        text = report.deck_report(d.title, sections, fmt=args.images or "svg")
        engine.atomic_write_text(out / f"{args.name}.html", text)
        print(f"{out / (args.name + '.html')}: {len(d.views)} views, {len(text) / 1e6:.1f} MB")
        if args.images:
            files = [f"{args.name}-{i + 1:02d}-{re.sub(r'[^A-Za-z0-9._-]+', '-', n)}.{args.images}"
                     for i, s in enumerate(sections) for n, _ in s["figures"]]
            for fname, (_, data) in zip(files, report.figure_images(text, args.images)):
                engine.atomic_write_bytes(out / fname, data)
                print(out / fname)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"python -m dashboard.deck: {str(e).splitlines()[0][:300]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
