"""What the fuzz targets share: case counts per profile, the time and memory guard, the one-line
check, a NaN finder, hostile values and texts, and mutations of a JSON document.

A JSON mutation works on the parsed document and can plant raw fragments that Python's json cannot
write (a NaN literal, a 5,000-digit integer, 50,000 nested brackets): `Raw` markers, replaced in
the dumped text.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import resource
import signal
from typing import Any, Optional

from hypothesis import settings
from hypothesis import strategies as st

GB = 1 << 30


def cases(ci: int, long: int) -> settings:
    """This test's number of cases: `ci` under the ci profile, `long` under the long one (any other
    profile: its own max_examples)."""
    n = {"ci": ci, "long": long}.get(settings.get_current_profile_name(), settings.default.max_examples)
    return settings(max_examples=n)


# -- guards --------------------------------------------------------------------------------------

class Hang(BaseException):
    """A call ran past its time limit (a BaseException, so that code under test cannot swallow it)."""


def vm_size() -> int:
    """This process' virtual address space in bytes (what RLIMIT_AS limits)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def guard(seconds: float, memory: int = GB):
    """Run the block with SIGALRM after `seconds` (raises Hang) and the address space capped at what
    the process uses now plus `memory` (an allocation beyond it fails: MemoryError or the library's
    allocation error, which the property then reports). Main thread only."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm_size() + memory
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)

    def _alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old_handler = signal.signal(signal.SIGALRM, _alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang as exc:             # now an ordinary failure: hypothesis shrinks it and prints the case
        raise AssertionError(f"hang: {exc}") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, (old_soft, hard))


def tally(label: str) -> None:
    """hypothesis.event (shown by --hypothesis-show-statistics); ignored outside a test (a helper
    called from a script). Labels are ASCII: the statistics are written as UTF-8."""
    from hypothesis import event
    from hypothesis.errors import InvalidArgument
    try:
        event(ascii(label)[1:-1] if not label.isascii() else label)
    except InvalidArgument:
        pass


# -- checks --------------------------------------------------------------------------------------

def one_line(msg: str) -> bool:
    """A user-facing message: one non-empty line, no traceback."""
    return bool(msg.strip()) and "\n" not in msg and "\r" not in msg and "Traceback (most recent" not in msg


def find_nan(x: Any) -> Optional[str]:
    """The path of the first NaN float in a JSON-like value (iterative: no recursion limit), or None."""
    stack = [("", x)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, float) and math.isnan(v):
            return path or "the top level"
        if isinstance(v, dict):
            stack.extend((f"{path}.{k}" if path else str(k), w) for k, w in v.items())
        elif isinstance(v, (list, tuple)):
            stack.extend((f"{path}[{i}]", w) for i, w in enumerate(v))
    return None


# -- hostile values ------------------------------------------------------------------------------

SPECIAL_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 1e-300, 1e-45, 1e-8, 0.5, 1.0 - 1e-16, 1.0 + 1e-16, 2.0, 400.0,
                  -400.0, 1e38, 3.5e38, 1e39, 1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308,
                  float("nan"), float("inf"), float("-inf")]
HUGE_INTS = [2 ** 31 - 1, 2 ** 31, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 10 ** 6, 10 ** 9, 10 ** 18, 10 ** 100,
             -1, -5, -(2 ** 63), -(10 ** 9)]
NASTY_STRINGS = ["", " ", "\t", "\n", "\x00", "<eos>", "<pad>", "<bos>", "<unk>", "NaN", "Infinity", "-1", "1e309",
                 "0x10", "true", "null", "[]", "{}", "é", "日本", "☃", "\u200b", "\ufeff", "\U0001f600", "\ud800",
                 "\udcff", "a" * 5000, "</script><script>alert(1)</script>", "![m](http://127.0.0.1/x.png)",
                 "[click](https://example.invalid)", "`code` **b**", "$x$", "<b>x</b>", "../../etc/passwd",
                 "%s%n", "{0}", "\\", "\"", "'"]

# every character, lone surrogates and control characters included
CHARS = st.one_of(st.characters(codec=None), st.characters(categories=["Cs"]), st.characters(categories=["Cc"]),
                  st.sampled_from("\x00\n\r\t \u00a0\u200b\u2028\ufeff\ufffd"))


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Unicode texts: any character, the nasty strings, and long repeats (up to 30,000 characters)."""
    return st.one_of(
        st.text(CHARS, max_size=max_size),
        st.sampled_from(NASTY_STRINGS),
        st.builds(lambda s, n: s * n, st.text(CHARS, min_size=1, max_size=3),
                  st.sampled_from([100, 2001, 20_001, 30_000])),
    )


def numbers() -> st.SearchStrategy:
    return st.one_of(st.integers(-3, 3), st.sampled_from(HUGE_INTS), st.sampled_from(SPECIAL_FLOATS),
                     st.floats(allow_nan=True, allow_infinity=True))


class Raw:
    """A fragment written into the JSON text as it is (not valid Python JSON output)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:30]!r}{'...' if len(self.text) > 30 else ''} ({len(self.text)} chars))"


RAW_FRAGMENTS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-0", "1" * 5000, "-" + "9" * 5000, "0." + "0" * 400 + "1",
    "[" * 20 + "]" * 20, "[" * 100 + "]" * 100, "[" * 3000 + "]" * 3000, "[" * 50000 + "]" * 50000,
    '{"a":' * 3000 + "1" + "}" * 3000,
]


RAWS = [Raw(t) for t in RAW_FRAGMENTS]         # drawn as objects: a failing case prints them short


def scalars() -> st.SearchStrategy:
    return st.one_of(st.none(), st.booleans(), numbers(), texts(12))


def values() -> st.SearchStrategy:
    """Any JSON-ish value a hostile file could hold: scalars, small containers, raw fragments."""
    small = st.one_of(
        st.lists(scalars(), max_size=3),
        st.dictionaries(st.text(CHARS, max_size=6), scalars(), max_size=3),
    )
    return st.one_of(scalars(), small, st.sampled_from(RAWS))


def dumps(doc: Any, ascii_only: bool = True) -> str:
    """JSON text of a document with Raw markers (anywhere) written as their fragments."""
    raws: list[Raw] = []

    def mark(o):
        raws.append(o)
        return f"\x00raw{len(raws) - 1}\x00"

    def swap(o):
        if isinstance(o, Raw):
            return mark(o)
        if isinstance(o, dict):
            return {k: swap(v) for k, v in o.items()}
        if isinstance(o, list):
            return [swap(v) for v in o]
        return o

    text = json.dumps(swap(doc), ensure_ascii=ascii_only)
    for i, r in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{i}\x00", ensure_ascii=ascii_only), r.text, 1)
    return text


def to_bytes(text: str) -> bytes:
    """UTF-8, lone surrogates written as they are (invalid UTF-8: a reader must refuse it cleanly)."""
    return text.encode("utf-8", "surrogatepass")


# -- mutating a JSON document ---------------------------------------------------------------------

OPS = ("replace", "delete", "duplicate", "add_key", "retype", "raw", "tweak", "empty", "same_type")
KEEP_TYPES = OPS + ("same_type",) * 6 + ("tweak", "duplicate", "delete")   # more mutations a validator may accept


def _children(node) -> list:
    if isinstance(node, dict):
        return list(node)
    if isinstance(node, list):
        return list(range(len(node)))
    return []


def pick_location(data, doc, max_depth: int = 9):
    """A (container, key) pair somewhere in `doc`, drawn by walking down a drawn number of levels."""
    depth = data.draw(st.integers(0, max_depth), label="depth")
    parent, key = None, None
    node = doc
    for _ in range(depth + 1):
        keys = _children(node)
        if not keys:
            break
        k = data.draw(st.sampled_from(keys), label="key")
        parent, key, node = node, k, node[k]
    return parent, key


def _tweak(v):
    if isinstance(v, bool):
        return st.sampled_from([not v, int(v), str(v).lower(), None])
    if isinstance(v, int):
        return st.sampled_from([v + 1, v - 1, -v, -1, 0, v * 10 ** 9, 2 ** 63, float(v), str(v), True])
    if isinstance(v, float):
        return st.sampled_from([-v, v * 1e300, v / 1e300 if v else 5e-324, 1.0 + v, -1.0, 2.0, float("nan"), str(v)])
    if isinstance(v, str):
        return st.sampled_from(["", v * 3, v[::-1], v + "\x00", v.upper(), "\ud800" + v, v * 2000, 1])
    return values()


def _same_type(v):
    """Another value of the same JSON type (most of them in the range a field allows)."""
    if isinstance(v, bool):
        return st.booleans()
    if isinstance(v, int):
        return st.one_of(st.integers(-2, 64), st.sampled_from([0, 1, 2 ** 31, 10 ** 6]))
    if isinstance(v, float):
        return st.one_of(st.floats(0, 1), st.floats(-60, 0), st.sampled_from([0.0, 1.0, -0.0, 1e-300, -1e300, 5e-324]))
    if isinstance(v, str):
        return texts(20)
    if isinstance(v, list):
        return st.integers(0, max(0, len(v) - 1)).map(lambda k: v[:k] if k % 2 else v[k:])
    return st.just(v)


def mutate(data, doc, max_depth: int = 9, ops=OPS):
    """One mutation somewhere in `doc` (in place; returns the document, which a top-level
    replacement may change)."""
    parent, key = pick_location(data, doc, max_depth)
    op = data.draw(st.sampled_from(ops), label="op")
    if parent is None:                                   # the top level itself
        if op in ("replace", "retype", "raw"):
            return data.draw(values(), label="new top level")
        if op == "empty":
            return type(doc)() if isinstance(doc, (dict, list)) else None
        parent_keys = _children(doc)
        if not parent_keys:
            return doc
        parent, key = doc, data.draw(st.sampled_from(parent_keys))
    old = parent[key]
    if op == "replace":
        parent[key] = data.draw(values(), label="value")
    elif op == "delete":
        del parent[key]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(data.draw(st.integers(0, len(parent))), copy.deepcopy(old))
        else:
            parent[f"{key}_copy"] = copy.deepcopy(old)
    elif op == "add_key":
        if isinstance(old, dict):
            old[data.draw(st.text(CHARS, max_size=8), label="new key")] = data.draw(values())
        elif isinstance(old, list):
            old.append(data.draw(values(), label="new item"))
        else:
            parent[key] = data.draw(values())
    elif op == "retype":
        parent[key] = data.draw(st.sampled_from([[old], {"value": old}, str(old), None, True, 0, 1.5, ""]),
                                label="retyped")
    elif op == "raw":
        parent[key] = data.draw(st.sampled_from(RAWS), label="raw")
    elif op == "tweak":
        parent[key] = data.draw(_tweak(old), label="tweaked")
    elif op == "empty":
        parent[key] = type(old)() if isinstance(old, (dict, list, str)) else None
    elif op == "same_type":
        parent[key] = data.draw(_same_type(old), label="same type")
    return doc


def mutated_text(data, doc, *, max_ops: int = 3, max_depth: int = 9, ops=OPS) -> str:
    """`doc` (not changed) after 1..max_ops mutations, as JSON text (sometimes with raw non-ASCII)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, max_ops), label="mutations")):
        doc = mutate(data, doc, max_depth, ops)
    return dumps(doc, ascii_only=data.draw(st.booleans(), label="ascii"))
