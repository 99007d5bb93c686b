"""The charts of each decoding view, built through the cross-session figure cache (dashboard/runs.py
figure / vega): one definition used by the pages that draw them (views/compare.py, tffr.py, attention.py,
beam.py) and by the warm-up (dashboard/warmup.py) that builds them first, so their cache keys match.
Also the view-level choices both need to agree on: the Beam tree's recording options and the TF-vs-FR
page's wrong note. Only the standard library at import (the warm-up's command stays light); Streamlit,
the charts and the cached calls are imported where used.
"""
from __future__ import annotations

from typing import Any, Optional

BEAM_RECORD = {"top_k": 5, "layers": "all", "hidden_states": False, "attention": False}   # the Beam tree's runs


def runner_up(cmp: dict, t: int) -> tuple[int, str]:
    """The most plausible wrong note at reference position t (views/tffr.py): the model's most probable
    teacher-forced token other than the reference token and other than the token free running produced at t
    (injecting the model's own token would change nothing). Returns (token id, token)."""
    steps = (cmp.get("tf") or {}).get("steps") or []
    own = {cmp["rows"][t]["ref_id"], cmp["rows"][t].get("fr_id")}
    if t < len(steps) and steps[t].get("hypotheses"):
        for d in steps[t]["hypotheses"][0].get("top_before") or []:
            if d["id"] not in own and d["token"] not in ("<eos>", "<pad>", "<bos>", "<unk>"):
                return int(d["id"]), d["token"]
    raise ValueError(f"no alternative token recorded at step {t}; type the wrong token yourself")


AGREE = "the runs agree on every token"
COMPARE_TITLE = "Per step: chosen token's probability and entropy after the decoding rules"


def compare_figures(traces: dict) -> list:
    """The Compare page's charts of these runs, built through the figure cache (runs.figure): the per-step
    chart, then (name, MBR matrix) of each run that has one. The page draws these; the warm-up builds them."""
    from dashboard import charts, runs
    from dashboard.charts.theme import presenting
    # presented: the panels' own titles say what is drawn; the chart's (one line) where the runs part, or that they
    # agree (the page's sentence saying so is left out)
    title = COMPARE_TITLE
    if presenting():
        title = AGREE if len(traces) > 1 and charts.first_divergence(traces) is None else None
    out = [("compare", runs.figure("compare", charts.compare_figure, traces, title=title))]
    for name, tr in traces.items():
        if not tr.get("mbr"):                # no MBR section: nothing to draw (and no key to compute, 5-25 ms)
            continue
        fig = runs.figure("mbr", charts.mbr_figure, tr,
                          title=f"{charts.plotly_text(str(name))}: MBR utility matrix (chosen candidate outlined)")
        if fig is not None:
            out.append((f"mbr-{name}", fig))
    return out


TFFR_TITLE = "per reference position: TF vs FR"


def fr_output(cmp: dict) -> str:
    """What free running produced in a TF-vs-FR comparison."""
    fr = cmp.get("fr") or {}
    hyps = fr.get("hypotheses") or []
    return hyps[0]["text"] if hyps else "".join(r.get("fr_token") or "" for r in cmp["rows"])


def fr_output_from(cmp: dict, start: int) -> str:
    """What free running produced from reference position `start` on, after … (the whole output when
    start <= 0): presented, TF vs FR shows both runs from just before the injection, where they part."""
    if start <= 0:
        return fr_output(cmp)
    return "…" + "".join(r.get("fr_token") or "" for r in cmp["rows"][start:])


def undisturbed(base: dict, hit: Optional[dict]) -> bool:
    """Nothing to compare: no injected run, or its free-running output is the undisturbed one's (the
    injected token was the model's own there). The page and the deck export both decide by this."""
    return hit is None or fr_output(hit) == fr_output(base)


def tffr_figures(base: dict, hit: Optional[dict] = None, t: int = 0, label: Any = "") -> list:
    """The TF-vs-FR page's charts through the figure cache, as (name, figure): the comparison alone when
    nothing was injected or the injected run is the undisturbed one; else the recovery chart and the two runs."""
    from dashboard import charts, runs
    if undisturbed(base, hit):
        return [("tffr", runs.figure("tffr", charts.tffr_figure, base, title=TFFR_TITLE))]
    return [("recovery", runs.figure("recovery", charts.recovery_figure, base, hit, t,
                                     title="one wrong note: recovering or derailing?")),
            ("tffr-base", runs.figure("tffr", charts.tffr_figure, base, title="undisturbed", wide=False)),
            ("tffr-injected", runs.figure("tffr", charts.tffr_figure, hit, wide=False,        # side by side
                                          title=f"{charts.plotly_text(repr(label))} injected at step {t}"))]


ENTROPY_TITLE = "attention entropy per step (low = focused, high = spread out)"


def attention_figures(tr: dict, run: str, kind: str, layer: int, head: str, hyp: int) -> tuple:
    """The Attention page's heatmap (a Vega-Lite spec) and entropy chart through the figure cache."""
    from dashboard import charts, runs
    from dashboard.charts.theme import presenting
    from dashboard.url_checks import ATTENTION_KINDS
    title = (f"{ATTENTION_KINDS[kind]}, layer {layer}, " + ("head average" if head == "avg" else f"head {head}")
             + f" · {tr['model'].get('name')} · {run}")        # Vega draws titles as text, not markup
    heat = runs.vega("attention", charts.attention_heatmap, tr, kind, layer or 0, head if head == "avg" else int(head),
                     hyp, title=title, cell=34 if presenting() else 24)
    return heat, runs.figure("attention-entropy", charts.attention_entropy_figure, tr, kind, hyp, title=ENTROPY_TITLE)


def beam_figure(tr: dict, upto: int, hyp: int, show_pruned: bool):
    """The Beam tree page's chart through the figure cache."""
    from dashboard import charts, runs
    return runs.figure("beam-tree", charts.beam_tree_figure, tr, upto, hyp=hyp or 0, show_pruned=show_pruned,
                       title=f"beam search ({tr['beam']['num_beams']} beams) · {charts.plotly_text(str(tr['model'].get('name')))}")
