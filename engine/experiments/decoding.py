"""Experiment 6: decoding strategies (the dashboard's presets) compared by Holtzman et al.'s own
measure — the share of continuations that end in a repetition loop — on >= 100 prompts of text-gpt,
with diversity and (on hmm-gpt) the oracle's likelihood beside it."""
from __future__ import annotations

import numpy as np

from ..checkpoint import load
from ..decoding.presets import PRESETS
from ..stats import N_BOOT, paired_bootstrap, wilson
from ..tokenizer import EOS
from .registry import experiment
from .verdict import make_verdict

MAX_PERIOD = 16          # a loop repeats a block of 1..MAX_PERIOD tokens
MIN_REPEATS = 3          # ... at least this many times in a row, up to the end of the token budget
MIN_SPAN = 12            # ... over at least this many tokens (so "the the" is not a loop)
PREDICTION = ("Maximisation-based decoding (greedy, beam) ends in a repetition loop far more often than "
              "sampling with a truncation rule (top-p), which in turn repeats less but strays further.")


def _ngrams(seq, n):
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


def ends_in_loop(ids: list[int], budget: int) -> bool:
    """True if the continuation ran to its token budget (no end-of-sequence) and its last
    max(MIN_REPEATS * p, MIN_SPAN) tokens repeat a block of p <= MAX_PERIOD tokens (t[i] == t[i - p])."""
    if EOS in ids or len(ids) < budget:
        return False
    for p in range(1, MAX_PERIOD + 1):
        span = max(MIN_REPEATS * p, MIN_SPAN)
        if span > len(ids):
            break
        tail = ids[-span:]
        if all(tail[i] == tail[i - p] for i in range(p, span)):
            return True
    return False


def text_stats(outputs: list[list[str]]) -> dict:
    """Repetition (share of repeated 4-grams within an output), distinct-1/2 over all outputs, Self-BLEU."""
    import sacrebleu
    rep = []
    for toks in outputs:
        g = _ngrams(toks, 4)
        if g:
            rep.append(1 - len(set(g)) / len(g))
    d = {}
    for n in (1, 2):
        allg = [x for toks in outputs for x in _ngrams(toks, n)]
        d[n] = len(set(allg)) / max(1, len(allg))
    texts = [" ".join(t) for t in outputs]
    self_bleu = None
    if len(texts) > 1:
        vals = [sacrebleu.sentence_bleu(texts[i], texts[:i] + texts[i + 1:]).score for i in range(len(texts))]
        self_bleu = sum(vals) / len(vals)
    return {"repetition_4gram": round(sum(rep) / max(1, len(rep)), 4), "distinct_1": round(d[1], 4),
            "distinct_2": round(d[2], 4), "self_bleu": round(self_bleu, 3) if self_bleu is not None else None}


# Holtzman et al.'s comparison (maximisation vs sampling / top-k / top-p), measured by repetition loops on text-gpt
LOOP_STRATEGIES = ("greedy", "beam-4", "pure-sampling", "top-k-40", "top-p-0.9")
# result key (the charts' labels) -> the preset it runs (engine.decoding.presets)
STRATEGIES = {
    "greedy": "greedy",
    "beam-4": "beam 4",
    "temperature-0.7": "sampling T=0.7",
    "top-k-40": "top-k 40",
    "top-p-0.9": "top-p 0.9",
    "typical-0.9": "typical 0.9",
    "min-p-0.1": "min-p 0.1",
    "pure-sampling": "pure sampling",
}


def _text_prompts(n: int, words: int = 6) -> list[str]:
    from ..tasks import get_task
    test = get_task("text").splits(seed=0)["test"]
    return [" ".join(e.tgt.split()[:words]) for e in test if len(e.tgt.split()) > words + 2][:n]


def _loops(quick: bool, seeds: tuple, progress) -> tuple[dict, dict]:
    """Per strategy: the loop indicator of every prompt (mean over the sampling seeds), the Wilson
    interval of the pooled share, and the text statistics of the first seed."""
    from ..decoding import generate_batch
    b = load("text-gpt")
    n, new = (16, 24) if quick else (100, 48)
    prompts = _text_prompts(n)
    per_prompt, rows = {}, {}
    for sname in LOOP_STRATEGIES:
        preset = STRATEGIES[sname]
        sampled = bool(PRESETS[preset].get("do_sample"))
        runs = []
        for s in (seeds if sampled else seeds[:1]):
            progress(f"decoding: text-gpt, {sname}, seed {s} ({len(prompts)} prompts x {new} tokens)")
            cfg = {**PRESETS[preset], "max_new_tokens": new, **({"seed": s} if sampled else {})}
            traces = generate_batch(b, prompts, cfg, record=False, budget=float("inf"))   # fixed size, beyond the page budget
            ids = [list(t.hypotheses[0]["token_ids"]) for t in traces]
            runs.append([ends_in_loop(x, new) for x in ids])
            if len(runs) == 1:
                rows[sname] = text_stats([[b.tokenizer.token_str(i) for i in x if i != EOS] for x in ids])
        loops = np.array(runs, dtype=float)                       # [seeds, prompts]
        per_prompt[sname] = loops.mean(0)
        k, total = int(loops.sum()), loops.size
        share, lo, hi = wilson(k, total)
        rows[sname].update({"loop_share": share, "loop_share_lo": lo, "loop_share_hi": hi, "loops": k,
                            "continuations": total, "seeds": len(runs)})
    meta = {"model": "text-gpt", "prompts": len(prompts), "max_new_tokens": new,
            "loop_rule": f"no end-of-sequence within the budget and the last max({MIN_REPEATS}p, {MIN_SPAN}) tokens "
                         f"repeat a block of p <= {MAX_PERIOD} tokens"}
    return {"meta": meta, "rows": rows, "per_prompt": {k: v.tolist() for k, v in per_prompt.items()}}, per_prompt


def _hmm(quick: bool, sampling_seed: int) -> dict:
    """hmm-gpt: repetition, diversity and the oracle's exact NLL per symbol of each strategy (one seed)."""
    from ..decoding import generate_batch
    from ..tasks.hmm import HMMOracle
    oracle = HMMOracle()
    b = load("hmm-gpt")
    n, new = (6, 12) if quick else (30, 30)
    prompts = [s[:8] for s in oracle.sample(n, seed=777 + sampling_seed)]
    rows = {}
    for sname, preset in STRATEGIES.items():
        cfg = {**PRESETS[preset], "max_new_tokens": new, "seed": sampling_seed}
        traces = generate_batch(b, prompts, cfg, record=False)
        row = text_stats([[b.tokenizer.token_str(i) for i in t.hypotheses[0]["token_ids"] if i != EOS] for t in traces])
        conts = ["".join(ch for ch in t.text if ch in oracle.symbols) for t in traces]
        full = [(p + c)[: oracle.length] for p, c in zip(prompts, conts)]
        nll = [-(oracle.log_prob(f) - oracle.log_prob(p)) / max(1, len(f) - len(p)) for f, p in zip(full, prompts)]
        row["oracle_nll_per_symbol"] = round(sum(nll) / len(nll), 4)
        rows[sname] = row
    return rows


@experiment("decoding", "Decoding strategies: repetition loops, diversity and (oracle) likelihood",
            "Holtzman et al. (2020) show that maximisation-based decoding (greedy, beam) produces repetitive, "
            "low-diversity text, measured by the share of continuations that end in a repetition loop, while pure "
            "sampling is diverse but strays into unlikely text, with truncation (top-k, top-p, typical, min-p) in "
            "between. Here each strategy continues the same held-out prompts of text-gpt (sampling strategies once "
            "per seed), and the same prompts of hmm-gpt, scored by the oracle's exact NLL.")
def decoding(quick: bool, seeds: tuple, progress):
    loops, per_prompt = _loops(quick, seeds, progress)
    progress(f"decoding: hmm-gpt, all strategies, seed {seeds[0]}")
    hmm = _hmm(quick, seeds[0])
    est, lo, hi = paired_bootstrap(per_prompt["top-p-0.9"], per_prompt["greedy"], n_boot=N_BOOT, seed=0)
    r = loops["rows"]
    m = loops["meta"]
    text = (f"Continuations of {m['prompts']} prompts ({m['max_new_tokens']} tokens) ending in a repetition loop: "
            + ", ".join(f"{s} {r[s]['loop_share']:.2f} [{r[s]['loop_share_lo']:.2f}, {r[s]['loop_share_hi']:.2f}]"
                        for s in LOOP_STRATEGIES)
            + f". Greedy minus top-p: {est:+.3f} [{lo:+.3f}, {hi:+.3f}]. hmm-gpt oracle NLL per symbol: greedy "
              f"{hmm['greedy']['oracle_nll_per_symbol']}, pure sampling {hmm['pure-sampling']['oracle_nll_per_symbol']}.")
    verdict = make_verdict(
        prediction=PREDICTION,
        test=(f"share of text-gpt continuations ending in a repetition loop, greedy minus top-p 0.9, paired over "
              f"{m['prompts']} prompts (top-p: mean over {len(seeds)} sampling seeds per prompt); paired bootstrap "
              f"({N_BOOT} resamples), 95% percentile interval; Wilson intervals per strategy"),
        estimate=est, lo=lo, hi=hi, text=text, n=m["prompts"])
    return {"text-gpt": r, "text-gpt-meta": m, "text-gpt-per-prompt": loops["per_prompt"], "hmm-gpt": hmm}, verdict
