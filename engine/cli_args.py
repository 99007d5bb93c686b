"""The checks `python -m engine` applies to its flags before any work starts (torch-free).

Each `*_arg` function is an argparse `type=`: a bad value becomes argparse's one-line
"argument --flag: ..." and exit status 2. `json_object` reads a JSON flag within the size and nesting
limits of engine/limits.py (the standard parser recurses: 50,000 nested `[` would raise RecursionError).
"""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Optional

from .limits import MAX_CONFIG_BYTES, MAX_JSON_DEPTH
from .loader import DTYPES

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")


def json_depth_ok(text: str, max_depth: int) -> bool:
    """True if no array or object in `text` is nested deeper than max_depth (strings are skipped)."""
    depth = 0
    for m in _BRACKETS.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > max_depth:
                return False
        else:
            depth -= 1
    return True


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (use a finite number)")


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false",
               type(None): "null"}


def json_object(text: str, what: str, max_bytes: int = MAX_CONFIG_BYTES, max_depth: int = MAX_JSON_DEPTH) -> dict:
    """`text` parsed as a JSON object, or a one-line ValueError "{what}: {problem}" (what: e.g.
    "--config-json"): over max_bytes, nested deeper than max_depth, not JSON, NaN/Infinity, not an object."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ValueError(f"{what}: {size:,} bytes, over the limit of {max_bytes:,} (MAX_CONFIG_BYTES in "
                         "engine/limits.py)")
    if not json_depth_ok(text, max_depth):
        raise ValueError(f"{what}: nested deeper than {max_depth} levels (MAX_JSON_DEPTH in engine/limits.py)")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not valid JSON ({exc.msg} at character {exc.pos})") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{what}: not valid JSON ({str(exc).splitlines()[0][:200]})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what}: must be a JSON object ({{...}}), got {_JSON_TYPES.get(type(value), 'a value')}")
    return value


def json_arg(text: str) -> dict:
    """An argparse type: a JSON object within MAX_CONFIG_BYTES and MAX_JSON_DEPTH."""
    try:
        return json_object(text, "JSON")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("JSON: ")) from None


# -- argparse types ---------------------------------------------------------------------------------

def int_arg(lo: Optional[int] = None, hi: Optional[int] = None, note: str = ""):
    """An argparse type: an integer in [lo, hi] (None: unbounded)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is out of range: {int_range(lo, hi)}{note}")
        return v
    return parse


def int_range(lo: Optional[int], hi: Optional[int]) -> str:
    if hi is None:
        return f"an integer >= {lo}"
    if lo is None:
        return f"an integer <= {hi}"
    return f"an integer from {lo} to {hi}"


def float_arg(text: str) -> float:
    """An argparse type: a finite number (nan and inf are refused; ranges are the config's)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def text_arg(what: str):
    """An argparse type: text that is not empty (nor only spaces); `what` says what is expected."""
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"empty; give {what}")
        if "\x00" in text:
            raise argparse.ArgumentTypeError("contains a NUL character")
        return text
    return parse


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def file_arg(text: str) -> str:
    """An argparse type for an output file: not empty, not a folder, below folders (existing or not)."""
    text_arg("a file name, e.g. --out result.json")(text)
    path = Path(text)
    if path.is_dir() or text.endswith(("/", "\\")) or path.name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name, e.g. {text.rstrip('/')}/result.json")
    ancestor = _existing_ancestor(path.parent)
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} cannot be created: {ancestor} is not a folder")
    return text


def folder_arg(text: str) -> str:
    """An argparse type for an output folder: not empty, not a file, below folders (existing or not)."""
    text_arg("a folder, e.g. --out runs/mine")(text)
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} cannot be created: {ancestor} is not a folder")
    return text


# -- where a model runs (decode, tf-fr, exposure) ----------------------------------------------------

_DEVICE_RE = re.compile(r"^(cpu|cuda(:[0-9]{1,2})?)$")


def device_arg(text: str) -> str:
    """An argparse type: cpu, cuda or cuda:N (whether CUDA is there is checked when the model loads)."""
    if not _DEVICE_RE.match(text):
        raise argparse.ArgumentTypeError(f"choose cpu, cuda or cuda:N, got {text[:40]!r}")
    return text


def add_model_flags(p) -> None:
    """--model and where it runs: --device, --dtype (Hugging Face models), --download (an hf: model missing
    from the local cache is fetched only when asked). One definition for every command that opens a model."""
    p.add_argument("--model", required=True, help="shipped model name, checkpoint folder or "
                   "hf:NAME_OR_FOLDER (a Hugging Face model)",
                   type=text_arg("a shipped model name (python -m engine models), a checkpoint folder or hf:FOLDER"))
    p.add_argument("--device", type=device_arg, default="cpu",
                   help="cpu (default), cuda or cuda:N when CUDA is available")
    p.add_argument("--dtype", choices=DTYPES, help="weights' precision of an hf: model (default float32); "
                   "seqscope models run in float32")
    p.add_argument("--download", action="store_true",
                   help="fetch an hf: model that is not in the local Hugging Face cache (network)")
