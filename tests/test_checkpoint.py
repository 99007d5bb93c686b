"""Save -> load gives identical logits; the loader refuses pickles, corrupt and incomplete folders."""
import json
import pickle
import shutil

import pytest
import torch

import engine
from engine.checkpoint import CheckpointError, load, save_checkpoint
from engine.models import build_model
from engine.tokenizer import Tokenizer


@pytest.fixture()
def saved(tmp_path):
    tok = Tokenizer.train_char(["abc 123"])
    torch.manual_seed(0)
    model = build_model("transformer", {"vocab_size": tok.vocab_size, "d_model": 16, "n_heads": 2,
                                        "d_ff": 32, "n_layers": 1, "n_dec_layers": 1}).eval()
    folder = tmp_path / "tiny"
    save_checkpoint(folder, model, tok, {"name": "tiny", "task": "dates", "kind": "seq2seq"},
                    {"metrics": {"test_exact_match": 0.5}, "parameters": model.num_parameters()})
    return folder, model, tok


def test_round_trip_identical_logits(saved):
    folder, model, tok = saved
    b = load(folder)
    src = torch.tensor([tok.encode("abc 12").ids])
    tgt = torch.tensor([[1, 5, 6, 7]])
    a = model.decode(tgt, model.start(src)[0]).logits
    c = b.model.decode(tgt, b.model.start(src)[0]).logits
    assert torch.equal(a, c)
    assert b.card["metrics"]["test_exact_match"] == 0.5
    assert (folder / "README.md").read_text().startswith("# tiny")
    assert not list(folder.glob("*.tmp")), "temporary files left behind"


def test_refuses_pickle(saved):
    folder, model, _ = saved
    with open(folder / "model.safetensors", "wb") as f:
        pickle.dump({"w": 1}, f)
    with pytest.raises(CheckpointError, match="model.safetensors: this is a pickle"):
        load(folder)


def test_refuses_torch_save_only_folder(saved):
    folder, model, _ = saved
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "model.pt")
    with pytest.raises(CheckpointError, match="model.pt: pickle files are never loaded"):
        load(folder)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_refuses_corrupt_weights(saved, damage):
    folder, _, _ = saved
    p = folder / "model.safetensors"
    data = p.read_bytes()
    p.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x10" * 64, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load(folder)


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json"])
def test_refuses_missing_piece(saved, missing):
    folder, _, _ = saved
    (folder / missing).unlink()
    with pytest.raises(CheckpointError, match=missing):
        load(folder)


def test_refuses_mismatched_config(saved):
    folder, _, _ = saved
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"]["d_model"] = 32
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not fit"):
        load(folder)
    (folder / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        load(folder)


def test_unknown_name():
    with pytest.raises(CheckpointError, match="no checkpoint folder or shipped model named 'nope'"):
        engine.load("nope")
