"""`Trace`: the JSON-ready record of one decoding run (docs/trace-format.md), save / load / validate."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Union

from ..checkpoint import atomic_write_bytes

FORMAT_VERSION = 1
MAX_TRACE_BYTES = 50 * 1024 * 1024
STRATEGIES = ("greedy", "sample", "beam", "diverse_beam", "mbr", "teacher_forced")
NODE_STATUS = ("kept", "finished", "pruned")


class TraceError(ValueError):
    """A trace file or dict is malformed, too large or of another format version."""


_NUM = (int, float)
TOP_KEYS = {
    "format_version": int, "model": dict, "config": dict, "strategy": str, "seed": (int, type(None)),
    "input": dict, "forced": dict, "timing": dict, "warnings": list, "recording": dict,
    "encoder_attention": (list, type(None)), "steps": list, "hypotheses": list,
    "beam": (dict, type(None)), "mbr": (dict, type(None)),
}
MODEL_KEYS = {"name": str, "kind": str}
INPUT_KEYS = {"text": str, "tokens": list, "token_ids": list}
HYP_KEYS = {"text": str, "tokens": list, "token_ids": list, "token_logprobs": list, "score": (_NUM, type(None)),
            "normalized_score": (_NUM, type(None))}
STEP_KEYS = {"step": int, "hypotheses": list}
STEP_HYP_KEYS = {"slot": int, "prefix_ids": list, "entropy": (_NUM, type(None)), "top_before": list,
                 "top_after": list}
NODE_KEYS = {"id": int, "parent": (int, type(None)), "step": int, "token": (str, type(None)),
             "logprob": (_NUM, type(None)), "cum_logprob": (_NUM, type(None)), "score": (_NUM, type(None)),
             "status": str}
MBR_KEYS = {"candidates": list, "matrix": list, "expected_utility": list, "chosen": int}


def _tname(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(_tname(x) for x in t)
    return {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object",
            type(None): "null", bool: "a boolean"}.get(t, t.__name__)


def _check(obj: Any, keys: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise TraceError(f"trace: {where or 'the top level'} must be an object")
    for k, t in keys.items():
        if k not in obj:
            raise TraceError(f"trace: missing key {where + '.' if where else ''}{k}")
        v = obj[k]
        ts = t if isinstance(t, tuple) else (t,)
        flat = tuple(x for y in ts for x in (y if isinstance(y, tuple) else (y,)))
        if isinstance(v, bool) or not isinstance(v, flat):
            raise TraceError(f"trace: key {where + '.' if where else ''}{k} must be {_tname(t)}, "
                             f"got {type(v).__name__}")


def validate_trace_dict(d: Any) -> None:
    """Raise TraceError (naming the key) unless `d` has the structure of docs/trace-format.md."""
    if not isinstance(d, dict):
        raise TraceError("trace: the top level must be a JSON object")
    if "format_version" not in d:
        raise TraceError("trace: missing key format_version (not a seqscope trace?)")
    if d["format_version"] != FORMAT_VERSION:
        raise TraceError(f"trace: format_version {d['format_version']!r} is not supported (this seqscope reads "
                         f"version {FORMAT_VERSION})")
    _check(d, TOP_KEYS, "")
    _check(d["model"], MODEL_KEYS, "model")
    _check(d["input"], INPUT_KEYS, "input")
    if d["strategy"] not in STRATEGIES:
        raise TraceError(f"trace: strategy {d['strategy']!r} is not one of {', '.join(STRATEGIES)}")
    for i, h in enumerate(d["hypotheses"]):
        _check(h, HYP_KEYS, f"hypotheses[{i}]")
        if not (len(h["tokens"]) == len(h["token_ids"]) == len(h["token_logprobs"])):
            raise TraceError(f"trace: hypotheses[{i}] has tokens, token_ids and token_logprobs of different lengths")
    for i, s in enumerate(d["steps"]):
        _check(s, STEP_KEYS, f"steps[{i}]")
        for j, h in enumerate(s["hypotheses"]):
            _check(h, STEP_HYP_KEYS, f"steps[{i}].hypotheses[{j}]")
    if d["beam"] is not None:
        _check(d["beam"], {"nodes": list}, "beam")
        ids = set()
        for i, n in enumerate(d["beam"]["nodes"]):
            _check(n, NODE_KEYS, f"beam.nodes[{i}]")
            if n["status"] not in NODE_STATUS:
                raise TraceError(f"trace: beam.nodes[{i}].status {n['status']!r} is not one of "
                                 f"{', '.join(NODE_STATUS)}")
            if n["parent"] is not None and n["parent"] not in ids:
                raise TraceError(f"trace: beam.nodes[{i}].parent {n['parent']} is not an earlier node id")
            ids.add(n["id"])
    if d["mbr"] is not None:
        _check(d["mbr"], MBR_KEYS, "mbr")


class Trace:
    """Everything one decoding run did. Attribute access mirrors the keys: `trace.hypotheses`,
    `trace.steps`, `trace.beam`, ... `to_dict()` gives the JSON-ready dict of docs/trace-format.md."""

    __slots__ = ("_d",)

    def __init__(self, d: dict):
        object.__setattr__(self, "_d", d)

    def __getattr__(self, name: str):
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(f"Trace has no key {name!r}") from None

    def __getitem__(self, key: str):
        return self._d[key]

    def __contains__(self, key: str) -> bool:
        return key in self._d

    def __eq__(self, other) -> bool:
        return isinstance(other, Trace) and self._d == other._d

    def __repr__(self) -> str:
        best = self._d["hypotheses"][0]["text"] if self._d.get("hypotheses") else ""
        return (f"Trace(model={self._d['model'].get('name')!r}, strategy={self._d['strategy']!r}, "
                f"steps={len(self._d['steps'])}, best={best!r})")

    @property
    def text(self) -> str:
        """The best hypothesis' text."""
        return self._d["hypotheses"][0]["text"] if self._d["hypotheses"] else ""

    def to_dict(self) -> dict:
        return self._d

    def copy(self) -> "Trace":
        return Trace(copy.deepcopy(self._d))

    @classmethod
    def from_dict(cls, d: dict) -> "Trace":
        validate_trace_dict(d)
        return cls(d)

    def to_json(self, indent=None) -> str:
        seps = (",", ":") if indent is None else (",", ": ")
        return json.dumps(self._d, ensure_ascii=False, allow_nan=False, indent=indent, separators=seps)

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write the JSON atomically. A trace that `load_trace` would refuse (over 50 MB) is not written."""
        path = Path(path)
        data = self.to_json().encode("utf-8")
        if len(data) > MAX_TRACE_BYTES:
            raise TraceError(f"the trace is {len(data) / 1e6:.1f} MB, over the {MAX_TRACE_BYTES // (1024 * 1024)} MB "
                             "that load_trace accepts; record less (RecordOptions: fewer layers, attention=False, "
                             "hidden_states=False, a smaller top_k)")
        atomic_write_bytes(path, data)
        return path


def load_trace(source: Union[str, bytes, os.PathLike]) -> Trace:
    """Read a trace from a path, JSON bytes or a JSON string; validated and size-capped (50 MB)."""
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_TRACE_BYTES:
            raise TraceError(f"trace: {len(source) / 1e6:.1f} MB is over the {MAX_TRACE_BYTES // (1024 * 1024)} MB limit")
        try:
            text = bytes(source).decode("utf-8")
        except UnicodeDecodeError:
            raise TraceError("trace: not UTF-8 text") from None
        where = "trace"
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        if len(source) > MAX_TRACE_BYTES:
            raise TraceError(f"trace: {len(source) / 1e6:.1f} MB is over the {MAX_TRACE_BYTES // (1024 * 1024)} MB limit")
        text, where = source, "trace"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise TraceError(f"{path}: no such trace file")
        size = path.stat().st_size
        if size > MAX_TRACE_BYTES:
            raise TraceError(f"{path}: {size / 1e6:.1f} MB is over the {MAX_TRACE_BYTES // (1024 * 1024)} MB limit")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TraceError(f"{path}: not UTF-8 text") from None
        where = str(path)
    else:
        raise TraceError(f"load_trace needs a path, bytes or a JSON string, got {type(source).__name__}")
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    try:
        validate_trace_dict(d)
    except TraceError as exc:
        if where != "trace":
            raise TraceError(f"{where}: {exc}") from None
        raise
    return Trace(d)
