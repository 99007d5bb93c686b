"""seqscope engine: the one public face of models, tokenizers, tasks, decoding, traces, training and the lab.

Everything a page, a script or a notebook needs is importable from here (`engine.generate`,
`engine.Trace`, `engine.PRESETS`, ...). Names are resolved lazily (PEP 562), so `import engine` and
`import engine.trace` do not import torch: a torch-free reader of traces (the charts, the HTML report)
pays only for what it uses. docs/architecture.md shows where each concept lives.
"""
from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it (one line per name; a helper moving a name updates its line)
_FACE = {
    # models and checkpoints
    "load": "engine.loader",
    "list_hf_models": "engine.loader",
    "DTYPES": "engine.loader", "available_devices": "engine.loader",   # an hf: model's precision, devices
    "hf_name": "engine.loader", "split_hf_name": "engine.loader",     # "hf:gpt2 [bfloat16]"
    "list_models": "engine.checkpoint",
    "Bundle": "engine.checkpoint",
    "CheckpointError": "engine.checkpoint",
    # traces (torch-free)
    "Trace": "engine.trace",
    "TraceError": "engine.trace",
    "load_trace": "engine.trace",
    "FORMAT_VERSION": "engine.trace",
    "trace_view": "engine.trace:view",          # the torch-free queries charts ask of a trace
    "MAX_TRACE_BYTES": "engine.trace",
    # limits (engine/limits.py; docs/limits.md)
    "LimitError": "engine.limits",
    "MAX_INPUT_CHARS": "engine.limits",
    "MAX_NEW_TOKENS": "engine.limits",
    "MAX_BEAMS": "engine.limits",
    "MAX_MBR_SAMPLES": "engine.limits",
    "MAX_CONFIG_BYTES": "engine.limits",
    "MAX_JSON_DEPTH": "engine.limits",
    "MAX_MODEL_LAYERS": "engine.limits",
    "MAX_DECK_BYTES": "engine.limits",
    "MAX_DECK_VIEWS": "engine.limits",
    "MAX_DECK_TITLE_CHARS": "engine.limits",
    "MAX_DECK_NOTE_CHARS": "engine.limits",
    "DASHBOARD_MAX_WORK": "engine.limits",
    "WORK_BUDGET": "engine.limits",
    "work_units": "engine.decoding.budget",
    # decoding
    "GenerationConfig": "engine.decoding.config",
    "RecordOptions": "engine.decoding.config",
    "GENERATION_FIELDS": "engine.decoding.fields",
    "PRESETS": "engine.decoding.presets",
    "generate": "engine.decoding.generate",
    "generate_batch": "engine.decoding.generate",
    "teacher_forced": "engine.decoding.tf_fr",
    "compare_tf_fr": "engine.decoding.tf_fr",
    "TFFRComparison": "engine.decoding.tf_fr",
    "rerank": "engine.decoding.mbr",
    "rollout": "engine.rollout",
    # tasks
    "get_task": "engine.tasks",
    # the exposure-bias lab
    "analyze": "engine.exposure",
    "shipped_analysis": "engine.exposure",     # precomputed analyses of shipped models (results/analysis/)
    "shipped_analysis_stamp": "engine.exposure.shipped",
    "ANALYSIS_SETTINGS": "engine.exposure.shipped:SHIPPED_SETTINGS",   # the settings shipped analyses use
    "parse_data": "engine.exposure.user_data", "analyze_data": "engine.exposure.user_data",   # your own data
    "DataError": "engine.exposure.user_data", "MAX_DATA_BYTES": "engine.limits", "MAX_DATA_ROWS": "engine.limits",
    "EXPERIMENTS": "engine.experiments",
    "ExperimentStore": "engine.experiments",
    "run_experiment": "engine.experiments",
    "EXPERIMENT_SEEDS": "engine.experiments.verdict:SEEDS",   # default seeds of quick / full runs
    "MAX_EXPERIMENT_SEEDS": "engine.limits",
    # training
    "TrainConfig": "engine.training",
    "TrainJob": "engine.training",
    "RECIPES": "engine.training",
    "train": "engine.training",
    "fit": "engine.training",
    "TASK_ARCHS": "engine.training",
    "ARCH_MODELS": "engine.training",
    "default_config": "engine.training",
    "recipe_config": "engine.training",
    "check_name": "engine.training",
    "cli_command": "engine.training",
    "output_folder": "engine.training",
    "TRAINED_DIR": "engine.training",
    "trained_models": "engine.training",
    "SCHEDULES": "engine.training.schedules",
    "TRAIN_STAGES": "engine.training.config:STAGES",        # mle | scst | mixer
    "MAX_SCST_SAMPLES": "engine.limits",
    "MAX_MODEL_SPEC_CHARS": "engine.limits",
    # safe files (torch-free): atomic writes, bounded reads refusing FIFOs, devices and symlinks
    "atomic_write_text": "engine.files",
    "atomic_write_bytes": "engine.files",
    "read_json": "engine.files",
    "UnsafeFile": "engine.files",
    "MAX_OPENED_HF_MODELS": "engine.limits",
}

__all__ = sorted(_FACE)


def __getattr__(name: str) -> Any:
    where = _FACE.get(name)
    if where is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    module, _, attr = where.partition(":")              # "module:attr" when the name differs
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value                      # cache: the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FACE))
