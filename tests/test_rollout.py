"""engine.rollout, the one free-running loop: greedy = argmax step by step, seeds, gradients, the
special-token rule, batched = one at a time, per-row lengths, kept hidden states and log-probs."""
import pytest
import torch

from engine.models import build_model
import copy

from engine.models.base import SeqModel, StepOutput
from engine.rollout import end_ids, never_emit_ids, rollout
from engine.tokenizer import BOS, EOS, PAD, UNK, Tokenizer

TOK = Tokenizer.train_char(["abcdefgh0123"])
V = TOK.vocab_size


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """One torch thread (see conftest.one_torch_thread)."""


def model(arch):
    torch.manual_seed(0)
    cfg = {"gru-attn": {"d_emb": 16, "d_hidden": 24, "d_attn": 16, "dropout": 0.0},
           "transformer": {"d_model": 32, "n_layers": 1, "n_dec_layers": 2, "n_heads": 4, "d_ff": 64, "dropout": 0.0},
           "gpt": {"d_model": 32, "n_layers": 2, "n_heads": 4, "d_ff": 64, "dropout": 0.0, "max_len": 40}}[arch]
    m = build_model(arch, {"vocab_size": V, **cfg})
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)                       # peaked distributions: <eos> comes at different steps
    return m.eval()


def inputs(m, texts):
    """Keyword arguments of rollout for some texts: sources (seq2seq) or left-padded prompts (LM)."""
    ids = [TOK.encode(t).ids for t in texts]
    if m.is_encoder_decoder:
        width = max(len(x) for x in ids)
        src = torch.tensor([x + [PAD] * (width - len(x)) for x in ids])
        return {"src": src, "src_mask": src != PAD}
    rows = [[BOS] + x for x in ids]
    width = max(len(x) for x in rows)
    prompt = torch.tensor([[PAD] * (width - len(x)) + x for x in rows])
    mask = torch.tensor([[False] * (width - len(x)) + [True] * len(x) for x in rows])
    return {"prompt": prompt, "prompt_mask": mask}


TEXTS = ["abc", "h0h0h123", "e"]
ARCHS = ["gru-attn", "transformer", "gpt"]


def test_never_emit_ids():
    assert never_emit_ids(TOK) == sorted([PAD, BOS, UNK]) and EOS not in never_emit_ids(TOK)
    assert tuple(never_emit_ids(TOK)) == TOK.never_emit and end_ids(TOK) == (EOS,)
    assert (TOK.bos_id, TOK.decoder_start_id, TOK.eos_id, TOK.pad_id, TOK.unk_id) == (BOS, BOS, EOS, PAD, UNK)
    assert TOK.prepend_bos and TOK.special_ids == {PAD, BOS, EOS, UNK}


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_is_the_argmax_step_by_step(arch):
    m = model(arch)
    for text in TEXTS:
        r = rollout(m, TOK, **inputs(m, [text]), max_new=12)
        kw = inputs(m, [text])
        if m.is_encoder_decoder:
            state, _ = m.start(kw["src"], kw["src_mask"])
            seq = [BOS]
        else:
            state, _ = m.start(batch_size=1)
            seq = kw["prompt"][0].tolist()
        out, fed = [], seq
        for _ in range(12):
            o = m.decode(torch.tensor([fed]), state)
            state = o.state
            logits = o.logits[0, -1].index_fill(0, torch.tensor(never_emit_ids(TOK)), float("-inf"))
            nxt = int(logits.argmax())
            out.append(nxt)
            if nxt == EOS:
                break
            fed = [nxt]
        n = int(r.lengths[0])
        assert r.tokens[0, :n].tolist() == out and (r.tokens[0, n:] == PAD).all()
        assert r.logprobs[0, :n].tolist() == pytest.approx(r.raw_logprobs[0, :n].tolist())


@pytest.mark.parametrize("arch", ARCHS)
def test_same_seed_same_samples(arch):
    m = model(arch)
    run = lambda seed: rollout(m, TOK, **inputs(m, TEXTS), max_new=10, rows_per_input=3, sample=True,  # noqa: E731
                               generators=[torch.Generator().manual_seed(seed) for _ in TEXTS])
    a, b, c = run(5), run(5), run(6)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.logprobs, b.logprobs)
    assert not torch.equal(a.tokens, c.tokens)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_flow_through_the_log_probs(arch):
    m = model(arch)
    r = rollout(m, TOK, **inputs(m, TEXTS), max_new=8, rows_per_input=2, sample=True,
                generators=torch.Generator().manual_seed(0), temperature=1.5)
    assert r.logprobs.requires_grad
    r.logprobs.sum().backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    # the log-probs are those of a teacher-forced pass over the sampled tokens (at the temperature)
    with torch.no_grad():
        r2 = rollout(m, TOK, **inputs(m, TEXTS), max_new=8, rows_per_input=2, sample=True,
                     generators=torch.Generator().manual_seed(0), temperature=1.5, keep_logp=True)
    assert torch.equal(r2.tokens, r.tokens)
    live = r2.tokens != PAD
    raw = r2.step_logp.gather(2, r2.tokens[..., None])[..., 0].masked_fill(~live, 0.0)
    hot = (r2.step_logp / 1.5).log_softmax(-1).gather(2, r2.tokens[..., None])[..., 0].masked_fill(~live, 0.0)
    assert torch.allclose(raw, r2.raw_logprobs, atol=1e-5) and torch.allclose(hot, r.logprobs.detach(), atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_special_ids_are_never_emitted(arch):
    m = model(arch)
    head = m.out if arch == "gru-attn" else m.head
    with torch.no_grad():                          # make <pad>, <bos>, <unk> the model's favourites
        if head.bias is not None:
            head.bias[never_emit_ids(TOK)] += 50.0
        else:
            head.weight[never_emit_ids(TOK)] *= 20.0
    for sample in (False, True):
        r = rollout(m, TOK, **inputs(m, TEXTS), max_new=10, rows_per_input=4, sample=sample,
                    generators=[torch.Generator().manual_seed(1) for _ in TEXTS], keep_logp=True)
        for row, n in zip(r.tokens.tolist(), r.lengths.tolist()):
            assert not set(row[:n]) & {PAD, BOS, UNK}
        assert torch.isneginf(r.step_logp[..., never_emit_ids(TOK)]).all()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("sample", [False, True])
def test_batched_equals_one_at_a_time(arch, sample):
    m = model(arch)
    gens = lambda k: [torch.Generator().manual_seed(7 + i) for i in k]  # noqa: E731
    batch = rollout(m, TOK, **inputs(m, TEXTS), max_new=[9, 5, 7], rows_per_input=2, sample=sample,
                    generators=gens(range(len(TEXTS))), keep_hidden=True)
    for i, (text, limit) in enumerate(zip(TEXTS, [9, 5, 7])):
        one = rollout(m, TOK, **inputs(m, [text]), max_new=limit, rows_per_input=2, sample=sample,
                      generators=gens([i]), keep_hidden=True)
        rows = slice(2 * i, 2 * i + 2)
        assert batch.lengths[rows].tolist() == one.lengths.tolist()
        assert max(one.lengths.tolist()) <= limit
        L = one.tokens.shape[1]
        assert batch.tokens[rows, :L].tolist() == one.tokens.tolist() and (batch.tokens[rows, L:] == PAD).all()
        torch.testing.assert_close(batch.logprobs[rows, :L], one.logprobs, atol=1e-5, rtol=1e-4)
        for j, n in enumerate(one.lengths.tolist()):
            torch.testing.assert_close(batch.hidden[2 * i + j, :n], one.hidden[j, :n], atol=1e-5, rtol=1e-4)


def test_processor_forced_tokens_and_on_step():
    m = model("gpt")
    digits = [TOK.encode(d).ids[0] for d in "0123"]
    seen, steps = [], []

    def no_digits(scores, ctx):                  # a decoding rule: digits are removed
        seen.append((ctx.step, ctx.tokens.shape[1], bool(ctx.live.all())))
        return scores.index_fill(1, torch.tensor(digits), float("-inf"))

    r = rollout(m, TOK, **inputs(m, ["abc"]), max_new=6, processor=no_digits, forced=[{2: digits[0]}],
                on_step=lambda t, out, raw, chosen, live: steps.append((t, chosen.tolist())))
    n = int(r.lengths[0])
    assert r.tokens[0, 2] == digits[0] and r.logprobs[0, 2] == float("-inf")   # forced past the rule
    assert not set(r.tokens[0, :n].tolist()) & set(digits[1:])
    assert [s[0] for s in steps] == list(range(n)) and [s[1][0] for s in steps] == r.tokens[0, :n].tolist()
    assert seen[0] == (0, 0, True) and seen[1][1] == 1


class Wide(SeqModel):
    """A seqscope model behind a wrapper: logits `extra` ids wider than the tokenizer (a padded
    vocabulary), the extra ids made the favourites; records the first decoder input it is fed."""

    def __init__(self, inner, extra: int):
        super().__init__()
        self.inner, self.extra, self.fed = inner, extra, []
        self.is_encoder_decoder = inner.is_encoder_decoder

    @property
    def max_len(self):
        return self.inner.max_len

    def describe(self):
        return self.inner.describe()

    def start(self, *a, **kw):
        return self.inner.start(*a, **kw)

    def expand_state(self, state, n):
        return self.inner.expand_state(state, n)

    def decode(self, input_ids, state, input_mask=None, output_attentions=False, hooks=()):
        self.fed.append(input_ids[:, 0].tolist())
        out = self.inner.decode(input_ids, state, input_mask)
        big = torch.full((*out.logits.shape[:-1], self.extra), 100.0)
        return StepOutput(torch.cat([out.logits, big], -1), out.hidden, out.state, out.hooks)


def roles(**changes):
    tok = copy.copy(TOK)
    for k, v in changes.items():
        setattr(tok, k, v)
    return tok


@pytest.mark.parametrize("arch", ARCHS)
def test_only_the_tokenizer_roles_decide(arch):
    """Padded logits are never chosen; a seq2seq run starts from decoder_start_id; a run stops at any
    of eos_ids, and without an end token runs to max_new; never_emit () lets <pad>/<bos>/<unk> through."""
    m = model(arch)
    wide = Wide(m, 3)
    r = rollout(wide, TOK, **inputs(m, TEXTS), max_new=6, rows_per_input=2, sample=True,
                generators=torch.Generator().manual_seed(0), keep_logp=True)
    assert int(r.tokens.max()) < V and r.step_logp.shape[-1] == V
    plain = rollout(m, TOK, **inputs(m, TEXTS), max_new=6)
    assert torch.equal(rollout(Wide(m, 3), TOK, **inputs(m, TEXTS), max_new=6).tokens, plain.tokens)
    if m.is_encoder_decoder:
        start = TOK.encode("h").ids[0]
        rollout(wide, roles(decoder_start_id=start), **inputs(m, TEXTS), max_new=2)
        assert wide.fed[-2] == [start] * len(TEXTS)
    n = int(plain.lengths.max())
    no_end = rollout(m, roles(eos_id=None, eos_ids=()), **inputs(m, TEXTS), max_new=n + 3)
    assert no_end.lengths.tolist() == [n + 3] * len(TEXTS)
    first = plain.tokens[0, 0].item()
    two = rollout(m, roles(eos_ids=(EOS, first)), **inputs(m, TEXTS), max_new=6)
    assert two.lengths[0] == 1
    for row, k in zip(two.tokens.tolist(), two.lengths.tolist()):
        assert not {EOS, first} & set(row[:k - 1]) and (k == 6 or row[k - 1] in (EOS, first))
    head = m.out if arch == "gru-attn" else m.head
    with torch.no_grad():
        if head.bias is not None:
            head.bias[PAD] += 50.0
        else:
            head.weight[PAD] *= 20.0
    free = rollout(m, roles(never_emit=()), **inputs(m, TEXTS), max_new=4)
    assert (free.tokens[:, 0] == PAD).any()
