"""Type and range checks of JSON values: the primitives of the trace validator (engine/trace/validate.py).

Two kinds. The `check_*` functions look at one value and raise a one-line `TraceError` naming its
path ("steps[3].hypotheses[0].prob must be a finite number in [0, 1] or null, got 1.5"). The `*_ok`
functions look at a whole column of values at once (a few passes in C) and only answer yes or no:
the validator runs them first and walks the values one by one only to name a bad one. Bools are
not numbers, numbers must be finite, and a NaN / Infinity literal read from JSON is a `NonFinite`
(not a number), so every check refuses it.
"""
from __future__ import annotations

import math
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

EPS = 1e-6                # slack on the range of rounded probabilities, log-probs and entropies
NONE = type(None)
INT, NUM, STR, LIST, DICT = {int}, {int, float}, {str}, {list}, {dict}
INT_OR_NULL, NUM_OR_NULL, STR_OR_NULL = {int, NONE}, {int, float, NONE}, {str, NONE}


class TraceError(ValueError):
    """A trace file or dict is malformed, too large or of another format version."""


class NonFinite:
    """A NaN / Infinity / -Infinity literal in JSON text (not JSON; load_trace refuses it by its field)."""

    def __init__(self, literal: str):
        self.literal = literal

    def __repr__(self) -> str:
        return f"the literal {self.literal} (not valid JSON)"


class Said(str):
    """What was found, described in words: shown unquoted in an error message ("3 items")."""

    def __repr__(self) -> str:
        return str(self)


def show(v: Any) -> str:
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "null"
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def bad(path: str, want: str, v: Any):
    raise TraceError(f"trace: {path} must be {want}, got {show(v)}")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- one value, its path named on failure --------------------------------------------------------

def check_int(v, path, lo=0, hi=None, null=False):
    if v is None and null:
        return
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        want = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"
        bad(path, want + (" or null" if null else ""), v)


def check_num(v, path, lo=None, hi=None, null=False):
    if v is None and null:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or (lo is not None and v < lo - EPS) or (hi is not None and v > hi + EPS):
        rng = ("" if lo is None and hi is None else f" in [{lo}, {hi}]" if lo is not None and hi is not None
               else f" >= {lo}" if lo is not None else f" <= {hi}")
        bad(path, f"a finite number{rng}" + (" or null" if null else ""), v)


def check_str(v, path, choices=None, null=False):
    if v is None and null:
        return
    if not isinstance(v, str) or (choices is not None and v not in choices):
        want = "a string" if choices is None else "one of " + ", ".join(choices)
        bad(path, want + (" or null" if null else ""), v)


def check_bool(v, path):
    if not isinstance(v, bool):
        bad(path, "true or false", v)


def check_obj(v, path, required, optional=()):
    """An object with every key of `required` and no key outside `required` + `optional`."""
    if not isinstance(v, dict):
        bad(path or "the top level", "an object", v)
    for k in required:
        if k not in v:
            raise TraceError(f"trace: missing key {join(path, k)}")
    if len(v) > len(required):
        for k in v:
            if k not in required and k not in optional:
                raise TraceError(f"trace: {join(path, str(k))} is not a key of the trace format "
                                 "(docs/trace-format.md)")


def check_list(v, path, n=None):
    if not isinstance(v, list):
        bad(path, "a list", v)
    if n is not None and len(v) != n:
        bad(path, f"a list of {n} items", Said(f"{len(v)} items"))


def check_numbers(v, path, depth=1, lo=None, hi=None, null=False):
    """`depth` levels of nested lists with finite numbers (or null if `null`) in [lo, hi] at the leaves."""
    if not nested_ok([v], depth + 1, lo, hi):
        check_list(v, path)
        for i, x in enumerate(v):
            if depth > 1:
                check_numbers(x, f"{path}[{i}]", depth - 1, lo, hi, null)
            else:
                check_num(x, f"{path}[{i}]", lo, hi, null)


def check_ints(v, path, lo=0):
    check_list(v, path)
    if not values_ok(v, INT, lo):
        for i, x in enumerate(v):
            check_int(x, f"{path}[{i}]", lo)


def check_strs(v, path):
    check_list(v, path)
    if not values_ok(v, STR):
        for i, x in enumerate(v):
            check_str(x, f"{path}[{i}]")


# -- whole columns, yes or no --------------------------------------------------------------------

def values_ok(values: list, types: set, lo=None, hi=None) -> bool:
    """Every value's exact type is in `types`; the numbers among them are finite and in [lo, hi]."""
    ts = set(map(type, values))
    if not ts <= types:
        return False
    if not ts & NUM:
        return True
    if NONE in ts:
        values = [x for x in values if x is not None]
        if not values:
            return True
    try:
        if float in ts and not math.isfinite(sum(values)):
            return False
    except OverflowError:
        return False
    return (lo is None or min(values) >= lo - EPS) and (hi is None or max(values) <= hi + EPS)


def nested_ok(values: list, depth: int, lo=None, hi=None, leaves: bool = True) -> bool:
    """Every value is `depth - 1` levels of nested lists with finite numbers in [lo, hi] at the leaves.
    leaves=False: the nesting down to the innermost lists, and the first item of each a number; the
    other numbers were checked by whoever made them (`schema.finish(d, numbers_checked=True)`: the
    recorder, on its tensors)."""
    items = values
    for level in range(depth - 1):
        if not set(map(type, items)) <= LIST:
            return False
        if not leaves and level == depth - 2:
            return set(map(type, map(itemgetter(0), filter(None, items)))) <= NUM
        items = list(chain.from_iterable(items))
    return values_ok(items, NUM, lo, hi)


def rectangular(block: list) -> bool:
    """An attention block [layers][heads][weights]: at least one head per layer, and every head of a
    layer with the same number (>= 1) of weights (callers check the nesting and the numbers first)."""
    return all_rectangular([block])


def all_rectangular(blocks: list) -> bool:
    """Every block of a column `rectangular`, in a few passes in C: each layer's head count and first
    head's length, then every head's length against its layer's first."""
    layers = flat(blocks)
    n_heads = list(map(len, layers))
    if 0 in n_heads:
        return False
    firsts = list(map(len, map(itemgetter(0), layers)))
    return 0 not in firsts and list(map(len, flat(layers))) == flat(map(repeat, firsts, n_heads))


def flat(lists) -> list:
    """The items of a list (or iterable) of lists, one list (callers check the lists first)."""
    return list(chain.from_iterable(lists))
