"""Experiment 4: the beam-search curse (quality and length against beam width) on text-gpt."""
from __future__ import annotations

import math

from ..checkpoint import load
from ..tokenizer import EOS
from .registry import experiment


@experiment("beam-curse", "The beam-search curse: quality and length against beam width",
            "Koehn and Knowles (2017) and Stahlberg and Byrne (2019) report that wider beams find higher-"
            "probability but shorter, worse outputs when scores are not normalised by length, and that length "
            "normalisation limits the damage. Here text-gpt continues held-out paragraphs with beam widths 1 to "
            "64, scored by chrF against the real continuation, with the sum of log-probabilities (length_penalty "
            "0) and with the mean per token (length_penalty 1).")
def beam_curse(quick: bool, seed: int):
    import sacrebleu
    from ..decoding import generate_batch
    from ..tasks import get_task
    name = "text-gpt"
    b = load(name)
    n, new = (3, 8) if quick else (24, 32)
    widths = (1, 4) if quick else (1, 2, 4, 8, 16, 32, 64)
    prompt_words = 8
    paras = [e.tgt for e in get_task("text").splits(seed=seed)["test"] if len(e.tgt.split()) > prompt_words + 4][:n]
    prompts = [" ".join(p.split()[:prompt_words]) for p in paras]
    # the reference: the paragraph's real continuation, cut to the same token budget as the outputs
    refs = []
    for p, q in zip(paras, prompts):
        ids = b.tokenizer.encode(p[len(q):]).ids[:new]
        refs.append(b.tokenizer.decode(ids).strip())
    ref_tokens = sum(len(b.tokenizer.encode(r).ids) for r in refs)
    rows = []
    for lp in (0.0, 1.0):
        for w in widths:
            cfg = {"num_beams": w, "length_penalty": lp, "max_new_tokens": new} if w > 1 else {"max_new_tokens": new}
            traces = generate_batch(b, prompts, cfg, record=False, budget=math.inf)   # fixed sizes: beyond the page budget on purpose
            outs = [t.text.strip() for t in traces]
            n_tok = [len([i for i in t.hypotheses[0]["token_ids"] if i != EOS]) for t in traces]
            scores = [t.hypotheses[0].get("score") for t in traces]
            rows.append({"beam": w, "length_penalty": lp,
                         "quality": round(sacrebleu.corpus_chrf(outs, [refs]).score, 2),
                         "length_ratio": round(sum(n_tok) / max(1, ref_tokens), 4),
                         "empty_outputs": sum(o == "" for o in outs),
                         "mean_log_prob": round(sum(s for s in scores if s is not None) / max(1, sum(s is not None for s in scores)), 4)})
    raw = [r for r in rows if r["length_penalty"] == 0.0]
    norm = [r for r in rows if r["length_penalty"] == 1.0]
    drop_raw = raw[0]["quality"] - raw[-1]["quality"]
    drop_norm = norm[0]["quality"] - norm[-1]["quality"]
    shorter = raw[-1]["length_ratio"] < raw[0]["length_ratio"]
    unchanged = all(r["quality"] == raw[0]["quality"] and r["length_ratio"] == raw[0]["length_ratio"] for r in rows)
    agrees = None if unchanged else (shorter and drop_raw > 0 and drop_raw >= drop_norm)
    verdict = (f"widest beam vs greedy without normalisation: chrF {raw[-1]['quality']:.1f} vs {raw[0]['quality']:.1f}, "
               f"length ratio {raw[-1]['length_ratio']:.3f} vs {raw[0]['length_ratio']:.3f}, mean log-probability "
               f"{raw[-1]['mean_log_prob']:.2f} vs {raw[0]['mean_log_prob']:.2f}; with normalisation chrF "
               f"{norm[-1]['quality']:.1f}, length ratio {norm[-1]['length_ratio']:.3f}: "
               + ("inconclusive (nothing changes with the beam width)." if agrees is None else
                  "agrees (wide unnormalised beams are shorter and worse; normalisation loses no more)." if agrees
                  else "does not agree (no beam curse on this model and budget)."))
    return {"model": name, "examples": n, "quality": "chrF", "max_new_tokens": new, "rows": rows}, agrees, verdict
