"""Benchmark of engine.exposure: teacher forcing + greedy free running on 1,000 held-out examples,
batched, against a loop over the examples one at a time (goal: <= 20 s on 2 cores).

    python bench/exposure.py [--model addition-gru] [--n 1000] [--loop-n 200] [--threads 2]

The one-at-a-time loop runs the same code with batch size 1 on --loop-n examples and is scaled to n
(the per-example cost is constant), so the benchmark itself stays short. The full analysis (recovery,
bootstrap bands, compounding fit, drift, calibration) is timed too.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import engine  # noqa: E402
from engine import exposure as ex  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="addition-gru")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--loop-n", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    b = engine.load(a.model)
    inp = ex.make_inputs(b, a.n)
    ex.tf_fr_pass(b.model, ex.make_inputs(b, 20), batch_size=20)          # warm-up
    t = time.perf_counter()
    r = ex.tf_fr_pass(b.model, inp, batch_size=500)
    ex.masks(r)
    batched = time.perf_counter() - t
    k = min(a.loop_n, a.n)
    sub = ex.make_inputs(b, k)
    t = time.perf_counter()
    ex.tf_fr_pass(b.model, sub, batch_size=1)
    loop = (time.perf_counter() - t) * a.n / k
    t = time.perf_counter()
    res = ex.analyze(a.model, n=a.n, bundle=b, oracle=False)
    full = time.perf_counter() - t
    n_tok = int((inp.tout != 0).sum())
    print(f"model {a.model}, {a.n} examples ({n_tok} target tokens), {torch.get_num_threads()} threads")
    print(f"TF + greedy FR, batched:          {batched:7.2f} s  ({a.n / batched:,.0f} examples/s)")
    print(f"TF + greedy FR, one at a time:    {loop:7.2f} s  (measured on {k} examples, scaled to {a.n})")
    print(f"speed-up of batching:             {loop / batched:7.1f} x")
    print(f"full analysis (recovery, bootstrap, fits), batched: {full:.2f} s")
    print(f"goal <= 20 s for TF + greedy FR of 1,000 examples: {'met' if batched <= 20 else 'NOT met'}")
    print(f"(free-running exact match {res['sequence']['fr_exact_match']}, ECE TF {res['calibration']['tf_ece']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
