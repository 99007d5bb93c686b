"""The two passes over n held-out examples, batched: teacher forced (TF: the gold prefix, one parallel
call) and free running (FR: greedy from the model's own prefix, through engine.rollout; for a language
model after a gold prompt), and the masks that say which positions each figure may use."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..batching import pad_batch, seq2seq_tensors
from ..models import SeqModel
from ..rollout import end_ids, model_device, never_emit_ids, rollout
from ..tokenizer import BOS, EOS, PAD, Tokenizer

NAN = float("nan")


@dataclass
class Inputs:
    """Decoder inputs of n examples: tin[:, :prompt] is given, positions prompt-1.. are predicted."""
    src: Optional[Tensor]
    smask: Optional[Tensor]
    tin: Tensor                      # [N, T] decoder input (BOS + gold ...)
    tout: Tensor                     # [N, T] gold next tokens (PAD = none)
    prompt: int                      # number of given input positions (1 = BOS only)
    refs: list[str]                  # reference texts of the predicted part
    sources: list[str]
    tok: Tokenizer                   # the model's tokenizer (the free runs' special-token rule)
    tmask: Optional[Tensor] = None   # [N, T] decoder input mask (left-padded prompts of user data); None: all real
    no_gold: int = PAD               # the id in tout that marks "no gold token" (user data: -1, never a model id)


def make_inputs(bundle, n: int = 1000, split: str = "test", prompt_len: int = 8, seed: int = 0) -> Inputs:
    """The first n examples of a split of the model's task, tokenised (LM: a gold prompt of prompt_len)."""
    from ..tasks import get_task
    task = get_task(bundle.task)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sizes = None
    if task.name in ("dates", "hmm") or task.name.startswith("addition"):
        sizes = {"train": 0, "valid": n if split == "valid" else 0, "test": n if split == "test" else 0}
    examples = task.splits(seed=seed, sizes=sizes)[split][:n]
    tok, model = bundle.tokenizer, bundle.model
    if model.is_encoder_decoder:
        pairs = [(e.src, e.tgt) for e in examples]
        src, smask, tin, tout = seq2seq_tensors(tok, pairs)
        return Inputs(src, smask, tin, tout, 1, [t for _, t in pairs], [s for s, _ in pairs], tok)
    seqs = [[BOS] + tok.encode(e.tgt).ids + [EOS] for e in examples]
    seqs = [s[: model.max_len + 1] for s in seqs if len(s) > prompt_len + 2]
    if not seqs:
        raise ValueError(f"no {split} example is longer than the prompt of {prompt_len} tokens")
    ids, mask = pad_batch(seqs)
    tin, tout = ids[:, :-1], ids[:, 1:].masked_fill(~mask[:, 1:], PAD)
    p = prompt_len + 1
    refs = [tok.decode(s[p:]) for s in seqs]
    return Inputs(None, None, tin, tout, p, refs, [tok.decode(s[1:p]) for s in seqs], tok)


def rows(inp: Inputs, index) -> tuple[Optional[Tensor], Optional[Tensor]]:
    """The encoder input (src, src_mask) of some examples (None, None for a language model)."""
    if inp.src is None:
        return None, None
    return inp.src[index], inp.smask[index]


def start(model: SeqModel, src: Optional[Tensor], smask: Optional[Tensor], n: int):
    """The decoder state before the first input token: the encoder pass, or an empty cache."""
    if model.is_encoder_decoder:
        return model.start(src, smask)[0]
    return model.start(batch_size=n)[0]


@torch.no_grad()
def tf_fr_pass(model: SeqModel, inp: Inputs, batch_size: int = 500, full: bool = False) -> dict:
    """Per example and generated position j (= decoder position prompt-1+j): gold token, TF log-prob of
    gold, TF argmax and confidence, FR greedy token, FR log-prob of gold, FR confidence, and the
    hidden-state distance ||h_FR - h_TF||. Batched over examples. FR values after a row's <eos> are NaN
    (the masks leave them out). full: also the whole distributions, "tf_logp" and "fr_logp" [N, G, V]
    (log-probabilities over the tokens a free run may emit; the oracle measures of the `hmm` task).
    The inputs go to the model's device; every result comes back as float32 (bfloat16 / float16 weights:
    the log-softmax is taken in float32, as `generate` does) on the CPU."""
    model.eval()
    dev = model_device(model)
    n, t = inp.tin.shape
    p = inp.prompt
    g = t - p + 1
    keys = ("tf_lp", "tf_arg", "tf_conf", "fr_tok", "fr_lp", "fr_conf", "drift")
    keys += ("tf_logp", "fr_logp") if full else ()
    never = torch.tensor(never_emit_ids(inp.tok), dtype=torch.long, device=dev)
    out = {k: [] for k in keys}
    for lo in range(0, n, batch_size):
        sl = slice(lo, lo + batch_size)
        tin, tout = inp.tin[sl].to(dev), inp.tout[sl]
        b = tin.shape[0]
        src, smask = (x.to(dev) if x is not None else None for x in rows(inp, sl))
        gold = tout[:, p - 1:].to(dev)
        # teacher forcing: one parallel call
        tmask = inp.tmask[sl].to(dev) if inp.tmask is not None else None
        o = model.decode(tin, start(model, src, smask, b), tmask)
        logits = o.logits[:, p - 1:].float()
        lp = logits.log_softmax(-1)
        h_tf = o.hidden[:, p - 1:].float()
        out["tf_lp"].append(lp.gather(-1, gold.clamp(min=0)[..., None]).squeeze(-1).cpu())
        conf, arg = lp.exp().max(-1)
        out["tf_arg"].append(arg.cpu())
        out["tf_conf"].append(conf.cpu())
        if full:
            out["tf_logp"].append(logits.index_fill(-1, never, float("-inf")).log_softmax(-1).cpu())
        # free running: greedy after the given prompt; at each step the log-prob of gold, the confidence
        # and the distance of the hidden state from the teacher-forced one
        lps, confs, drifts, dists = [], [], [], []

        def on_step(j, step_out, raw_logp, chosen, live):
            if full:
                dists.append(raw_logp.cpu())
            lps.append(raw_logp.gather(1, gold[:, j].clamp(min=0)[:, None]).squeeze(1).cpu())
            confs.append(raw_logp.max(-1).values.exp().cpu())
            drifts.append((step_out.hidden[:, -1].float() - h_tf[:, j]).norm(dim=-1).cpu())

        fr = rollout(model, inp.tok, src=src, src_mask=smask, prompt=tin[:, :p], max_new=g, on_step=on_step,
                     prompt_mask=tmask[:, :p] if tmask is not None else None)
        tokens, lengths = fr.tokens.cpu(), fr.lengths.cpu()
        steps = tokens.shape[1]
        ended = torch.arange(steps)[None, :] >= lengths[:, None]               # after the row's <eos>
        out["fr_tok"].append(F.pad(tokens.masked_fill(ended, inp.no_gold), (0, g - steps), value=inp.no_gold))
        for key, xs in (("fr_lp", lps), ("fr_conf", confs), ("drift", drifts)):
            out[key].append(F.pad(torch.stack(xs, 1).masked_fill(ended, NAN), (0, g - steps), value=NAN))
        if full:
            d = torch.stack(dists, 1).masked_fill(ended[..., None], NAN)
            out["fr_logp"].append(F.pad(d, (0, 0, 0, g - steps), value=NAN))
    res = {k: torch.cat(v, 0) for k, v in out.items()}
    res["gold"] = inp.tout[:, p - 1:]
    res["no_gold"] = torch.tensor(inp.no_gold)                             # masks() reads the roles from r
    res["ends"] = torch.tensor(end_ids(inp.tok), dtype=torch.long)
    return res


def masks(r: dict) -> dict:
    """valid: a gold token exists; valid_fr: also no EOS in the FR output before it; on_path: the FR
    prefix equals the gold prefix (so the FR context is the TF context); left: the step leaves it."""
    gold, fr = r["gold"], r["fr_tok"]
    valid = gold != r.get("no_gold", PAD)
    is_end = torch.isin(fr, r.get("ends", torch.tensor([EOS]))).long()
    eos_before = torch.cumsum(is_end, 1) - is_end > 0
    valid_fr = valid & ~eos_before
    match = (fr == gold) | ~valid
    prefix_ok = torch.cat([torch.ones_like(match[:, :1]), torch.cumprod(match.long(), 1)[:, :-1].bool()], 1)
    on_path = prefix_ok & valid
    return {"valid": valid, "valid_fr": valid_fr, "on_path": on_path, "left": on_path & (fr != gold)}
