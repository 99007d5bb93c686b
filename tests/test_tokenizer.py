import pytest

from engine.tokenizer import BOS, EOS, UNK, Tokenizer


def test_char_round_trip_and_unknown():
    tok = Tokenizer.train_char(["March 3, 2021", "2021-03-03"])
    text = "March 3, 2021"
    enc = tok.encode(text)
    assert enc.tokens == list(text)
    assert tok.decode(enc.ids) == text
    assert tok.decode([BOS] + enc.ids + [EOS] + enc.ids) == text   # stops at <eos>
    enc = tok.encode("Maxch")
    assert enc.ids[2] == UNK and enc.unknown == ["x"]
    assert tok.decode(enc.ids) == "Ma\ufffdch"


def test_bpe_round_trip_and_json():
    texts = ["The quick brown fox jumps over the lazy dog."] * 20 + ["A function is an object."] * 20
    tok = Tokenizer.train_bpe(texts, vocab_size=120)
    assert tok.kind == "bpe" and tok.vocab_size <= 120
    for t in ["The quick fox is a function.", "over the  dog"]:
        assert tok.decode(tok.encode(t).ids) == t
    again = Tokenizer.from_json(tok.to_json())
    assert again.kind == "bpe"
    assert again.encode("The lazy dog").ids == tok.encode("The lazy dog").ids
    assert "".join(tok.token_str(i) for i in tok.encode(" the dog").ids) == " the dog"
    ids = tok.encode(" the dog").ids
    assert tok.decode(ids) == "the dog" and tok.decode(ids, keep_leading_space=True) == " the dog"
    assert tok.decode(ids + [UNK] + ids, keep_leading_space=True) == " the dog\ufffd the dog"


def test_bad_tokenizer_json():
    with pytest.raises(ValueError, match="not a valid tokenizer JSON"):
        Tokenizer.from_json("{not json", source="x.json")


@pytest.mark.parametrize("text", ["\ud800", "ab\udcffc", "a\x00b"])
def test_text_that_is_not_valid_unicode_is_refused_in_one_line(text):
    """An unpaired surrogate (bytes that were not UTF-8) reached the tokenizer: 'TextInputSequence must be
    str' (found by the fuzz suite); now every entry point refuses it with one line."""
    import engine
    from engine.tokenizer import check_text
    with pytest.raises(ValueError) as e:
        check_text(text)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="NUL|not valid Unicode"):
        engine.generate("addition-gru", text)
    with pytest.raises(ValueError, match="NUL|not valid Unicode"):
        engine.generate_batch("text-gpt", ["fine", text])
    with pytest.raises(ValueError, match="NUL|not valid Unicode"):
        engine.load("addition-gru").tokenizer.encode(text)
