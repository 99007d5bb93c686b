"""The schema of a checkpoint's config.json, checked before any tensor exists.

    {"format": "seqscope-checkpoint", "version": 1, "name": str, "arch": one of engine.models.ARCHS,
     "task": str, "kind": "seq2seq" | "lm" (as the architecture is), "model": {...}}

`model` holds the fields of the architecture's config dataclass (engine/models/*.py; defaults fill the
missing ones, unknown keys are refused): integers are ints (not bools, floats or strings), each in its
range (`FIELDS`; the upper bounds are in engine/limits.py), `n_heads` divides `d_model` (with rotary
source positions, into an even head size). Then the parameter count is computed without allocating
(the model is built on torch's "meta" device, its initialisers skipped) and compared with
`MAX_PARAMETERS`. Every failure is one `CheckpointError` line naming the file:

    .../config.json: model.n_heads must be an integer from 1 to 65536, got 0

`check_model_config(arch, model_dict, vocab_size=None)` checks a model config alone (`train --model-json`).
This module imports torch only when a config is checked.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, fields
from typing import Any, Optional

from . import limits

FORMAT, VERSION = "seqscope-checkpoint", 1
KINDS = ("seq2seq", "lm")
MAX_NAME_CHARS = 200      # name and task strings in config.json

# field -> (type, low, high, the engine/limits.py constant of the upper bound) for ints;
# dropout: a float in [0, 1); bools; strings from a list.
_W = (limits.MAX_MODEL_WIDTH, "MAX_MODEL_WIDTH")
_L = (limits.MAX_MODEL_LAYERS, "MAX_MODEL_LAYERS")
FIELDS: dict[str, tuple] = {
    "vocab_size": ("int", 4, limits.MAX_VOCAB_SIZE, "MAX_VOCAB_SIZE"),
    "d_model": ("int", 1, *_W), "d_ff": ("int", 1, *_W), "d_emb": ("int", 1, *_W),
    "d_hidden": ("int", 1, *_W), "d_attn": ("int", 1, *_W),
    "n_layers": ("int", 1, *_L), "n_dec_layers": ("int", 1, *_L),
    "n_heads": ("int", 1, *_W),
    "max_len": ("int", 1, limits.MAX_MODEL_CONTEXT, "MAX_MODEL_CONTEXT"),
    "dropout": ("prob",),
    "attention": ("bool",), "tie_embeddings": ("bool",),
    "src_positions": ("choice", ("learned", "rope")),
}


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message names the file and the reason."""


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else f"{r[:40]}…({len(r)} characters)"


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(v), type(v).__name__)


def _check_field(source: str, key: str, value: Any, rule: tuple) -> None:
    kind = rule[0]
    where = f"{source}: model.{key}"
    if kind == "int":
        lo, hi, const = rule[1], rule[2], rule[3]
        if type(value) is not int or not lo <= value <= hi:
            got = _show(value) if type(value) is int else f"{_type_name(value)} {_show(value)}"
            raise CheckpointError(f"{where} must be an integer from {lo} to {hi} ({const} in engine/limits.py), "
                                  f"got {got}")
    elif kind == "prob":
        if type(value) not in (int, float) or not (math.isfinite(value) and 0 <= value < 1):
            raise CheckpointError(f"{where} must be a number in [0, 1), got {_show(value)}")
    elif kind == "bool":
        if type(value) is not bool:
            raise CheckpointError(f"{where} must be true or false, got {_show(value)}")
    elif kind == "choice":
        if type(value) is not str or value not in rule[1]:
            raise CheckpointError(f"{where} must be one of {', '.join(map(repr, rule[1]))}, got {_show(value)}")
    else:  # pragma: no cover - a new rule kind without a check
        raise CheckpointError(f"{where}: no rule of kind {kind!r}")


def _arch_classes(arch: Any, source: str) -> tuple:
    from .models import ARCHS
    if type(arch) is not str or arch not in ARCHS:
        raise CheckpointError(f"{source}: arch must be one of {', '.join(map(repr, ARCHS))}, got {_show(arch)}")
    return ARCHS[arch]


def check_model_config(arch: str, model_dict: Any, vocab_size: Optional[int] = None, *,
                       source: str = "model config") -> dict:
    """The complete model config (dataclass defaults filled in) of a checked `model_dict` for `arch`, or a
    one-line CheckpointError: unknown or missing keys, a value of the wrong type or out of range, heads
    that do not divide the width, more than MAX_PARAMETERS parameters. `vocab_size` (given when the
    tokenizer decides it, as for `train --model-json`) is used where the dict has none."""
    return _checked(arch, model_dict, vocab_size, source)[0]


def _checked(arch: Any, model_dict: Any, vocab_size: Optional[int], source: str) -> tuple[dict, Any]:
    cfg_cls = _arch_classes(arch, source)[1]
    if not isinstance(model_dict, dict):
        raise CheckpointError(f"{source}: model must be an object of {arch} settings, got "
                              f"{_type_name(model_dict)} {_show(model_dict)}")
    known = {f.name: f for f in fields(cfg_cls)}
    unknown = sorted(map(str, set(model_dict) - set(known)))
    if unknown:
        raise CheckpointError(f"{source}: unknown model setting(s) {', '.join(map(_show, unknown[:5]))} for "
                              f"{arch}; allowed: {', '.join(known)}")
    full = dict(model_dict)
    if vocab_size is not None and "vocab_size" not in full:
        full["vocab_size"] = vocab_size
    for name, f in known.items():
        if name not in full:
            if f.default is MISSING:
                raise CheckpointError(f"{source}: model.{name} is missing")
            full[name] = f.default
    for name, value in full.items():
        rule = FIELDS.get(name)
        if rule is None:              # a field without a rule: at least the type of its default
            default = known[name].default
            if default is not MISSING and type(value) is not type(default):
                raise CheckpointError(f"{source}: model.{name} must be {_type_name(default)}, got {_show(value)}")
            continue
        _check_field(source, name, value, rule)
    if "d_model" in full and "n_heads" in full:
        d, h = full["d_model"], full["n_heads"]
        if d % h:
            raise CheckpointError(f"{source}: model.n_heads ({h}) must divide model.d_model ({d})")
        if full.get("src_positions") == "rope" and (d // h) % 2:
            raise CheckpointError(f"{source}: rotary positions need an even head size; d_model / n_heads "
                                  f"= {d // h}")
    try:
        model = meta_model(arch, full)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: bad {arch} config ({' '.join(str(exc).split())[:200]})") from None
    n = model.num_parameters()
    if n > limits.MAX_PARAMETERS:
        raise CheckpointError(f"{source}: the model would have {n:,} parameters, over the limit of "
                              f"{limits.MAX_PARAMETERS:,} (MAX_PARAMETERS in engine/limits.py; raise it there "
                              "for a bigger model)")
    return full, model


def meta_model(arch: str, full: dict):
    """The model of a checked config built on torch's "meta" device: shapes and parameter counts, no
    memory (the initialisers, which do nothing there, are skipped; they are slow on "meta")."""
    from .models import build_model
    with _MetaDevice():
        return build_model(arch, full)


def parameter_count(arch: str, full: dict) -> int:
    """Parameters of the model of a checked config (tied weights once), computed without allocating."""
    return meta_model(arch, full).num_parameters()


class _MetaDevice:
    """`with torch.device("meta")`, with torch.nn.init functions and in-place random fills skipped."""

    def __init__(self):
        import torch
        try:
            from torch.utils._device import DeviceContext
        except ImportError:                               # pragma: no cover - another torch
            self.ctx = torch.device("meta")
            return
        skip = {torch.Tensor.normal_, torch.Tensor.uniform_}

        class NoInit(DeviceContext):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if func in skip or getattr(func, "__module__", None) == "torch.nn.init":
                    return args[0] if args else (kwargs or {}).get("tensor")
                return super().__torch_function__(func, types, args, kwargs)

        self.ctx = NoInit(torch.device("meta"))

    def __enter__(self):
        return self.ctx.__enter__()

    def __exit__(self, *exc):
        return self.ctx.__exit__(*exc)


def _check_text(source: str, key: str, value: Any) -> None:
    if type(value) is not str or not value.strip() or len(value) > MAX_NAME_CHARS:
        raise CheckpointError(f"{source}: {key} must be a non-empty string of at most {MAX_NAME_CHARS} "
                              f"characters, got {_show(value)}")


def check_config(config: Any, source: str) -> tuple[dict, Any]:
    """Check a parsed config.json; returns (the complete model config, the model on the meta device)."""
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{source}: not a seqscope checkpoint config (\"format\": \"{FORMAT}\" missing)")
    version = config.get("version")
    if type(version) is not int or version != VERSION:
        raise CheckpointError(f"{source}: unsupported version {_show(version)} (this seqscope reads "
                              f"version {VERSION})")
    for key in ("arch", "model", "task", "kind", "name"):
        if key not in config:
            raise CheckpointError(f"{source}: missing key {key!r}")
    _check_text(source, "name", config["name"])
    _check_text(source, "task", config["task"])
    cls = _arch_classes(config["arch"], source)[0]
    kind = config["kind"]
    if type(kind) is not str or kind not in KINDS:
        raise CheckpointError(f"{source}: kind must be \"seq2seq\" or \"lm\", got {_show(kind)}")
    expected = "seq2seq" if cls.is_encoder_decoder else "lm"
    if kind != expected:
        raise CheckpointError(f"{source}: kind {kind!r} does not match arch {config['arch']!r} ({expected})")
    return _checked(config["arch"], config["model"], None, source)
