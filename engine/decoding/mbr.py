"""Minimum Bayes risk decoding and n-best reranking with sacrebleu's chrF or BLEU.

MBR picks, among candidates y_1..y_N, the one with the highest expected utility against the others
taken as pseudo-references: EU(i) = sum_j w_j u(y_i, y_j). Candidates are N ancestral samples
(w_j = 1/N: the Monte-Carlo estimate of the model's distribution; duplicates count as often as they
were drawn) or a beam search n-best list (w_j = softmax of the sequence log-probs). Utilities of
identical text pairs are computed once (cache by text pair)."""
from __future__ import annotations

import math
from typing import Optional, Sequence

from sacrebleu.metrics import BLEU, CHRF

from ..trace import Trace, schema
from . import sampling
from .beam import beam_search
from .config import GenerationConfig
from .recorder import g

_METRICS = {}


def _metric(name: str):
    if name not in _METRICS:
        if name == "chrf":
            _METRICS[name] = CHRF()
        elif name == "bleu":
            _METRICS[name] = BLEU(effective_order=True)
        else:
            raise ValueError(f"utility {name!r} is not allowed: 'chrf' or 'bleu'")
    return _METRICS[name]


def utility(hyp: str, ref: str, name: str = "chrf") -> float:
    """sacrebleu sentence chrF / BLEU of hyp against one reference, scaled to [0, 1]."""
    if not hyp.strip() or not ref.strip():
        return 1.0 if hyp.strip() == ref.strip() else 0.0
    return _metric(name).sentence_score(hyp, [ref]).score / 100.0


def utility_matrix(texts: Sequence[str], name: str = "chrf") -> tuple[list[list[float]], int]:
    """matrix[i][j] = u(texts[i], texts[j]); returns the matrix and how many distinct pairs were scored."""
    cache: dict[tuple[str, str], float] = {}
    m = []
    for a in texts:
        row = []
        for b in texts:
            key = (a, b)
            if key not in cache:
                cache[key] = utility(a, b, name)
            row.append(cache[key])
        m.append(row)
    return m, len(cache)


def expected_utilities(matrix: list[list[float]], weights: Optional[Sequence[float]] = None) -> list[float]:
    n = len(matrix)
    w = list(weights) if weights is not None else [1.0 / n] * n
    return [sum(wj * mij for wj, mij in zip(w, row)) for row in matrix]


def _softmax(xs: Sequence[float]) -> list[float]:
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    s = sum(e)
    return [x / s for x in e]


def mbr_section(hyps: list[dict], source: str, name: str, weighted: bool) -> tuple[dict, list[dict]]:
    if not hyps:
        search = "n-best search" if source == "nbest" else "sampling"
        raise ValueError(f"MBR has no candidates to choose from: the {search} returned no hypothesis "
                         "(the decoding rules removed every continuation)")
    texts = [h["text"] for h in hyps]
    matrix, n_scored = utility_matrix(texts, name)
    weights = _softmax([h["score"] if h["score"] is not None else -1e9 for h in hyps]) if weighted else None
    eu = expected_utilities(matrix, weights)
    chosen = max(range(len(eu)), key=lambda i: (eu[i], -i))
    order = sorted(range(len(hyps)), key=lambda i: (-eu[i], i))
    ranked = [dict(hyps[i], candidate=i, expected_utility=g(eu[i])) for i in order]
    section = schema.mbr_section(candidates=texts, source=source, utility=name,
                                 matrix=[[g(x, 5) for x in row] for row in matrix],
                                 expected_utility=[g(x) for x in eu],
                                 weights=[g(x) for x in (weights or [1.0 / len(hyps)] * len(hyps))],
                                 chosen=chosen, pairs_scored=n_scored)
    return section, ranked


def run_mbr(bundle, prep, config: GenerationConfig, recorder, d: dict) -> dict:
    """An MBR run into its trace `d` (beam graph, MBR section, hypotheses ranked by expected utility):
    candidates from samples or a beam n-best list. Returns the strategy's result (steps, warnings, timing)."""
    if config.mbr_source == "samples":
        res = sampling.run(bundle, [prep], config, recorder, seeds=[d["seed"]], sample=True,
                           rows_per_input=config.mbr_num_samples)[0]
        hyps = [dict(h) for h in sampling.ranked_hypotheses(bundle, res["rows"], config)]
        hyps.sort(key=lambda h: h["slot"])      # candidate i = sample i
    else:
        res = beam_search(bundle, prep, config, recorder, num_beams=config.mbr_num_samples,
                          num_return=config.mbr_num_samples)
        hyps = res["hypotheses"]
        d["beam"] = res["beam"]
    section, ranked = mbr_section(hyps, config.mbr_source, config.mbr_utility, weighted=config.mbr_source == "nbest")
    d["mbr"] = section
    d["hypotheses"] = ranked[:config.num_return_sequences]
    return res


def rerank(trace: Trace, utility_name: str = "chrf", reference: Optional[str] = None) -> Trace:
    """Rerank a trace's hypotheses (e.g. a beam n-best list) by a utility: against `reference` when given
    (oracle reranking), else by expected utility against the other hypotheses weighted by their
    sequence probabilities (consensus / MBR reranking). Returns a new Trace with `mbr` filled in."""
    _metric(utility_name)
    out = trace.copy()
    d = out.to_dict()
    hyps = d["hypotheses"]
    if not hyps:
        raise ValueError("the trace has no hypotheses to rerank")
    if reference is not None:
        if not isinstance(reference, str):
            raise ValueError("reference must be a string")
        scores = [utility(h["text"], reference, utility_name) for h in hyps]
        order = sorted(range(len(hyps)), key=lambda i: (-scores[i], i))
        d["mbr"] = schema.mbr_section(candidates=[h["text"] for h in hyps], source="nbest", utility=utility_name,
                                      matrix=[], expected_utility=[g(s) for s in scores], chosen=order[0],
                                      reference=reference)
        d["hypotheses"] = [dict(hyps[i], candidate=i, expected_utility=g(scores[i])) for i in order]
        return schema.finish(d)
    section, ranked = mbr_section(hyps, "nbest", utility_name, weighted=True)
    d["mbr"], d["hypotheses"] = section, ranked
    return schema.finish(d)
