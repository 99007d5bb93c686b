"""Colours that must stay apart for colour-blind readers (the injected token of the TF/FR charts against
free and teacher-forced running) and the colour key of the token probabilities in the HTML report."""
import importlib
import math

import pytest

import engine
from dashboard import charts
from dashboard.report import comparison_report

style = importlib.import_module("dashboard.charts.style")     # charts.style is the function of that name

# Machado, Oliveira & Fernandes (2009), severity 1, on linear sRGB: how a colour looks with each deficiency
CVD = {"normal": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
       "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                      (-0.003882, -0.048116, 1.051998)),
       "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                        (-0.011820, 0.042940, 0.968881))}


def _linear(hex_colour: str) -> list[float]:
    c = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c]


def _lab(rgb: list[float]) -> tuple[float, float, float]:
    r, g, b = (min(1.0, max(0.0, v)) for v in rgb)
    xyz = (0.4124 * r + 0.3576 * g + 0.1805 * b, 0.2126 * r + 0.7152 * g + 0.0722 * b,
           0.0193 * r + 0.1192 * g + 0.9505 * b)
    fx, fy, fz = (t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29
                  for t in (xyz[0] / 0.95047, xyz[1], xyz[2] / 1.08883))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e(a: str, b: str, kind: str) -> float:
    """CIE76 distance between two colours as seen with `kind` (about 2.3: just noticeable)."""
    seen = [[sum(m * v for m, v in zip(row, _linear(c))) for row in CVD[kind]] for c in (a, b)]
    return math.dist(_lab(seen[0]), _lab(seen[1]))


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio."""
    lum = sorted((sum(w * v for w, v in zip((0.2126, 0.7152, 0.0722), _linear(c))) for c in (a, b)), reverse=True)
    return (lum[0] + 0.05) / (lum[1] + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark", "high-contrast"])
def test_injected_stands_apart_from_free_and_teacher_forced_running(theme):
    """(high-contrast's pink #FF8CCB was 10 from teacher forcing's sky blue with protanopia: now violet)"""
    assert style.INJECTED in style.OKABE_ITO.values()
    inj, fr, tf = (style.colour(c, theme) for c in (style.INJECTED, style.FR, style.TF))
    for kind in CVD:
        assert delta_e(inj, fr, kind) > 50, kind        # the old orange: 18 (deuteranopia, light), 15 (dark)
        assert delta_e(inj, tf, kind) > 20, kind
    assert contrast(inj, style.THEMES[theme].bg) >= 3     # WCAG non-text contrast


@pytest.fixture(scope="module")
def comparisons():
    b = engine.load("dates-gru-attn")
    base = engine.compare_tf_fr(b, "3 march 2021", "2021-03-03").to_dict()
    hit = engine.compare_tf_fr(b, "3 march 2021", "2021-03-03", forced_tokens={2: "1"}).to_dict()
    return base, hit


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_tffr_charts_mark_the_injection_in_the_injected_colour(comparisons, theme):
    base, hit = comparisons
    style.set_theme(theme)
    try:
        inj, fr = style.colour(style.INJECTED), style.colour(style.FR)
        fig = charts.tffr_figure(hit)
        lines = [s for s in fig.layout.shapes if s.x0 == 2 and s.line.dash is None]
        assert len(lines) == 3 and {s.line.color for s in lines} == {inj}          # one per panel
        kl = next(t for t in fig.data if t.name == "KL")
        assert kl.marker.color != inj                   # the injected line crosses the KL bars
        rec = charts.recovery_figure(base, hit, 2)
        assert [s.line.color for s in rec.layout.shapes] == [inj]
        legend = {t.name: t.line.color for t in rec.data}
        assert legend["injected at step 2"] == inj and legend["wrong token at step 2"] == fr != inj
    finally:
        style.set_theme("light")


def test_the_report_has_the_colour_key_of_the_token_probabilities(comparisons):
    _, hit = comparisons
    page = comparison_report({"greedy": hit["fr"], "teacher forced": hit["tf"]})
    key = charts.prob_key_html()
    assert page.count(key) == 1 and "token probability:" in key and "not recorded" in key
    assert page.rindex("class='run'") < page.index(key) < page.index("Plotly.newPlot")    # under the outputs
