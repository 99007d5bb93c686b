"""Your own data for the exposure analysis: a JSONL or CSV file of `source`/`reference` (or
`prompt`/`continuation`) pairs, for any model engine.load opens (shipped checkpoints, `hf:` models).

    data = read_data("pairs.jsonl")                 # or parse_data(bytes, "pairs.csv"): the page's upload
    res = analyze_data(bundle, data, n=200)         # engine.analyze's dict, plus res["data"]

Every row is checked before any work starts, and a bad one is refused with one line that names the
file and the line (DataError, a ValueError): a missing column, an empty text, a value that is not text,
bytes that are not UTF-8, a duplicated column or key, a text over MAX_DATA_FIELD_CHARS, a file over
MAX_DATA_BYTES or MAX_DATA_ROWS; once the model is known, a row too long for it after its own tokenizer.

- JSONL: one JSON object per line (blank lines skipped); the pair is taken from the first row and every
  row must have it; other keys are ignored.
- CSV: a header row naming the columns (other columns ignored), then one pair per row.
- Column names match in any case (`Source`, `REFERENCE`); the names are shown as the file spells them.
- Either pair works for either kind of model: the first text is the input, the second the expected
  output. Encoder-decoder: source -> reference (the source encoded as the tokenizer encodes an input,
  with its own special tokens; the reference ends with the end token, as on the TF-vs-FR page). Causal
  LM: prompt -> continuation (the prompt as `generate` feeds it: seqscope's tokenizers prepend <bos>,
  an HF tokenizer adds what it adds itself, so a GPT-2 gets none; the continuation is scored as given,
  no end token appended). Prompts of different lengths are left-padded with a mask.

Gold positions without a token are marked with NO_GOLD (-1, never a model id), so a real token 0 (a
GPT-2's "!", a Marian's </s>) counts, and the end of a free run is the tokenizer's own end ids.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..files import UnsafeFile, read_regular, short_path
from ..limits import MAX_DATA_BYTES, MAX_DATA_FIELD_CHARS, MAX_DATA_ROWS, MAX_DATA_TOKENS
from ..stats import N_BOOT
from ..tokenizer import check_text

PAIRS = (("source", "reference"), ("prompt", "continuation"))
FORMATS = ("jsonl", "csv")
NO_GOLD = -1
TF_BATCH_NUMBERS = 32_000_000      # examples x positions x vocabulary of one teacher-forced call (~128 MB float32)


class DataError(ValueError):
    """A data file refused: one line naming the file, the line and what is wrong."""


@dataclass(frozen=True)
class Pair:
    line: int                      # the line of the file the row starts on (1-based)
    source: str                    # source / prompt
    reference: str                 # reference / continuation


@dataclass
class DataFile:
    name: str
    format: str                    # "jsonl" | "csv"
    columns: tuple[str, str]
    pairs: list[Pair]
    sha256: str
    warnings: list[str] = field(default_factory=list)


# -- reading and checking the file -----------------------------------------------------------------

def read_data(path: os.PathLike | str) -> DataFile:
    """The pairs of a JSONL or CSV file (bounded read: MAX_DATA_BYTES)."""
    try:
        data = read_regular(path, MAX_DATA_BYTES, "MAX_DATA_BYTES")
    except FileNotFoundError:
        raise DataError(f"{short_path(path)}: no such file") from None
    except UnsafeFile as exc:
        raise DataError(str(exc)) from None
    return parse_data(data, Path(path).name)


def parse_data(data: bytes, name: str = "data") -> DataFile:
    """The pairs of a JSONL or CSV file's bytes (`name` picks the format by its ending: .jsonl / .json /
    .csv; any other name: JSONL when the first character is "{", else CSV)."""
    name = str(name)[:120] or "data"
    if len(data) > MAX_DATA_BYTES:
        raise DataError(f"{name}: {len(data):,} bytes, over the limit of {MAX_DATA_BYTES:,} (MAX_DATA_BYTES in "
                        "engine/limits.py)")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = bytes(data).count(b"\n", 0, exc.start) + 1
        raise DataError(f"{name}: line {line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    fmt = data_format(name, text)
    columns, pairs = (_parse_jsonl if fmt == "jsonl" else _parse_csv)(text, name)
    if not pairs:
        raise DataError(f"{name}: no rows (a {fmt.upper()} file of {' / '.join('/'.join(p) for p in PAIRS)} pairs)")
    return DataFile(name, fmt, columns, pairs, hashlib.sha256(bytes(data)).hexdigest())


def data_format(name: str, text: str) -> str:
    low = name.lower()
    if low.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if low.endswith(".csv"):
        return "csv"
    return "jsonl" if text.lstrip()[:1] == "{" else "csv"


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _pair_of(keys, where: str) -> tuple[str, str]:
    """The pair's column names as the file spells them: matched in any case ("Source", "REFERENCE", as a
    spreadsheet exports them); two names that differ only in case are refused, not guessed between."""
    spelled: dict[str, list[str]] = {}
    for k in keys:
        spelled.setdefault(str(k).strip().lower(), []).append(str(k))
    found = [p for p in PAIRS if p[0] in spelled and p[1] in spelled]
    if len(found) > 1:
        raise DataError(f"{where}: both source/reference and prompt/continuation columns; keep one pair")
    if not found:
        names = ", ".join(_shown(str(k)) for k in list(keys)[:8]) or "none"
        raise DataError(f"{where}: no source/reference or prompt/continuation columns (found: {names})")
    for c in found[0]:
        if len(spelled[c]) > 1:
            raise DataError(f"{where}: {' and '.join(_shown(k) for k in spelled[c][:3])} are one column in two "
                            "spellings; keep one")
    return spelled[found[0][0]][0], spelled[found[0][1]][0]


def _field(value, column: str, where: str) -> str:
    if not isinstance(value, str):
        kind = "null" if value is None else {bool: "true/false", int: "number", float: "number", list: "list",
                                            dict: "object"}.get(type(value), type(value).__name__)
        raise DataError(f"{where}: {column!r} is a {kind}, not text")
    if not value.strip():
        raise DataError(f"{where}: {column!r} is empty")
    if len(value) > MAX_DATA_FIELD_CHARS:
        raise DataError(f"{where}: {column!r} has {len(value):,} characters, over the limit of "
                        f"{MAX_DATA_FIELD_CHARS:,} (MAX_DATA_FIELD_CHARS in engine/limits.py)")
    try:
        check_text(value, repr(column))
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None
    return value


def _too_many(name: str) -> DataError:
    return DataError(f"{name}: more than {MAX_DATA_ROWS:,} rows (MAX_DATA_ROWS in engine/limits.py)")


class _Duplicate(Exception):
    pass


def _no_duplicates(items):
    keys = [k for k, _ in items]
    for k in keys:
        if keys.count(k) > 1:
            raise _Duplicate(k)
    return dict(items)


def _parse_jsonl(text: str, name: str) -> tuple[tuple[str, str], list[Pair]]:
    columns, pairs = None, []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{name}: line {number}"
        try:
            row = json.loads(line, object_pairs_hook=_no_duplicates)
        except _Duplicate as exc:
            raise DataError(f"{where}: the key {_shown(str(exc.args[0]))} appears twice") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except (RecursionError, ValueError) as exc:
            raise DataError(f"{where}: not valid JSON ({type(exc).__name__})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: a JSON {type(row).__name__}, not an object with "
                            "source/reference or prompt/continuation keys")
        if columns is None:
            columns = _pair_of(row.keys(), where)
        for c in columns:
            if c not in row:
                raise DataError(f"{where}: no {c!r} key (the first row has {columns[0]!r} and {columns[1]!r})")
        if len(pairs) == MAX_DATA_ROWS:
            raise _too_many(name)
        pairs.append(Pair(number, _field(row[columns[0]], columns[0], where), _field(row[columns[1]], columns[1], where)))
    return columns or PAIRS[0], pairs


def _parse_csv(text: str, name: str) -> tuple[tuple[str, str], list[Pair]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header, index, pairs, last = None, None, [], 0
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            where = f"{name}: line {start}"
            if not row or not any(c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                for c in header:
                    if c and header.count(c) > 1:
                        raise DataError(f"{where}: the column {_shown(c)} appears twice in the header")
                columns = _pair_of(header, where)
                index = [header.index(c) for c in columns]
                continue
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} field{'s' if len(row) != 1 else ''}, the header has "
                                f"{len(header)}")
            if len(pairs) == MAX_DATA_ROWS:
                raise _too_many(name)
            pairs.append(Pair(start, _field(row[index[0]], columns[0], where), _field(row[index[1]], columns[1], where)))
    except csv.Error as exc:
        raise DataError(f"{name}: line {reader.line_num}: not valid CSV ({str(exc)[:100]})") from None
    return (columns if header else PAIRS[0]), pairs


# -- the model's view: tokens, lengths, the analysis's inputs ----------------------------------------

def user_inputs(bundle, data: DataFile, n: int | None = None):
    """The first n pairs (all when n is None) tokenised for the bundle's model, as the analysis's
    `Inputs` (engine/exposure/passes.py); DataError naming the line when a row does not fit the model.
    Returns (inputs, warnings)."""
    import torch

    from ..batching import pad_batch
    from ..decoding.inputs import decoder_prefix
    from ..rollout import end_ids, pad_value
    from .passes import Inputs
    tok, model = bundle.tokenizer, bundle.model
    seq2seq = model.is_encoder_decoder
    ends, fill = end_ids(tok), pad_value(tok)
    pairs = data.pairs[:n] if n else data.pairs
    srcs, prefixes, golds, unknown = [], [], [], 0
    a, b = data.columns
    for pr in pairs:
        where = f"{data.name}: line {pr.line}"
        enc_src = tok.encode(pr.source)
        enc_ref = tok.encode(pr.reference, add_special_tokens=False)
        unknown += bool(enc_src.unknown or enc_ref.unknown)
        ids, gold = [int(i) for i in enc_src.ids], [int(i) for i in enc_ref.ids]
        if not gold:
            raise DataError(f"{where}: {b!r} gives no tokens with {bundle.name}'s tokenizer")
        if len(gold) > MAX_DATA_TOKENS:
            raise DataError(f"{where}: {b!r} is {len(gold):,} tokens long, over the limit of {MAX_DATA_TOKENS:,} "
                            "(MAX_DATA_TOKENS in engine/limits.py)")
        if seq2seq:
            if len(ids) > model.max_len:
                raise DataError(f"{where}: {a!r} is {len(ids):,} tokens long; {bundle.name} accepts at most "
                                f"{model.max_len}")
            if ends and gold[-1] not in ends:
                gold = gold + [ends[0]]            # a target ends with the end token
        try:
            prefix = decoder_prefix(bundle, ids)
        except ValueError as exc:
            raise DataError(f"{where}: {exc}") from None
        fed = len(prefix) + len(gold) - 1
        if fed > model.max_len:
            what = f"{b!r}" if seq2seq else f"{a!r} + {b!r}"
            raise DataError(f"{where}: {what} is {fed:,} tokens fed to the decoder; {bundle.name}'s context is "
                            f"{model.max_len}")
        srcs.append(ids)
        prefixes.append(prefix)
        golds.append(gold)
    P = max(len(p) for p in prefixes)
    rows = [[fill] * (P - len(p)) + p + g for p, g in zip(prefixes, golds)]
    width = max(len(r) for r in rows) - 1
    tin = torch.full((len(rows), width), fill, dtype=torch.long)
    tout = torch.full((len(rows), width), NO_GOLD, dtype=torch.long)
    tmask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, (r, p) in enumerate(zip(rows, prefixes)):
        k = len(r) - 1
        tin[i, :k] = torch.tensor(r[:-1])
        tout[i, :k] = torch.tensor(r[1:])       # before position P-1: the given prompt, never gold
        tmask[i, P - len(p):k] = True
    src = smask = None
    if seq2seq:
        src, smask = pad_batch(srcs, value=fill)
    refs = [tok.decode(g) for g in golds]
    warnings = [f"{unknown} of {len(pairs)} rows have characters outside {bundle.name}'s vocabulary (they became "
                "the unknown token)"] if unknown else []
    inp = Inputs(src, smask, tin, tout, P, refs, [p.source for p in pairs], tok,
                 tmask=None if bool(tmask.all()) else tmask, no_gold=NO_GOLD)
    return inp, warnings


def last_t0(inp) -> int:
    """The last generated step recovery can inject at: an output must go on after the injected token."""
    gold_lengths = (inp.tout[:, inp.prompt - 1:] != inp.no_gold).sum(1)
    return int(gold_lengths.max()) - 2          # step t0 is followed by a gold token: t0 + 1 < length


def batch_size(bundle, inp) -> int:
    """Examples per teacher-forced call: TF_BATCH_NUMBERS logits at most (a 50k vocabulary needs small batches)."""
    vocab = getattr(bundle.model, "vocab_size", 0) or bundle.tokenizer.vocab_size     # HF: the logits may be wider
    return max(1, min(500, TF_BATCH_NUMBERS // max(1, inp.tin.shape[1] * vocab)))


def analyze_data(bundle, data: DataFile, n: int | None = None, seed: int = 0, t0: int = 1, n_boot: int = N_BOOT,
                 inputs=None) -> dict:
    """engine.analyze on the first n pairs of `data` (all when n is None) with the bundle's model, plus
    res["data"]: the file's name, format, columns, sha256, rows and the rows analysed."""
    from .analyze import analyze
    inp, warnings = inputs if inputs is not None else user_inputs(bundle, data, n)
    last = max(1, last_t0(inp))
    if not 0 <= t0 <= last:
        raise DataError(f"t0 {t0} is beyond the outputs: the references of {data.name} allow 0 to {last}")
    res = analyze(bundle.name, n=int(inp.tin.shape[0]), seed=seed, t0=t0, n_boot=n_boot, bundle=bundle, oracle=False,
                  inputs=inp, batch_size=batch_size(bundle, inp))
    res["prompt_tokens"] = 0              # prompts differ in length: positions count from the first gold token
    res["data"] = {"file": data.name, "format": data.format, "columns": list(data.columns), "rows": len(data.pairs),
                   "analysed": int(inp.tin.shape[0]), "sha256": data.sha256, "warnings": data.warnings + warnings}
    return res


__all__ = ["DataError", "DataFile", "Pair", "PAIRS", "FORMATS", "NO_GOLD", "read_data", "parse_data", "user_inputs",
           "analyze_data", "last_t0", "batch_size"]
