"""Tests for engine.tasks (data / task generators)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import random
import re
import time

import numpy as np
import pytest

from engine.tasks import TASKS, Example, Task, get_task
from engine.tasks import addition as add_mod
from engine.tasks import dates as dates_mod
from engine.tasks import text as text_mod
from engine.tasks.hmm import HMMOracle

SMALL = {"train": 300, "valid": 50, "test": 50}
_WEEKDAY_RE = re.compile(r"\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b", re.IGNORECASE)
_WEEKDAY_IDX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _weekday_ok(src: str, iso: str) -> bool:
    d = dt.date.fromisoformat(iso)
    return all(_WEEKDAY_IDX[m.group(1).lower()] == d.weekday() for m in _WEEKDAY_RE.finditer(src))


def _disjoint(splits: dict[str, list[Example]], key=lambda e: e.src) -> None:
    sets = {k: {key(e) for e in v} for k, v in splits.items()}
    for a, b in itertools.combinations(sets, 2):
        assert not (sets[a] & sets[b]), f"{a} and {b} overlap"


# ------------------------------------------------------------------ registry / interface
def test_registry_and_interface():
    assert set(TASKS) == {"dates", "addition", "text", "hmm"}
    for name, task in TASKS.items():
        assert get_task(name) is task
        assert isinstance(task, Task)
        assert task.name == name
        assert task.kind in ("seq2seq", "lm")
        assert isinstance(task.description, str) and task.description
        ex = task.examples()
        assert 6 <= len(ex) <= 10 and all(isinstance(s, str) and s for s in ex)
    assert TASKS["dates"].kind == TASKS["addition"].kind == "seq2seq"
    assert TASKS["text"].kind == TASKS["hmm"].kind == "lm"
    with pytest.raises(ValueError) as ei:
        get_task("nope")
    for n in ("dates", "addition", "text", "hmm"):
        assert n in str(ei.value)
    e = Example("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.src = "c"  # type: ignore[misc]


# ------------------------------------------------------------------ reference / max_new_tokens
def test_max_new_tokens():
    assert {n: t.max_new_tokens for n, t in TASKS.items()} == {"dates": 16, "addition": 12, "text": 40, "hmm": 40}
    assert get_task("addition4").max_new_tokens == 12


def test_reference():
    add, dates, text, hmm = (get_task(n) for n in ("addition", "dates", "text", "hmm"))
    assert add.reference("48213+9375") == "57588" and get_task("addition4").reference("7+5") == "12"
    assert add.reference("hello") is None and add.reference("1+2+3") is None
    for src in dates.examples():                                   # every example has its ISO date
        assert dt.date.fromisoformat(dates.reference(src)).isoformat() == dates.reference(src)
    assert dates.reference("3rd of March 2021") == "2021-03-03"
    hw = dates_mod.handwritten()[0]
    assert dates.reference(hw.src) == hw.tgt
    assert dates.reference("not a date") is None
    assert text.reference("A function is").startswith(" a callable object")
    assert text.reference("Return a new") is None and text.reference("zzz") is None
    for prompt in hmm.examples():                                  # the oracle sample it was cut from
        rest = hmm.reference(prompt)
        assert len(prompt + rest) == hmm.oracle.length
        assert prompt + rest in hmm.oracle.sample(8, seed=2024)
    assert hmm.reference("not a prefix") is None


@pytest.mark.parametrize("name", ["dates", "addition", "hmm"])
def test_determinism_and_disjointness_small(name):
    task = get_task(name)
    a = task.splits(seed=0, sizes=SMALL)
    b = task.splits(seed=0, sizes=SMALL)
    c = task.splits(seed=1, sizes=SMALL)
    assert list(a) == ["train", "valid", "test"]
    assert a == b
    for k in a:
        assert len(a[k]) == SMALL[k]
        assert a[k] != c[k]
    _disjoint(a, key=(lambda e: e.src) if task.kind == "seq2seq" else (lambda e: e.tgt))
    if task.kind == "lm":
        assert all(e.src == "" for v in a.values() for e in v)
    with pytest.raises(ValueError):
        task.splits(seed=0, sizes={"training": 3})


def test_test_split_independent_of_train_size():
    t = get_task("dates")
    assert t.splits(3, {"train": 10, "valid": 5, "test": 20})["test"] == t.splits(3, {"train": 50, "valid": 5, "test": 20})["test"]


@pytest.mark.parametrize("name", ["dates", "addition"])
def test_heldout_pool_is_seed_independent(name):
    from engine.tasks import heldout_pool

    task = get_task(name)
    a = task.splits(seed=0, sizes={"train": 5000, "valid": 200, "test": 200})
    b = task.splits(seed=1, sizes={"train": 5000, "valid": 200, "test": 200})
    for s in (a, b):
        for split, exs in s.items():
            assert all(heldout_pool(name, e.src) == split for e in exs)
    assert not ({e.src for e in a["train"]} & {e.src for e in b["test"] + b["valid"]})


# ------------------------------------------------------------------ dates
@pytest.fixture(scope="module")
def dates_default():
    t0 = time.perf_counter()
    s = get_task("dates").splits(seed=0)
    elapsed = time.perf_counter() - t0
    return s, elapsed


def test_dates_default_sizes_speed_disjoint(dates_default):
    s, elapsed = dates_default
    assert {k: len(v) for k, v in s.items()} == {"train": 60000, "valid": 2000, "test": 2000}
    assert elapsed < 5.0
    _disjoint(s)


def test_dates_targets_sources(dates_default):
    s, _ = dates_default
    n_weekday = 0
    years = []
    for ex in itertools.chain(*s.values()):
        d = dt.date.fromisoformat(ex.tgt)
        assert d.isoformat() == ex.tgt and re.fullmatch(r"\d{4}-\d{2}-\d{2}", ex.tgt)
        assert dates_mod.FIRST_DATE <= d <= dates_mod.LAST_DATE
        assert 1 <= len(ex.src) <= 48
        assert set(ex.src) <= dates_mod.CHARSET
        assert _weekday_ok(ex.src, ex.tgt), ex
        n_weekday += bool(_WEEKDAY_RE.search(ex.src))
        years.append(d.year)
    assert n_weekday > 1000  # weekdays are common and all correct
    # uniform over the century: each decade gets roughly 10 %
    counts = np.bincount((np.array(years) - 1950) // 10, minlength=10)
    assert counts.min() > 0.08 * len(years) and counts.max() < 0.12 * len(years)
    # variety: many templates, cases, word forms
    srcs = [e.src for e in s["train"][:5000]]
    assert any(x.isupper() for x in srcs) and any(x.islower() for x in srcs)
    assert any("thousand" in x.lower() for x in srcs) and any("nineteen" in x.lower() for x in srcs)
    assert any("/" in x for x in srcs) and any("." in x for x in srcs) and any("'" in x for x in srcs)


def test_dates_templates_and_conventions():
    assert len(dates_mod.TEMPLATES) >= 15
    d = dt.date(2021, 3, 3)
    r = dates_mod.all_renderings(d)
    for s in ["3rd of March 2021", "March 3, 2021", "march 3 2021", "03/03/2021", "3/3/2021",
              "3.3.2021", "03.03.2021", "2021-03-03", "Wed 3 Mar 21", "Wednesday, March 3, 2021",
              "3 March 2021", "the third of march, two thousand twenty-one",
              "March third, twenty twenty-one", "Mar 3rd, 2021", "3-Mar-2021", "20210303"]:
        assert s in r, s
    # slash = US order, dot = European order, 2-digit years
    r = dates_mod.all_renderings(dt.date(1957, 4, 5))
    assert "4/5/1957" in r and "5.4.1957" in r and "04/05/57" in r and "5/4/1957" not in r
    assert "nineteen fifty-seven" in " ".join(r)
    r2005 = " | ".join(dates_mod.all_renderings(dt.date(2005, 1, 1)))
    assert "two thousand and five" in r2005 and "two thousand five" in r2005 and "twenty five" not in r2005
    assert "twenty forty-nine" in " ".join(dates_mod.all_renderings(dt.date(2049, 12, 31)))
    assert "two thousand" in " ".join(dates_mod.all_renderings(dt.date(2000, 6, 1)))
    assert dates_mod.ordinal_word(31) == "thirty-first" and dates_mod.ordinal_word(12) == "twelfth"
    assert [dates_mod.ordinal_suffix(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "st", "nd", "rd", "th", "th", "th", "th", "st", "nd", "rd", "st"]
    for s in r:
        assert len(s) <= 48


def test_dates_handwritten():
    hw = dates_mod.handwritten()
    assert len(hw) >= 60
    assert len({e.src for e in hw}) == len(hw)
    for e in hw:
        d = dt.date.fromisoformat(e.tgt)
        assert d.isoformat() == e.tgt
        assert dates_mod.FIRST_DATE <= d <= dates_mod.LAST_DATE
        assert set(e.src) <= dates_mod.CHARSET, e
        assert len(e.src) <= 48
        assert _weekday_ok(e.src, e.tgt), e
        # exhaustive: no surface form the generator can produce for this date
        assert e.src not in dates_mod.all_renderings(d), e
    rng = random.Random(12345)
    generated = {dates_mod.make_example(rng).src for _ in range(200_000)}
    assert not ({e.src for e in hw} & generated)


# ------------------------------------------------------------------ addition
def test_addition():
    t0 = time.perf_counter()
    s = get_task("addition").splits(seed=0)
    assert time.perf_counter() - t0 < 5.0
    assert {k: len(v) for k, v in s.items()} == {"train": 100000, "valid": 2000, "test": 2000}
    _disjoint(s)
    digits = []
    for ex in itertools.chain(*s.values()):
        assert re.fullmatch(r"\d{1,%d}\+\d{1,%d}" % (add_mod.MAX_DIGITS, add_mod.MAX_DIGITS), ex.src), ex
        a, b = ex.src.split("+")
        assert a == str(int(a)) and b == str(int(b))  # no leading zeros
        assert ex.tgt == str(int(a) + int(b)) == add_mod.solve(ex.src)
        digits.append(len(a))
    freq = np.bincount(digits, minlength=add_mod.MAX_DIGITS + 1)[1:] / len(digits)
    assert np.allclose(freq, 1 / add_mod.MAX_DIGITS, atol=0.01)
    assert "0" in {e.src.split("+")[0] for e in s["train"]}


def test_shorter_addition_variants():
    t = get_task("addition4")
    assert t.name == "addition4" and t.kind == "seq2seq" and "1 to 4 digits" in t.description
    s = t.splits(seed=1, sizes={"train": 3000, "valid": 200, "test": 200})
    _disjoint(s)
    ops = [x for ex in itertools.chain(*s.values()) for x in ex.src.split("+")]
    assert max(len(x) for x in ops) == 4 and {len(x) for x in ops} == {1, 2, 3, 4}
    assert all(ex.tgt == add_mod.solve(ex.src) for ex in s["test"])
    assert s == get_task("addition4").splits(seed=1, sizes={"train": 3000, "valid": 200, "test": 200})
    assert "addition4" not in TASKS                      # not a CLI / Train-page task, only the lab's
    for bad in ("addition0", "addition7", "addition9", "addition44"):
        with pytest.raises(ValueError):
            get_task(bad)


# ------------------------------------------------------------------ text
@pytest.fixture(scope="module")
def text_splits():
    return get_task("text").splits(seed=0)


def test_text_corpus(text_splits):
    s = text_splits
    assert set(s) == {"train", "valid", "test"}
    train_chars = len(text_mod.corpus_text("train"))
    assert train_chars >= 1_500_000
    assert len(text_mod.corpus_text("valid")) > 20_000 and len(text_mod.corpus_text("test")) > 20_000
    for split, exs in s.items():
        assert len(exs) == len(text_mod.paragraphs(split))
        for e in exs:
            assert e.src == ""
            assert 80 <= len(e.tgt) <= 600
            assert e.tgt.isascii() and e.tgt.isprintable()
            assert "\n" not in e.tgt and "  " not in e.tgt
            assert not e.tgt.startswith(">>>")
    _disjoint(s, key=lambda e: e.tgt)
    assert text_mod.corpus_text("valid").isascii()


def test_text_split_by_document_and_seed(text_splits):
    s0 = text_splits
    s1 = get_task("text").splits(seed=1)
    assert s0["valid"] == s1["valid"] and s0["test"] == s1["test"]
    assert s0["train"] != s1["train"] and sorted(e.tgt for e in s0["train"]) == sorted(e.tgt for e in s1["train"])
    assert get_task("text").splits(seed=0) == s0
    small = get_task("text").splits(seed=0, sizes={"train": 10, "valid": 3, "test": 2})
    assert [len(v) for v in small.values()] == [10, 3, 2]
    # every paragraph lands in the split of the (first) document that contains it
    where = {e.tgt: k for k, v in s0.items() for e in v}
    seen: set[str] = set()
    for kind, doc in text_mod.documents():
        split = text_mod._split_of(doc)
        for par in text_mod.clean_document(doc, strict=(kind == "comment")):
            if par not in seen:
                assert where[par] == split
                seen.add(par)
    assert seen == set(where)


def test_text_cleaning():
    doc = (
        "The thing\n**********\n\nThis paragraph is long enough to be kept because it has more than"
        " eighty   characters\nin total, spread over two lines.\n\n   >>> print('hi')\n   hi\n\n"
        "Short one.\n\nCaf\u00e9 is a word with a non-ASCII character that should be removed from the"
        " text of this paragraph.\n\n    x = compute(a, b)  # code\n    y = [i for i in x]\n"
    )
    pars = text_mod.clean_document(doc)
    assert pars[0] == ("This paragraph is long enough to be kept because it has more than eighty characters"
                       " in total, spread over two lines.")
    assert pars[1].startswith("Short one. Caf is a word")
    assert len(pars) == 2
    long = " ".join(["This is a sentence of moderate length."] * 40)
    pieces = text_mod.clean_document(long)
    assert len(pieces) > 1 and all(len(p) <= 600 and p.endswith(".") for p in pieces)


# ------------------------------------------------------------------ hmm
@pytest.fixture(scope="module")
def oracle():
    return HMMOracle()


def test_hmm_basic(oracle):
    assert oracle.symbols == "abcdefghijklmnopqrst"
    seqs = oracle.sample(50, seed=3)
    assert seqs == oracle.sample(50, seed=3) and seqs != oracle.sample(50, seed=4)
    assert all(len(s) == 48 and set(s) <= set(oracle.symbols) for s in seqs)
    d = oracle.stepwise_next_dists(seqs[0])
    assert d.shape == (49, 21)
    assert np.allclose(d.sum(axis=1), 1.0)
    assert np.all(d[:48, :20] > 0) and np.all(d[:48, 20] == 0)
    assert d[48, 20] == 1.0 and np.all(d[48, :20] == 0)
    assert np.allclose(oracle.next_dist(seqs[0][:10]), d[10])
    assert np.allclose(oracle.next_dist(""), d[0])
    lp = oracle.log_prob(seqs[0])
    x = [oracle.symbols.index(c) for c in seqs[0]]
    assert math.isclose(lp, float(np.log(d[np.arange(48), x]).sum()), rel_tol=1e-10)
    assert math.isclose(oracle.log_prob(seqs[0][:7]), float(np.log(d[np.arange(7), x[:7]]).sum()), rel_tol=1e-10)
    assert oracle.log_prob("") == 0.0
    for bad in ("abz", "A", "a" * 49):
        with pytest.raises(ValueError):
            oracle.stepwise_next_dists(bad)
    with pytest.raises(ValueError):
        oracle.log_prob("a1")


def test_hmm_entropy_rate(oracle):
    h = oracle.entropy_rate()
    assert 1.5 <= h <= 2.2
    assert h < math.log(20)


def test_hmm_batch_equals_single(oracle):
    seqs = oracle.sample(16, seed=9)
    for T in (0, 1, 17, 48):
        batch = oracle.stepwise_next_dists_batch([s[:T] for s in seqs])
        assert batch.shape == (16, T + 1, 21)
        for i in (0, 5, 15):
            assert np.allclose(batch[i], oracle.stepwise_next_dists(seqs[i][:T]), atol=1e-12)
    with pytest.raises(ValueError):
        oracle.stepwise_next_dists_batch(["ab", "abc"])


def test_hmm_matches_brute_force():
    o = HMMOracle(n_states=3, n_symbols=3, length=4, seed=7, concentration=0.5)
    S, V, L = 3, 3, 4

    def brute(prefix: tuple[int, ...]) -> float:
        total = 0.0
        for z in itertools.product(range(S), repeat=len(prefix)):
            p = o.pi[z[0]] * o.B[z[0], prefix[0]]
            for t in range(1, len(prefix)):
                p *= o.A[z[t - 1], z[t]] * o.B[z[t], prefix[t]]
            total += p
        return total

    full_total = 0.0
    for n in range(0, L + 1):
        for prefix in itertools.product(range(V), repeat=n):
            seq = "".join(o.symbols[i] for i in prefix)
            p_prefix = brute(prefix) if n else 1.0
            assert math.isclose(math.exp(o.log_prob(seq)), p_prefix, rel_tol=1e-9)
            row = o.next_dist(seq)
            if n < L:
                expected = [brute(prefix + (v,)) / p_prefix for v in range(V)]
                assert np.allclose(row[:V], expected, rtol=1e-9, atol=0)
                assert row[V] == 0.0
            else:
                assert row[V] == 1.0 and np.all(row[:V] == 0)
                full_total += p_prefix
    assert math.isclose(full_total, 1.0, rel_tol=1e-9)


def test_hmm_sampling_matches_next_dist(oracle):
    seqs = oracle.sample(20000, seed=11)
    first = np.bincount([oracle.symbols.index(s[0]) for s in seqs], minlength=20) / len(seqs)
    assert np.abs(first - oracle.next_dist("")[:20]).max() < 0.015
    # a conditional check too: P(second | first = most frequent first symbol)
    a = oracle.symbols[int(np.argmax(first))]
    sec = [s[1] for s in seqs if s[0] == a]
    freq = np.bincount([oracle.symbols.index(c) for c in sec], minlength=20) / len(sec)
    assert np.abs(freq - oracle.next_dist(a)[:20]).max() < 4 / math.sqrt(len(sec))


def test_hmm_task_default_sizes():
    s = get_task("hmm").splits(seed=0)
    assert {k: len(v) for k, v in s.items()} == {"train": 40000, "valid": 1000, "test": 1000}
    _disjoint(s, key=lambda e: e.tgt)
    assert all(len(e.tgt) == 48 and e.src == "" for v in s.values() for e in v)
    ex = get_task("hmm").examples()
    assert all(len(p) == 8 and set(p) <= set("abcdefghijklmnopqrst") for p in ex)
