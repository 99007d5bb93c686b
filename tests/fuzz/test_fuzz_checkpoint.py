"""Fuzz target "checkpoint": tiny valid checkpoint folders (engine.checkpoint.save_checkpoint, every
architecture) mutated — config.json, tokenizer.json and card.json (values, types, deletions, nesting,
NaN literals, huge integers, garbage), the weights' bytes (header, length field, data, truncation),
and the files themselves (missing, a directory, a FIFO, a symlink to /dev/zero or to itself, a
sparse file of gigabytes) — and random names given to engine.load.

Property: engine.load returns a Bundle that decodes one step into a valid trace, or raises
engine.CheckpointError (a ValueError) whose message is one line naming the folder or a file; never
another exception, never a hang (20 s), never an allocation of more than 1 GB. Loading happens in a
worker process (ckpt_worker.py) whose address space is capped at its warm size + 1 GB.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from engine.checkpoint import save_checkpoint
from engine.models import build_model
from engine.tokenizer import Tokenizer
from fuzzkit import CHARS, cases, dumps, mutated_text, one_line, tally, texts, to_bytes, values

HERE = Path(__file__).resolve().parent
TIMEOUT = 20.0
FILES = ("config.json", "tokenizer.json", "card.json", "model.safetensors")
TINY = {
    "gpt": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "max_len": 16},
    "gru-attn": {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "max_len": 16},
    "gru-noattn": {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "max_len": 16},
    "transformer": {"d_model": 16, "n_layers": 1, "n_dec_layers": 1, "n_heads": 2, "d_ff": 32, "max_len": 16},
}
TASKS = {"gpt": ("hmm", "lm"), "gru-attn": ("addition", "seq2seq"), "gru-noattn": ("dates", "seq2seq"),
         "transformer": ("dates", "seq2seq")}


class Worker:
    """ckpt_worker.py as a child process: ask(path) -> its answer, or {"outcome": "hang"} after the
    timeout (the child is then killed and a fresh one started), or {"outcome": "died"}."""

    def __init__(self, warm: Path, log: Path):
        self.warm, self.log = warm, log
        self.proc = None
        self._start()

    def _start(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "PYTHONPATH": str(HERE.parent.parent)}
        self.proc = subprocess.Popen([sys.executable, str(HERE / "ckpt_worker.py"), str(self.warm)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "ab"),
                                     bufsize=0, env=env)
        self.buf = b""
        ready = self._read(120.0)
        assert ready and json.loads(ready).get("ready"), f"the worker did not start: {ready!r} (log: {self.log})"

    def _read(self, timeout: float):
        import time
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return ""
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def ask(self, path: str) -> dict:
        try:
            self.proc.stdin.write((json.dumps({"path": path}) + "\n").encode())
        except BrokenPipeError:
            pass
        line = self._read(TIMEOUT)
        if line:
            return json.loads(line)
        code = self.proc.poll()
        self.close()
        self._start()
        return {"outcome": "hang"} if line is None else {"outcome": "died", "code": code}

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    """A valid tiny checkpoint of every architecture."""
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for arch, dims in TINY.items():
        torch.manual_seed(1)
        tok = Tokenizer.train_char(["0123456789+-/ abcdefghijklmnopqrstuvwxyz"])
        model = build_model(arch, {"vocab_size": tok.vocab_size, **dims})
        task, kind = TASKS[arch]
        save_checkpoint(root / arch, model, tok, {"name": f"tiny-{arch}", "task": task, "kind": kind},
                        card={"summary": "a tiny test model", "parameters": sum(p.numel() for p in model.parameters()),
                              "metrics": {"exact_match": 0.0}, "samples": ["1+2 -> 3"]})
        out[arch] = root / arch
    return out


@pytest.fixture(scope="module")
def worker(folders, tmp_path_factory):
    w = Worker(folders["gpt"], tmp_path_factory.mktemp("worker") / "worker.log")
    yield w
    w.close()


# -- mutations -------------------------------------------------------------------------------------

def _json_file(data, path: Path) -> None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):                  # an earlier mutation left no JSON
        doc = None
    how = data.draw(st.sampled_from(["mutate", "mutate", "mutate", "whole"]), label=f"{path.name}: how")
    if how == "mutate" and doc is not None:
        text = mutated_text(data, doc, max_ops=3, max_depth=4)
    else:
        text = data.draw(st.one_of(st.builds(dumps, values()), texts(40)), label=f"{path.name}: whole")
    path.write_bytes(to_bytes(text))


def _weights(data, path: Path) -> None:
    b = bytearray(path.read_bytes())
    n = int.from_bytes(b[:8], "little")
    try:
        header = json.loads(bytes(b[8:8 + n])) if 0 < n <= len(b) - 8 else None
    except (ValueError, RecursionError):                  # an earlier mutation broke the header
        header = None
    op = data.draw(st.sampled_from(["flip", "flip-header", "header-json", "length", "truncate", "append", "replace"]),
                   label="weights op")
    if not b or (op in ("flip-header", "header-json") and header is None):
        op = "replace"
    if op == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(b) - 1), label="byte")
            b[i] = data.draw(st.integers(0, 255), label="value")
    elif op == "flip-header":
        i = data.draw(st.integers(8, 8 + n - 1), label="header byte")
        b[i] = data.draw(st.integers(0, 255), label="value")
    elif op == "header-json":
        new = to_bytes(mutated_text(data, header, max_ops=2, max_depth=3))
        b = bytearray(len(new).to_bytes(8, "little")) + new + b[8 + n:]
    elif op == "length":
        v = data.draw(st.sampled_from([0, 1, n - 1, n + 1, len(b), len(b) - 8, 2 ** 31, 2 ** 63 - 1, 2 ** 64 - 1]),
                      label="header length")
        b[:8] = (v % 2 ** 64).to_bytes(8, "little")
    elif op == "truncate":
        b = b[:data.draw(st.integers(0, max(0, len(b) - 1)), label="length")]
    elif op == "append":
        b += data.draw(st.binary(min_size=1, max_size=64), label="appended")
    else:
        b = bytearray(data.draw(st.sampled_from([b"", b"\x80\x04\x95" + b"\x00" * 32, b"PK\x03\x04" + b"\x00" * 40,
                                                 b"{}", b"\x00" * 16, b"\xff" * 64]), label="whole weights"))
    path.write_bytes(bytes(b))


def _special(data, path: Path) -> None:
    """The file replaced by something that is not a regular file of a sane size."""
    kind = data.draw(st.sampled_from(["missing", "directory", "fifo", "dev-zero", "dev-urandom", "symlink-loop",
                                      "dangling", "sparse-huge", "empty"]), label=f"{path.name}: special")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dev-urandom":
        path.symlink_to("/dev/urandom")
    elif kind == "symlink-loop":
        path.symlink_to(path.name)
    elif kind == "dangling":
        path.symlink_to("no-such-file")
    elif kind == "sparse-huge":
        with open(path, "wb") as f:
            f.truncate(3 * (1 << 30))
    elif kind == "empty":
        path.write_bytes(b"")
    tally(f"special file: {kind}")


def _model_field(data, path: Path) -> None:
    """A field of config.json's model section set to a hostile value (the allocation sizes)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    model = doc.get("model") if isinstance(doc, dict) else None
    if not isinstance(model, dict):
        return
    key = data.draw(st.sampled_from(sorted(model) + ["n_heads", "d_model", "unknown_key"]), label="model field")
    model[key] = data.draw(st.one_of(
        st.sampled_from([0, -5, 1, 2, 3, 7, 10 ** 6, 10 ** 9, 10 ** 18, 2 ** 63, 65536, 65537, "128", "big", True,
                         1.5, None, [], {}, float("nan")]), values()), label="value")
    path.write_text(dumps(doc), encoding="utf-8")


@st.composite
def mutations(draw) -> list:
    """1..3 (file, kind) pairs."""
    pick = st.one_of(
        st.tuples(st.sampled_from(["config.json", "tokenizer.json", "card.json"]), st.just("json")),
        st.tuples(st.just("config.json"), st.just("model-field")),
        st.tuples(st.just("model.safetensors"), st.just("weights")),
        st.tuples(st.sampled_from(FILES), st.just("special")),
        st.tuples(st.sampled_from(["model.pt", "README.md", "tokenizer.json.tmp"]), st.just("extra")),
    )
    return draw(st.lists(pick, min_size=1, max_size=3))


def apply(data, folder: Path, plan: list) -> None:
    for name, kind in plan:
        path = folder / name
        regular = path.is_file() and not path.is_symlink()
        if kind == "json" and regular:
            _json_file(data, path)
        elif kind == "model-field" and regular:
            try:
                _model_field(data, path)
            except (ValueError, RecursionError):         # an earlier mutation left no JSON
                pass
        elif kind == "weights" and regular:
            _weights(data, path)
        elif kind == "special":
            _special(data, path)
        elif kind == "extra":
            path.write_bytes(data.draw(st.sampled_from([b"\x80\x04K\x01.", b"# card\n", b"{}"]), label=name))


# -- the property ----------------------------------------------------------------------------------

def check_answer(ans: dict, folder: str, names_file: bool = True) -> None:
    out = ans["outcome"]
    tally(f"outcome: {out}")
    assert out not in ("hang", "died"), f"engine.load({folder!r}): {out} {ans}"
    assert out in ("refused", "loaded"), \
        f"engine.load({folder!r}): {out}: {ans['type']}: {ans['message'][:600]}\n{ans.get('traceback', '')}"
    if out == "refused":
        msg = ans["message"]
        assert one_line(msg), f"CheckpointError is not one line: {msg[:1500]!r}"
        if not names_file:
            return
        names = FILES + ("tokenizer", "config", "weights", "card")
        assert folder[:60] in msg or any(n in msg for n in names), f"CheckpointError names no file: {msg!r}"


@given(data=st.data(), arch=st.sampled_from(sorted(TINY)), plan=mutations())
@cases(ci=60, long=1500)
def test_mutated_checkpoint(folders, worker, data, arch, plan):
    with tempfile.TemporaryDirectory(prefix="fuzz-ckpt-") as tmp:
        folder = Path(tmp) / arch
        shutil.copytree(folders[arch], folder)
        apply(data, folder, plan)
        check_answer(worker.ask(str(folder)), str(folder))


NAMES = st.one_of(
    texts(20),
    st.sampled_from(["text-gpt", "addition-gru", "checkpoints/addition-gru", "./checkpoints/dates-gru-attn",
                     "checkpoints/../checkpoints/hmm-gpt", "", ".", "..", "/", "/dev", "/dev/zero", "/dev/null",
                     "/proc/self", "/etc/passwd", "a" * 300, "a" * 5000, "x/" * 3000, "~", "$HOME", "*",
                     "text-gpt\x00", "hf:", "hf:../x", "file:///etc", "\udcff", "\ud800"]),
    st.text(CHARS, max_size=8).map(lambda s: "/tmp/" + s),
)


@given(name=NAMES)
@cases(ci=15, long=300)
def test_load_by_name(worker, name):
    """A name that is no checkpoint folder is refused in one line (it names no file: there is none)."""
    check_answer(worker.ask(name), name, names_file=False)
