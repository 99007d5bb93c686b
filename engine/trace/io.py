"""`Trace` (a decoding run's record with attribute access), saving it atomically and `load_trace`:
read from a path, bytes or a JSON string, size-capped (50 MB), parsed strictly, then validated."""
from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path
from typing import Union

from ..files import atomic_write_bytes
from ..limits import MAX_TRACE_BYTES, MAX_TRACE_DEPTH
from .checks import NonFinite, TraceError
from .schema import FORMAT_VERSION, validate

MAX_DEPTH = MAX_TRACE_DEPTH   # JSON nesting; the format's deepest field (steps[t].hypotheses[j].self_attn) is at 8
ATTN_SCALE = 1000             # in a saved trace (format 2) attention weights are integers in thousandths (0..1000)


def _attention_blocks(d: dict):
    """(container, key) of every attention block of a trace dict: encoder_attention and each step
    hypothesis' self_attn / cross_attn (whatever their shape: validation judges that)."""
    if isinstance(d.get("encoder_attention"), list):
        yield d, "encoder_attention"
    steps = d.get("steps")
    for st in steps if isinstance(steps, list) else ():
        hyps = st.get("hypotheses") if isinstance(st, dict) else None
        for h in hyps if isinstance(hyps, list) else ():
            if isinstance(h, dict):
                for k in ("self_attn", "cross_attn"):
                    if isinstance(h.get(k), list):
                        yield h, k


def _mapped(block, f):
    """The nested lists of `block` with f applied to every number (other values as they are)."""
    if isinstance(block, list):
        return [_mapped(v, f) for v in block]
    if isinstance(block, (int, float)) and not isinstance(block, bool):
        return f(block)
    return block


def _thousandths(w):
    return int(round(w * ATTN_SCALE)) if isinstance(w, float) and math.isfinite(w) else w


def _quantized(w):             # a format-1 weight (4 decimals) as format 2 holds it (3 decimals)
    return round(w * ATTN_SCALE) / ATTN_SCALE if isinstance(w, float) and math.isfinite(w) else w


def _weight(v):                # a saved weight: an integer is thousandths, a float the weight at 3 decimals
    # (a float with more decimals in a format-2 file would be rounded by the next save: the trace read
    # back would differ from the one loaded; tests/fuzz found it)
    return v / ATTN_SCALE if isinstance(v, int) and not isinstance(v, bool) else _quantized(v)


def file_form(d: dict) -> dict:
    """The trace as it is saved: attention weights as integers in thousandths (a 12-layer x 12-head
    model's beam-4 x 64-token trace is half the size); nothing else changes. The dict is not modified."""
    out = dict(d)
    if isinstance(d.get("encoder_attention"), list):
        out["encoder_attention"] = _mapped(d["encoder_attention"], _thousandths)
    if isinstance(d.get("steps"), list) and any(True for _ in _attention_blocks({"steps": d["steps"]})):
        steps = []
        for st in d["steps"]:
            st = dict(st)
            st["hypotheses"] = [{**h, **{k: _mapped(h[k], _thousandths) for k in ("self_attn", "cross_attn")
                                         if isinstance(h.get(k), list)}} for h in st["hypotheses"]]
            steps.append(st)
        out["steps"] = steps
    return out


def upgrade(d) -> None:
    """A parsed trace file in the in-memory form, in place: format 2's integer thousandths as weights;
    format 1 (weights with 4 decimals) rounded to format 2's 3 decimals and relabelled 2, so that a
    loaded trace saves and reads back unchanged."""
    if not isinstance(d, dict) or type(d.get("format_version")) is not int:
        return
    if d["format_version"] == FORMAT_VERSION:
        f = _weight
    elif d["format_version"] == 1:
        f, d["format_version"] = _quantized, FORMAT_VERSION
    else:
        return
    for holder, key in list(_attention_blocks(d)):
        holder[key] = _mapped(holder[key], f)


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
        """A trace from a dict: the in-memory form, or a parsed file (json.loads of a saved trace; its
        integer attention thousandths become weights, in place)."""
        upgrade(d)
        validate(d)
        return cls(d)

    def to_json(self, indent=None) -> str:
        seps = (",", ":") if indent is None else (",", ": ")
        return json.dumps(file_form(self._d), ensure_ascii=False, allow_nan=False, indent=indent, separators=seps)

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write the JSON atomically. A trace that `load_trace` would refuse (over 50 MB) is not written."""
        path = Path(path)
        data = self.to_json().encode("utf-8")
        if len(data) > MAX_TRACE_BYTES:
            raise TraceError(f"the trace is {len(data) / 1e6:.1f} MB, over the {_limit()} that load_trace "
                             "accepts; record less (RecordOptions: fewer layers, attention=False, "
                             "hidden_states=False, a smaller top_k)")
        atomic_write_bytes(path, data)
        return path


def _limit() -> str:
    return f"{MAX_TRACE_BYTES // (1024 * 1024)} MB" if MAX_TRACE_BYTES >= 1024 * 1024 else f"{MAX_TRACE_BYTES} bytes"


def _too_big(where: str, size: int) -> TraceError:
    return TraceError(f"{where}: {size / 1e6:.1f} MB is over the {_limit()} limit")


def load_trace(source: Union[str, bytes, os.PathLike]) -> Trace:
    """Read a trace from a path, JSON bytes or a JSON string; size-capped (50 MB) and validated.
    NaN / Infinity literals and nesting deeper than the format are refused, naming the field."""
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_TRACE_BYTES:
            raise _too_big("trace", len(source))
        try:
            text = bytes(source).decode("utf-8")
        except UnicodeDecodeError:
            raise TraceError("trace: not UTF-8 text") from None
        where = "trace"
    elif isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        if len(source) > MAX_TRACE_BYTES:
            raise _too_big("trace", len(source))
        text, where = source, "trace"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size if path.is_file() else None
        except OSError:                           # e.g. a name too long to be a path
            size = None
        if size is None:
            raise TraceError(f"{str(path)[:200]}: no such trace file")
        if size > MAX_TRACE_BYTES:
            raise _too_big(str(path), size)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TraceError(f"{path}: not UTF-8 text") from None
        where = str(path)
    else:
        raise TraceError(f"load_trace needs a path, bytes or a JSON string, got {type(source).__name__}")
    try:
        d = parse(text)
        upgrade(d)
        validate(d)
    except TraceError as exc:
        if where != "trace":
            raise TraceError(f"{where}: {exc}") from None
        raise
    return Trace(d)


def parse(text: str):
    """JSON text -> Python values. NaN / Infinity literals become `NonFinite` (which validation refuses
    with the field's name); nesting too deep for the parser is refused with the path where it gets deep."""
    try:
        return json.loads(text, parse_constant=NonFinite)
    except json.JSONDecodeError as exc:
        raise TraceError(f"trace: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise TraceError(f"trace: {_deep_path(text)} is nested deeper than the trace format allows "
                         f"(at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:                 # e.g. an integer of more digits than Python converts
        raise TraceError(f"trace: not valid JSON ({str(exc).splitlines()[0]})") from None


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{},]')


def _deep_path(text: str) -> str:
    """The path (e.g. steps[0].hypotheses[0].hidden[0][0]) of the first container nested past MAX_DEPTH."""
    stack: list = []                          # per open container: [kind, current key or index]
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in ("{", "["):
            if len(stack) >= MAX_DEPTH:
                break
            stack.append([tok, None if tok == "{" else 0])
        elif tok in ("}", "]"):
            if stack:
                stack.pop()
        elif tok == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif tok.endswith(":") and stack and stack[-1][0] == "{":
            stack[-1][1] = json.loads(tok[:-1].rstrip())
    path = ""
    for kind, pos in stack:
        path += f"[{pos}]" if kind == "[" else (f".{pos}" if path else str(pos))
    return path or "the top level"
