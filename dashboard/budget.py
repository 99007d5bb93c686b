"""The dashboard's work budget: one decoding run the pages start may decode at most
engine.DASHBOARD_MAX_WORK token steps (rows decoded side by side × max_new_tokens), checked before any
work starts. A run over it is refused with one line that names the budget and how to go further (raise
DASHBOARD_MAX_WORK in engine/limits.py, or decode from the command line). docs/limits.md has the policy.
"""
from __future__ import annotations

import engine


def rows(cfg: dict) -> tuple[int, str]:
    """How many sequences a config decodes side by side, and which field says so."""
    cands = [(int(cfg.get("num_beams") or 1), "num_beams"),
             (int(cfg.get("num_return_sequences") or 1), "num_return_sequences")]
    if cfg.get("mbr"):
        cands.append((int(cfg.get("mbr_num_samples") or 16), "mbr_num_samples"))
    return max(cands)


def check(cfg: dict) -> None:
    """Raise engine.LimitError (a ValueError, one line) when a run of `cfg` (a GenerationConfig dict,
    already valid) is over the dashboard's budget."""
    n, field = rows(cfg)
    steps = int(cfg.get("max_new_tokens") or 1)
    budget = engine.DASHBOARD_MAX_WORK
    if n * steps > budget:
        flags = f"--{field.replace('_', '-')} {n} --max-new-tokens {steps}"
        raise engine.LimitError(
            f"{field} {n} × max_new_tokens {steps} = {n * steps:,} token steps is over the dashboard's "
            f"budget of {budget:,} per run (DASHBOARD_MAX_WORK in engine/limits.py: raise it there, or decode it "
            f"from the command line: python -m engine decode {flags} ...)")
