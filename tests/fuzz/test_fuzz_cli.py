"""Fuzz target "CLI": random argv lists for every subcommand of `python -m engine`, run in-process
(engine.__main__.main(argv)).

Property: the exit code is 0 or 2; with 2, stderr is one line; never an uncaught exception (a
SystemExit from argparse counts as its exit code). stdout is a strict UTF-8 stream and stderr one
with backslashreplace, as on a terminal, so that printing what cannot be printed is noticed.

Runs stay cheap: decode / tf-fr on a tiny checkpoint written here (shipped models with at most 3 new
tokens), exposure on at most 3 examples, and no training or experiment ever starts unless meant:
`train` gets at least one invalid option (it must exit 2 before the first training step, a sentinel
in train_step says if it did not), or is a 1-step run of a tiny model into a temporary folder;
`experiment` only with an invalid argument (a sentinel in run_experiment). Training's resume state
goes to a temporary folder, never runs/.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
from pathlib import Path

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import engine
from engine.checkpoint import save_checkpoint
from engine.decoding.cli import flag
from engine.decoding.fields import GENERATION_FIELDS
from engine.limits import MAX_THREADS
from engine.models import build_model
from engine.tokenizer import Tokenizer
from fuzzkit import CHARS, GB, cases, guard, one_line, tally, texts

TINY_GRU = {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "max_len": 16}
TINY_MODELS = {  # task, arch, --model-json of a model that trains a step in about a second
    "addition": ("gru-attn", TINY_GRU),
    "dates": ("transformer", {"d_model": 16, "n_layers": 1, "n_dec_layers": 1, "n_heads": 2, "d_ff": 32,
                              "max_len": 48}),
    "hmm": ("gpt", {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "max_len": 64}),
}
JUNK = ["", " ", "-", "--", "-1", "0", "1", "2", "nan", "inf", "-inf", "1e309", "0x10", "1_000", "9" * 400, "true",
        "null", "{}", "[]", "\x00", "\n", "é", "\udcff", "a" * 3000, "--json", "--help", "-h", "--model", "=",
        "../../x", "/dev/null", "/dev/zero", "/proc/self/mem", "/"]
# argv comes from the OS: a string may hold only the surrogates that surrogateescape makes of bad bytes
ARGV_CHARS = st.one_of(st.characters(codec="utf-8"), st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF))


def argv_safe(s: str) -> str:
    """A string as it can arrive in argv: the OS gives bytes, and Python decodes undecodable ones to
    the surrogates U+DC80..U+DCFF (surrogateescape); no other lone surrogate can occur."""
    return "".join("\udcff" if "\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff" else c for c in s)


def argv_texts(max_size: int) -> st.SearchStrategy[str]:
    return texts(max_size).map(argv_safe)


WORDS = st.one_of(st.sampled_from(JUNK), st.text(ARGV_CHARS, max_size=12),
                  st.integers(-3, 70).map(str), st.floats(allow_nan=True).map(repr))


class Started(BaseException):
    """Training / an experiment / an analysis started: the sentinel stops it (no heavy work here)."""


def run_cli(argv: list, seconds: float = 60) -> tuple[int, str, str]:
    """main(argv) with stdout/stderr captured as a terminal would encode them; (exit code, out, err)."""
    from engine.__main__ import main
    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", errors="backslashreplace", write_through=True)
    threads, real_set = torch.get_num_threads(), torch.set_num_threads
    asked = []

    def set_threads(n):                 # never more than 2 threads here; what was asked is checked below
        asked.append(n)
        real_set(min(n, 2) if isinstance(n, int) else n)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torch, "set_num_threads", set_threads)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), guard(seconds, GB):
                try:
                    code = main(list(argv))
                except SystemExit as exc:
                    code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    finally:
        real_set(threads)
    command = argv[0] if argv and argv[0] in COMMANDS else "(no subcommand)"
    tally(f"{command}: exit {code}")            # ASCII only: hypothesis' statistics are UTF-8
    too_many = [n for n in asked if isinstance(n, int) and n > MAX_THREADS]
    assert not too_many, f"asked torch for {too_many} threads (over MAX_THREADS = {MAX_THREADS})"
    return code, out_b.getvalue().decode("utf-8", "replace"), err_b.getvalue().decode("utf-8", "replace")


def check_exit(code: int, err: str) -> None:
    assert code in (0, 2), f"exit code {code}; stderr: {err[-500:]!r}"
    if code == 2:
        assert one_line(err.rstrip("\n")), f"stderr is not one line: {err[-1500:]!r}"


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> dict:
    """Checkpoint folders of tiny untrained models: an LM and a seq2seq model."""
    root = tmp_path_factory.mktemp("cli-ckpt")
    torch.manual_seed(0)
    folders = {}
    for task, (arch, dims) in (("addition", TINY_MODELS["addition"]), ("hmm", TINY_MODELS["hmm"])):
        tok = Tokenizer.train_char(["0123456789+ abcxyz"])
        model = build_model(arch, {"vocab_size": tok.vocab_size, **dims})
        kind = "lm" if arch == "gpt" else "seq2seq"
        save_checkpoint(root / task, model, tok, {"name": f"tiny-{task}", "task": task, "kind": kind},
                        card={"summary": "tiny", "parameters": sum(p.numel() for p in model.parameters())})
        folders[kind] = str(root / task)
    return folders


@contextlib.contextmanager
def sentinels():
    """Raise Started where training, an experiment or an analysis would begin its work."""
    mods = [importlib.import_module(m) for m in ("engine.training.loop", "engine.experiments.registry",
                                                  "engine.exposure.analyze")]
    with pytest.MonkeyPatch.context() as mp:
        for mod, name in zip(mods, ("train_step", "run_experiment", "analyze")):
            assert hasattr(mod, name), f"{mod.__name__}.{name} is gone: update the sentinels of this fuzz target"

            def stop(*a, _what=f"{mod.__name__}.{name}", **k):
                raise Started(_what)
            mp.setattr(mod, name, stop)
        yield


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """Training's resume state (runs/<name>/...) goes to a temporary folder."""
    from engine.training import resume
    mp = pytest.MonkeyPatch()
    mp.setattr(resume, "RUNS_DIR", tmp_path_factory.mktemp("runs"))
    yield
    mp.undo()


# -- decode and tf-fr ---------------------------------------------------------------------------------

def field_args(f) -> st.SearchStrategy[list]:
    if f.kind == "bool":
        return st.just([flag(f)])
    if f.kind in ("choice", "early_stopping"):
        vals = st.one_of(st.sampled_from([str(c).lower() if isinstance(c, bool) else c for c in f.choices]), WORDS)
    else:
        lo = 0 if f.lo is None else f.lo
        vals = st.one_of(st.sampled_from([str(lo), str(f.hi) if f.hi is not None else "1e300", "5e-324", "1e39",
                                          "-1", "0", "2", "nan", "inf", "1.5"]),
                         st.integers(-2, 8).map(str), WORDS)
    return st.builds(lambda v: [flag(f), v], vals)


CONFIG_JSON = st.one_of(
    st.dictionaries(st.sampled_from([f.name for f in GENERATION_FIELDS]) | st.text(CHARS, max_size=6),
                    st.one_of(st.none(), st.booleans(), st.integers(-2, 70),
                              st.sampled_from([5e-324, 1e300, 400.0, -400.0]),
                              st.text(max_size=4)), max_size=4).map(json.dumps),
    st.sampled_from(["[" * 50000, "[" * 50000 + "]" * 50000, '{"a":' * 40000 + "1" + "}" * 40000, "{not json",
                     "[]", "null", "1e999", '{"temperature": NaN}', '{"max_new_tokens": ' + "9" * 5000 + "}",
                     " " * (2 << 20) + "{}", "\udcff"]),
    WORDS,
)
RECORD_ARGS = st.one_of(
    st.builds(lambda v: ["--record-top-k", v], st.one_of(st.sampled_from(["0", "3", "1000", "1001", "-1"]), WORDS)),
    st.builds(lambda v: ["--record-layers", v], st.one_of(st.sampled_from(["all", "0", "0,1", "99", "-1", ",", "x"]),
                                                         WORDS)),
    st.sampled_from([["--no-hidden"], ["--no-attention"], ["--no-record"], ["--json"]]),
)


def options(tmp: Path, extra=()) -> st.SearchStrategy[list]:
    """Option groups in any order: generation flags, --config-json, recording, forcing, --out."""
    outs = [str(tmp / "t.json"), "", str(tmp), str(tmp / "no" / "such" / "dir" / "t.json"), "/dev/full", "/proc/x"]
    groups = st.one_of(
        *[field_args(f) for f in GENERATION_FIELDS],
        st.builds(lambda v: ["--config-json", v], CONFIG_JSON),
        RECORD_ARGS,
        st.builds(lambda s, t: ["--force", f"{s}={t}"], st.sampled_from(["0", "1", "-1", "99", "x", ""]),
                  st.one_of(st.sampled_from(["1", "2", "3", "a", "<unk>", "<eos>", "<pad>"]), WORDS)),
        st.builds(lambda v: ["--out", v], st.sampled_from(outs)),
        st.builds(lambda w: [w], WORDS),
        *extra,
    )
    return st.lists(groups, max_size=5).map(lambda gs: [a for g in gs for a in g])


MODELS = st.sampled_from(["seq2seq", "lm", "dates-gru-attn", "text-gpt", "nope", "", "../checkpoints/text-gpt",
                          "/dev/null", "a" * 5000, "\x00"])


def _model_arg(which: str, ckpt: dict) -> tuple[str, bool]:
    """The --model value and whether it is a shipped model (then at most 3 new tokens)."""
    return (ckpt[which], False) if which in ckpt else (which, which in ("dates-gru-attn", "text-gpt"))


@given(data=st.data(), which=MODELS, text=argv_texts(30))
@cases(ci=50, long=1200)
def test_decode(one_torch_thread, tiny_ckpt, tmp_path_factory, data, which, text):
    tmp = tmp_path_factory.mktemp("decode")
    model, shipped = _model_arg(which, tiny_ckpt)
    opts = data.draw(options(tmp, [st.builds(lambda v: ["--forced-prefix", v], argv_texts(6))]), label="options")
    argv = ["decode", "--model", model, "--input", text] + opts
    if shipped:
        argv += ["--max-new-tokens", "3"]                  # the last one wins: a cheap run
    code, out, err = run_cli(argv)
    check_exit(code, err)


@given(data=st.data(), which=MODELS, text=argv_texts(20), ref=argv_texts(12))
@cases(ci=20, long=500)
def test_tf_fr(one_torch_thread, tiny_ckpt, tmp_path_factory, data, which, text, ref):
    tmp = tmp_path_factory.mktemp("tffr")
    model, shipped = _model_arg(which, tiny_ckpt)
    argv = ["tf-fr", "--model", model, "--input", text, "--reference", ref] + data.draw(options(tmp), label="options")
    if shipped:
        argv += ["--max-new-tokens", "3"]
    code, out, err = run_cli(argv)
    check_exit(code, err)


# -- models, exposure, experiment ----------------------------------------------------------------------

@given(extra=st.lists(st.one_of(st.sampled_from(["--json", "--help"]), WORDS), max_size=3))
@cases(ci=10, long=200)
def test_models(extra):
    code, out, err = run_cli(["models"] + extra)
    check_exit(code, err)
    if code == 0 and extra == ["--json"]:
        assert isinstance(json.loads(out), list)


@given(data=st.data(), which=st.sampled_from(["addition-gru", "seq2seq", "lm", "nope", "/dev/null", ""]))
@cases(ci=15, long=300)
def test_exposure(one_torch_thread, tiny_ckpt, tmp_path_factory, data, which):
    """Small valid values and invalid ones (never a big valid --n or --bootstrap: that is a long run)."""
    tmp = tmp_path_factory.mktemp("exposure")
    model = tiny_ckpt.get(which, which)
    groups = st.one_of(
        st.builds(lambda v: ["--n", v], st.sampled_from(["1", "2", "3", "0", "-1", "20001", "x", "nan"])),
        st.builds(lambda v: ["--seed", v], st.sampled_from(["0", "7", "-1", str(2 ** 64), "x"])),
        st.builds(lambda v: ["--t0", v], st.sampled_from(["0", "1", "2", "-1", "1000", "x"])),
        st.builds(lambda v: ["--bootstrap", v], st.sampled_from(["0", "1", "10", "-1", "2001", str(10 ** 12), "x"])),
        st.builds(lambda v: ["--threads", v], st.sampled_from(["1", "2", "0", "-1", "257", str(10 ** 6), "x"])),
        st.builds(lambda v: ["--out", v], st.sampled_from([str(tmp / "x.json"), "", str(tmp), "/dev/full"])),
        st.sampled_from([["--json"], ["--help"]]),
    )
    opts = data.draw(st.lists(groups, max_size=4).map(lambda gs: [a for g in gs for a in g]), label="options")
    argv = ["exposure", "--model", model, "--n", "2", "--bootstrap", "5"] + opts
    n = opts[len(opts) - 1 - opts[::-1].index("--n") + 1] if "--n" in opts else "2"
    boot = opts[len(opts) - 1 - opts[::-1].index("--bootstrap") + 1] if "--bootstrap" in opts else "5"
    big = (n.isdigit() and int(n) > 3 or boot.isdigit() and int(boot) > 2000) and "--help" not in opts
    code, out, err = run_cli(argv, seconds=120)
    check_exit(code, err)
    if big:
        assert code == 2, f"--n {n} / --bootstrap {boot} over the limits was accepted"


EXPERIMENT_INVALID = [["--threads", "-1"], ["--threads", "257"], ["--threads", str(10 ** 6)], ["--seed", "-1"],
                      ["--seed", str(2 ** 64)], ["--seed", "x"], ["--threads", "x"], ["--out", ""], ["--bogus"]]


@given(name=st.one_of(st.sampled_from(["tf-vs-fr", "recovery", "decoding", "beam-curse"]),
                     WORDS.filter(lambda w: w not in ("--help", "-h"))),      # --help wins over everything
       invalid=st.lists(st.sampled_from(EXPERIMENT_INVALID), min_size=1, max_size=2),
       quick=st.booleans())
@cases(ci=10, long=200)
def test_experiment_refuses_invalid(name, invalid, quick):
    argv = ["experiment", name] + (["--quick"] if quick else []) + [a for g in invalid for a in g]
    try:
        with sentinels():
            code, out, err = run_cli(argv)
    except Started:
        raise AssertionError(f"the experiment started despite {invalid}") from None
    assert code == 2, f"exit {code} for invalid arguments {invalid}"
    check_exit(code, err)


# -- train ---------------------------------------------------------------------------------------------

TRAIN_INVALID = [  # each alone makes a run invalid (issue 10, item 7, and the limits of engine/limits.py)
    ["--eval-every", "0"], ["--eval-every", "-1"], ["--batch-size", "0"], ["--batch-size", "-3"],
    ["--batch-size", "4097"], ["--threads", "-1"], ["--threads", "257"], ["--model-json", "[]"],
    ["--model-json", '{"d_hidden": "big"}'], ["--model-json", "[" * 50000], ["--model-json", "{not json"],
    ["--model-json", '{"d_hidden": 1000000000}'], ["--model-json", '{"max_len": 1000000000}'],
    ["--steps", "0"], ["--steps", "-1"], ["--steps", "x"], ["--patience", "-1"], ["--warmup", "-5"],
    ["--max-minutes", "nan"], ["--max-minutes", "-1"], ["--lr", "nan"], ["--lr", "inf"],
    ["--label-smoothing", "1.5"], ["--label-smoothing", "nan"], ["--feed-model-prob", "2"],
    ["--feed-model-prob", "nan"], ["--seed", "-1"], ["--seed", str(2 ** 64)], ["--out", ""], ["--name", ""],
    ["--name", "../evil"], ["--name", "a/b"], ["--task", "nope"], ["--arch", "nope"],
    ["--init-from", "no-such-model"], ["--resume"], ["--ss-schedule", "linear", "--ss-c", "nan"],
    ["--scst-samples", "0"], ["--stage", "scst"],
]
TRAIN_VALID = [["--seed", "3"], ["--lr", "0.01"], ["--batch-size", "4"], ["--warmup", "0"], ["--patience", "1"],
               ["--label-smoothing", "0.1"], ["--tokenizer", "char"], ["--max-minutes", "1"], ["--threads", "1"],
               ["--feed-model-prob", "0.5"]]


def _base_train(task: str, tmp: Path, name: str) -> list:
    arch, dims = TINY_MODELS[task]
    return ["train", "--name", name, "--task", task, "--arch", arch, "--model-json", json.dumps(dims),
            "--steps", "1", "--eval-every", "1", "--batch-size", "4", "--out", str(tmp / "ckpt"), "--threads", "1"]


@given(task=st.sampled_from(sorted(TINY_MODELS)), recipe=st.sampled_from([None, "addition-gru", "hmm-gpt"]),
       valid=st.lists(st.sampled_from(TRAIN_VALID), max_size=3),
       invalid=st.lists(st.sampled_from(TRAIN_INVALID), min_size=1, max_size=2))
@cases(ci=25, long=500)
@example(task="addition", recipe=None, valid=[], invalid=[["--eval-every", "0"]])   # issue 10, item 7
@example(task="addition", recipe=None, valid=[], invalid=[["--batch-size", "0"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--batch-size", "-3"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--threads", "-1"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--model-json", "[]"]])
@example(task="addition", recipe=None, valid=[], invalid=[['--model-json', '{"d_hidden": "big"}']])
@example(task="addition", recipe=None, valid=[], invalid=[["--steps", "0"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--steps", "-1"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--patience", "-1"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--warmup", "-5"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--max-minutes", "nan"]])
@example(task="addition", recipe=None, valid=[], invalid=[["--out", ""]])
@example(task="addition", recipe="addition-gru", valid=[], invalid=[["--name", "../evil"]])
def test_train_refuses_invalid_options(one_torch_thread, runs_dir, tmp_path_factory, task, recipe, valid,
                                       invalid):
    tmp = tmp_path_factory.mktemp("train")
    base = _base_train(task, tmp, "fuzz-bad") if recipe is None else \
        ["train", "--recipe", recipe, "--out", str(tmp / "ckpt"), "--threads", "1"]
    argv = base + [a for g in valid for a in g] + [a for g in invalid for a in g]     # the invalid ones last
    try:
        with sentinels():
            code, out, err = run_cli(argv)
    except Started:
        raise AssertionError(f"training started despite {invalid}") from None
    assert code == 2, f"exit {code} for invalid options {invalid}"
    check_exit(code, err)
    assert not (tmp / "ckpt").exists() or not any((tmp / "ckpt").iterdir()), "a refused run wrote a checkpoint"


@given(task=st.sampled_from(sorted(TINY_MODELS)), valid=st.lists(st.sampled_from(TRAIN_VALID), max_size=2))
@cases(ci=2, long=20)
def test_train_one_step(one_torch_thread, runs_dir, tmp_path_factory, task, valid):
    tmp = tmp_path_factory.mktemp("train1")
    argv = _base_train(task, tmp, f"fuzz-{task}") + [a for g in valid for a in g]
    code, out, err = run_cli(argv, seconds=120)
    assert code == 0, f"exit {code}: {err[-800:]!r}"
    b = engine.load(tmp / "ckpt" / f"fuzz-{task}")
    assert b.config["task"] == task


# -- anything ------------------------------------------------------------------------------------------

ALL_FLAGS = sorted({flag(f) for f in GENERATION_FIELDS} | {
    "--model", "--input", "--reference", "--config-json", "--force", "--forced-prefix", "--record-top-k",
    "--record-layers", "--no-hidden", "--no-attention", "--no-record", "--json", "--out", "--recipe", "--name",
    "--task", "--arch", "--model-json", "--steps", "--batch-size", "--lr", "--seed", "--max-minutes", "--threads",
    "--eval-every", "--patience", "--warmup", "--resume", "--n", "--t0", "--bootstrap", "--quick", "--help"})
COMMANDS = ["models", "decode", "tf-fr", "train", "exposure", "experiment"]


@given(argv=st.lists(st.one_of(st.sampled_from(COMMANDS), st.sampled_from(ALL_FLAGS), WORDS), max_size=8),
       first=st.one_of(st.sampled_from(COMMANDS), st.sampled_from(COMMANDS), st.sampled_from(COMMANDS), WORDS))
@cases(ci=30, long=800)
@example(first="decode", argv=["--model", "dates-gru-attn", "--input", "x", "--config-json", "[" * 50000])
@example(first="models", argv=["\n0"])
def test_any_argv(one_torch_thread, runs_dir, first, argv):
    """Anything at all; a run that would train, run an experiment or an analysis is stopped at its start
    (no shipped model name is drawn, and a decode gets at most 3 new tokens)."""
    argv = [first] + argv
    if first in ("decode", "tf-fr"):
        argv += ["--max-new-tokens", "3"]
    try:
        with sentinels():
            code, out, err = run_cli(argv)
    except Started:
        return
    check_exit(code, err)
