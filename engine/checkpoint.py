"""Checkpoint folders: safetensors weights, a JSON config, the tokenizer JSON and a model card.

    checkpoints/<name>/
        model.safetensors   weights (never a pickle)
        config.json         {"format": "seqscope-checkpoint", "version": 1, "name", "arch", "task",
                             "kind": "seq2seq"|"lm", "model": {...architecture config...}, ...}
        tokenizer.json      Hugging Face `tokenizers` JSON (+ a "seqscope" kind field)
        card.json           metrics, data sizes, training command, steps, wall time (machine-readable)
        README.md           the model card for people, generated from card.json

Loading never unpickles: a pickle or torch.save file, a corrupt file or a missing piece raises
`CheckpointError` naming the file, in one line.

Loading checks before any tensor exists: bounded reads of regular files only (engine/files.py; a FIFO,
a device, a directory is refused unopened), config.json against its schema with the parameter count
(engine/checkpoint_config.py), the tokenizer's size against the config, the weights' tensor names and
shapes against the model built on the "meta" device. Saving writes the whole folder into a temporary
sibling and swaps it into place (engine/files.py `atomic_folder`): a crash leaves the old checkpoint or
the new one, never a mix.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model

from .checkpoint_config import FORMAT, VERSION, CheckpointError, check_config  # noqa: F401 (re-exported)
from .files import (FILE_MODE, UnsafeFile, _umask, atomic_folder, atomic_write_bytes,  # noqa: F401
                    atomic_write_text, parse_json, read_json, read_regular, regular_stat, short_path,
                    write_new_file)
from .limits import (MAX_CONFIG_BYTES, MAX_JSON_DEPTH, MAX_TOKENIZER_BYTES,  # noqa: F401 (re-exported)
                     MAX_WEIGHTS_HEADER_BYTES)
from .models import SeqModel, build_model
from .tokenizer import Tokenizer

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = REPO_ROOT / "checkpoints"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")
SHIPPED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
MAX_PATH_CHARS = 4096


@dataclass
class Bundle:
    """A loaded model with everything needed to use it."""
    name: str
    model: SeqModel
    tokenizer: Tokenizer
    config: dict
    card: dict = field(default_factory=dict)
    path: Optional[Path] = None

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def is_encoder_decoder(self) -> bool:
        return self.model.is_encoder_decoder


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def atomic_save_model(model: torch.nn.Module, path: Path) -> None:
    """Save one safetensors file atomically (temporary name, rename), mode 0644."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_model(model, tmp)
        os.chmod(tmp, FILE_MODE & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(folder: Path, model: SeqModel, tokenizer: Tokenizer, config: dict,
                    card: Optional[dict] = None) -> None:
    """Write a checkpoint folder as a whole: every file goes into a temporary sibling folder, which then
    replaces `folder` in one step (files the save does not write are not kept)."""
    folder = Path(folder)
    config = {"format": FORMAT, "version": VERSION, **config, "arch": model.arch, "model": model.config_dict}
    with atomic_folder(folder) as tmp:
        write_new_file(tmp / "tokenizer.json", tokenizer.to_json().encode("utf-8"))
        save_model(model, str(tmp / "model.safetensors"))
        if card is not None:
            write_new_file(tmp / "card.json", (json.dumps(card, indent=2) + "\n").encode("utf-8"))
            write_new_file(tmp / "README.md", render_card(config, card).encode("utf-8"))
        write_new_file(tmp / "config.json", (json.dumps(config, indent=2) + "\n").encode("utf-8"))


# -- loading ---------------------------------------------------------------------------------------

def _read_json(path: Path, required: bool = True, max_bytes: int = MAX_CONFIG_BYTES,
               limit_name: str = "MAX_CONFIG_BYTES") -> Any:
    try:
        return read_json(path, max_bytes, MAX_JSON_DEPTH, limit_name)
    except FileNotFoundError:
        if required:
            raise CheckpointError(f"{short_path(path)}: missing (a checkpoint folder needs config.json, "
                                  "model.safetensors and tokenizer.json)") from None
        return None
    except UnsafeFile as exc:
        raise CheckpointError(str(exc)) from None


def read_tokenizer(path: Path) -> Tokenizer:
    """A tokenizer.json read within MAX_TOKENIZER_BYTES and MAX_JSON_DEPTH; CheckpointError otherwise."""
    where = short_path(path)
    try:
        data = read_regular(path, MAX_TOKENIZER_BYTES, "MAX_TOKENIZER_BYTES")
        parse_json(data, where, MAX_JSON_DEPTH)
    except FileNotFoundError:
        raise CheckpointError(f"{where}: missing") from None
    except UnsafeFile as exc:
        raise CheckpointError(str(exc)) from None
    try:
        return Tokenizer.from_json(data.decode("utf-8"), source=where)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(one_line(exc)) from None


def check_safetensors(path: Path) -> dict[str, tuple]:
    """Refuse pickles, non-regular and corrupt files before any parsing of their content as weights;
    return the tensor names and shapes of the header (no tensor is read)."""
    where = short_path(path)
    try:
        st = regular_stat(path)
    except FileNotFoundError:
        pickles = sorted(p.name for p in Path(path).parent.glob("*") if p.suffix in PICKLE_SUFFIXES)
        hint = (f" (found {', '.join(pickles)}: pickle files are never loaded; convert them to safetensors)"
                if pickles else "")
        raise CheckpointError(f"{where}: missing{hint}") from None
    except UnsafeFile as exc:
        raise CheckpointError(str(exc)) from None
    try:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NONBLOCK)) as f:
            head = f.read(16)
    except OSError as exc:
        raise CheckpointError(f"{where}: cannot be read ({exc.strerror})") from None
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise CheckpointError(f"{where}: this is a pickle / torch.save file, not safetensors; "
                              "seqscope never unpickles weights")
    if len(head) < 9:
        raise CheckpointError(f"{where}: truncated or empty, not a safetensors file")
    n = int.from_bytes(head[:8], "little")
    if n <= 0 or n > st.st_size - 8 or head[8:9] != b"{":
        raise CheckpointError(f"{where}: corrupt safetensors header")
    if n > MAX_WEIGHTS_HEADER_BYTES:
        raise CheckpointError(f"{where}: a safetensors header of {n:,} bytes, over the limit of "
                              f"{MAX_WEIGHTS_HEADER_BYTES:,} (MAX_WEIGHTS_HEADER_BYTES in engine/limits.py)")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:
        raise CheckpointError(f"{where}: corrupt safetensors file ({one_line(exc, 200)})") from None


def weights_mismatch(shapes: dict[str, tuple], model: torch.nn.Module) -> Optional[str]:
    """How the tensors of a weights file (name -> shape) differ from what `model` (real or on the meta
    device) expects, in one line; None when they fit. Tied weights need only one of their names."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    groups: dict[int, list[str]] = {}
    for name, t in [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]:
        if name in expected:
            groups.setdefault(id(t), []).append(name)
    wrong = [(k, shapes[k], expected[k]) for k in sorted(shapes) if k in expected and shapes[k] != expected[k]]
    missing = sorted(names[0] for names in groups.values() if not any(n in shapes for n in names))
    unexpected = sorted(k for k in shapes if k not in expected)
    parts = []
    if wrong:
        k, got, want = wrong[0]
        parts.append(f"{len(wrong)} tensor(s) of another shape (e.g. {k}: {list(got)} in the file, "
                     f"{list(want)} in the config)")
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(short_path(k, 60) for k in unexpected[:3])})")
    return "; ".join(parts) or None


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The folder of a checkpoint path, or of a shipped model's name (a plain name, no path tricks)."""
    try:
        s = os.fspath(name_or_path)
    except TypeError:
        raise CheckpointError(f"a checkpoint name must be a string or a path, got "
                              f"{type(name_or_path).__name__}") from None
    if isinstance(s, bytes):
        s = os.fsdecode(s)
    label = short_path(s, 80)
    if not s.strip():
        raise CheckpointError("an empty checkpoint name")
    if "\x00" in s:
        raise CheckpointError(f"{label!r}: a checkpoint name or path cannot contain a NUL character")
    try:
        os.fsencode(s)
    except UnicodeError:
        raise CheckpointError(f"{label!r}: not a valid file name (unpaired surrogate characters)") from None
    if len(s) > MAX_PATH_CHARS or any(len(os.fsencode(part)) > 255 for part in s.split(os.sep)):
        raise CheckpointError(f"{label!r}: name too long for a checkpoint folder")
    try:
        p = Path(s)
        if p.is_dir():
            return p
        shipped = CHECKPOINT_DIR / s
        if SHIPPED_NAME.fullmatch(s) and shipped.is_dir():
            return shipped
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{label!r}: cannot be read ({one_line(getattr(exc, 'strerror', None) or exc)})") from None
    names = ", ".join(shipped_names()) or "none"
    shown = repr(s) if len(s) <= 80 else repr(label)
    raise CheckpointError(f"no checkpoint folder or shipped model named {shown} (shipped: {names})")


def load(name_or_path: str | os.PathLike, device: str = "cpu") -> Bundle:
    """Load a shipped model by name, or a checkpoint folder by path, ready for inference (eval mode)."""
    folder = resolve(name_or_path)
    cfg_path = folder / "config.json"
    config = _read_json(cfg_path)
    full, meta = check_config(config, short_path(cfg_path))
    tokenizer = read_tokenizer(folder / "tokenizer.json")
    if tokenizer.vocab_size != full["vocab_size"]:
        raise CheckpointError(f"{short_path(folder / 'tokenizer.json')}: vocabulary of {tokenizer.vocab_size} "
                              f"tokens does not match the model's {full['vocab_size']} (config.json)")
    weights = folder / "model.safetensors"
    problem = weights_mismatch(check_safetensors(weights), meta)
    if problem:
        raise CheckpointError(f"{short_path(weights)}: weights do not fit the {config['arch']} config of "
                              f"config.json: {problem}")
    card = _read_json(folder / "card.json", required=False)
    if card is None:
        card = {}
    elif not isinstance(card, dict):
        raise CheckpointError(f"{short_path(folder / 'card.json')}: must be a JSON object")
    try:
        model = build_model(config["arch"], config["model"])
        missing, unexpected = load_model(model, str(weights), strict=False, device=device)
    except Exception as exc:
        raise CheckpointError(f"{short_path(weights)}: weights do not fit the {config['arch']} config "
                              f"({one_line(exc, 200)})") from None
    if missing or unexpected:
        raise CheckpointError(f"{short_path(weights)}: weights do not fit the config "
                              f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    model.eval()
    return Bundle(config["name"], model, tokenizer, config, card, folder)


def model_vocab(config: dict) -> int:
    return int(config["model"].get("vocab_size", -1))


def shipped_names() -> list[str]:
    if not CHECKPOINT_DIR.is_dir():
        return []
    return sorted(p.name for p in CHECKPOINT_DIR.iterdir()
                  if not p.name.startswith(".") and (p / "config.json").exists())


def list_models() -> list[dict]:
    """Shipped models with task, architecture, parameter count and metrics (without loading weights)."""
    rows = []
    for name in shipped_names():
        folder = CHECKPOINT_DIR / name
        config = _read_json(folder / "config.json")
        card = _read_json(folder / "card.json", required=False) or {}
        config, card = (x if isinstance(x, dict) else {} for x in (config, card))
        rows.append({"name": name, "task": config.get("task"), "kind": config.get("kind"),
                     "arch": config.get("arch"), "parameters": card.get("parameters"),
                     "metrics": card.get("metrics", {}), "path": str(folder)})
    return rows


def render_card(config: dict, card: dict) -> str:
    """The human model card (README.md of a checkpoint folder), generated from card.json."""
    lines = [f"# {config['name']}", "", card.get("summary", ""), "",
             "| | |", "|---|---|",
             f"| task | `{config['task']}` ({config['kind']}) — {card.get('task_description', '')} |",
             f"| architecture | `{config['arch']}`, {card.get('parameters', '?'):,} parameters |",
             f"| tokenizer | {card.get('tokenizer', '')} |",
             f"| data | {card.get('data', '')} |",
             f"| training | {card.get('steps', '?')} steps, {card.get('wall_time_s', 0) / 60:.1f} min on "
             f"{card.get('hardware', 'CPU')} |",
             f"| stopped | {card.get('stopped', '')} |", "",
             "## Retrain", "", "```", card.get("command", ""), "```", "",
             "## Held-out metrics", "", "| metric | value |", "|---|---|"]
    for k, v in card.get("metrics", {}).items():
        if isinstance(v, dict):
            continue
        lines.append(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
    for k, v in card.get("metrics", {}).items():
        if isinstance(v, dict):
            lines += ["", f"### {k}", "", "| | |", "|---|---|"]
            lines += [f"| {kk} | {vv:.4g} |" if isinstance(vv, float) else f"| {kk} | {vv} |" for kk, vv in v.items()]
    if card.get("samples"):
        lines += ["", "## Samples (greedy unless noted)", ""]
        lines += [f"- `{s}`" for s in card["samples"]]
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    lines.append("")
    return "\n".join(lines)
