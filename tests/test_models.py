"""Shapes, masks, cached = full recomputation (beam reordering included), explicit = fast path."""
import pytest
import torch

from engine.models import build_model, expand_state

ARCH_CONFIGS = {
    "gru-attn": {"d_emb": 16, "d_hidden": 24, "d_attn": 20},
    "gru-noattn": {"d_emb": 16, "d_hidden": 24},
    "transformer": {"d_model": 32, "n_layers": 2, "n_dec_layers": 2, "n_heads": 4, "d_ff": 64},
    "transformer-untied": {"d_model": 32, "n_layers": 1, "n_dec_layers": 2, "n_heads": 2, "d_ff": 64,
                           "tie_embeddings": False},
    "transformer-rope": {"d_model": 32, "n_layers": 2, "n_dec_layers": 1, "n_heads": 4, "d_ff": 64,
                         "src_positions": "rope"},
    "gpt": {"d_model": 32, "n_layers": 2, "n_heads": 4, "d_ff": 64, "max_len": 32},
}
V = 17


def make(name):
    torch.manual_seed(0)
    arch = name.replace("-untied", "").replace("-rope", "")
    return build_model(arch, {"vocab_size": V, **ARCH_CONFIGS[name]}).eval()


def start(m, b=3, s=7):
    g = torch.Generator().manual_seed(1)
    if not m.is_encoder_decoder:
        return m.start(batch_size=b)[0], None
    src = torch.randint(4, V, (b, s), generator=g)
    mask = torch.ones(b, s, dtype=torch.bool)
    mask[1, 4:] = False  # a padded source
    return m.start(src, mask)[0], mask


@pytest.mark.parametrize("name", list(ARCH_CONFIGS))
def test_shapes_and_incremental_equals_full(name):
    m = make(name)
    state, _ = start(m)
    tgt = torch.randint(4, V, (3, 6), generator=torch.Generator().manual_seed(2))
    full = m.decode(tgt, state, output_attentions=True)
    assert full.logits.shape == (3, 6, V)
    assert full.hidden.shape[:2] == (3, 6)
    s, logits, hidden = state, [], []
    for t in range(6):
        o = m.decode(tgt[:, t:t + 1], s)
        s = o.state
        logits.append(o.logits)
        hidden.append(o.hidden)
    torch.testing.assert_close(torch.cat(logits, 1), full.logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.cat(hidden, 1), full.hidden, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", list(ARCH_CONFIGS))
def test_explicit_attention_equals_fast_path(name):
    m = make(name)
    state, _ = start(m)
    tgt = torch.randint(4, V, (3, 5), generator=torch.Generator().manual_seed(3))
    a = m.decode(tgt, state, output_attentions=True)
    b = m.decode(tgt, state, output_attentions=False)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-4)
    assert b.self_attn is None and b.cross_attn is None


@pytest.mark.parametrize("name", list(ARCH_CONFIGS))
def test_attention_rows_sum_to_one_and_masks_hold(name):
    m = make(name)
    state, src_mask = start(m)
    tgt = torch.randint(4, V, (3, 5), generator=torch.Generator().manual_seed(4))
    o = m.decode(tgt, state, output_attentions=True)
    if m.has_self_attention:
        assert len(o.self_attn) == len(m.blocks)
        for w in o.self_attn:
            assert w.shape[:3] == (3, m.blocks[0].self_attn.n_heads, 5)
            torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))
            upper = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
            assert float(w[..., upper].detach().abs().max()) == 0.0, "causal mask leaked the future"
    else:
        assert o.self_attn is None
    if m.has_cross_attention:
        for w in o.cross_attn:
            torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))
            assert float(w[1, ..., 4:].detach().abs().max()) == 0.0, "attended to source padding"
    else:
        assert o.cross_attn is None


@pytest.mark.parametrize("name", list(ARCH_CONFIGS))
def test_beam_reorder_equals_recomputation(name):
    m = make(name)
    state, _ = start(m, b=2)
    state = expand_state(state, 3)                       # 2 sources x 3 beams
    g = torch.Generator().manual_seed(5)
    seqs = torch.randint(4, V, (6, 1), generator=g)
    s = state
    o = m.decode(seqs, s)
    s = o.state
    for _ in range(4):
        order = torch.randint(0, 3, (6,), generator=g) + torch.arange(6) // 3 * 3   # reorder within a source
        nxt = torch.randint(4, V, (6, 1), generator=g)
        seqs = torch.cat([seqs[order], nxt], 1)
        s = m.reorder_state(s, order)
        o = m.decode(nxt, s)
        s = o.state
    full = m.decode(seqs, state).logits[:, -1]
    torch.testing.assert_close(o.logits[:, -1], full, atol=1e-5, rtol=1e-4)


def test_gpt_left_padding_matches_unpadded():
    m = make("gpt")
    short = torch.tensor([[1, 5, 6]])
    padded = torch.tensor([[0, 0, 1, 5, 6]])
    mask = torch.tensor([[False, False, True, True, True]])
    a = m.decode(short, m.start(batch_size=1)[0]).logits[:, -1]
    o = m.decode(padded, m.start(batch_size=1)[0], input_mask=mask)
    torch.testing.assert_close(o.logits[:, -1], a, atol=1e-5, rtol=1e-4)
    nxt = torch.tensor([[7]])
    a2 = m.decode(torch.cat([short, nxt], 1), m.start(batch_size=1)[0]).logits[:, -1]
    torch.testing.assert_close(m.decode(nxt, o.state).logits[:, -1], a2, atol=1e-5, rtol=1e-4)


def test_too_long_inputs_are_refused():
    m = make("gpt")
    with pytest.raises(ValueError, match="context of 32"):
        m.decode(torch.ones(1, 40, dtype=torch.long), m.start(batch_size=1)[0])
    t = make("transformer")
    with pytest.raises(ValueError, match="longer"):
        t.start(torch.ones(1, 100, dtype=torch.long))


def test_rope_encoder_depends_on_offsets_not_on_where_the_source_starts():
    src = torch.tensor([[5, 9, 4, 11, 7]])
    shifted = torch.cat([torch.full((1, 3), 6), src], 1)            # 3 masked tokens in front
    mask = torch.tensor([[False] * 3 + [True] * 5])
    for name, same in (("transformer-rope", True), ("transformer", False)):
        m = make(name)
        a = m.start(src)[0]["ck0"]
        b = m.start(shifted, mask)[0]["ck0"][:, :, 3:]
        assert torch.allclose(a, b, atol=1e-5) == same, name


def test_unknown_arch_and_bad_config():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("lstm", {"vocab_size": 5})
    with pytest.raises(ValueError, match="src_positions"):
        build_model("transformer", {"vocab_size": 5, "src_positions": "alibi"})
    with pytest.raises(ValueError, match="bad config"):
        build_model("gpt", {"vocab_size": 5, "n_layerz": 2})


# -- named hook points ----------------------------------------------------------------------------

HOOKS = {
    "gru-attn": ["attn.cross.0", "hidden.final"],
    "gru-noattn": ["hidden.final"],
    "transformer": ["attn.encoder.0", "attn.encoder.1", "attn.self.0", "attn.self.1", "key_mask", "attn.cross.0",
                    "attn.cross.1", "hidden.final"],
    "gpt": ["attn.self.0", "attn.self.1", "key_mask", "hidden.final"],
}


@pytest.mark.parametrize("name", list(HOOKS))
def test_hook_names_and_describe(name):
    m = make(name)
    assert m.hook_names == HOOKS[name]
    d = m.describe()
    assert d["is_encoder_decoder"] == m.is_encoder_decoder and d["max_len"] == m.max_len
    assert d["has_self_attention"] == m.has_self_attention and d["has_cross_attention"] == m.has_cross_attention
    assert set(d) == {"is_encoder_decoder", "n_layers", "n_heads", "n_encoder_layers", "has_self_attention",
                      "has_cross_attention", "max_len"}


@pytest.mark.parametrize("name", list(ARCH_CONFIGS))
def test_hooks_report_what_was_asked_for(name):
    m = make(name)
    names = m.hook_names
    state, _ = start(m)
    tgt = torch.randint(4, V, (3, 4), generator=torch.Generator().manual_seed(6))
    every = m.decode(tgt, state, output_attentions=True)
    for one in names:
        if one.startswith("attn.encoder"):
            continue
        o = m.decode(tgt, state, hooks=[one])
        assert set(o.hooks) == {one}
        torch.testing.assert_close(o.logits, every.logits, atol=1e-5, rtol=1e-4)
        if one.startswith("attn."):
            torch.testing.assert_close(o.hooks[one], every.hooks[one])
    o = m.decode(tgt, state, hooks=["hidden.final", *(["key_mask"] if "key_mask" in names else [])])
    assert o.hooks["hidden.final"] is o.hidden
    if "key_mask" in names:
        assert torch.equal(o.hooks["key_mask"], o.state["key_mask"])
    assert m.decode(tgt, state).hooks == {}
    if m.is_encoder_decoder:
        src = torch.randint(4, V, (2, 5), generator=torch.Generator().manual_seed(7))
        enc = [n for n in names if n.startswith("attn.encoder")]
        _, found = m.start(src, hooks=enc)
        assert sorted(found) == enc and all(w.shape == (2, m.describe()["n_heads"], 5, 5) for w in found.values())
        assert sorted(m.start(src, output_attentions=True)[1]) == enc
    with pytest.raises(ValueError, match="unknown hook point"):
        m.decode(tgt, state, hooks=["attn.self.9"])
