"""seqscope on a Hugging Face model vs transformers' own `generate`, printed as measured ratios in one run.

On a random GPT-2-shaped model (`--small`, the default: a small one for CI; `--gpt2-small`: the
124M shape, vocabulary 50257, 12 layers x 12 heads, by hand), 1 torch thread, greedy and beam 4,
64 and 256 new tokens (min_new_tokens pins the lengths on both sides):

A. seqscope with full recording (RecordOptions(): top-20 lists, attention of every layer and head,
   hidden states, a validated Trace) vs generate(output_scores, output_attentions,
   output_hidden_states, return_dict_in_generate) on the same model loaded with eager attention
   (with the default sdpa, generate returns no attention weights)                  goal <= 1.0x
B. seqscope with recording off (record=False) vs plain generate                     goal <= 1.0x
C. the size of the saved trace with full recording (Trace.save's bytes)  goal <= 10 MB at beam 4 x 64

Like with like: both sides start from the same token ids (seqscope is given the ids, not the text), the
same new-token count, 1 thread, eager attention on both sides of A (seqscope switches to eager when it
records attention) and the model's default (sdpa) on both sides of B; every runner is run once before
timing. Times are process CPU seconds, the best of --repeats runs, the two sides of a ratio run
alternately; the load average is printed with them. The model is built in a temporary folder (random
weights, a byte-level tokenizer with synthetic pieces up to the vocabulary size) and opened with
engine.load("hf:" + folder), as a user's model would be.
Usage: python bench/hf.py [--small | --gpt2-small] [--repeats 5] [--tokens 64,256] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import engine  # noqa: E402

PROMPT = "The default value of the argument is"
CLOCK = time.process_time          # CPU time: on a shared machine, our work rather than the other jobs'
SHAPES = {
    "small": {"vocab": 2048, "n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 512},
    "gpt2-small": {"vocab": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024},
}


def build(folder: Path, shape: dict, seed: int = 0) -> Path:
    """A random GPT-2-shaped model and a byte-level tokenizer of `vocab` tokens (256 bytes, synthetic
    pieces, <|endoftext|> last as in GPT-2), saved as a Hugging Face folder."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    letters = "abcdefghijklmnopqrstuvwxyz"
    i = 0
    while len(vocab) < shape["vocab"] - 1:       # synthetic pieces: "Ġab", "Ġac", ... (never produced by encode)
        a, b, c = i // 676 % 26, i // 26 % 26, i % 26
        vocab.setdefault("\u0120" + letters[a] + letters[b] + letters[c] + ("" if i < 17576 else str(i)), len(vocab))
        i += 1
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    eot = vocab["<|endoftext|>"]
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                            unk_token="<|endoftext|>").save_pretrained(folder)
    cfg = GPT2Config(vocab_size=len(vocab), n_positions=shape["n_positions"], n_embd=shape["n_embd"],
                     n_layer=shape["n_layer"], n_head=shape["n_head"], bos_token_id=eot, eos_token_id=eot)
    torch.manual_seed(seed)
    GPT2LMHeadModel(cfg).eval().save_pretrained(folder)
    return folder


def paired(fa, fb, repeats: int):
    """Best CPU times of fa and fb, run alternately so that a busy machine slows both alike."""
    ta = tb = float("inf")
    for _ in range(repeats):
        t0 = CLOCK()
        fa()
        ta = min(ta, CLOCK() - t0)
        t0 = CLOCK()
        fb()
        tb = min(tb, CLOCK() - t0)
    return ta, tb


def eager_copy(folder: Path):
    """The same model loaded with eager attention: generate returns attention weights only then (with
    the default sdpa, output_attentions=True gives empty tuples in transformers 5.24)."""
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()


def runners(bundle, eager, n: int, beams: int):
    """(seqscope full, generate with everything (eager copy), seqscope off, plain generate) for n new tokens."""
    prompt = list(bundle.tokenizer.encode(PROMPT).ids)
    ids = torch.tensor([prompt])
    cfg = {"max_new_tokens": n, "min_new_tokens": n, "num_beams": beams}
    kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
              num_beams=beams, do_sample=False, pad_token_id=bundle.tokenizer.eos_id)

    @torch.no_grad()
    def generate(model, **extra):
        return model.generate(**kw, **extra)

    everything = dict(output_scores=True, output_attentions=True, output_hidden_states=True,
                      return_dict_in_generate=True)
    return (lambda: engine.generate(bundle, prompt, cfg), lambda: generate(eager, **everything),
            lambda: engine.generate(bundle, prompt, cfg, record=False), lambda: generate(bundle.model.hf))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", dest="shape", action="store_const", const="small", help="the CI size (default)")
    size.add_argument("--gpt2-small", dest="shape", action="store_const", const="gpt2-small",
                      help="the GPT-2 small shape (124M parameters; by hand)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens", default="64,256", help="new token counts, comma-separated")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    shape = args.shape or "small"
    tokens = [int(x) for x in args.tokens.split(",")]
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = build(Path(tmp) / f"gpt2-{shape}", SHAPES[shape])
        bundle, eager = engine.load("hf:" + str(folder)), eager_copy(folder)
        n_params = sum(p.numel() for p in bundle.model.hf.parameters())
        for beams in (1, 4):
            for n in tokens:
                full, everything, off, plain = runners(bundle, eager, n, beams)
                full(), everything(), off(), plain()              # warm-up
                t_full, t_all = paired(full, everything, args.repeats)
                t_off, t_plain = paired(off, plain, args.repeats)
                trace_mb = len(full().to_json().encode("utf-8")) / 1e6      # what Trace.save writes
                rows.append({"strategy": "greedy" if beams == 1 else f"beam {beams}", "new_tokens": n,
                             "full_s": t_full, "generate_everything_s": t_all, "A_ratio": t_full / t_all,
                             "off_s": t_off, "generate_plain_s": t_plain, "B_ratio": t_off / t_plain,
                             "trace_mb": trace_mb})
    load = [round(x, 2) for x in os.getloadavg()]
    res = {"shape": shape, **SHAPES[shape], "parameters": n_params, "threads": 1, "repeats": args.repeats,
           "load_average": load,
           "transformers": __import__("transformers").__version__, "rows": rows, "goal": 1.0,
           "trace_goal_mb": 10.0}
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    s = SHAPES[shape]
    print(f"seqscope vs transformers generate: GPT-2-shaped random model '{shape}' ({n_params / 1e6:.1f}M "
          f"parameters, vocabulary {s['vocab']}, {s['n_layer']} layers x {s['n_head']} heads), 1 thread, "
          f"CPU seconds, best of {args.repeats}, transformers {res['transformers']}, load average {load}")
    met = lambda r: "meets the goal" if r <= 1.0 else "over the goal"  # noqa: E731
    for r in rows:
        print(f"{r['strategy']:>7}, {r['new_tokens']:>3} tokens: "
              f"A full recording vs generate(scores, attentions, hidden states) {r['A_ratio']:.2f}x "
              f"({r['full_s']:.3f} s vs {r['generate_everything_s']:.3f} s, {met(r['A_ratio'])}); "
              f"B recording off vs plain generate {r['B_ratio']:.2f}x "
              f"({r['off_s']:.3f} s vs {r['generate_plain_s']:.3f} s, {met(r['B_ratio'])}); "
              f"C saved trace {r['trace_mb']:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
