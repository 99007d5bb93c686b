"""English prose from what CPython ships, for a language model (character or BPE tokens).

Sources (no downloads; no stdlib ``.py`` module is imported, they are parsed):

* the 79 help texts of ``pydoc_data.topics.topics``;
* module, class and function docstrings of >= 200 characters found by parsing
  (with :mod:`ast`) the ``.py`` files under ``sysconfig.get_paths()['stdlib']``,
  skipping ``test``/``tests`` folders and ``test_*.py``, ``idlelib``,
  ``site-packages``, ``lib2to3``, ``encodings``, ``turtledemo`` and caches,
  in sorted file order;
* runs of full-line ``#`` comments from the same files (only blocks that read
  like prose sentences are kept) -- needed to reach >= 1.5 M train characters;
* docstrings of the compiled (C) modules -- built in or in ``lib-dynload`` --
  and of their public classes / functions (they have no ``.py`` to parse).

Cleaning: REPL lines (``>>>``/``...``), reST underlines and tables, grammar
rules and indented (>= 3 spaces) blocks that do not read like prose are
dropped; whitespace inside paragraphs is normalised; non-ASCII and control
characters are dropped; a short summary sentence is joined to the paragraph
that follows it; paragraphs shorter than 80 characters are dropped and longer
ones are cut into pieces of <= 600 characters at sentence (else word)
boundaries.  A paragraph that already occurred in an earlier document is
skipped, so the three splits never share a paragraph.

Documents (one per topic / docstring / comment block) go to train/valid/test
(90/5/5) by a stable hash of their first 200 characters, so the split does not
depend on the seed; the seed only shuffles the order of the training paragraphs.

Size on CPython 3.11.7 (``corpus_stats()``; chars include the joining newlines):
train ~1.61 M characters in 7434 paragraphs, valid ~85 k in 402, test ~75 k in
351.  Building the corpus takes ~3.5 s the first time and is cached per process.
"""

from __future__ import annotations

import ast
import hashlib
import os
import random
import re
import sys
import sysconfig
from functools import lru_cache
from typing import Optional

from . import Example

__all__ = ["TextTask", "corpus_text", "corpus_stats", "documents", "paragraphs"]

MIN_DOC_CHARS = 200
MIN_PARAGRAPH_CHARS = 80
MAX_PARAGRAPH_CHARS = 600
SPLIT_NAMES = ("train", "valid", "test")

_SKIP_DIRS = {
    "test",
    "tests",
    "idle_test",
    "idlelib",
    "site-packages",
    "dist-packages",
    "lib2to3",
    "encodings",
    "__pycache__",
    "turtledemo",
    "lib-dynload",
}

_UNDERLINE = re.compile(r"^\s*([*=\-~^#+\"'`])\1{2,}\s*$")
_WS = re.compile(r"\s+")
_NON_PRINTABLE = re.compile(r"[^\x20-\x7e\n]")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s)")
_SHORT_SENTENCE = re.compile(r"^[A-Z][A-Za-z ,;'()-]*\w[.!?]$")
_ENDS_SENTENCE = re.compile(r"[.!?:][\"')\]]?\s*$")


# ----------------------------------------------------------------- sources
def _stdlib_files() -> list[str]:
    root = sysconfig.get_paths()["stdlib"]
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        if any(p in _SKIP_DIRS or p.startswith("config-") for p in parts):
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for fn in sorted(filenames):
            if fn.endswith(".py") and not fn.startswith("test_"):
                out.append(os.path.join(dirpath, fn))
    return sorted(out, key=lambda p: os.path.relpath(p, root))


def _docstrings_of_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and len(doc) >= MIN_DOC_CHARS:
                out.append(doc)
    return out


def _comment_blocks_of_file(path: str) -> list[str]:
    """Runs of consecutive full-line ``#`` comments of >= 80 characters (the
    ``#`` and one following space are removed; relative indentation is kept)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (UnicodeDecodeError, OSError):
        return []
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            body = "\n".join(run).strip("\n")
            if len(body) >= MIN_PARAGRAPH_CHARS:
                out.append(body)
            run.clear()

    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("#") and not (i < 2 and (s.startswith("#!") or "coding" in s)):
            body = s[1:]
            run.append(body[1:] if body.startswith(" ") else body.lstrip("#"))
        else:
            flush()
    flush()
    return out


# compiled modules whose import has side effects (terminal, audio, warnings) or that are test helpers
_SKIP_EXTENSIONS = ("_test", "xx", "_xx", "_ctypes_test", "_tkinter", "readline", "_curses",
                    "ossaudiodev", "nis", "spwd", "_crypt", "audioop", "_posixshmem")


def _compiled_module_names() -> list[str]:
    names = set(sys.builtin_module_names)
    dyn = os.path.join(sysconfig.get_paths()["stdlib"], "lib-dynload")
    if os.path.isdir(dyn):
        for fn in os.listdir(dyn):
            if fn.endswith((".so", ".pyd")):
                names.add(fn.split(".")[0])
    return sorted(n for n in names if not n.startswith(_SKIP_EXTENSIONS))


def _compiled_module_docstrings() -> list[str]:
    """Docstrings of compiled (C) modules -- built into the interpreter or in
    ``lib-dynload`` -- and of the public classes / functions / methods they define.
    These have no ``.py`` source to parse; importing them runs no Python code."""
    import importlib
    import inspect
    import warnings

    out: list[str] = []
    seen: set[int] = set()
    for name in _compiled_module_names():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = sys.modules.get(name) or importlib.import_module(name)
        except Exception:  # pragma: no cover - platform dependent
            continue
        objs = [mod]
        for attr in sorted(dir(mod)):
            if attr.startswith("_"):
                continue
            obj = getattr(mod, attr, None)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                objs.append(obj)
                if inspect.isclass(obj):
                    members = vars(obj)
                    objs.extend(members[m] for m in sorted(members) if not m.startswith("_"))
        for obj in objs:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str):
                doc = inspect.cleandoc(doc)
                if len(doc) >= MIN_DOC_CHARS:
                    out.append(doc)
    return out


# ----------------------------------------------------------------- cleaning
def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _prose_like(lines: list[str]) -> bool:
    """Heuristic: ends like a sentence, mostly letters and spaces, enough words."""
    text = " ".join(l.strip() for l in lines)
    if not text or "::=" in text:
        return False
    letters = sum(c.isalpha() or c == " " for c in text)
    return (
        letters / len(text) >= 0.85
        and len(text.split()) >= 8
        and _ENDS_SENTENCE.search(text) is not None
    )


def _is_code_block(lines: list[str]) -> bool:
    """A blank-line separated block is code if it starts like a REPL session or a
    grammar rule, or if it is indented (>= 3 spaces) and does not read like prose."""
    first = lines[0].lstrip()
    if first.startswith((">>>", "...", "$ ")) or any("::=" in l for l in lines):
        return True
    if any(l.lstrip().startswith(("+-", "+=", "|")) for l in lines):  # reST tables
        return True
    text = "".join(lines)
    if sum(c.isalpha() or c == " " for c in text) < 0.7 * len(text):
        return True
    return min(_indent(l) for l in lines) >= 3 and not _prose_like(lines)


def _chunks(par: str) -> list[str]:
    """Cut a long paragraph into pieces of <= 600 chars at sentence (else word) boundaries."""
    out = []
    while len(par) > MAX_PARAGRAPH_CHARS:
        head = par[: MAX_PARAGRAPH_CHARS + 1]
        ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= MAX_PARAGRAPH_CHARS]
        if ends and ends[-1] >= MIN_PARAGRAPH_CHARS:
            cut = ends[-1]
        else:
            cut = head.rfind(" ", 0, MAX_PARAGRAPH_CHARS + 1)
            if cut < MIN_PARAGRAPH_CHARS:
                cut = MAX_PARAGRAPH_CHARS
        out.append(par[:cut].rstrip())
        par = par[cut:].lstrip()
    out.append(par)
    return out


def clean_document(text: str, strict: bool = False) -> list[str]:
    """Split a help text / docstring into cleaned prose paragraphs (<= 600 chars each).

    Lines starting with ``>>>``/``...``, reST underlines and code blocks (see
    :func:`_is_code_block`) are dropped; whitespace is normalised; non-ASCII
    characters are removed; paragraphs shorter than 80 characters are dropped;
    longer paragraphs are cut into <= 600-character pieces at sentence ends.
    With ``strict`` (used for source comments) only blocks that read like
    prose sentences (see :func:`_prose_like`) are kept.
    """
    text = _NON_PRINTABLE.sub("", text.encode("ascii", "ignore").decode("ascii").expandtabs(8))
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if not s or _UNDERLINE.match(line) or s.startswith((">>>", "...")):
            # blank lines, underlines and REPL lines end the current block
            if current:
                blocks.append(current)
                current = []
            if s.startswith((">>>", "...")):
                blocks.append([line])
            continue
        current.append(line.rstrip())
    if current:
        blocks.append(current)

    paragraphs: list[str] = []
    pending = ""  # a short sentence (e.g. a docstring's summary line) waiting for its paragraph
    for block in blocks:
        if _is_code_block(block) or (strict and not _prose_like(block)):
            pending = ""
            continue
        par = _WS.sub(" ", " ".join(l.strip() for l in block)).strip()
        if pending:
            par = f"{pending} {par}"
            pending = ""
        if len(par) < MIN_PARAGRAPH_CHARS:
            if _SHORT_SENTENCE.match(par):
                pending = par
            continue
        paragraphs.extend(c for c in _chunks(par) if len(c) >= MIN_PARAGRAPH_CHARS)
    return paragraphs


# ----------------------------------------------------------------- corpus
def _split_of(doc: str) -> str:
    h = int.from_bytes(hashlib.sha1(doc[:200].encode("utf-8")).digest()[:8], "big") % 100
    return "train" if h < 90 else ("valid" if h < 95 else "test")


@lru_cache(maxsize=1)
def documents() -> tuple[tuple[str, str], ...]:
    """All raw documents as ``(kind, text)`` in a deterministic order, exact
    duplicates removed.  ``kind`` is "topic", "docstring", "comment" or "compiled"."""
    from pydoc_data.topics import topics

    raw: list[tuple[str, str]] = [("topic", topics[k]) for k in sorted(topics)]
    for path in _stdlib_files():
        raw.extend(("docstring", d) for d in _docstrings_of_file(path))
        raw.extend(("comment", d) for d in _comment_blocks_of_file(path))
    raw.extend(("compiled", d) for d in _compiled_module_docstrings())
    seen: set[str] = set()
    out = []
    for kind, d in raw:
        if d not in seen:
            seen.add(d)
            out.append((kind, d))
    return tuple(out)


@lru_cache(maxsize=1)
def _paragraphs_by_split() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {s: [] for s in SPLIT_NAMES}
    seen: set[str] = set()
    for kind, doc in documents():
        split = _split_of(doc)
        for par in clean_document(doc, strict=(kind == "comment")):
            if par not in seen:
                seen.add(par)
                out[split].append(par)
    return {k: tuple(v) for k, v in out.items()}


def paragraphs(split: str) -> list[str]:
    """Cleaned paragraphs of one split, in deterministic (unshuffled) order."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLIT_NAMES}")
    return list(_paragraphs_by_split()[split])


def corpus_text(split: str) -> str:
    """The paragraphs of ``split`` joined with newlines."""
    return "\n".join(paragraphs(split))


def corpus_stats() -> dict[str, dict[str, int]]:
    return {
        s: {"paragraphs": len(p), "chars": sum(len(x) for x in p) + max(len(p) - 1, 0)}
        for s, p in _paragraphs_by_split().items()
    }


# ----------------------------------------------------------------- task
# hand-written continuations of four of TextTask.examples() (prose has no computable gold)
TEXT_REFS = {
    "The default value of": " the *key* argument is None, which means that the function is called with no arguments.",
    "A function is": " a callable object that returns a value when it is called with the given arguments.",
    "When the": " iterator is exhausted, the loop terminates and the *else* clause is executed.",
    "This module provides": " functions for working with files and directories in a portable way.",
}


class TextTask:
    name = "text"
    kind = "lm"
    description = (
        "English technical prose (Python help topics and standard-library docstrings), "
        "one paragraph per example, for language modelling "
        "(in characters or BPE tokens, as the model's tokenizer says)."
    )
    max_new_tokens = 40

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[Example]]:
        sizes = dict(sizes or {})
        unknown = set(sizes) - set(SPLIT_NAMES)
        if unknown:
            raise ValueError(f"unknown split names {sorted(unknown)}; expected {SPLIT_NAMES}")
        out: dict[str, list[Example]] = {}
        for split in SPLIT_NAMES:
            pars = paragraphs(split)
            if split == "train":
                random.Random(f"text-{seed}-train").shuffle(pars)
            if split in sizes:
                pars = pars[: sizes[split]]
            out[split] = [Example("", p) for p in pars]
        return out

    def examples(self) -> list[str]:
        return [
            "The default value of",
            "A function is",
            "When the",
            "This module provides",
            "If the argument is",
            "Return a new",
            "The following",
            "An exception is raised if",
        ]

    def reference(self, text: str) -> Optional[str]:
        """A hand-written continuation of a known prompt; None for other prompts."""
        return TEXT_REFS.get(text)
