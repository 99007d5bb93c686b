"""A Hugging Face causal LM or encoder-decoder behind seqscope's model interface (engine/models/base.py).

`HFSeqModel(hf_model)` wraps a loaded `transformers` model (AutoModelForCausalLM or
AutoModelForSeq2SeqLM; engine/loader.py loads it). transformers is imported only inside `start` and
`decode` (for its cache classes), so importing this file costs nothing.

- The state is an `HFState`: the model's own cache object (DynamicCache / EncoderDecoderCache), the
  key count, the key mask and positions of rows with padding, and (seq2seq) the encoder output and
  source mask. `reorder_state` / `expand_state` are this model's methods (the decoding code calls them
  on the model, never on the state). The cache is advanced in
  place by `decode` and reordered in place by `reorder_state` (Cache.reorder_cache: one index_select per
  tensor, nothing rebuilt). A state stays usable as long as the cache was not reordered after it was
  made: decoding an earlier state of the same cache crops the cache back to it first (so `start` once,
  `decode` twice works); decoding a state from before a reorder is refused (one line).
- Left padding (batched prompts) follows `generate`: the attention mask covers every key so far and a
  row's positions count its real tokens only (padding gets position 1). Without padding neither is
  built: a step is the model call and nothing else.
- Attention weights (hook points attn.self.{i}, attn.cross.{i}, attn.encoder.{i}) are computed only
  when asked for: the model then runs with eager attention (the only implementation that returns the
  weights); otherwise with its fast path (sdpa). Both give the same logits (tests/test_hf_models.py).
- A step of one new token per row without padding on a GPT-2- or Llama-family LM (every layer full
  causal attention) passes the positions and, with eager attention, the 4-D attention mask itself:
  slices of tensors made once per model (positions 0..max_len-1, zeros), so HF builds neither at every
  step. That mask is what HF would build (every key allowed: zeros added to the scores), so the
  outputs are the same bit for bit (tests/test_hf_models.py); any other model builds its own.
- `hidden.final` is the top decoder hidden state (the decoder stack's last_hidden_state, after the
  final norm), taken with a forward hook, so no layer's hidden states are collected for it.
- Logits are as wide as the model's vocabulary, which may be wider than the tokenizer's (padded
  vocabularies); the decoding code never chooses nor shows ids >= tokenizer.vocab_size.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor

from .base import SeqModel, StepOutput

# config attributes that hold a layer count / head count / context length, in order of preference
_DEC_LAYERS = ("decoder_layers", "num_decoder_layers", "num_hidden_layers", "n_layer", "num_layers")
_ENC_LAYERS = ("encoder_layers", "num_layers", "num_hidden_layers", "n_layer")
_DEC_HEADS = ("decoder_attention_heads", "num_attention_heads", "num_heads", "n_head")
# families whose decoder takes position_ids / a 4-D additive mask as generate's defaults would build them
# (positions 0..K-1 broadcast over rows; a causal mask of full attention layers): see `_step_inputs`
_PLAIN_CAUSAL = frozenset({"gpt2", "llama"})
_CONTEXT = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
NO_CONTEXT_LIMIT = 2048        # max_len of a model whose config names none (relative positions, e.g. T5)


def _first(config, names, default=None):
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return default


@dataclass
class HFState:
    """The decoding state of an HF model for B rows (see the module docstring). Until a row has padding,
    key_mask and pos stay None (every key is real, positions are 0..length-1): nothing to compute per step."""
    cache: Any                         # the transformers Cache, advanced / reordered in place
    batch_size: int
    length: int                        # K: the keys so far
    device: torch.device
    key_mask: Optional[Tensor] = None  # [B, K] bool: which keys are real tokens (None: all of them)
    pos: Optional[Tensor] = None       # [B] long: the position of each row's next real token (None: length)
    encoder: Optional[Tensor] = None   # [B, S, D] encoder output (seq2seq)
    src_mask: Optional[Tensor] = None  # [B, S] long source mask (seq2seq)
    epoch: int = 0                     # how many reorders the cache had when this state was made

    def keys(self) -> Tensor:
        """[B, K] bool: which keys are real tokens."""
        if self.key_mask is not None:
            return self.key_mask
        return torch.ones(self.batch_size, self.length, dtype=torch.bool, device=self.device)


def rewind(state: HFState) -> None:
    """Make the cache stand for `state`: refuse a state made before the cache was reordered (or cut back
    past it); crop the cache back to an earlier state of it."""
    if not isinstance(state, HFState):
        raise ValueError(f"the state must come from this model's start/decode, got {type(state).__name__}")
    have = state.cache.get_seq_length()
    if state.epoch != getattr(state.cache, "_seqscope_epoch", 0) or have < state.length:
        raise ValueError("this decoding state is stale (its cache was reordered or cut back since): use the "
                         "state the last decode or reorder_state returned")
    if have > state.length:
        try:
            if not state.cache.is_croppable:
                raise RuntimeError("not croppable")
            state.cache.crop(state.length - have)
        except RuntimeError as exc:     # e.g. a sliding-window layer past its window
            raise ValueError(f"this decoding state was already decoded from and its cache cannot be cut back "
                             f"({exc}); start again") from None


class HFSeqModel(SeqModel):
    """The SeqModel interface over a transformers model (see the module docstring)."""

    def __init__(self, hf_model, max_len: Optional[int] = None):
        super().__init__()
        self.hf = hf_model
        config = hf_model.config
        self.is_encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
        self.arch = f"hf:{getattr(config, 'model_type', 'model')}"
        self.has_cross_attention = self.is_encoder_decoder
        # the model's own config first (a decoder view of an encoder-decoder config may show defaults)
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        dec = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
        n_layers = _first(text, _DEC_LAYERS) or _first(dec, _DEC_LAYERS)
        n_heads = _first(text, _DEC_HEADS) or _first(dec, _DEC_HEADS)
        if n_layers is None or n_heads is None:
            raise ValueError(f"{type(hf_model).__name__}: its config names no layer or head count")
        n_enc = _first(text, _ENC_LAYERS, n_layers) if self.is_encoder_decoder else 0
        self._max_len = max_len or _first(text, _CONTEXT) or _first(dec, _CONTEXT) or NO_CONTEXT_LIMIT
        self._info = {"is_encoder_decoder": self.is_encoder_decoder, "n_layers": n_layers, "n_heads": n_heads,
                      "n_encoder_layers": n_enc, "has_self_attention": True,
                      "has_cross_attention": self.is_encoder_decoder, "max_len": self._max_len}
        self._names = SeqModel.hook_names.fget(self)
        head = hf_model.get_output_embeddings()
        self.vocab_size = int(head.weight.shape[0] if head is not None else getattr(text, "vocab_size"))
        self._fast = getattr(config, "_attn_implementation", None) or "eager"
        self._impl = self._fast
        self._lock = threading.RLock()       # one call at a time: the attention switch is model-wide
        self._box: list = [None]             # the hidden state the forward hook saw (a list: no Module.__setattr__)
        self._wanted: dict = {}              # (hooks, output_attentions) -> the hook points reported
        self._plain = (not self.is_encoder_decoder and getattr(config, "model_type", None) in _PLAIN_CAUSAL
                       and not getattr(text, "sliding_window", None) and getattr(text, "is_causal", True)
                       and set(getattr(text, "layer_types", None) or ["full_attention"]) == {"full_attention"})
        self._step_cache: dict = {}          # (kind, device, dtype) -> a tensor sliced by _step_inputs
        self._embeddings = [hf_model.get_input_embeddings()]  # its weight's dtype is the eager mask's (a list:
                                                              # not registered as a second submodule)
        decoder = hf_model.get_decoder() if hasattr(hf_model, "get_decoder") else None
        if decoder is None or decoder is hf_model:
            raise ValueError(f"{type(hf_model).__name__}: no decoder stack found to read hidden states from")
        decoder.register_forward_hook(self._keep_hidden)

    # -- what it is -----------------------------------------------------------------------------------
    @property
    def max_len(self) -> int:
        return self._max_len

    @property
    def hook_names(self) -> list[str]:
        return self._names

    def describe(self) -> dict:
        return dict(self._info)

    @property
    def device(self) -> torch.device:
        return next(self.hf.parameters()).device

    @property
    def attn_implementation(self) -> str:
        """The attention used when no attention weights are asked for (sdpa, or eager if the model has no other)."""
        return self._fast

    # -- internals ------------------------------------------------------------------------------------
    def _keep_hidden(self, module, args, output) -> None:
        self._box[0] = output[0] if isinstance(output, (tuple, list)) else output["last_hidden_state"]

    def _made_once(self, kind: str, device, dtype) -> Tensor:
        """[1, max_len] positions 0..max_len-1 ("pos") or [1, 1, 1, max_len] zeros ("mask"), made once."""
        key = (kind, device, dtype)
        x = self._step_cache.get(key)
        if x is None:
            with torch.inference_mode(False):        # a normal tensor even when made inside a run's inference mode
                x = (torch.arange(self._max_len, device=device)[None] if kind == "pos"
                     else torch.zeros(1, 1, 1, self._max_len, dtype=dtype, device=device))
            self._step_cache[key] = x
        return x

    def _step_inputs(self, kw: dict, state: HFState, b: int, t: int, length: int, weights: bool) -> None:
        """A plain causal LM (see the module docstring), one token per row after the first step, no padding:
        the positions [1, t] and, with eager attention, the additive mask [b, 1, 1, K] as HF would build
        them (arange + past keys; every key allowed), as views of tensors made once."""
        if not (self._plain and t == 1 and state.length > 0 and state.cache.is_compileable is False):
            return
        device = state.device
        kw["position_ids"] = self._made_once("pos", device, torch.long)[:, state.length:length]
        if weights:
            dtype = self._embeddings[0].weight.dtype   # looked up once: get_input_embeddings() costs 17 us a step
            kw["attention_mask"] = self._made_once("mask", device, dtype)[..., :length].expand(b, 1, 1, length)

    def _want(self, hooks, output_attentions: bool) -> frozenset:
        key = (tuple(hooks), bool(output_attentions))
        want = self._wanted.get(key)
        if want is None:
            want = self._wanted[key] = self.wanted(hooks, output_attentions)
        return want

    def _attention(self, weights: bool) -> None:
        """Eager attention when the weights are wanted, the fast path otherwise (switched only on a change)."""
        impl = "eager" if weights else self._fast
        if impl != self._impl:
            self.hf.set_attn_implementation(impl)
            self._impl = impl

    # -- the interface --------------------------------------------------------------------------------
    def start(self, src_ids: Optional[Tensor] = None, src_mask: Optional[Tensor] = None,
              output_attentions: bool = False, batch_size: int = 1, hooks=()) -> tuple[HFState, dict]:
        """LM: an empty cache for `batch_size` rows. Seq2seq: the encoder pass over src_ids [B, S]
        (attn.encoder.{i} reported when asked) and an empty self- and cross-attention cache."""
        from transformers import DynamicCache, EncoderDecoderCache
        device = self.device
        dec_config = self.hf.config.get_text_config(decoder=True)
        if not self.is_encoder_decoder:
            return HFState(DynamicCache(config=dec_config), batch_size, 0, device), {}
        if src_ids is None:
            raise ValueError("an encoder-decoder model needs a source")
        want = self.wanted(hooks, output_attentions, attention=("attn.encoder.",))
        src_ids = src_ids.to(device)
        b, s = src_ids.shape
        if s > self._max_len:
            raise ValueError(f"source of {s} tokens is longer than the model's limit of {self._max_len}")
        src_mask = torch.ones_like(src_ids) if src_mask is None else src_mask.to(device).long()
        weights = any(n.startswith("attn.encoder.") for n in want)
        with self._lock:
            self._attention(weights)
            enc = self.hf.get_encoder()(input_ids=src_ids, attention_mask=src_mask, output_attentions=weights,
                                        return_dict=True)
        found = {}
        if weights:
            for i, w in enumerate(enc.attentions or ()):
                if f"attn.encoder.{i}" in want:
                    found[f"attn.encoder.{i}"] = w
        cache = EncoderDecoderCache(DynamicCache(config=dec_config), DynamicCache(config=dec_config))
        return HFState(cache, b, 0, device, encoder=enc.last_hidden_state, src_mask=src_mask), found

    def decode(self, input_ids: Tensor, state: HFState, input_mask: Optional[Tensor] = None,
               output_attentions: bool = False, hooks=()) -> StepOutput:
        """Feed input_ids [B, T] after the state's keys; logits [B, T, V] after each. The cache in `state`
        is advanced in place and shared by the returned state."""
        want = self._want(hooks, output_attentions) if (hooks or output_attentions) else frozenset()
        weights = bool(want) and any(n.startswith("attn.") for n in want)
        input_ids = input_ids.to(state.device)
        b, t = input_ids.shape
        if b != state.batch_size:
            raise ValueError(f"{b} rows of input for a state of {state.batch_size} rows")
        length = state.length + t
        if length > self._max_len:
            raise ValueError(f"sequence of {length} tokens is longer than the model's context of {self._max_len}")
        key_mask = pos = None
        if state.key_mask is not None or (input_mask is not None and not bool(input_mask.all())):
            # padding (as generate): the mask covers every key; a row's positions count its real tokens only
            new_mask = (torch.ones(b, t, dtype=torch.bool, device=state.device) if input_mask is None
                        else input_mask.to(state.device).bool())
            key_mask = torch.cat([state.keys(), new_mask], 1)
            before = state.pos if state.pos is not None else torch.full((b,), state.length, device=state.device)
            positions = (before[:, None] + new_mask.long().cumsum(1) - 1).masked_fill(~new_mask, 1)
            pos = before + new_mask.long().sum(1)
        kw: dict = {"cache": state.cache, "use_cache": True, "return_dict": True}
        if weights:
            kw["output_attentions"] = True
        if self.is_encoder_decoder:
            from transformers.modeling_outputs import BaseModelOutput
            kw.update(decoder_input_ids=input_ids, encoder_outputs=BaseModelOutput(last_hidden_state=state.encoder),
                      attention_mask=state.src_mask)
            if key_mask is not None:
                kw["decoder_attention_mask"] = key_mask.long()
        else:
            kw["input_ids"] = input_ids
            if key_mask is not None:
                kw.update(attention_mask=key_mask.long(), position_ids=positions)
            else:
                self._step_inputs(kw, state, b, t, length, weights)
        with self._lock:
            rewind(state)
            self._attention(weights)
            self._box[0] = None
            out = self.hf(**kw)
            hidden, self._box[0] = self._box[0], None
        new = HFState(state.cache, b, length, state.device, key_mask, pos, state.encoder, state.src_mask, state.epoch)
        found: dict[str, Tensor] = {}
        if weights:
            selfs = out.decoder_attentions if self.is_encoder_decoder else out.attentions
            crosses = out.cross_attentions if self.is_encoder_decoder else None
            for kind, ws in (("attn.self", selfs), ("attn.cross", crosses)):
                for i, w in enumerate(ws or ()):
                    if f"{kind}.{i}" in want:
                        found[f"{kind}.{i}"] = w
        if "key_mask" in want:
            found["key_mask"] = new.keys()
        if "hidden.final" in want:
            found["hidden.final"] = hidden
        return StepOutput(out.logits, hidden, new, found)

    @staticmethod
    def reorder_state(state: HFState, index: Tensor) -> HFState:
        """Rows `index` of the state (repeats allowed): the cache is reordered in place (one index_select
        per tensor; nothing to copy when `index` keeps every row in place, as a beam step often does);
        the states made before are stale from then on."""
        index = index.to(state.device)
        rewind(state)
        epoch = state.epoch + 1
        if not (index.shape[0] == state.batch_size and index.tolist() == list(range(state.batch_size))):
            state.cache.reorder_cache(index)
        state.cache._seqscope_epoch = epoch

        def pick(x: Optional[Tensor]) -> Optional[Tensor]:
            return None if x is None else x.index_select(0, index)

        return HFState(state.cache, index.shape[0], state.length, state.device, pick(state.key_mask), pick(state.pos),
                       pick(state.encoder), pick(state.src_mask), epoch)

    def expand_state(self, state: HFState, n: int) -> HFState:
        """Repeat every row n times (row b -> rows b*n .. b*n+n-1), e.g. to start n beams."""
        index = torch.arange(state.batch_size, device=state.device).repeat_interleave(n)
        return self.reorder_state(state, index)


__all__ = ["HFSeqModel", "HFState", "NO_CONTEXT_LIMIT"]
