"""Experiment 6: decoding strategies (the dashboard's presets) compared on repetition, diversity
and the oracle's likelihood."""
from __future__ import annotations

from ..checkpoint import load
from ..decoding.presets import PRESETS
from ..tokenizer import EOS
from .registry import experiment


def _ngrams(seq, n):
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]


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


@experiment("decoding", "Decoding strategies: repetition, diversity and (oracle) likelihood",
            "Holtzman et al. (2020) show that maximisation-based decoding (greedy, beam) produces repetitive, "
            "low-diversity text while pure sampling is diverse but strays into unlikely text, with truncation "
            "(top-k, top-p, typical, min-p) in between. Here each strategy continues the same prompts of hmm-gpt "
            "(scored by the oracle's exact NLL) and text-gpt.")
def decoding(quick: bool, seed: int):
    from ..decoding import generate_batch
    from ..tasks import get_task
    from ..tasks.hmm import HMMOracle
    oracle = HMMOracle()
    out = {}
    for name, n, new in (("hmm-gpt", 6 if quick else 60, 12 if quick else 40),
                         ("text-gpt", 3 if quick else 16, 8 if quick else 48)):
        b = load(name)
        task = get_task(b.task)
        if name == "hmm-gpt":
            prompts = [s[:8] for s in oracle.sample(n, seed=777 + seed)]
        elif quick:
            prompts = task.examples()[:n]
        else:
            prompts = [" ".join(e.tgt.split()[:6]) for e in task.splits(seed=seed)["test"] if len(e.tgt.split()) > 8][:n]
        rows = {}
        for sname, preset in STRATEGIES.items():
            cfg = {**PRESETS[preset], "max_new_tokens": new, "seed": seed}
            traces = generate_batch(b, prompts, cfg, record=False)
            toks = [[b.tokenizer.token_str(i) for i in t.hypotheses[0]["token_ids"] if i != EOS] for t in traces]
            row = text_stats(toks)
            if name == "hmm-gpt":
                conts = ["".join(ch for ch in t.text if ch in oracle.symbols) for t in traces]
                full = [(p + c)[: oracle.length] for p, c in zip(prompts, conts)]
                nll = [-(oracle.log_prob(f) - oracle.log_prob(p)) / max(1, len(f) - len(p)) for f, p in zip(full, prompts)]
                row["oracle_nll_per_symbol"] = round(sum(nll) / len(nll), 4)
            rows[sname] = row
        out[name] = rows
    t = out["text-gpt"]
    h = out["hmm-gpt"]
    agrees = (max(t["greedy"]["repetition_4gram"], t["beam-4"]["repetition_4gram"]) >= t["pure-sampling"]["repetition_4gram"]
              and h["pure-sampling"]["distinct_2"] >= h["greedy"]["distinct_2"])
    verdict = (f"text-gpt repeated 4-grams: greedy {t['greedy']['repetition_4gram']}, beam {t['beam-4']['repetition_4gram']}, "
               f"pure sampling {t['pure-sampling']['repetition_4gram']}; hmm-gpt oracle NLL/symbol: greedy "
               f"{h['greedy'].get('oracle_nll_per_symbol')}, pure sampling {h['pure-sampling'].get('oracle_nll_per_symbol')}: "
               + ("agrees (maximisation repeats more, sampling is more diverse)." if agrees else "does not agree."))
    return out, agrees, verdict
