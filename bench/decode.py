"""Decoding benchmarks of issue 3, printed as measured ratios in one run (text-gpt, 1 thread).

1. full recording vs no recording (beam 4, 64 new tokens)                       goal <= 1.3x
2. 256 vs 64 new tokens, greedy, with the KV cache (and without it, beside)     goal <= 4.5x
3. beam 8 vs beam 1, 64 new tokens                                               goal <= 3x
4. JSON size of a beam-4, 64-step trace with full recording                      goal <= 5 MB

Times are process CPU seconds (1 torch thread), the best of --repeats runs, the two sides of a ratio
run alternately; `min_new_tokens` pins the lengths so the runs compare.
Usage: python bench/decode.py [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import engine  # noqa: E402
from engine.tokenizer import BOS  # noqa: E402

PROMPT = "The default value of the argument is"
# CPU time of this process (torch runs on 1 thread): on a machine shared with other jobs it measures
# our work, where wall time would mostly measure the other jobs.
CLOCK = time.process_time


def paired(fa, fb, repeats: int):
    """Best times of fa and fb, run alternately so that a busy machine slows both alike."""
    ta = tb = float("inf")
    oa = None
    for _ in range(repeats):
        t0 = CLOCK()
        oa = fa()
        ta = min(ta, CLOCK() - t0)
        t0 = CLOCK()
        fb()
        tb = min(tb, CLOCK() - t0)
    return ta, tb, oa


def best_time(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = CLOCK()
        out = fn()
        best = min(best, CLOCK() - t0)
    return best, out


@torch.no_grad()
def greedy_without_cache(bundle, prompt: str, n: int) -> list[int]:
    """Greedy decoding that re-runs the whole sequence at every step (no KV cache): the baseline."""
    model = bundle.model
    ids = [BOS] + bundle.tokenizer.encode(prompt).ids
    out = []
    for _ in range(n):
        state, _ = model.start(batch_size=1)
        logits = model.decode(torch.tensor([ids + out]), state).logits[0, -1]
        out.append(int(logits.argmax()))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="text-gpt")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    b = engine.load(args.model)
    gen = lambda cfg, rec=None: engine.generate(b, PROMPT, cfg, record=rec)  # noqa: E731
    beam4 = {"max_new_tokens": 64, "min_new_tokens": 64, "num_beams": 4}
    gen(beam4)  # warm-up
    t_full, t_none, trace = paired(lambda: gen(beam4), lambda: gen(beam4, False), args.repeats)
    size_mb = len(trace.to_json().encode("utf-8")) / 1e6
    g64 = {"max_new_tokens": 64, "min_new_tokens": 64}
    g256 = {"max_new_tokens": 256, "min_new_tokens": 256}
    t64, t256, _ = paired(lambda: gen(g64, False), lambda: gen(g256, False), args.repeats)
    t64r, t256r, _ = paired(lambda: gen(g64), lambda: gen(g256), args.repeats)
    n64, _ = best_time(lambda: greedy_without_cache(b, PROMPT, 64), args.repeats)
    n256, _ = best_time(lambda: greedy_without_cache(b, PROMPT, 256), max(1, args.repeats - 1))
    b1 = {"max_new_tokens": 64, "min_new_tokens": 64, "num_beams": 1}
    b8 = {"max_new_tokens": 64, "min_new_tokens": 64, "num_beams": 8}
    t_b1, t_b8, _ = paired(lambda: gen(b1), lambda: gen(b8), args.repeats)
    t_b1n, t_b8n, _ = paired(lambda: gen(b1, False), lambda: gen(b8, False), args.repeats)
    res = {
        "model": args.model, "threads": 1, "repeats": args.repeats,
        "1_recording_full_vs_none": {"ratio": t_full / t_none, "full_s": t_full, "none_s": t_none, "goal": 1.3},
        "2_256_vs_64_tokens": {"ratio_kv_cache": t256 / t64, "s_64": t64, "s_256": t256,
                               "ratio_kv_cache_full_recording": t256r / t64r,
                               "ratio_without_cache": n256 / n64, "nocache_s_64": n64, "nocache_s_256": n256,
                               "goal": 4.5},
        "3_beam8_vs_beam1": {"ratio": t_b8 / t_b1, "beam1_s": t_b1, "beam8_s": t_b8,
                             "ratio_no_recording": t_b8n / t_b1n, "goal": 3.0},
        "4_json_size_beam4_64": {"mb": size_mb, "steps": len(trace.steps), "goal_mb": 5.0},
    }
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    ok = lambda v, goal: "ok" if v <= goal else "OVER GOAL"  # noqa: E731
    r = res
    print(f"seqscope decoding benchmark: {args.model}, 1 thread, CPU seconds, best of {args.repeats}")
    x = r["1_recording_full_vs_none"]
    print(f"1. full recording vs none (beam 4, 64 tokens): {x['ratio']:.2f}x  "
          f"({x['full_s']:.3f} s vs {x['none_s']:.3f} s; goal <= 1.3x) {ok(x['ratio'], 1.3)}")
    x = r["2_256_vs_64_tokens"]
    print(f"2. 256 vs 64 new tokens (greedy, KV cache): {x['ratio_kv_cache']:.2f}x  "
          f"({x['s_256']:.3f} s vs {x['s_64']:.3f} s; goal <= 4.5x) {ok(x['ratio_kv_cache'], 4.5)}; "
          f"with full recording {x['ratio_kv_cache_full_recording']:.2f}x; "
          f"without the cache {x['ratio_without_cache']:.2f}x ({x['nocache_s_256']:.3f} s vs {x['nocache_s_64']:.3f} s)")
    x = r["3_beam8_vs_beam1"]
    print(f"3. beam 8 vs beam 1 (64 tokens, full recording): {x['ratio']:.2f}x  "
          f"({x['beam8_s']:.3f} s vs {x['beam1_s']:.3f} s; goal <= 3x) {ok(x['ratio'], 3.0)}; "
          f"without recording {x['ratio_no_recording']:.2f}x")
    x = r["4_json_size_beam4_64"]
    print(f"4. JSON of a beam-4, {x['steps']}-step trace, full recording: {x['mb']:.2f} MB (goal <= 5 MB) "
          f"{ok(x['mb'], 5.0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
