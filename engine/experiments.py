"""The exposure-bias lab's eight experiments: `python -m engine experiment NAME [--quick] --out FILE`.

Each experiment is one function returning a JSON-able dict with a title, a two-sentence caption of
what the literature predicts, the measured data, and a computed verdict line saying whether this run
agrees (`agrees`: true / false). `--quick` runs a reduced size (for tests); the full size stays within
about 5 minutes on a 2-core CPU. Results are saved atomically and render again without rerunning.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import torch

from . import exposure as ex
from .checkpoint import Bundle, atomic_write_text, load
from .tokenizer import EOS

EXPERIMENTS: dict[str, Callable] = {}


def experiment(name: str, title: str, caption: str):
    def wrap(fn):
        def run(quick: bool = False, seed: int = 0) -> dict:
            torch.manual_seed(seed)
            t = time.time()
            data, agrees, verdict = fn(quick, seed)
            return {"name": name, "title": title, "caption": caption, "quick": quick, "seed": seed,
                    "agrees": bool(agrees) if agrees is not None else None, "verdict": verdict, "data": data,
                    "seconds": round(time.time() - t, 1)}
        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        EXPERIMENTS[name] = run
        return run
    return wrap


def _sel(res: dict) -> dict:
    keep = ("per_position", "sequence", "calibration", "recovery", "compounding", "drift")
    return {k: res[k] for k in keep if k in res}


# -- small models trained inside an experiment ------------------------------------------------------

def _fit(cfg_dict: dict, steps: int, seed: int = 0):
    """Train a small model in memory with the project's loss functions (no checkpoint written)."""
    from .models import build_model
    from .train import Data, TrainConfig, lm_loss, lr_at, seq2seq_loss
    cfg = TrainConfig.from_dict({"batch_size": 64, "lr": 3e-3, "warmup": max(1, steps // 10), "seed": seed,
                                 **cfg_dict, "steps": steps})
    torch.manual_seed(seed)
    data = Data(cfg)
    model = build_model(cfg.arch, {**cfg.model, "vocab_size": data.tok.vocab_size})
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed + 17)
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = data.batch(step)
        eps = cfg.gold_prob(step)
        loss = seq2seq_loss(model, batch, cfg, gen, eps) if data.seq2seq else lm_loss(model, batch, cfg, gen, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
    model.eval()
    bundle = Bundle(cfg.name, model, data.tok, {"name": cfg.name, "task": cfg.task, "kind": data.task.kind,
                                                 "arch": cfg.arch, "model": cfg.model})
    return bundle


SMALL_GRU = {"d_emb": 32, "d_hidden": 64, "d_attn": 32, "dropout": 0.0, "max_len": 24}


def _small_addition(name: str, quick: bool, task: str = "addition", **kw) -> dict:
    return {"name": name, "task": task, "arch": "gru-attn", "model": SMALL_GRU,
            "data_sizes": {"train": 2000 if quick else 100_000, "valid": 10, "test": 10}, **kw}


# Experiments 2, 7 and 8 train small GRUs on 1- to 4-digit sums: within SMALL_STEPS they learn about
# half of them (on the full 7-digit task they reach ~6%, and the comparisons would be noise).
SMALL_TASK, SMALL_STEPS, SMALL_EXAMPLES = "addition4", 1000, 1000


def _small_budget(quick: bool) -> tuple[int, int]:
    """(training steps, test examples) of the small-GRU experiments; tiny with --quick."""
    return (12, 40) if quick else (SMALL_STEPS, SMALL_EXAMPLES)


def _train_and_score(name: str, quick: bool, steps: int, n: int, seed: int, **opts) -> tuple[Bundle, dict]:
    """A small GRU trained on SMALL_TASK with these training options, and its scores on n test sums
    ('seconds': training plus scoring)."""
    t = time.time()
    b = _fit(_small_addition(name, quick, task=SMALL_TASK, **opts), steps, seed)
    return b, {**_scores(b, n, seed), "seconds": round(time.time() - t, 1)}


def _scores(bundle, n: int, seed: int) -> dict:
    res = ex.analyze(None, n=n, seed=seed, n_boot=50, bundle=bundle, oracle=False)
    s = res["sequence"]
    return {"fr_exact_match": s["fr_exact_match"], "tf_token_error": s["tf_token_error"],
            "fr_token_error": s["fr_token_error"], "per_position_tf_error": res["per_position"]["tf_error"],
            "per_position_fr_error": res["per_position"]["fr_error"], "tf_ece": res["calibration"]["tf_ece"]}


# -- 1 ----------------------------------------------------------------------------------------------

@experiment("tf-vs-fr", "Teacher forcing vs free running, per position (TF-trained vs SS-trained)",
            "Bengio et al. (2015) predict that a teacher-forced model's errors grow when it runs on its own "
            "prefixes, and that scheduled sampling narrows the gap between teacher-forced and free-running "
            "error. Here both addition models are measured on the same held-out sums, position by position.")
def tf_vs_fr(quick: bool, seed: int):
    n = 100 if quick else 1000
    out = {}
    for name in ("addition-gru", "addition-gru-ss"):
        out[name] = _sel(ex.analyze(name, n=n, seed=seed, n_boot=50 if quick else 200, oracle=False))
    gap = {k: v["sequence"]["fr_token_error"] - v["sequence"]["tf_token_error"] for k, v in out.items()}
    em = {k: v["sequence"]["fr_exact_match"] for k, v in out.items()}
    agrees = gap["addition-gru-ss"] <= gap["addition-gru"]
    verdict = (f"FR - TF token-error gap: TF-trained {gap['addition-gru']:.4f}, SS-trained "
               f"{gap['addition-gru-ss']:.4f}; exact match {em['addition-gru']:.3f} vs {em['addition-gru-ss']:.3f}: "
               + ("agrees (SS narrows the gap)." if agrees else "does not agree (SS does not narrow the gap here)."))
    return out, agrees, verdict


# -- 2 ----------------------------------------------------------------------------------------------

def _inverse_sigmoid_k(steps: int, target: float) -> float:
    """k with k / (k + exp(steps / k)) = target (bisection; the value decreases as k decreases)."""
    lo, hi = 1.0, float(steps)
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid / (mid + math.exp(min(700.0, steps / mid))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@experiment("ss-schedules", "Scheduled-sampling schedules compared (plus always-gold and always-sampled)",
            "Bengio et al. (2015) found that decaying the gold-token probability (linear, exponential or inverse "
            "sigmoid) beats always feeding gold tokens, while always feeding the model's own tokens from the "
            "start trains poorly. Here small GRUs learn addition of 1- to 4-digit numbers with each schedule on "
            "the same budget (1000 steps, where teacher forcing reaches about half the sums) and are scored by "
            "free-running exact match.")
def ss_schedules(quick: bool, seed: int):
    steps, n = _small_budget(quick)
    final = 0.25
    schedules = {
        "always-gold": {"ss_schedule": "constant", "ss_k": 1.0},
        "linear": {"ss_schedule": "linear", "ss_k": 1.0, "ss_c": (1 - final) / steps, "ss_eps_min": final},
        "exponential": {"ss_schedule": "exponential", "ss_k": final ** (1 / steps)},
        "inverse-sigmoid": {"ss_schedule": "inverse_sigmoid", "ss_k": _inverse_sigmoid_k(steps, final)},
        "always-sampled": {"ss_schedule": "constant", "ss_k": 0.0},
    }
    out = {}
    for name, opts in schedules.items():
        _, sc = _train_and_score(name, quick, steps, n, seed, **opts)
        out[name] = {**sc, "schedule": opts}
    em = {k: v["fr_exact_match"] for k, v in out.items()}
    best_decay = max(em[k] for k in ("linear", "exponential", "inverse-sigmoid"))
    agrees = em["always-sampled"] <= min(em.values()) and best_decay >= em["always-gold"]
    if max(em.values()) == min(em.values()):
        agrees = None
    verdict = ("free-running exact match: " + ", ".join(f"{k} {v:.3f}" for k, v in em.items()) + "; "
               + ("inconclusive (every schedule scores the same on this budget)." if agrees is None else
                  "agrees (a decaying schedule is at least as good as always-gold, always-sampled is worst)."
                  if agrees else "does not agree with that ordering on this budget."))
    return {"task": SMALL_TASK, "steps": steps, "examples": n, "final_eps": final, "models": out}, agrees, verdict


# -- 3 ----------------------------------------------------------------------------------------------

@experiment("recovery", "Error injection and recovery",
            "Under teacher forcing a model never sees its own mistakes, so the sources predict it has not learned "
            "to recover from a wrong token, while training on its own tokens (scheduled sampling) should help. "
            "Here the model's best wrong token is forced at step t0 and the share back on the gold track is "
            "measured against the steps since the injection.")
def recovery(quick: bool, seed: int):
    n = 100 if quick else 1000
    out = {}
    for name in ("addition-gru", "addition-gru-ss"):
        b = load(name)
        inp = ex.make_inputs(b, n, seed=seed)
        out[name] = {f"t0={t0}": ex.recovery(b.model, inp, t0=t0) for t0 in ((1,) if quick else (0, 1, 2, 3))}

    def score(name):
        vals = [r["injected_sequence_correct"] for r in out[name].values() if r.get("injected_sequence_correct") is not None]
        return sum(vals) / len(vals) if vals else float("nan")

    tf, ss = score("addition-gru"), score("addition-gru-ss")
    agrees = ss >= tf
    base = [r["uninjected_sequence_correct"] for r in out["addition-gru"].values()]
    verdict = (f"rest of the sequence right after an injected error (mean over t0): TF-trained {tf:.3f}, "
               f"SS-trained {ss:.3f} (TF-trained without injection {sum(base) / len(base):.3f}): "
               + ("agrees (the SS-trained model recovers at least as often)." if agrees
                  else "does not agree (the TF-trained model recovers more often)."))
    return out, agrees, verdict


# -- 4 ----------------------------------------------------------------------------------------------

@experiment("beam-curse", "The beam-search curse: quality and length against beam width",
            "Koehn and Knowles (2017) and Stahlberg and Byrne (2019) report that wider beams find higher-"
            "probability but shorter, worse outputs when scores are not normalised by length, and that length "
            "normalisation limits the damage. Here text-gpt continues held-out paragraphs with beam widths 1 to "
            "64, scored by chrF against the real continuation, with the sum of log-probabilities (length_penalty "
            "0) and with the mean per token (length_penalty 1).")
def beam_curse(quick: bool, seed: int):
    import sacrebleu
    from .decoding import generate_batch
    from .tasks import get_task
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
            traces = generate_batch(b, prompts, cfg, record=False)
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


# -- 5 ----------------------------------------------------------------------------------------------

@experiment("label-smoothing", "Label smoothing vs calibration",
            "Label smoothing spreads probability away from the top token, which Müller et al. (2019) show reduces "
            "the over-confidence of networks trained with hard targets and so lowers the calibration error, "
            "while a model that was already calibrated can become under-confident. Here expected calibration "
            "error and the reliability diagram are measured under teacher-forced and free-running contexts.")
def label_smoothing(quick: bool, seed: int):
    n = 100 if quick else 1000
    out = {}
    for name in ("addition-gru", "addition-gru-ls"):
        res = ex.analyze(name, n=n, seed=seed, n_boot=50, oracle=False)
        out[name] = {"calibration": res["calibration"], "sequence": res["sequence"]}
    e = {k: (v["calibration"]["tf_ece"], v["calibration"]["fr_ece"]) for k, v in out.items()}
    agrees = e["addition-gru-ls"][0] <= e["addition-gru"][0]
    # is the base over-confident? confidence above accuracy on average over bins, weighted by count
    bins = out["addition-gru"]["calibration"]["tf_bins"]
    tot = sum(b["count"] for b in bins if b["count"])
    over = sum(b["count"] * (b["confidence"] - b["accuracy"]) for b in bins if b["count"]) / max(1, tot)
    verdict = (f"ECE under TF / FR: base {e['addition-gru'][0]:.4f} / {e['addition-gru'][1]:.4f}, label smoothing "
               f"{e['addition-gru-ls'][0]:.4f} / {e['addition-gru-ls'][1]:.4f} (base mean confidence - accuracy "
               f"{over:+.4f}): " + ("agrees (smoothing lowers the calibration error)." if agrees else
                                    "does not agree: the base was not over-confident enough for smoothing to help; "
                                    "it makes the model under-confident."))
    return out, agrees, verdict


# -- 6 ----------------------------------------------------------------------------------------------

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


STRATEGIES = {
    "greedy": {},
    "beam-4": {"num_beams": 4},
    "temperature-0.7": {"do_sample": True, "temperature": 0.7},
    "top-k-40": {"do_sample": True, "top_k": 40},
    "top-p-0.9": {"do_sample": True, "top_p": 0.9},
    "typical-0.9": {"do_sample": True, "typical_p": 0.9},
    "min-p-0.1": {"do_sample": True, "min_p": 0.1},
    "pure-sampling": {"do_sample": True},
}


@experiment("decoding", "Decoding strategies: repetition, diversity and (oracle) likelihood",
            "Holtzman et al. (2020) show that maximisation-based decoding (greedy, beam) produces repetitive, "
            "low-diversity text while pure sampling is diverse but strays into unlikely text, with truncation "
            "(top-k, top-p, typical, min-p) in between. Here each strategy continues the same prompts of hmm-gpt "
            "(scored by the oracle's exact NLL) and text-gpt.")
def decoding(quick: bool, seed: int):
    from .decoding import generate_batch
    from .tasks import get_task
    from .tasks.hmm import HMMOracle
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
        for sname, cfg in STRATEGIES.items():
            cfg = {**cfg, "max_new_tokens": new, "seed": seed}
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


# -- 7 ----------------------------------------------------------------------------------------------

@experiment("tbptt", "Truncated-BPTT window vs a long-range dependency",
            "The sources note that truncating backpropagation to a window of L steps makes a recurrent model blind "
            "to causes more than L steps back, so positions that depend on far-away context should suffer first. "
            "Here small GRU adders of 1- to 4-digit numbers (whose later digits depend on the carry chain and on "
            "the position reached) are trained for 1000 steps with decoder windows L = 1, 2, 4 and full "
            "backpropagation.")
def tbptt(quick: bool, seed: int):
    steps, n = _small_budget(quick)
    out = {}
    for L in (1, 2, 4, 0):
        out["full" if L == 0 else f"L={L}"] = _train_and_score(f"tbptt-{L}", quick, steps, n, seed, tbptt=L)[1]
    em = {k: v["fr_exact_match"] for k, v in out.items()}
    agrees = em["L=1"] <= em["full"] if max(em.values()) > min(em.values()) else None

    def late(k):
        e = [x for x in out[k]["per_position_tf_error"][3:] if x is not None]
        return sum(e) / len(e) if e else float("nan")

    verdict = ("free-running exact match: " + ", ".join(f"{k} {v:.3f}" for k, v in em.items())
               + f"; mean TF error from position 4 on: L=1 {late('L=1'):.3f}, full {late('full'):.3f}: "
               + ("inconclusive (all windows score the same)." if agrees is None else
                  "agrees (the shortest window is no better than full backpropagation)." if agrees
                  else "does not agree on this budget."))
    return {"task": SMALL_TASK, "steps": steps, "examples": n, "models": out}, agrees, verdict


# -- 8 ----------------------------------------------------------------------------------------------

@experiment("bpe-vocab", "BPE vocabulary size vs per-step error and whole-sequence error",
            "A larger sub-word vocabulary makes each sequence shorter, so there are fewer steps at which an error "
            "can start to compound, but each step chooses among more tokens and is harder. Here small GRUs learn "
            "addition of 1- to 4-digit numbers for 1000 steps with characters and BPE vocabularies of growing "
            "size, compared on per-token error, steps per answer and whole-answer error.")
def bpe_vocab(quick: bool, seed: int):
    steps, n = _small_budget(quick)
    out = {}
    for vocab in ("char", 24, 48, 96):
        opts = {"tokenizer": "char"} if vocab == "char" else {"tokenizer": "bpe", "bpe_vocab_size": vocab}
        b, sc = _train_and_score(f"bpe-{vocab}", quick, steps, n, seed, **opts)
        inp = ex.make_inputs(b, n, seed=seed)
        sc["vocab_size"] = b.tokenizer.vocab_size
        sc["steps_per_answer"] = round(float((inp.tout != 0).sum(1).double().mean()), 3)
        sc["sequence_error"] = round(1 - sc["fr_exact_match"], 4)
        out[str(vocab)] = sc
    keys = list(out)
    shorter = out[keys[-1]]["steps_per_answer"] < out[keys[0]]["steps_per_answer"]
    harder = out[keys[-1]]["tf_token_error"] >= out[keys[0]]["tf_token_error"]
    agrees = shorter and harder
    verdict = ("; ".join(f"{k}: {v['vocab_size']} tokens, {v['steps_per_answer']} steps, token error "
                         f"{v['tf_token_error']:.3f}, sequence error {v['sequence_error']:.3f}" for k, v in out.items())
               + (": agrees (bigger vocabulary: fewer but harder steps)." if agrees else ": does not agree."))
    return {"task": SMALL_TASK, "steps": steps, "examples": n, "models": out}, agrees, verdict


# -- CLI --------------------------------------------------------------------------------------------

def run(name: str, quick: bool = False, seed: int = 0) -> dict:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name](quick=quick, seed=seed)


def save(result: dict, path) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    return path


def load_result(path) -> dict:
    """Read a saved result back (JSON only) to render it again without rerunning."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(d, dict) or d.get("name") not in EXPERIMENTS or "verdict" not in d:
        raise ValueError(f"{path}: not a seqscope experiment result")
    return d


def main_experiment(args) -> None:
    torch.set_num_threads(max(1, args.threads))
    res = run(args.name, quick=args.quick, seed=args.seed)
    if args.out:
        save(res, args.out)
    print(f"{res['title']}\n{res['caption']}\n=> {res['verdict']}  ({res['seconds']} s)")
