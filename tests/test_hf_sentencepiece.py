"""A Marian model as the real opus-mt folders ship it: two SentencePiece models, a joint vocab.json and
no tokenizer.json (tests/hf_tiny.make_marian_spm). transformers opens it with the slow MarianTokenizer,
which returns no offsets (an encode used to fail with KeyError 'offset_mapping') and encodes decoder-side
text with the *target* SentencePiece model (a reference target used to go through the source model)."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

import engine  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import hf_tiny  # noqa: E402

SOURCES = ["the cat sat on the mat", "hello world"]
TARGET = "die katze sass auf der matte"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = hf_tiny.make_marian_spm(tmp_path_factory.mktemp("spm"))
    assert not (folder / "tokenizer.json").exists() and (folder / "source.spm").exists()
    return engine.load(f"hf:{folder}")


def test_opens_with_the_sentencepiece_tokenizer(bundle):
    tok = bundle.tokenizer
    assert type(tok.hf).__name__ == "MarianTokenizer"
    assert tok.style == "sentencepiece"
    assert (tok.eos_id, tok.unk_id, tok.decoder_start_id) == (0, 1, tok.pad_id) and tok.pad_id == tok.vocab_size - 1


def test_source_and_target_encode_as_transformers(bundle):
    tok = bundle.tokenizer
    for text in SOURCES:
        assert tok.encode(text).ids == tok.hf(text)["input_ids"]
    target = tok.encode(TARGET, add_special_tokens=False).ids
    assert target == tok.hf(text_target=TARGET, add_special_tokens=False)["input_ids"]
    # the two SentencePiece models split differently: the target went through the target model
    assert target != tok.hf(TARGET, add_special_tokens=False)["input_ids"]
    assert tok.decode(target) == TARGET
    assert "".join(tok.token_str(i) for i in target).strip() == TARGET


def test_greedy_and_beam_match_generate(bundle):
    hf = bundle.model.hf
    tok = bundle.tokenizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for text in SOURCES:
            ids = torch.tensor([tok.encode(text).ids])
            for cfg in ({"max_new_tokens": 10}, {"max_new_tokens": 10, "num_beams": 3}):
                out = hf.generate(ids, do_sample=False, forced_eos_token_id=None, **cfg)
                theirs = [i for i in out[0].tolist()[1:] if i != tok.pad_id]
                trace = engine.generate(bundle, text, cfg, record=False)
                ours = trace.hypotheses[0]["token_ids"]
                assert ours == theirs[:len(ours)] and len(theirs) - len(ours) <= 1, (cfg, ours, theirs)


def test_teacher_forcing_on_a_reference_target(bundle):
    tok = bundle.tokenizer
    res = engine.compare_tf_fr(bundle, SOURCES[0], TARGET, {"max_new_tokens": 8})
    gold = tok.encode(TARGET, add_special_tokens=False).ids
    assert [r["ref_id"] for r in res.rows][:len(gold)] == gold
