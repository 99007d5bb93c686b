"""Checkpoint folders: safetensors weights, a JSON config, the tokenizer JSON and a model card.

    checkpoints/<name>/
        model.safetensors   weights (never a pickle)
        config.json         {"format": "seqscope-checkpoint", "version": 1, "name", "arch", "task",
                             "kind": "seq2seq"|"lm", "model": {...architecture config...}, ...}
        tokenizer.json      Hugging Face `tokenizers` JSON (+ a "seqscope" kind field)
        card.json           metrics, data sizes, training command, steps, wall time (machine-readable)
        README.md           the model card for people, generated from card.json

Loading never unpickles: a pickle or torch.save file, a corrupt file or a missing piece raises
`CheckpointError` naming the file.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model

from .files import atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported: engine.files)
from .models import SeqModel, build_model
from .tokenizer import Tokenizer

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = REPO_ROOT / "checkpoints"
FORMAT, VERSION = "seqscope-checkpoint", 1
MAX_CONFIG_BYTES = 1 << 20
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message names the file and the reason."""


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


def atomic_save_model(model: torch.nn.Module, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_model(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(folder: Path, model: SeqModel, tokenizer: Tokenizer, config: dict,
                    card: Optional[dict] = None) -> None:
    """Write a checkpoint folder; every file goes to a temporary name first, then is renamed."""
    folder = Path(folder)
    config = {"format": FORMAT, "version": VERSION, **config, "arch": model.arch, "model": model.config_dict}
    atomic_write_text(folder / "tokenizer.json", tokenizer.to_json())
    atomic_save_model(model, folder / "model.safetensors")
    if card is not None:
        atomic_write_text(folder / "card.json", json.dumps(card, indent=2) + "\n")
        atomic_write_text(folder / "README.md", render_card(config, card))
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")


# -- loading ---------------------------------------------------------------------------------------

def _read_json(path: Path, required: bool = True) -> Any:
    if not path.exists():
        if required:
            raise CheckpointError(f"{path}: missing (a checkpoint folder needs config.json, "
                                  "model.safetensors and tokenizer.json)")
        return None
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path}: too large for a config file ({path.stat().st_size} bytes)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None


def check_safetensors(path: Path) -> None:
    """Refuse pickles and corrupt files before any parsing of their content as weights."""
    if not path.exists():
        pickles = sorted(p.name for p in path.parent.glob("*") if p.suffix in PICKLE_SUFFIXES)
        hint = (f" (found {', '.join(pickles)}: pickle files are never loaded; convert them to safetensors)"
                if pickles else "")
        raise CheckpointError(f"{path}: missing{hint}")
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise CheckpointError(f"{path}: this is a pickle / torch.save file, not safetensors; "
                              "seqscope never unpickles weights")
    if len(head) < 9:
        raise CheckpointError(f"{path}: truncated or empty, not a safetensors file")
    n = int.from_bytes(head[:8], "little")
    if n <= 0 or n > path.stat().st_size - 8 or head[8:9] != b"{":
        raise CheckpointError(f"{path}: corrupt safetensors header")
    try:
        with safe_open(str(path), framework="pt") as f:
            list(f.keys())
    except Exception as exc:
        raise CheckpointError(f"{path}: corrupt safetensors file ({exc})") from None


def resolve(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    if p.is_dir():
        return p
    shipped = CHECKPOINT_DIR / str(name_or_path)
    if shipped.is_dir() and "/" not in str(name_or_path):
        return shipped
    names = ", ".join(shipped_names()) or "none"
    raise CheckpointError(f"no checkpoint folder or shipped model named {str(name_or_path)!r} "
                          f"(shipped: {names})")


def load(name_or_path: str | os.PathLike, device: str = "cpu") -> Bundle:
    """Load a shipped model by name, or a checkpoint folder by path, ready for inference (eval mode)."""
    folder = resolve(name_or_path)
    config = _read_json(folder / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{folder / 'config.json'}: not a seqscope checkpoint config")
    if config.get("version") != VERSION:
        raise CheckpointError(f"{folder / 'config.json'}: unsupported version {config.get('version')!r}")
    for key in ("arch", "model", "task", "kind", "name"):
        if key not in config:
            raise CheckpointError(f"{folder / 'config.json'}: missing key {key!r}")
    try:
        tokenizer = Tokenizer.load(folder / "tokenizer.json")
    except FileNotFoundError:
        raise CheckpointError(f"{folder / 'tokenizer.json'}: missing") from None
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        model = build_model(config["arch"], config["model"])
    except ValueError as exc:
        raise CheckpointError(f"{folder / 'config.json'}: {exc}") from None
    if tokenizer.vocab_size != model_vocab(config):
        raise CheckpointError(f"{folder / 'tokenizer.json'}: vocabulary of {tokenizer.vocab_size} tokens "
                              f"does not match the model's {model_vocab(config)}")
    weights = folder / "model.safetensors"
    check_safetensors(weights)
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=device)
    except Exception as exc:
        raise CheckpointError(f"{weights}: weights do not fit the {config['arch']} config ({exc})") from None
    if missing or unexpected:
        raise CheckpointError(f"{weights}: weights do not fit the config "
                              f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    model.eval()
    card = _read_json(folder / "card.json", required=False) or {}
    return Bundle(config["name"], model, tokenizer, config, card, folder)


def model_vocab(config: dict) -> int:
    return int(config["model"].get("vocab_size", -1))


def shipped_names() -> list[str]:
    if not CHECKPOINT_DIR.is_dir():
        return []
    return sorted(p.name for p in CHECKPOINT_DIR.iterdir() if (p / "config.json").exists())


def list_models() -> list[dict]:
    """Shipped models with task, architecture, parameter count and metrics (without loading weights)."""
    rows = []
    for name in shipped_names():
        folder = CHECKPOINT_DIR / name
        config = _read_json(folder / "config.json")
        card = _read_json(folder / "card.json", required=False) or {}
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
