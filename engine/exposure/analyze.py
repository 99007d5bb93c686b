"""`analyze`: every figure of the lab for one model on n held-out examples, as one JSON-able dict, and
its summary in a few lines."""
from __future__ import annotations

import time
from typing import Sequence

import torch

from ..stats import N_BOOT, wilson
from .calibration import ece
from .compounding import fit_compounding
from .drift import drift_fit
from .oracle_exposure import SEEDS, oracle_calibration, oracle_exposure
from .passes import make_inputs, masks, tf_fr_pass
from .recovery import recovery
from .stats import SMALL_N, bootstrap_positions, masked_mean, rounded, rounded_list, wilson_positions

GOLD_TOKEN_NOTE = ("On the oracle language the token error, NLL, ECE, recovery and compounding figures are measured "
                   "against one sampled gold token drawn after the gold prefix, not against the oracle after the "
                   "model's own prefix, so their TF-vs-FR gap is not exposure bias (the oracle itself shows the "
                   "same gap): the exposure bias is the KL to the oracle above.")


def analyze(model_name, n: int = 1000, seed: int = 0, t0: int = 1, n_boot: int = N_BOOT, prompt_len: int = 8,
            batch_size: int = 500, oracle: bool = True, bundle=None, oracle_seeds: Sequence[int] = SEEDS,
            oracle_n: int | None = None, inputs=None) -> dict:
    """All the figures of engine.exposure (see its docstring) for a model name or folder, or a loaded
    bundle, as a JSON-able dict. For a model of the `hmm` task the oracle measures run over
    oracle_seeds sampling seeds of oracle_n sequences each (default n). inputs: examples already made
    (`Inputs`: the user's own data, engine/exposure/user_data.py) instead of the task's first n."""
    import sacrebleu
    from ..checkpoint import load
    started = time.time()
    bundle = bundle or load(model_name)
    model, tok = bundle.model, bundle.tokenizer
    is_hmm = oracle and bundle.task == "hmm"
    inp = inputs if inputs is not None else make_inputs(bundle, n, prompt_len=prompt_len, seed=seed)
    r = tf_fr_pass(model, inp, batch_size, full=is_hmm)
    m = masks(r)
    gold, valid, valid_fr = r["gold"], m["valid"], m["valid_fr"]
    tf_err = (r["tf_arg"] != gold).double()
    fr_err = (r["fr_tok"] != gold).double()
    nll_tf, nll_fr = -r["tf_lp"].double(), -r["fr_lp"].double()
    keep = int(valid.sum(0).gt(0).sum())
    per = {}
    for name, x in (("tf_error", tf_err), ("fr_error", fr_err)):             # proportions: Wilson intervals
        per[name], per[name + "_lo"], per[name + "_hi"] = wilson_positions(x[:, :keep], valid[:, :keep])
    for name, x, mk in (("tf_nll", nll_tf, valid), ("fr_nll", nll_fr, valid_fr & torch.isfinite(nll_fr))):
        mean, lo, hi = bootstrap_positions(x[:, :keep], mk[:, :keep], n_boot, seed)   # means: bootstrap
        per[name], per[name + "_lo"], per[name + "_hi"] = rounded_list(mean), rounded_list(lo), rounded_list(hi)
    per["examples"] = valid[:, :keep].sum(0).tolist()
    per["fr_examples"] = (valid_fr & torch.isfinite(nll_fr))[:, :keep].sum(0).tolist()
    per["small_n"] = SMALL_N
    preds = [tok.decode([i for i in row if i >= 0]) for row in r["fr_tok"].tolist()]
    em_k = sum(p == t for p, t in zip(preds, inp.refs))
    em_mean, em_lo, em_hi = wilson(em_k, len(preds))
    ece_tf, bins_tf = ece(r["tf_conf"][valid], (r["tf_arg"] == gold)[valid])
    vfr = valid_fr & torch.isfinite(r["fr_conf"])
    ece_fr, bins_fr = ece(r["fr_conf"][vfr], (r["fr_tok"] == gold)[vfr])
    tin_fr = torch.cat([inp.tin[:, inp.prompt - 1:inp.prompt], r["fr_tok"][:, :-1]], 1)
    tin_gold = inp.tin[:, inp.prompt - 1:]
    tin_differs = tin_fr != tin_gold[:, :tin_fr.shape[1]]
    out = {
        "model": bundle.name, "task": bundle.task, "arch": model.arch, "examples": int(inp.tin.shape[0]),
        "seed": seed, "t0": t0, "bootstrap": n_boot,
        "prompt_tokens": inp.prompt - 1 if not model.is_encoder_decoder else 0,
        "per_position": per,
        "sequence": {"fr_exact_match": rounded(em_mean), "fr_exact_match_lo": rounded(em_lo),
                     "fr_exact_match_hi": rounded(em_hi), "fr_exact_match_interval": "Wilson 95%",
                     "chrf": rounded(sacrebleu.corpus_chrf(preds, [inp.refs]).score),
                     "bleu": rounded(sacrebleu.corpus_bleu(preds, [inp.refs], tokenize="char").score),
                     "tf_token_error": rounded(float(masked_mean(tf_err, valid, dim=None))),
                     "fr_token_error": rounded(float(masked_mean(fr_err, valid, dim=None))),
                     "tf_nll_per_token": rounded(float(masked_mean(nll_tf, valid, dim=None))),
                     "fr_nll_per_token": rounded(float(masked_mean(nll_fr, valid_fr & torch.isfinite(nll_fr), dim=None)))},
        "calibration": {"tf_ece": rounded(ece_tf), "fr_ece": rounded(ece_fr), "tf_bins": bins_tf,
                        "fr_bins": bins_fr},
        "recovery": recovery(model, inp, t0=t0, batch_size=batch_size),
        "compounding": fit_compounding(nll_fr, nll_tf, m["on_path"], m["left"], valid_fr),
        "drift": drift_fit(r["drift"].double(), tin_differs, valid_fr, n_boot=n_boot, seed=seed),
        "samples": [{"source": s, "reference": t, "free_running": p}
                    for s, t, p in list(zip(inp.sources, inp.refs, preds))[:8]],
    }
    if is_hmm:
        out["gold_token_note"] = GOLD_TOKEN_NOTE
        out["oracle_calibration"] = oracle_calibration(bundle, inp, r, valid, valid_fr, n_boot)
        out["oracle"] = oracle_exposure(bundle, n=oracle_n or n, seeds=oracle_seeds, batch_size=batch_size,
                                        n_boot=n_boot)
    out["seconds"] = round(time.time() - started, 2)
    return out


def summary_lines(res: dict) -> list[str]:
    s, c, d, cal = res["sequence"], res["compounding"], res["drift"], res["calibration"]
    lines = [f"{res['model']} ({res['task']}, {res['examples']} examples, {res['seconds']} s)",
             f"  exact match (free running, greedy): {s['fr_exact_match']} "
             f"[{s['fr_exact_match_lo']}, {s['fr_exact_match_hi']}] (Wilson 95%)",
             f"  token error TF {s['tf_token_error']}  FR {s['fr_token_error']};  NLL/token TF {s['tf_nll_per_token']}"
             f"  FR {s['fr_nll_per_token']};  chrF {s['chrf']}  BLEU {s['bleu']}",
             f"  ECE TF {cal['tf_ece']}  FR {cal['fr_ece']}",
             f"  compounding: c={c['c']} d={c['d']} e={c['e']}; final gap measured {c['final_measured']} "
             f"predicted {c['final_predicted']} (relative RMSE {c['relative_rmse']})",
             f"  drift: alpha={d.get('alpha')} [{d.get('alpha_lo')}, {d.get('alpha_hi')}] eps={d.get('eps')}: "
             f"{d.get('regime')}; steady gap predicted {d.get('predicted_steady_gap')} measured {d.get('measured_plateau')}"]
    rec = res["recovery"]
    if rec.get("steps"):
        first = rec["steps"][0]
        lines.append(f"  recovery after a wrong token at step {rec['t0']}: next token right "
                     f"{first['injected_matches_gold']} (uninjected {first['uninjected_matches_gold']}); "
                     f"sequence right {rec['injected_sequence_correct']} (uninjected {rec['uninjected_sequence_correct']})")
    if "oracle" in res:
        o, oc = res["oracle"], res["oracle_calibration"]
        kd, km = o["mean_kl_data_interval"], o["mean_kl_model_interval"]
        lines += ["  (on hmm the figures above are against one sampled gold token: not exposure bias)",
                  f"  oracle, {len(o['seeds'])} seeds x {o['examples']}: mean KL per step on data prefixes {kd['mean']} "
                  f"[{kd['lo']}, {kd['hi']}], on own sampled prefixes {km['mean']} [{km['lo']}, {km['hi']}]",
                  f"  {o['verdict']['text']}",
                  f"  against the oracle: ECE TF {oc['tf_ece_vs_oracle']}  FR {oc['fr_ece_vs_oracle']}; expected NLL "
                  f"on greedy FR prefixes {oc['fr_nll_expected']} vs the oracle's {oc['fr_oracle_entropy']} "
                  f"(KL {oc['fr_kl']} [{oc['fr_kl_lo']}, {oc['fr_kl_hi']}])"]
    return lines
