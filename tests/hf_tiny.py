"""Tiny random Hugging Face models, built in a test's tmp folder (no network, no download).

Each helper writes a folder that `engine.load("hf:" + folder)` and `transformers`' `from_pretrained`
both open: a model built from a `transformers` config class with random weights (`save_pretrained`,
safetensors) and a tokenizer built with the `tokenizers` library, saved as a PreTrainedTokenizerFast.

    make_gpt2(tmp_path)       GPT-2 style: byte-level BPE ("Ġ", "Ċ"), bos = eos = unk = <|endoftext|>, no pad
    make_llama(tmp_path)      Llama style: SentencePiece-style "▁" pieces with byte fallback (<0xE2>...),
                              <unk> 0, <s> 1 (prepended by the tokenizer), </s> 2, no pad
    make_seq2seq(tmp_path)    an encoder-decoder: arch="marian" (default; "▁" pieces, </s> 0, <unk> 1,
                              <pad> last = decoder start), "bart" (byte-level, <s> 0, <pad> 1, </s> 2 = decoder
                              start, <unk> 3) or "t5" (relative positions; <pad> 0 = decoder start, </s> 1, <unk> 2)

    make_marian_spm(tmp_path) Marian as opus-mt ships it: source.spm / target.spm + vocab.json, no
                              tokenizer.json (the SentencePiece MarianTokenizer; needs `sentencepiece`)

`pad_vocab=N` makes the model's vocabulary N ids wider than the tokenizer's (a padded vocabulary).
Every helper returns the folder (a pathlib.Path); `seed` fixes the weights. The folder name defaults
to the style, so two calls in one tmp_path need different `name`s.
"""
from __future__ import annotations

from pathlib import Path

CORPUS = [
    "the cat sat on the mat and the dog sat on the log",
    "a quick brown fox jumps over the lazy dog",
    "hello world, hello there. the world is small",
    "she sells sea shells by the sea shore",
    "to be or not to be, that is the question",
    "one two three four five six seven eight nine ten",
    "the rain in spain stays mainly in the plain",
    "Peter Piper picked a peck of pickled peppers",
    "translate this sentence into another language please",
    "good morning, good evening and good night",
]

TINY = {"hidden": 32, "layers": 2, "heads": 4, "ffn": 64, "positions": 64}


def _trained_bpe(pre_tokenizer, specials: list[str], vocab_size: int, alphabet=()):
    """A BPE tokenizer trained on CORPUS: (vocab dict, merges list)."""
    import json

    from tokenizers import Tokenizer, models, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=list(alphabet),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    data = json.loads(tok.to_str())
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["model"]["merges"]]
    return data["model"]["vocab"], merges


def _save_tokenizer(tok, folder: Path, **specials) -> None:
    import transformers
    from transformers import PreTrainedTokenizerFast
    transformers.utils.logging.disable_progress_bar()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **specials)
    fast.save_pretrained(folder)


def _seeded(seed: int):
    import torch
    import transformers
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(seed)


def gpt2_tokenizer():
    """Byte-level BPE in the style of GPT-2 (a `tokenizers.Tokenizer`; <|endoftext|> is id 0)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    vocab, merges = _trained_bpe(byte_level, ["<|endoftext|>"], 400, pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def make_gpt2(tmp_path, *, pad_vocab: int = 0, seed: int = 0, name: str = "gpt2-tiny", n_positions: int = 64) -> Path:
    """GPT-2 style causal LM: bos = eos = unk = <|endoftext|> (id 0), no pad token."""
    from transformers import GPT2Config, GPT2LMHeadModel
    folder = Path(tmp_path) / name
    tok = gpt2_tokenizer()
    eot = tok.token_to_id("<|endoftext|>")
    _save_tokenizer(tok, folder, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    cfg = GPT2Config(vocab_size=tok.get_vocab_size() + pad_vocab, n_positions=n_positions, n_embd=TINY["hidden"],
                     n_layer=TINY["layers"], n_head=TINY["heads"], n_inner=TINY["ffn"], bos_token_id=eot,
                     eos_token_id=eot)
    _seeded(seed)
    GPT2LMHeadModel(cfg).eval().save_pretrained(folder)
    return folder


def llama_tokenizer():
    """SentencePiece-style BPE in the style of Llama 2: "▁" for spaces, byte fallback to <0x00>..<0xFF>,
    <unk> 0, <s> 1, </s> 2; encode prepends <s> (a post-processor, as the real tokenizer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    meta = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    trained, merges = _trained_bpe(pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first"),
                                   [], 200)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(trained.items(), key=lambda kv: kv[1]):
        vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = meta
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    return tok


def make_llama(tmp_path, *, pad_vocab: int = 0, seed: int = 0, name: str = "llama-tiny") -> Path:
    """Llama style causal LM (rotary positions, RMSNorm, gated MLP, 2 key/value heads for 4 query heads)."""
    from transformers import LlamaConfig, LlamaForCausalLM
    folder = Path(tmp_path) / name
    tok = llama_tokenizer()
    _save_tokenizer(tok, folder, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size() + pad_vocab, hidden_size=TINY["hidden"],
                      intermediate_size=TINY["ffn"], num_hidden_layers=TINY["layers"],
                      num_attention_heads=TINY["heads"], num_key_value_heads=2,
                      max_position_embeddings=TINY["positions"], bos_token_id=1, eos_token_id=2, pad_token_id=None,
                      tie_word_embeddings=False)
    _seeded(seed)
    LlamaForCausalLM(cfg).eval().save_pretrained(folder)
    return folder


def _metaspace_tokenizer(specials: list[str], eos: str, pad_last: str = ""):
    """SentencePiece-style BPE ("▁" pieces, no byte fallback), `specials` first, `pad_last` as the last id;
    encode appends `eos` (as Marian's and T5's tokenizers do)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    meta = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    trained, merges = _trained_bpe(meta, [], 200)
    vocab = {s: i for i, s in enumerate(specials)}
    for piece, _ in sorted(trained.items(), key=lambda kv: kv[1]):
        vocab.setdefault(piece, len(vocab))
    if pad_last:
        vocab[pad_last] = len(vocab)
    unk = "<unk>" if "<unk>" in vocab else None
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk))
    tok.pre_tokenizer = meta
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single=f"$A {eos}", pair=f"$A $B {eos}",
                                                       special_tokens=[(eos, vocab[eos])])
    tok.add_special_tokens(specials + ([pad_last] if pad_last else []))
    return tok


def _bart_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab, merges = _trained_bpe(byte_level, specials, 400, pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(specials)
    return tok


def make_seq2seq(tmp_path, *, arch: str = "marian", pad_vocab: int = 0, seed: int = 0, name: str = "") -> Path:
    """An encoder-decoder translation-style model: arch "marian" (default), "bart" or "t5"."""
    import transformers as tf
    folder = Path(tmp_path) / (name or f"{arch}-tiny")
    d, L, H, F, P = TINY["hidden"], TINY["layers"], TINY["heads"], TINY["ffn"], TINY["positions"]
    if arch == "marian":
        tok = _metaspace_tokenizer(["</s>", "<unk>"], "</s>", pad_last="<pad>")
        pad = tok.token_to_id("<pad>")
        _save_tokenizer(tok, folder, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
        cfg = tf.MarianConfig(vocab_size=tok.get_vocab_size() + pad_vocab, d_model=d, encoder_layers=L,
                              decoder_layers=L, encoder_attention_heads=H, decoder_attention_heads=H,
                              encoder_ffn_dim=F, decoder_ffn_dim=F, max_position_embeddings=P, pad_token_id=pad,
                              eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0, bos_token_id=None,
                              share_encoder_decoder_embeddings=True)
        cls = tf.MarianMTModel
    elif arch == "bart":
        tok = _bart_tokenizer()
        _save_tokenizer(tok, folder, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
        cfg = tf.BartConfig(vocab_size=tok.get_vocab_size() + pad_vocab, d_model=d, encoder_layers=L,
                            decoder_layers=L, encoder_attention_heads=H, decoder_attention_heads=H,
                            encoder_ffn_dim=F, decoder_ffn_dim=F, max_position_embeddings=P, bos_token_id=0,
                            pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2)
        cls = tf.BartForConditionalGeneration
    elif arch == "t5":
        tok = _metaspace_tokenizer(["<pad>", "</s>", "<unk>"], "</s>")
        _save_tokenizer(tok, folder, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
        cfg = tf.T5Config(vocab_size=tok.get_vocab_size() + pad_vocab, d_model=d, d_kv=d // H, d_ff=F,
                          num_layers=L, num_decoder_layers=L, num_heads=H, pad_token_id=0, eos_token_id=1,
                          decoder_start_token_id=0, relative_attention_num_buckets=8)
        cls = tf.T5ForConditionalGeneration
    else:
        raise ValueError(f"arch must be marian, bart or t5, got {arch!r}")
    _seeded(seed)
    cls(cfg).eval().save_pretrained(folder)
    return folder


MAKERS = {"gpt2": make_gpt2, "llama": make_llama, "marian": make_seq2seq,
          "bart": lambda tmp, **kw: make_seq2seq(tmp, arch="bart", **kw),
          "t5": lambda tmp, **kw: make_seq2seq(tmp, arch="t5", **kw)}


TARGET_CORPUS = [
    "die katze sass auf der matte und der hund sass auf dem holz",
    "ein schneller brauner fuchs springt ueber den faulen hund",
    "hallo welt, hallo da. die welt ist klein",
    "sein oder nicht sein, das ist die frage",
    "eins zwei drei vier fuenf sechs sieben acht neun zehn",
    "guten morgen, guten abend und gute nacht",
]


def make_marian_spm(tmp_path, *, seed: int = 0, name: str = "marian-spm") -> Path:
    """A Marian model laid out as the real Helsinki-NLP/opus-mt folders are: two SentencePiece models
    (source.spm trained on CORPUS, target.spm on TARGET_CORPUS), one joint vocab.json (</s> 0, <unk> 1,
    <pad> last = decoder start) and NO tokenizer.json, so transformers opens it with the SentencePiece
    (slow) MarianTokenizer, which gives no offsets and encodes targets with the target model."""
    import json

    import sentencepiece as spm
    import transformers as tf
    folder = Path(tmp_path) / name
    folder.mkdir(parents=True)
    pieces: list[str] = []
    for side, corpus in (("source", CORPUS), ("target", TARGET_CORPUS)):
        spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus * 20), model_prefix=str(folder / side),
                                       vocab_size=60, hard_vocab_limit=False, model_type="unigram",
                                       character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
                                       minloglevel=2)
        (folder / f"{side}.model").rename(folder / f"{side}.spm")
        (folder / f"{side}.vocab").unlink()
        sp = spm.SentencePieceProcessor(model_file=str(folder / f"{side}.spm"))
        pieces += [sp.id_to_piece(i) for i in range(1, sp.get_piece_size())]
    vocab = {"</s>": 0, "<unk>": 1}
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    import warnings
    with warnings.catch_warnings():     # "Recommended: pip install sacremoses"
        warnings.simplefilter("ignore", UserWarning)
        tok = tf.MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"),
                                 str(folder / "vocab.json"), source_lang="en", target_lang="de")
    tok.save_pretrained(folder)
    (folder / "tokenizer.json").unlink(missing_ok=True)
    d, L, H, F, P = TINY["hidden"], TINY["layers"], TINY["heads"], TINY["ffn"], TINY["positions"]
    pad = vocab["<pad>"]
    cfg = tf.MarianConfig(vocab_size=len(vocab), d_model=d, encoder_layers=L, decoder_layers=L,
                          encoder_attention_heads=H, decoder_attention_heads=H, encoder_ffn_dim=F, decoder_ffn_dim=F,
                          max_position_embeddings=P, pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad,
                          forced_eos_token_id=0, bos_token_id=None, share_encoder_decoder_embeddings=True)
    _seeded(seed)
    tf.MarianMTModel(cfg).eval().save_pretrained(folder)
    return folder
