"""Every shipped checkpoint loads, is listed, and meets a quality floor on a small held-out sample."""
import json
import math
import subprocess
import sys

import pytest

import engine
from engine.checkpoint import CHECKPOINT_DIR, shipped_names
from engine.training import RECIPES
from engine.training.metrics import greedy_batch, lm_sequence_nll
from engine.tasks import get_task
from engine.tokenizer import BOS, EOS

SHIPPED = ["dates-gru-attn", "dates-gru-noattn", "dates-transformer", "addition-gru", "text-gpt", "hmm-gpt"]


def test_every_recipe_is_shipped_and_small():
    assert set(SHIPPED) <= set(shipped_names())
    assert set(RECIPES) <= set(shipped_names())
    total = sum(p.stat().st_size for p in CHECKPOINT_DIR.rglob("*") if p.is_file())
    assert total < 40 * 1024 * 1024, f"checkpoints/ is {total / 2**20:.1f} MB"
    for name in SHIPPED:
        card = json.loads((CHECKPOINT_DIR / name / "card.json").read_text())
        assert card["wall_time_s"] < 15 * 60, f"{name} took {card['wall_time_s']} s to train"
        assert card["command"].startswith("python -m engine train")


def sample(task, split="test", n=200):
    return get_task(task).splits(seed=0)[split][:n]


def exact(bundle, examples):
    preds = greedy_batch(bundle.model, bundle.tokenizer, [e.src for e in examples], 30)
    return sum(p == e.tgt for p, e in zip(preds, examples)) / len(examples)


@pytest.mark.parametrize("name", ["dates-gru-attn", "dates-transformer"])
def test_dates_models_quality(name):
    from engine.tasks.dates import handwritten
    b = engine.load(name)
    assert exact(b, sample("dates")) >= 0.93
    assert exact(b, handwritten()) >= 0.90


def test_noattn_model_works_but_is_worse_on_long_inputs():
    b = engine.load("dates-gru-noattn")
    by_len = b.card["metrics"]["test_exact_match_by_source_length"]
    assert exact(b, sample("dates")) >= 0.5
    assert b.card["metrics"]["test_exact_match"] <= engine.load("dates-gru-attn").card["metrics"]["test_exact_match"]
    assert by_len  # the card reports accuracy against input length


def test_addition_model_errs_often_enough_to_study():
    b = engine.load("addition-gru")
    acc = exact(b, sample("addition", n=300))
    assert 0.5 <= acc <= 0.97, acc


def test_text_gpt_perplexity():
    b = engine.load("text-gpt")
    seqs = [[BOS] + b.tokenizer.encode(e.tgt).ids + [EOS] for e in sample("text", "valid", 60)]
    total, count = lm_sequence_nll(b.model, [s[: b.model.max_len] for s in seqs])
    ppl = math.exp(total / count)
    assert ppl < 2 * b.card["metrics"]["valid_ppl"] and ppl < 150, ppl


def test_hmm_gpt_close_to_oracle():
    from engine.tasks.hmm import HMMOracle
    b = engine.load("hmm-gpt")
    oracle = HMMOracle()
    texts = oracle.sample(100, seed=4321)
    seqs = [[BOS] + b.tokenizer.encode(t).ids for t in texts]   # symbols only, no EOS
    total, count = lm_sequence_nll(b.model, seqs)
    oracle_nll = sum(-oracle.log_prob(t) for t in texts) / sum(len(t) for t in texts)
    assert total / count <= 1.12 * oracle_nll, (total / count, oracle_nll)


def test_models_cli_json():
    out = subprocess.run([sys.executable, "-m", "engine", "models", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert set(SHIPPED) <= set(rows)
    assert rows["dates-gru-attn"]["arch"] == "gru-attn" and rows["dates-gru-attn"]["parameters"] > 10_000
    assert "test_exact_match" in rows["dates-transformer"]["metrics"]


def test_cli_bad_input_exits_2_without_traceback():
    out = subprocess.run([sys.executable, "-m", "engine", "train", "--recipe", "nope"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "invalid choice: 'nope'" in out.stderr
    out = subprocess.run([sys.executable, "-m", "engine", "train", "--steps", "x"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


VARIANTS = {"addition-gru-ss": ("ss_schedule", "inverse_sigmoid"), "addition-gru-ls": ("label_smoothing", 0.1),
            "addition-gru-scst": ("stage", "scst"), "hmm-gpt-ss": ("ss_schedule", "inverse_sigmoid")}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_exposure_variants_keep_their_base_and_remedy(name):
    """Each exposure-bias variant has its base's architecture, was trained with its remedy in < 15 min,
    and still does its task (addition: exact match; hmm: NLL close to the oracle)."""
    base = name.rsplit("-", 1)[0]
    b, ref = engine.load(name), engine.load(base)
    key, value = VARIANTS[name]
    assert b.card["training_config"][key] == value
    assert b.config["model"] == ref.config["model"] and b.config["arch"] == ref.config["arch"]
    assert b.card["wall_time_s"] < 15 * 60
    if name.startswith("addition"):
        assert exact(b, sample("addition", n=300)) >= 0.85
    else:
        from engine.tasks.hmm import HMMOracle
        oracle = HMMOracle()
        texts = oracle.sample(100, seed=4321)
        total, count = lm_sequence_nll(b.model, [[BOS] + b.tokenizer.encode(t).ids for t in texts])
        oracle_nll = sum(-oracle.log_prob(t) for t in texts) / sum(len(t) for t in texts)
        assert total / count <= 1.12 * oracle_nll
