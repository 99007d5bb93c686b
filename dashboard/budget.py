"""The dashboard's work budget: a decoding run a page starts may take at most engine.DASHBOARD_MAX_WORK
work units (engine.work_units: the engine's one definition of work, rows × steps × what is recorded;
docs/limits.md), checked before any work starts. A run over it is refused with one line that names the
budget and how to go further (raise DASHBOARD_MAX_WORK in engine/limits.py, or decode from the command
line). engine.generate checks the same budget again (budget=) before any model call.
"""
from __future__ import annotations

import engine
from dashboard import runs

_ROW_FIELDS = ("mbr_num_samples", "num_beams", "num_return_sequences")


def _flags(cfg: dict) -> str:
    """The command-line flags of the fields that make a run big (rows and length)."""
    given = [(f, cfg[f]) for f in _ROW_FIELDS if isinstance(cfg.get(f), int) and cfg[f] > 1]
    given.append(("max_new_tokens", cfg.get("max_new_tokens")))
    return " ".join(f"--{f.replace('_', '-')} {v}" for f, v in given if v is not None)


def _recorded(record: dict) -> str:
    parts = [f"top-{record.get('top_k', 20)} lists"] if record.get("top_k", 20) else []
    parts += [w for k, w in (("attention", "attention"), ("hidden_states", "hidden states")) if record.get(k, True)]
    return ", ".join(parts) or "nothing"


def check(cfg: dict, *, model: str, text: str, record: dict) -> None:
    """Raise engine.LimitError (a ValueError, one line) when decoding `text` on `model` with `cfg` (a
    GenerationConfig dict, already valid) and `record` (RecordOptions fields) is over the budget."""
    work = engine.work_units(cfg, record, model=runs.load_model(model), texts=[text])
    budget = engine.DASHBOARD_MAX_WORK
    if work > budget:
        raise engine.LimitError(
            f"this run is {work:,} work units ({_flags(cfg)}, recording {_recorded(record)}), over the "
            f"dashboard's budget of {budget:,} per run (DASHBOARD_MAX_WORK in engine/limits.py: raise it there, "
            f"or decode it from the command line: python -m engine decode {_flags(cfg)} ...; docs/limits.md)")
