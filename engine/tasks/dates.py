"""Free-form English dates -> ISO ``YYYY-MM-DD``.

Dates are uniform over 1950-01-01 .. 2049-12-31.  A source string is built
from a randomly chosen *template* (22 of them, see ``TEMPLATES``) whose parts
(padding, month/weekday spelling, optional commas, number words, hyphens in
number words, letter case) are chosen at random too.  Conventions, used
everywhere (also in the hand-written evaluation set):

* slashes are US order ``MM/DD/YYYY`` (or ``MM/DD/YY``);
* dots are European order ``DD.MM.YYYY`` (or ``DD.MM.YY``);
* dashes with digits only are ISO ``YYYY-MM-DD``;
* two-digit years: ``>= 50`` -> 19yy, otherwise 20yy;
* weekday names are always correct for the date.

Sources are at most 48 characters (longer renderings are re-drawn for the same
date) and use only letters, digits, space and ``, . / - '``.

All randomness goes through a *chooser* object, so the same rendering code can
either sample (``_RandomChooser``) or enumerate every possible surface form of
a date (``all_renderings``), which the tests use to prove the hand-written set
is not producible by the generator.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import string
from typing import Callable, Optional, Sequence

from . import Example, _resolve_sizes, _seq2seq_splits

MAX_SRC_CHARS = 48
FIRST_DATE = _dt.date(1950, 1, 1)
LAST_DATE = _dt.date(2049, 12, 31)
_N_DAYS = (LAST_DATE - FIRST_DATE).days + 1
DEFAULT_SIZES = {"train": 60_000, "valid": 2_000, "test": 2_000}
CHARSET = frozenset(string.ascii_letters + string.digits + " ,./-'")
HANDWRITTEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dates_handwritten.tsv")

MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]
MONTH_ABBR = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WEEKDAY_ABBR = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
_ORD_ONES = ["zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
             "sixteenth", "seventeenth", "eighteenth", "nineteenth"]
_ORD_TENS = {2: "twentieth", 3: "thirtieth"}


# --------------------------------------------------------------------------- choosers
class _RandomChooser:
    __slots__ = ("rng",)

    def __init__(self, rng: random.Random):
        self.rng = rng

    def choice(self, options: Sequence):
        return options[int(self.rng.random() * len(options))]


class _ScriptChooser:
    """Replays a fixed list of option indices, extending it with 0s (for enumeration)."""

    def __init__(self, script: list[int]):
        self.script = script
        self.branches: list[int] = []
        self.pos = 0

    def choice(self, options: Sequence):
        if self.pos >= len(self.script):
            self.script.append(0)
        i = self.script[self.pos]
        if self.pos < len(self.branches):
            self.branches[self.pos] = len(options)
        else:
            self.branches.append(len(options))
        self.pos += 1
        return options[i]


# --------------------------------------------------------------------------- number words
def cardinal_word(n: int, hyphen: str = "-") -> str:
    """0..99 as English words: 21 -> 'twenty-one' (or 'twenty one' with hyphen=' ')."""
    if n < 20:
        return _ONES[n]
    t, o = divmod(n, 10)
    return _TENS[t] if o == 0 else f"{_TENS[t]}{hyphen}{_ONES[o]}"


def ordinal_word(n: int, hyphen: str = "-") -> str:
    """1..31 as English ordinal words: 21 -> 'twenty-first'."""
    if n < 20:
        return _ORD_ONES[n]
    t, o = divmod(n, 10)
    return _ORD_TENS[t] if o == 0 else f"{_TENS[t]}{hyphen}{_ORD_ONES[o]}"


def ordinal_suffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def year_words(y: int, ch, hyphen: str = "-") -> str:
    """Spelled-out year, e.g. 'nineteen fifty-seven', 'two thousand and five', 'twenty twenty-one'."""
    if 1950 <= y <= 1999:
        return f"nineteen {cardinal_word(y - 1900, hyphen)}"
    if 2000 <= y <= 2049:
        r = y - 2000
        if r == 0:
            return "two thousand"
        opts = [f"two thousand {cardinal_word(r, hyphen)}", f"two thousand and {cardinal_word(r, hyphen)}"]
        if r >= 10:
            opts.append(f"twenty {cardinal_word(r, hyphen)}")
        return ch.choice(opts)
    raise ValueError(f"year {y} outside 1950..2049")


# --------------------------------------------------------------------------- templates
def _month(d: _dt.date, ch) -> str:
    """Full or abbreviated month name (Sep or Sept)."""
    if d.month == 9:
        return ch.choice(["September", "Sep", "Sept"])
    return ch.choice([MONTHS[d.month - 1], MONTH_ABBR[d.month - 1]])


def _pad(n: int, padded: bool) -> str:
    return f"{n:02d}" if padded else str(n)


def _ord(n: int) -> str:
    return f"{n}{ordinal_suffix(n)}"


def _comma(ch) -> str:
    return ch.choice([",", ""])


def _hy(ch) -> str:
    return ch.choice(["-", "-", " "])


def t_day_month_year(d, ch):  # 3 March 2021 / 3 Mar 2021
    return f"{d.day} {_month(d, ch)} {d.year}"


def t_month_day_year(d, ch):  # March 3, 2021 / march 3 2021
    return f"{_month(d, ch)} {d.day}{_comma(ch)} {d.year}"


def t_ord_of_month_year(d, ch):  # 3rd of March 2021
    return f"{_ord(d.day)} of {_month(d, ch)} {d.year}"


def t_us_slash(d, ch):  # 03/03/2021 / 3/3/2021
    p = ch.choice([True, False])
    return f"{_pad(d.month, p)}/{_pad(d.day, p)}/{d.year}"


def t_eu_dots(d, ch):  # 3.3.2021 / 03.03.2021
    p = ch.choice([True, False])
    return f"{_pad(d.day, p)}.{_pad(d.month, p)}.{d.year}"


def t_iso(d, ch):  # 2021-03-03
    return d.isoformat()


def t_wkd_d_mon_yy(d, ch):  # Wed 3 Mar 21
    return f"{WEEKDAY_ABBR[d.weekday()]} {d.day} {MONTH_ABBR[d.month - 1]} {d.year % 100:02d}"


def t_weekday_month_day_year(d, ch):  # Wednesday, March 3, 2021
    return f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}"


def t_the_ordword_of_month_yearwords(d, ch):  # the third of march, two thousand twenty-one
    h = _hy(ch)
    return f"the {ordinal_word(d.day, h)} of {MONTHS[d.month - 1]}{_comma(ch)} {year_words(d.year, ch, h)}"


def t_month_ordword_yearwords(d, ch):  # March third, twenty twenty-one
    h = _hy(ch)
    return f"{MONTHS[d.month - 1]} {ordinal_word(d.day, h)}{_comma(ch)} {year_words(d.year, ch, h)}"


def t_mon_ord_year(d, ch):  # Mar 3rd, 2021
    return f"{MONTH_ABBR[d.month - 1]} {_ord(d.day)}, {d.year}"


def t_d_mon_yyyy_dashes(d, ch):  # 3-Mar-2021 / 03-Mar-2021
    return f"{_pad(d.day, ch.choice([True, False]))}-{MONTH_ABBR[d.month - 1]}-{d.year}"


def t_compact(d, ch):  # 20210303
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def t_weekday_ord_month_year(d, ch):  # Wednesday 3rd March 2021
    return f"{WEEKDAYS[d.weekday()]} {_ord(d.day)} {MONTHS[d.month - 1]} {d.year}"


def t_us_slash_yy(d, ch):  # 3/3/21 / 03/03/21
    p = ch.choice([True, False])
    return f"{_pad(d.month, p)}/{_pad(d.day, p)}/{d.year % 100:02d}"


def t_eu_dots_yy(d, ch):  # 3.3.21 / 03.03.21
    p = ch.choice([True, False])
    return f"{_pad(d.day, p)}.{_pad(d.month, p)}.{d.year % 100:02d}"


def t_mon_d_apos_yy(d, ch):  # Mar 3 '21
    return f"{MONTH_ABBR[d.month - 1]} {d.day} '{d.year % 100:02d}"


def t_month_cardinal_yearwords(d, ch):  # march three nineteen fifty-seven
    h = _hy(ch)
    return f"{MONTHS[d.month - 1]} {cardinal_word(d.day, h)} {year_words(d.year, ch, h)}"


def t_ord_month_year(d, ch):  # 3rd March 2021
    return f"{_ord(d.day)} {MONTHS[d.month - 1]} {d.year}"


def t_wkd_comma_d_mon_year(d, ch):  # Wed, 3 Mar 2021
    return f"{WEEKDAY_ABBR[d.weekday()]}, {d.day} {MONTH_ABBR[d.month - 1]} {d.year}"


def t_ordword_of_month_year(d, ch):  # third of March 2021
    h = _hy(ch)
    return f"{ordinal_word(d.day, h)} of {MONTHS[d.month - 1]} {d.year}"


def t_month_the_ordword_year(d, ch):  # March the third, 2021
    h = _hy(ch)
    return f"{MONTHS[d.month - 1]} the {ordinal_word(d.day, h)}, {d.year}"


TEMPLATES: list[Callable] = [
    t_day_month_year,
    t_month_day_year,
    t_ord_of_month_year,
    t_us_slash,
    t_eu_dots,
    t_iso,
    t_wkd_d_mon_yy,
    t_weekday_month_day_year,
    t_the_ordword_of_month_yearwords,
    t_month_ordword_yearwords,
    t_mon_ord_year,
    t_d_mon_yyyy_dashes,
    t_compact,
    t_weekday_ord_month_year,
    t_us_slash_yy,
    t_eu_dots_yy,
    t_mon_d_apos_yy,
    t_month_cardinal_yearwords,
    t_ord_month_year,
    t_wkd_comma_d_mon_year,
    t_ordword_of_month_year,
    t_month_the_ordword_year,
]

_CASINGS = ("as_is", "as_is", "as_is", "lower", "lower", "upper", "capitalize")


def _apply_case(s: str, casing: str) -> str:
    if casing == "lower":
        return s.lower()
    if casing == "upper":
        return s.upper()
    if casing == "capitalize":
        return s[:1].upper() + s[1:]
    return s


def render(d: _dt.date, ch) -> str:
    """One surface form of ``d``; every random decision goes through ``ch.choice``."""
    template = ch.choice(TEMPLATES)
    s = template(d, ch)
    return _apply_case(s, ch.choice(_CASINGS))


def all_renderings(d: _dt.date, max_len: int = MAX_SRC_CHARS) -> set[str]:
    """Every source string the generator can produce for ``d`` (exhaustive enumeration)."""
    out: set[str] = set()
    script: list[int] = []
    while True:
        ch = _ScriptChooser(script)
        s = render(d, ch)
        del script[ch.pos:]
        if len(s) <= max_len:
            out.add(s)
        # odometer step over the decision tree
        p = len(script) - 1
        while p >= 0 and script[p] + 1 >= ch.branches[p]:
            p -= 1
        if p < 0:
            return out
        script[p] += 1
        del script[p + 1:]


def random_date(rng: random.Random) -> _dt.date:
    return FIRST_DATE + _dt.timedelta(days=int(rng.random() * _N_DAYS))


def make_example(rng: random.Random) -> Example:
    d = random_date(rng)
    ch = _RandomChooser(rng)
    while True:
        s = render(d, ch)
        if len(s) <= MAX_SRC_CHARS:
            return Example(s, d.isoformat())


# --------------------------------------------------------------------------- hand-written set
def handwritten(path: str = HANDWRITTEN_PATH) -> list[Example]:
    """Hand-written real-world date strings (never produced verbatim by the generator)."""
    out: list[Example] = []
    with open(path, encoding="ascii") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'src<TAB>iso', got {line!r}")
            src, iso = parts[0].strip(), parts[1].strip()
            _dt.date.fromisoformat(iso)  # validate
            out.append(Example(src, iso))
    return out


# --------------------------------------------------------------------------- task
# the ISO dates of DatesTask.examples() (the reference of an input without a computable gold)
DATE_REFS = {
    "3rd of March 2021": "2021-03-03", "Wednesday, March 3, 2021": "2021-03-03",
    "the third of march, two thousand twenty-one": "2021-03-03", "03/04/1999": "1999-03-04",
    "04.03.1999": "1999-03-04", "Wed 3 Mar 21": "2021-03-03", "July fourth, nineteen seventy-six": "1976-07-04",
    "25-Dec-2049": "2049-12-25", "19500101": "1950-01-01",
}


class DatesTask:
    name = "dates"
    kind = "seq2seq"
    description = (
        "Convert a free-form English date (e.g. 'the third of march, two thousand twenty-one' "
        "or '03/03/21') into ISO format YYYY-MM-DD."
    )
    max_new_tokens = 16

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, list[Example]]:
        return _seq2seq_splits(self.name, make_example, seed, _resolve_sizes(DEFAULT_SIZES, sizes))

    def examples(self) -> list[str]:
        return [
            "3rd of March 2021",
            "Wednesday, March 3, 2021",
            "the third of march, two thousand twenty-one",
            "03/04/1999",
            "04.03.1999",
            "Wed 3 Mar 21",
            "July fourth, nineteen seventy-six",
            "25-Dec-2049",
            "19500101",
        ]

    def handwritten(self) -> list[Example]:
        return handwritten()

    def reference(self, text: str) -> Optional[str]:
        """The ISO date of an example or of a hand-written date string; None for other inputs."""
        if text in DATE_REFS:
            return DATE_REFS[text]
        return next((ex.tgt for ex in handwritten() if ex.src == text), None)
