"""Experiment 4: the beam-search curse — Koehn and Knowles's quality-vs-beam-width curve with the
empty / too-short output rate. The verdict rests on small GRUs trained here on 1- to 4-digit sums
(small_models.py: one per seed, within SMALL_STEPS they learn about half of the sums, so their
distributions are uncertain, as a translation model's are); beside them two shipped seq2seq models,
dates-gru-attn (handwritten dates and held-out test subsets) and addition-gru (held-out sums), whose
outputs no beam width changes (the full run: the setup of a sure model cannot show the curse)."""
from __future__ import annotations

import numpy as np

from ..checkpoint import load
from ..stats import N_BOOT, mcnemar_exact, paired_bootstrap, t_interval, wilson
from ..tokenizer import EOS
from .registry import experiment
from .small_models import SMALL_TASK, small_budget, small_config
from .verdict import make_verdict

MODELS = {"dates-gru-attn": "dates", "addition-gru": "addition"}     # shipped model -> task
SMALL = "small GRU (trained here)"                     # one trained per seed
SMALL_N = 100                                                       # test sums per seed (full mode)
PREDICTION = ("Without length normalisation, quality falls at large beam widths (wider beams find higher-"
              "probability but shorter outputs), and the share of empty or too-short outputs rises.")


def _subset(task: str, n: int, seed: int):
    from ..tasks import get_task
    return get_task(task).splits(seed=seed, sizes={"train": 0, "valid": 0, "test": n})["test"][:n]


def decode_rows(bundle, examples, width: int, lp: float) -> dict:
    """Per example at this beam width and length penalty: exact match, too short (fewer tokens than
    the reference), empty, length / reference length, and the output text."""
    from ..decoding import generate_batch
    cfg = {"max_new_tokens": 24} if width == 1 else {"num_beams": width, "length_penalty": lp, "max_new_tokens": 24}
    traces = generate_batch(bundle, [e.src for e in examples], cfg, record=False, budget=float("inf"))
    out = {"exact": [], "short": [], "empty": [], "length": []}
    texts = []
    for t, e in zip(traces, examples):
        ids = [i for i in t.hypotheses[0]["token_ids"] if i != EOS]
        ref = len(bundle.tokenizer.encode(e.tgt).ids)
        out["exact"].append(t.text.strip() == e.tgt)
        out["short"].append(len(ids) < ref)
        out["empty"].append(len(ids) == 0)
        out["length"].append(len(ids) / max(1, ref))
        texts.append(t.text)
    res = {k: np.array(v, dtype=float) for k, v in out.items()}
    res["text"] = texts
    return res


def _sets(quick: bool, seeds: tuple) -> dict:
    """model -> {set name: examples}: the dates model gets the handwritten set and one held-out test
    subset per seed, the adder one held-out test subset per seed."""
    from ..tasks.dates import handwritten
    n = 8 if quick else 30
    out = {}
    for m, task in MODELS.items():
        sets = {"handwritten": handwritten()[:16] if quick else handwritten()} if task == "dates" else {}
        sets.update({f"test subset {s}": _subset(task, n, s) for s in seeds})
        out[m] = sets
    out[SMALL] = {f"test subset {s}": _subset(SMALL_TASK, 8 if quick else SMALL_N, s) for s in seeds}
    return out


def _small_models(quick: bool, seeds: tuple, progress) -> dict:
    """seed -> a small GRU trained on SMALL_TASK with that seed (in memory, engine.training.fit)."""
    from ..training import fit
    steps, _ = small_budget(quick)
    out = {}
    for s in seeds:
        progress(f"beam-curse: training the small GRU of seed {s} ({steps} steps)")
        out[s] = fit({**small_config(f"beam-curse-small-{s}", quick), "steps": steps}, seed=s)
    return out


def _changed_sentence(changed: dict, wide: int, totals: dict) -> str:
    """What the wider searches did to the outputs, from the counts of outputs that differ from greedy's."""
    if not any(changed.values()):
        return (f"No beam width up to {wide}, with or without length normalisation, changed a single output of "
                f"the shipped models ({' and '.join(f'{totals[m]} inputs of {m}' for m in totals)}): the search "
                "finds no hypothesis scored above greedy's, so these models cannot show the curse. They are sure of "
                "the length of their answers (the too-short rate is the same at every width); Koehn and Knowles "
                "saw the curse on translation models, whose most probable output is often short or empty "
                "(Stahlberg and Byrne 2019).")
    return ("Outputs that differ from greedy's at some width: "
            + ", ".join(f"{m} {changed[m]} of {totals[m]}" for m in changed) + ".")


@experiment("beam-curse", "The beam-search curse: quality and too-short outputs against beam width",
            "Koehn and Knowles (2017) and Stahlberg and Byrne (2019) report that wider beams find higher-"
            "probability but shorter, worse outputs when scores are not normalised by length, and that length "
            "normalisation limits the damage. Here two shipped seq2seq models decode held-out inputs with beam "
            "widths 1 to 64, with the sum of log-probabilities (length_penalty 0) and, at some widths, the mean "
            "per token (length_penalty 1), scored by exact match. The verdict: small GRUs trained here on 1- to "
            "4-digit sums for 1,000 steps, one per seed (they get about half of the sums right: uncertain, as a "
            "translation model is), each on 100 held-out sums. Beside them the shipped dates-gru-attn (free-form "
            "date to ISO date; the 96 handwritten dates of its model card and one test subset per seed) and "
            "addition-gru (sums of up to 7 digits; one test subset per seed).")
def beam_curse(quick: bool, seeds: tuple, progress):
    widths = (1, 4, 16) if quick else (1, 2, 4, 8, 16, 32, 64)
    normalised = (16,) if quick else (8, 64)
    wide = widths[-1]
    sets = _sets(quick, seeds)
    small = _small_models(quick, seeds, progress)
    per = {}                                     # (model, set, lp, width) -> arrays
    for m, msets in sets.items():
        b = load(m) if m != SMALL else None
        for src, ex in msets.items():
            if m == SMALL:
                b = small[int(src.rsplit(" ", 1)[1])]          # each test subset with the model of its seed
            progress(f"beam-curse: {m}, {src} ({len(ex)} inputs), widths {', '.join(map(str, widths))}")
            for w in widths:
                per[(m, src, 0.0, w)] = decode_rows(b, ex, w, 0.0)
            for w in normalised:
                per[(m, src, 1.0, w)] = decode_rows(b, ex, w, 1.0)
    keys = sorted({(lp, w) for _, _, lp, w in per})
    fields = ("exact", "short", "empty", "length")
    cat = {}                                     # (model, lp, width) -> arrays over the model's inputs
    for m, msets in sets.items():
        for k in keys:
            cat[(m, *k)] = {f: np.concatenate([per[(m, src, *k)][f] for src in msets]) for f in fields}
            cat[(m, *k)]["text"] = [t for src in msets for t in per[(m, src, *k)]["text"]]
    rows, changed = [], {}
    for m, msets in sets.items():
        greedy = cat[(m, 0.0, 1)]["text"]
        changed[m] = sum(any(cat[(m, *k)]["text"][i] != g for k in keys) for i, g in enumerate(greedy))
        for lp, w in keys:
            d = cat[(m, lp, w)]
            total = len(d["exact"])
            em, em_lo, em_hi = wilson(int(d["exact"].sum()), total)
            sh, sh_lo, sh_hi = wilson(int(d["short"].sum()), total)
            row = {"model": m, "beam": w, "length_penalty": lp, "exact_match": em, "exact_match_lo": em_lo,
                   "exact_match_hi": em_hi, "too_short": sh, "too_short_lo": sh_lo, "too_short_hi": sh_hi,
                   "empty": int(d["empty"].sum()), "length_ratio": float(d["length"].mean()),
                   "differs_from_greedy": sum(t != g for t, g in zip(d["text"], greedy)), "n": total}
            if "handwritten" in msets:
                row["handwritten_exact_match"] = float(per[(m, "handwritten", lp, w)]["exact"].mean())
            rows.append(row)
    shipped = [m for m in sets if m != SMALL]
    g, x = cat[(SMALL, 0.0, 1)], cat[(SMALL, 0.0, wide)]
    n_small = len(sets[SMALL][f"test subset {seeds[0]}"])
    per_seed = [float(per[(SMALL, f"test subset {s}", 0.0, 1)]["exact"].mean()
                      - per[(SMALL, f"test subset {s}", 0.0, wide)]["exact"].mean()) for s in seeds]
    est, lo, hi = t_interval(per_seed)
    b_est, b_lo, b_hi = paired_bootstrap(x["exact"], g["exact"], n_boot=N_BOOT, seed=0)
    s_est, s_lo, s_hi = paired_bootstrap(g["short"], x["short"], n_boot=N_BOOT, seed=1)
    p = mcnemar_exact(g["exact"] > 0, x["exact"] > 0)
    total = len(g["exact"])
    totals = {m: len(cat[(m, 0.0, 1)]["exact"]) for m in sets}
    xn = cat[(SMALL, 1.0, normalised[-1])]
    small_text = (f"Small GRUs ({len(seeds)} training seeds x {n_small} sums), exact match without length normalisation, "
                  f"width 1 vs {wide}: {g['exact'].mean():.3f} vs {x['exact'].mean():.3f}; greedy minus width {wide} "
                  f"per seed {', '.join(f'{v:+.3f}' for v in per_seed)}, mean {est:+.4f} [{lo:+.4f}, {hi:+.4f}] "
                  f"(t interval over seeds; pooled paired bootstrap {b_est:+.4f} [{b_lo:+.4f}, {b_hi:+.4f}], McNemar "
                  f"p = {p:.2g}). Too-short outputs, width {wide} minus greedy: {s_est:+.4f} [{s_lo:+.4f}, {s_hi:+.4f}]; "
                  f"empty outputs at width {wide}: {int(x['empty'].sum())} of {total} (greedy {int(g['empty'].sum())}); "
                  f"length / reference {g['length'].mean():.2f} -> {x['length'].mean():.2f}. Length-normalised at width "
                  f"{normalised[-1]}: exact match {xn['exact'].mean():.3f}, too short {xn['short'].mean():.3f}.")
    shipped_text = "; ".join(
        f"{m} {cat[(m, 0.0, 1)]['exact'].mean():.3f} vs {cat[(m, 0.0, wide)]['exact'].mean():.3f} ({totals[m]} inputs)"
        for m in shipped)
    text = (small_text + f" Shipped models, width 1 vs {wide}: {shipped_text}. "
            + _changed_sentence({m: changed[m] for m in shipped}, wide, {m: totals[m] for m in shipped}))
    verdict = make_verdict(
        prediction=PREDICTION,
        test=(f"exact match at beam width 1 minus width {wide} (length_penalty 0) of the small GRUs trained here, one "
              f"difference per training seed ({len(seeds)} seeds, each on {n_small} held-out sums, paired within the "
              "seed), Student t 95% interval over the seeds; beside it the pooled paired bootstrap "
              f"({N_BOOT} resamples) and exact McNemar, the too-short rate compared the same way, Wilson intervals per "
              "width; the shipped models are shown, not tested"),
        estimate=est, lo=lo, hi=hi, text=text, p=p, n=total)
    data = {"models": list(sets), "model": ", ".join(sets), "sets": {m: {k: len(v) for k, v in s.items()}
                                                                    for m, s in sets.items()},
            "widths": list(widths), "quality": "exact match", "rows": rows, "changed_outputs": changed,
            "too_short_test": {"estimate": s_est, "lo": s_lo, "hi": s_hi}, "small_per_seed": per_seed,
            "small_pooled_bootstrap": {"estimate": b_est, "lo": b_lo, "hi": b_hi}}
    return data, verdict
