"""The checkpoint fuzz target's worker process: loads checkpoint folders under a memory cap.

    python tests/fuzz/ckpt_worker.py WARM_FOLDER

Loads WARM_FOLDER once (torch imported, the allocator warm), then caps its address space at what it
uses plus 1 GB (RLIMIT_AS: an allocation past it fails instead of taking the machine's memory) and
answers requests: one JSON line {"path": ...} on stdin, one JSON line on stdout:

    {"outcome": "refused", "type": "CheckpointError", "message": ...}    engine.load refused it
    {"outcome": "loaded", "steps": n}          loaded, and one decoding step gave a valid trace
    {"outcome": "load-crash" | "decode-failed", "type", "message", "traceback"}   anything else
"""
from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
MEMORY = int(os.environ.get("FUZZ_WORKER_MEMORY", 1 << 30))


def vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def source_text(bundle) -> str:
    """One character the model knows (a seq2seq model needs a source; an LM gets it as its prompt)."""
    tok = bundle.tokenizer
    for i in range(4, min(tok.vocab_size, 200)):
        s = tok.token_str(i)
        if s.strip() and s.isprintable() and "\x00" not in s:
            return s
    return "a"


def _failure(outcome: str, exc: BaseException) -> dict:
    return {"outcome": outcome, "type": type(exc).__name__, "message": str(exc)[:3000],
            "traceback": traceback.format_exc()[-4000:]}


def attempt(path: str) -> dict:
    import engine
    try:
        bundle = engine.load(path)
    except engine.CheckpointError as exc:
        return {"outcome": "refused", "type": type(exc).__name__, "message": str(exc)[:3000]}
    except BaseException as exc:  # noqa: BLE001 - the property: nothing but CheckpointError
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _failure("load-crash", exc)
    try:
        trace = engine.generate(bundle, source_text(bundle), {"max_new_tokens": 1},
                                record={"top_k": 3, "layers": "all", "hidden_states": True, "attention": True})
        engine.trace.validate(trace.to_dict())
        trace.to_json()                                   # strict JSON: no NaN / inf
        if not trace.steps:
            return {"outcome": "decode-failed", "type": "NoStep", "message": "the decode recorded no step",
                    "traceback": ""}
        return {"outcome": "loaded", "steps": len(trace.steps)}
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _failure("decode-failed", exc)


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout = sys.stderr                       # whatever the engine prints stays off the answers
    import torch
    torch.set_num_threads(1)
    warm = attempt(sys.argv[1])
    if warm["outcome"] != "loaded":
        answers.write(json.dumps({"ready": False, **warm}) + "\n")
        answers.flush()
        return
    cap = vm_size() + MEMORY
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    answers.write(json.dumps({"ready": True, "cap": cap}) + "\n")
    answers.flush()
    for line in sys.stdin:
        req = json.loads(line)
        answers.write(json.dumps(attempt(req["path"]), ensure_ascii=True) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
