"""`engine.load(name)`: a shipped seqscope model, a checkpoint folder, or a Hugging Face model ("hf:...").

    load("addition-gru")                 a shipped model / seqscope checkpoint folder (engine.checkpoint.load)
    load("hf:/path/to/folder")           a Hugging Face model folder (config.json, *.safetensors, tokenizer)
    load("hf:gpt2")                      a model in the local Hugging Face cache (HF_HUB_CACHE / HF_HOME)
    load("hf:gpt2", download=True)       ... fetched from the Hub first when it is not there
    load("hf:gpt2", dtype="bfloat16")    ... in bfloat16; its name (traces, analyses) is "hf:gpt2 [bfloat16]",
                                         which load("hf:gpt2 [bfloat16]") opens the same way (hf_name)

Offline by default: a name that is not in the local cache is refused with one line that says how to
fetch it on a machine with network. Weights are read from safetensors only (a folder with only
pickle weights is refused); remote code is never run. `transformers` is imported only when an "hf:"
model is loaded, so `import engine`, the shipped models and `list_hf_models()` do not pay for it.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Optional

from .checkpoint_config import CheckpointError

PREFIX = "hf:"
DTYPES = ("float32", "bfloat16", "float16")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack",
                  "model.ckpt.index")
# what download=True fetches: configs, safetensors weights and the tokenizer files (never pickles)
FETCH_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]


class HFLoadError(CheckpointError):
    """A Hugging Face model could not be loaded; the message is one line naming it and what to do. A
    CheckpointError (a ValueError), so a caller that catches what engine.load refuses catches it too."""


def load(name: str | os.PathLike, *, device: str = "cpu", dtype: Optional[str] = None, download: bool = False):
    """A Bundle: "hf:NAME_OR_PATH" through the Hugging Face loader, anything else through
    engine.checkpoint.load (unchanged). device: "cpu" (default) or "cuda"; dtype (HF models): "float32"
    (default), "bfloat16" or "float16"; download: fetch an HF model missing from the local cache."""
    if isinstance(name, str) and name.startswith(PREFIX):
        name, options = split_hf_name(name)
        if options:
            asked = {"device": (device or "cpu").strip(), "dtype": dtype or options["dtype"]}
            if asked["device"] != "cpu" and asked["device"] != options["device"] or asked["dtype"] != options["dtype"]:
                raise ValueError(f"{hf_name(name, **options)}: the name says {options['device']}, {options['dtype']}; "
                                 f"the call asks {asked['device']}, {asked['dtype']}")
            device, dtype = options["device"], options["dtype"]
        return load_hf(name[len(PREFIX):], device=device, dtype=dtype, download=download)
    from .checkpoint import load as load_checkpoint
    if dtype not in (None, "float32"):
        raise ValueError(f"dtype {dtype!r}: seqscope models run in float32 (the dtype option is for hf: models)")
    return load_checkpoint(name, device=_device(device))


def hf_name(name: str, device: Optional[str] = "cpu", dtype: Optional[str] = None) -> str:
    """The name of an hf: model opened on a device or in a precision other than cpu / float32: "hf:gpt2
    [bfloat16]", "hf:gpt2 [cuda, float16]" (the defaults add nothing). A Bundle, so its traces and analyses,
    carries it; load() and the dashboard's picker read it back (split_hf_name)."""
    parts = [p for p, default in (((device or "cpu").strip(), "cpu"), (dtype or "float32", "float32")) if p != default]
    return f"{name} [{', '.join(parts)}]" if parts else name


def split_hf_name(name: str) -> tuple[str, dict]:
    """(name without the options, {"device", "dtype"}) of a name made by hf_name; (name, {}) for any other
    name, and for a folder whose own name ends in brackets."""
    if not (name.startswith(PREFIX) and name.endswith("]") and " [" in name):
        return name, {}
    if Path(name[len(PREFIX):]).expanduser().is_dir():
        return name, {}
    base, _, inside = name[:-1].rpartition(" [")
    options = {"device": "cpu", "dtype": "float32"}
    for part in inside.split(", "):
        if part in DTYPES:
            options["dtype"] = part
        elif part == "cuda" or (part.startswith("cuda:") and part[5:].isdigit()):
            options["device"] = part
        else:
            return name, {}
    return base, options


# -- where the files are ---------------------------------------------------------------------------

def hub_cache() -> Path:
    """The local Hugging Face cache folder (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def fetch_command(repo: str) -> str:
    """The command that fetches `repo` into the local cache (configs, safetensors, tokenizer; no pickles)."""
    return f"hf download {repo} --include " + " ".join(f'"{p}"' for p in FETCH_PATTERNS)


def resolve_hf(spec: str, download: bool = False) -> Path:
    """The folder of an "hf:" model: a local folder, or the snapshot of a Hub name in the local cache
    (fetched first when download=True)."""
    spec = str(spec).strip()
    if not spec:
        raise HFLoadError("hf: needs a model folder or a Hugging Face model name, e.g. hf:gpt2 or hf:/path/to/model")
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return folder
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:
        raise HFLoadError(f"hf:{spec}: no such model folder")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    cache = hub_cache()
    try:
        return Path(snapshot_download(spec, cache_dir=str(cache), local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        if not download:
            raise HFLoadError(f"hf:{spec}: not in the local Hugging Face cache ({cache}); on a machine with network "
                              f"run: {fetch_command(spec)}  (or load it with download=True)") from None
    try:
        return Path(snapshot_download(spec, cache_dir=str(cache), allow_patterns=FETCH_PATTERNS))
    except Exception as exc:
        raise HFLoadError(f"hf:{spec}: download failed ({_short(exc)})") from None


def check_folder(folder: Path, label: str) -> dict:
    """config.json read; safetensors weights present (pickle-only folders refused)."""
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise HFLoadError(f"{label}: {folder} has no config.json (not a Hugging Face model folder)")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HFLoadError(f"{label}: {cfg_path} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise HFLoadError(f"{label}: {cfg_path} is not a JSON object")
    if not any(folder.glob("*.safetensors")):
        pickles = sorted(p.name for p in folder.iterdir() if p.name in PICKLE_WEIGHTS or p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        what = f"only pickle weights ({', '.join(pickles)})" if pickles else "no weights"
        raise HFLoadError(f"{label}: {folder} has {what}; seqscope loads safetensors weights only "
                          "(convert them, e.g. with the Hub's convert-to-safetensors Space)")
    return config


def _device(device: Optional[str]) -> str:
    device = (device or "cpu").strip()
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        import torch
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available on this machine (torch "
                             f"{torch.__version__}); use --device cpu")
        return device
    raise ValueError(f"device {device!r}: choose cpu or cuda")


def available_devices() -> list[str]:
    """The devices an HF model can be opened on here: "cpu", then "cuda" (and "cuda:N" for each GPU when
    there are several) when torch sees CUDA. Imports torch."""
    import torch
    if not torch.cuda.is_available():
        return ["cpu"]
    n = torch.cuda.device_count()
    return ["cpu", "cuda"] + ([f"cuda:{i}" for i in range(n)] if n > 1 else [])


def _dtype(dtype: Optional[str]):
    import torch
    dtype = dtype or "float32"
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


# -- loading -----------------------------------------------------------------------------------------

def load_hf(spec: str, *, device: str = "cpu", dtype: Optional[str] = None, download: bool = False):
    """The Bundle of an HF model (see the module docstring)."""
    device, torch_dtype = _device(device), _dtype(dtype)
    label = hf_name(f"{PREFIX}{spec}", device, str(torch_dtype).replace("torch.", ""))
    folder = resolve_hf(spec, download)
    raw = check_folder(folder, label)
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer
    transformers.utils.logging.disable_progress_bar()
    common = {"local_files_only": True, "trust_remote_code": False}
    try:
        config = AutoConfig.from_pretrained(folder, **common)
    except Exception as exc:
        raise HFLoadError(f"{label}: transformers {transformers.__version__} cannot read its config "
                          f"({_short(exc)})") from None
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    hf_model = info = None
    for impl in ("sdpa", "eager"):
        try:
            hf_model, info = auto.from_pretrained(folder, config=config, dtype=torch_dtype, use_safetensors=True,
                                                  attn_implementation=impl, output_loading_info=True, **common)
            break
        except ValueError as exc:
            if impl == "sdpa" and ("sdpa" in str(exc) or "attention" in str(exc).lower()):
                continue             # no fast path for this architecture: eager attention always
            raise HFLoadError(f"{label}: {config.model_type} is not a causal LM or encoder-decoder transformers can "
                              f"load ({_short(exc)})") from None
        except Exception as exc:
            raise HFLoadError(f"{label}: cannot load the model ({_short(exc)})") from None
    if not type(hf_model)._can_set_attn_implementation() and hf_model.config._attn_implementation != "eager":
        hf_model.set_attn_implementation("eager")       # cannot switch per call: eager, so weights come out
    hf_model.to(device).eval()
    try:
        with warnings.catch_warnings():     # Marian's "Recommended: pip install sacremoses" and the like
            warnings.simplefilter("ignore", UserWarning)
            hf_tok = AutoTokenizer.from_pretrained(folder, **common)
    except Exception as exc:
        raise HFLoadError(f"{label}: cannot load its tokenizer ({_short(exc)})") from None
    from .checkpoint import Bundle
    from .hf_tokenizer import HFTokenizer
    from .models.hf import HFSeqModel
    model = HFSeqModel(hf_model)
    tokenizer = HFTokenizer(hf_tok, generation_config=getattr(hf_model, "generation_config", None),
                            config=hf_model.config, is_encoder_decoder=seq2seq)
    if tokenizer.vocab_size > model.vocab_size:
        raise HFLoadError(f"{label}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                          f"{model.vocab_size} output ids")
    kind = "seq2seq" if seq2seq else "lm"
    hf_info = {"model_type": config.model_type, "class": type(hf_model).__name__, "folder": str(folder),
               "source": spec, "dtype": str(torch_dtype).replace("torch.", ""), "device": device,
               "attn_implementation": model.attn_implementation, "vocab_size": model.vocab_size,
               "tokenizer_vocab_size": tokenizer.vocab_size, "tokenizer": type(hf_tok).__name__,
               "tokenizer_style": tokenizer.style, "bos_id": tokenizer.bos_id, "eos_id": tokenizer.eos_id,
               "eos_ids": list(tokenizer.eos_ids), "pad_id": tokenizer.pad_id, "unk_id": tokenizer.unk_id,
               "decoder_start_id": tokenizer.decoder_start_id}
    bundle_config = {"name": label, "arch": model.arch, "task": "hf", "kind": kind, "hf": hf_info}
    card = hf_card(label, raw, model, hf_info, info)
    return Bundle(label, model, tokenizer, bundle_config, card, folder)


def hf_card(label: str, raw: dict, model, hf_info: dict, info: Optional[dict]) -> dict:
    """The model card of an HF model, from its config (no metrics: it was not trained here)."""
    d = model.describe()
    warnings = []
    missing = sorted((info or {}).get("missing_keys", []) or [])
    if missing:
        warnings.append(f"{len(missing)} weight(s) missing from the checkpoint, randomly initialised: "
                        f"{', '.join(missing[:5])}")
    kind = "encoder-decoder" if d["is_encoder_decoder"] else "causal LM"
    return {"summary": f"Hugging Face {hf_info['model_type']} {kind} ({hf_info['class']}) from {hf_info['folder']}",
            "source": "huggingface", "model_type": hf_info["model_type"], "architectures": raw.get("architectures"),
            "path": hf_info["folder"], "parameters": model.num_parameters(), "n_layers": d["n_layers"],
            "n_heads": d["n_heads"], "n_encoder_layers": d["n_encoder_layers"], "max_len": d["max_len"],
            "vocab_size": hf_info["vocab_size"], "tokenizer": f"{hf_info['tokenizer']} ({hf_info['tokenizer_style']}, "
            f"{hf_info['tokenizer_vocab_size']} tokens)", "dtype": hf_info["dtype"], "device": hf_info["device"],
            "metrics": {}, "warnings": warnings, "command": f"engine.load({label!r})"}


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


# -- the local cache -----------------------------------------------------------------------------------

def list_hf_models(cache_dir: Optional[str | os.PathLike] = None) -> list[dict]:
    """Causal LMs and encoder-decoders with safetensors weights in the local Hugging Face cache (for the
    model picker): name ("hf:org/model"), repo, kind, model_type, path, size in bytes. Reads only the
    cache folders and each config.json; imports neither torch nor transformers."""
    cache = Path(cache_dir) if cache_dir else hub_cache()
    rows = []
    if not cache.is_dir():
        return rows
    for repo_dir in sorted(cache.glob("models--*")):
        repo = repo_dir.name[len("models--"):].replace("--", "/")
        snap = _snapshot(repo_dir)
        if snap is None:
            continue
        try:
            config = json.loads((snap / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        kind = model_kind(config)
        weights = list(snap.glob("*.safetensors"))
        if kind is None or not weights:
            continue
        size = sum(w.stat().st_size for w in weights if w.exists())
        rows.append({"name": f"{PREFIX}{repo}", "repo": repo, "kind": kind, "model_type": config.get("model_type"),
                     "path": str(snap), "size": size})
    return rows


def _snapshot(repo_dir: Path) -> Optional[Path]:
    """The snapshot folder refs/main points to, else the newest snapshot with a config.json."""
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        snap = repo_dir / "snapshots" / ref.read_text(encoding="utf-8").strip()
        if (snap / "config.json").is_file():
            return snap
    snaps = sorted((s for s in (repo_dir / "snapshots").glob("*") if (s / "config.json").is_file()),
                   key=lambda s: s.stat().st_mtime, reverse=True)
    return snaps[0] if snaps else None


def model_kind(config: dict) -> Optional[str]:
    """"seq2seq", "lm" or None (not a generative text model) from a config.json dict."""
    if config.get("is_encoder_decoder"):
        return "seq2seq"
    archs = config.get("architectures") or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return "lm"
    if any(a.endswith("ForConditionalGeneration") for a in archs):
        return "seq2seq" if config.get("is_encoder_decoder") else None
    return None


__all__ = ["load", "load_hf", "list_hf_models", "resolve_hf", "hub_cache", "HFLoadError", "model_kind", "DTYPES",
           "available_devices", "hf_name", "split_hf_name"]
