"""A fused CPU forward of Llama-architecture decoders (Llama, SmolLM2, Mistral without sliding windows, Qwen2
and Qwen3: biased projections and per-head q/k RMSNorms).

The interface is :meth:`FusedLlamaDecoder.build` (``(decoder or None, why)``, checked against the model's
own forward on probes) and :meth:`FusedLlamaDecoder.forward_groups` (final hidden states of the real tokens of
several padded groups, packed row after row). Used by the perplexity scorer's fast path.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

from hf_addons.data.scoring.compiled import compile_cached, mark_dynamic


# -- fused Llama decoder (CPU fast path) --------------------------------------------------------------------
def _rms_norm(x: Any, weight: Any, eps: float) -> Any:
    """LlamaRMSNorm's exact formula (fp32 statistics, cast back, then the weight)."""
    import torch

    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _add_rms_norm(h: Any, delta: Any, weight: Any, eps: float) -> tuple[Any, Any]:
    """The residual add and the next RMSNorm in one pass: ``(h + delta, norm(h + delta))``."""
    h = h + delta
    return h, _rms_norm(h, weight, eps)


def _rotate(x: Any, cos: Any, sin: Any) -> Any:
    import torch

    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def _attention(
    qkv: Any,
    gather: Any,
    keep: Any,
    cos: Any,
    sin: Any,
    n_q: int,
    n_kv: int,
    head_dim: int,
    scaling: float,
    qk_norm: tuple[Any, float, Any, float] | None = None,
) -> Any:
    """Rotary and causal GQA attention for the packed q|k|v rows of several sequences (T x (n_q + 2 n_kv)
    head_dim, no padding): ``gather`` (B x L) lays them out as right-padded rows (pad slots repeat a real
    row), ``keep`` (T) picks the real rows of the B*L outputs back. Causal attention without a mask is exact
    for right-padded rows: a real query at position i only sees keys <= i, and every pad key sits after the
    last real token. Only attention sees padding; the matmuls and norms run on the T real rows. ``qk_norm``
    (q weight, q eps, k weight, k eps): Qwen3's RMSNorm of every query and key head before the rotary."""
    import torch.nn.functional as F

    B, L = gather.shape
    q, k, v = qkv[gather].view(B, L, n_q + 2 * n_kv, head_dim).transpose(1, 2).split((n_q, n_kv, n_kv), dim=1)
    if qk_norm is not None:
        q, k = _rms_norm(q, qk_norm[0], qk_norm[1]), _rms_norm(k, qk_norm[2], qk_norm[3])
    q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scaling, enable_gqa=True)
    return a.transpose(1, 2).reshape(B * L, n_q * head_dim)[keep]


def _swiglu(gate_up: Any, inter: int) -> Any:
    import torch.nn.functional as F

    return F.silu(gate_up[..., :inter]) * gate_up[..., inter:]


class _Linear:
    """``F.linear`` for one or more of the model's projections that read the same input, concatenated on the
    output dim (q|k|v, gate|up: one wider matmul instead of two or three thin ones). In bf16 on a CPU with
    oneDNN the weight is stored pre-packed in oneDNN's blocked layout: an unpacked bf16 weight is re-laid out
    on every call (on the 2-core AMX test CPU the down projection ran 1.6x slower that way). Results are
    bit-identical to ``F.linear`` on the same weight. Packed or concatenated weights are a copy:
    :class:`FusedLlamaDecoder` rebuilds them when a source weight changes (see its ``_stamp``)."""

    def __init__(self, weights: Sequence[Any], biases: Sequence[Any], rows: int = 2048) -> None:
        import torch

        w = weights[0].detach() if len(weights) == 1 else torch.cat([x.detach() for x in weights])
        self.bias = None
        if any(b is not None for b in biases):
            self.bias = torch.cat(
                [b.detach() if b is not None else w.new_zeros(x.shape[0]) for x, b in zip(weights, biases)]
            )
        self.weight, self.packed = w, None
        if w.dtype == torch.bfloat16 and w.device.type == "cpu" and torch.backends.mkldnn.is_available():
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(w, rows)
                self.weight = None  # only the packed copy is kept
            except (RuntimeError, AttributeError):  # a torch without oneDNN bf16: plain F.linear
                self.packed = None

    def __call__(self, x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


class _Layer(NamedTuple):
    ln1: Any
    qkv: _Linear
    o: _Linear
    ln2: Any
    gate_up: _Linear
    down: _Linear
    eps: float
    n_q: int
    n_kv: int
    scaling: float
    qk_norm: tuple[Any, float, Any, float] | None


class FusedLlamaDecoder:
    """A Llama-architecture decoder with its matmuls on fused, pre-packed weights and everything between them
    (residual adds, RMSNorms, rotary, SwiGLU) compiled into a few loops per layer.

    Why: on CPU in bf16 the eager forward of a small LM spends much of its time outside the matmuls (RMSNorm's
    upcast/pow/mean/rsqrt/casts, rotary's slices/neg/cat, SiLU*up, residual adds, each a pass over memory
    and a fresh allocation) and in thin matmuls that re-lay out their weight on every call. The compiled
    pieces are shared by every layer (dynamic batch and length: compiled once per process); the projections
    are :class:`_Linear`. The model is not patched; the packed weights are a copy (the size of the decoder's
    linear weights), rebuilt when any source weight is modified or replaced, so a model trained between calls
    is scored with its new weights. Input must be right-padded (see :func:`_attention`); the scorer pads so.
    """

    def __init__(self, decoder: Any, compiled: bool = True) -> None:
        self.decoder = decoder
        self.compiled = compiled
        pick = compile_cached if compiled else (lambda name, fn: fn)
        self.rms_norm = pick("rms_norm", _rms_norm)
        self.add_rms_norm = pick("add_rms_norm", _add_rms_norm)
        self.attention = pick("attention", _attention)
        self.swiglu = pick("swiglu", _swiglu)
        self.stamp: tuple[Any, ...] = ()
        self.layers: list[_Layer] = []
        self._pack()

    def _stamp(self) -> tuple[Any, ...]:
        """Which weights the packed copy was made from: in-place updates (an optimizer step, ``copy_``) bump
        ``_version``; a replaced parameter or ``.data`` has a new identity or address. ~0.4 ms per pass for
        SmolLM2's 30 layers (a pass takes ~1 s)."""
        return tuple((id(p), p.data_ptr(), p._version) for p in self.decoder.layers.parameters())

    def _pack(self) -> None:
        layers = []
        for layer in self.decoder.layers:
            a, m = layer.self_attn, layer.mlp
            q, k, v = a.q_proj, a.k_proj, a.v_proj
            head_dim = int(a.head_dim)
            layers.append(
                _Layer(
                    ln1=layer.input_layernorm.weight,
                    qkv=_Linear([q.weight, k.weight, v.weight], [q.bias, k.bias, v.bias]),
                    o=_Linear([a.o_proj.weight], [a.o_proj.bias]),
                    ln2=layer.post_attention_layernorm.weight,
                    gate_up=_Linear(
                        [m.gate_proj.weight, m.up_proj.weight], [m.gate_proj.bias, m.up_proj.bias]
                    ),
                    down=_Linear([m.down_proj.weight], [m.down_proj.bias]),
                    eps=float(layer.input_layernorm.variance_epsilon),
                    n_q=q.weight.shape[0] // head_dim,
                    n_kv=k.weight.shape[0] // head_dim,
                    scaling=float(a.scaling),
                    qk_norm=(
                        a.q_norm.weight,
                        float(a.q_norm.variance_epsilon),
                        a.k_norm.weight,
                        float(a.k_norm.variance_epsilon),
                    )
                    if hasattr(a, "q_norm")
                    else None,
                )
            )
        head_dims = {int(layer.self_attn.head_dim) for layer in self.decoder.layers}
        if len(head_dims) != 1:
            raise ValueError(f"layers differ in head_dim ({sorted(head_dims)})")
        self.head_dim = head_dims.pop()
        self.layers, self.stamp = layers, self._stamp()

    @property
    def packed(self) -> bool:
        """Whether the projections run on oneDNN-packed weights (bf16 on a CPU with oneDNN)."""
        return bool(self.layers) and self.layers[0].qkv.packed is not None

    @classmethod
    def build(cls, model: Any, decoder: Any) -> tuple[FusedLlamaDecoder | None, str]:
        """The fused decoder and ``"fused ..."`` when ``decoder`` is a plain Llama stack, else ``(None, why)``
        (the caller then uses the model's own forward). Two probes (1x7 random tokens, and 3x5 right-padded
        to 5, 2 and 4) check it: the eager fused functions must reproduce the model's decoder (same ops, so
        equal to rounding in any dtype: this is the structural check), and the compiled ones the eager ones
        (only fusion rounding differs; this guards against compiler bugs). The probes also compile both dynamo
        variants (batch 1 and batch > 1) now, not in the middle of a job."""
        import torch

        why = _not_llama(model, decoder)
        if why:
            return None, f"off ({why})"
        weight = decoder.embed_tokens.weight
        gen = torch.Generator().manual_seed(0)
        probes = [
            torch.randint(0, weight.shape[0], s, generator=gen).to(weight.device) for s in ((1, 7), (3, 5))
        ]
        lengths = [None, torch.tensor([5, 2, 4], device=weight.device)]  # right-padded rows too
        exact = 1e-4 if weight.dtype == torch.float32 else 1e-2

        def rel_error(a: Any, b: Any) -> float:
            return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))

        with torch.inference_mode():
            try:
                eager = cls(decoder, compiled=False)
                ref = [eager(ids, n) for ids, n in zip(probes, lengths)]
            except Exception as exc:  # noqa: BLE001 - an unexpected layer layout: use the model's forward
                return None, f"off (fused decoder failed: {exc!r:.120})"
            err = max(rel_error(r, _model_hidden(decoder, ids, n)) for r, ids, n in zip(ref, probes, lengths))
            if err > exact:
                return None, f"off (fused decoder differs from the model on a probe: rel. error {err:.2g})"
            packed = "packed weights" if eager.packed else "plain weights"
            try:
                compiled = cls(decoder, compiled=True)
                cerr = max(rel_error(compiled(ids, n), r) for r, ids, n in zip(ref, probes, lengths))
            except Exception as exc:  # noqa: BLE001 - no C++ compiler etc.: the eager fused path still helps
                warnings.warn(
                    f"PerplexityScorer: torch.compile failed ({exc!r:.200}); eager decoder", stacklevel=3
                )
                return (
                    eager,
                    f"fused Llama decoder (eager: torch.compile failed; {packed}; probe rel. error {err:.1g})",
                )
        if cerr > 10 * exact:
            return (
                eager,
                f"fused Llama decoder (eager: compiled output off by {cerr:.2g} on a probe; {packed})",
            )
        return (
            compiled,
            f"fused Llama decoder (compiled, {packed}; probe rel. error {err:.1g} eager, {cerr:.1g} compiled)",
        )

    def __call__(self, input_ids: Any, lengths: Any = None) -> Any:
        """Final-norm hidden states of the real tokens of right-padded ``input_ids`` (B x L; ``lengths`` real
        tokens per row, default all L), packed row after row: T x H, T = ``lengths.sum()``."""
        return self.forward_groups([(input_ids, lengths)])

    def forward_groups(self, groups: Sequence[tuple[Any, Any]]) -> Any:
        """:meth:`__call__` for several right-padded batches at once, packed one after the other: the matmuls
        see all their tokens together, attention each group with its own padding."""
        import torch

        if self._stamp() != self.stamp:  # the model was trained or reloaded since: repack
            self._pack()
        dec = self.decoder
        device = groups[0][0].device
        width = max(ids.shape[1] for ids, _ in groups)
        dyn = mark_dynamic if self.compiled else (lambda *dims: None)
        flat, parts, offset = [], [], 0
        for ids, lengths in groups:
            B, L = ids.shape
            pos = torch.arange(L, device=device)
            lengths = torch.full((B,), L, device=device) if lengths is None else lengths.to(device)
            real = pos[None] < lengths[:, None]
            starts = offset + lengths.cumsum(0) - lengths
            gather = torch.where(real, starts[:, None] + pos[None], starts[:, None])  # pad slot: row's first
            keep = (torch.arange(B, device=device)[:, None] * L + pos[None])[real]
            flat.append(ids[real])
            offset += flat[-1].shape[0]
            dyn((gather, 0), (gather, 1), (keep, 0))
            parts.append((gather, keep, L))
        h = dec.embed_tokens(flat[0] if len(flat) == 1 else torch.cat(flat))
        cos, sin = dec.rotary_emb(h, torch.arange(width, device=device)[None])  # the model's own rotary
        rotary = []
        for gather, keep, L in parts:
            c, s_ = cos[:, None, :L], sin[:, None, :L]
            dyn((c, 2), (s_, 2))
            rotary.append((gather, keep, c, s_))
        delta = None
        for w in self.layers:
            if delta is None:
                dyn((h, 0))
                x = self.rms_norm(h, w.ln1, w.eps)
            else:
                dyn((h, 0), (delta, 0))
                h, x = self.add_rms_norm(h, delta, w.ln1, w.eps)
            qkv = w.qkv(x)
            dyn((qkv, 0))
            a = [
                self.attention(qkv, g, k, c, s_, w.n_q, w.n_kv, self.head_dim, w.scaling, w.qk_norm)
                for g, k, c, s_ in rotary
            ]
            o = w.o(a[0] if len(a) == 1 else torch.cat(a))
            dyn((h, 0), (o, 0))
            h, x = self.add_rms_norm(h, o, w.ln2, w.eps)
            gu = w.gate_up(x)
            dyn((gu, 0))
            delta = w.down(self.swiglu(gu, gu.shape[-1] // 2))
        return dec.norm(h + delta)


def _model_hidden(decoder: Any, input_ids: Any, lengths: Any) -> Any:
    """The model's own final hidden states of the real tokens, packed as :class:`FusedLlamaDecoder` returns."""
    import torch

    if lengths is None:
        return decoder(input_ids=input_ids).last_hidden_state.flatten(0, 1)
    mask = torch.arange(input_ids.shape[1], device=input_ids.device)[None] < lengths[:, None]
    return decoder(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state[mask]


_LLAMA_LAYER = {"self_attn", "mlp", "input_layernorm", "post_attention_layernorm"}
_LLAMA_ATTN = {"q_proj", "k_proj", "v_proj", "o_proj"}
_QK_NORMS = {"q_norm", "k_norm"}  # Qwen3
_LLAMA_MLP = {"gate_proj", "up_proj", "down_proj", "act_fn"}


def _not_llama(model: Any, decoder: Any) -> str:
    """Why ``decoder`` is not a plain Llama stack (empty string when it is): the module names, SiLU, full
    attention everywhere. Numerics are then checked on a probe, which catches what names cannot (e.g. Gemma's
    embedding scale and (1 + w) norms)."""
    cfg = model.config
    children = {name for name, _ in decoder.named_children()}
    if not {"embed_tokens", "layers", "norm", "rotary_emb"} <= children:
        return f"{type(decoder).__name__} is not a Llama-style decoder"
    if getattr(cfg, "hidden_act", None) != "silu":
        return f"activation {getattr(cfg, 'hidden_act', None)!r} is not silu"
    if getattr(cfg, "sliding_window", None) or any(
        t != "full_attention" for t in getattr(cfg, "layer_types", None) or []
    ):
        return "sliding-window attention"
    for layer in decoder.layers:
        kids = {name for name, _ in layer.named_children()}
        attn = {name for name, _ in getattr(layer, "self_attn", layer).named_children()}
        mlp = {name for name, _ in getattr(layer, "mlp", layer).named_children()}
        if kids != _LLAMA_LAYER or attn not in (_LLAMA_ATTN, _LLAMA_ATTN | _QK_NORMS) or mlp != _LLAMA_MLP:
            return f"{type(layer).__name__} has modules beyond Llama's ({sorted(kids | attn | mlp)})"
        norms = (layer.input_layernorm, layer.post_attention_layernorm) + tuple(
            getattr(layer.self_attn, n) for n in sorted(_QK_NORMS & attn)
        )
        if not all(hasattr(n, "variance_epsilon") and hasattr(n, "weight") for n in norms):
            return (
                f"{type(layer.input_layernorm).__name__} is not an RMSNorm with weight and variance_epsilon"
            )
        if not all(hasattr(layer.self_attn, k) for k in ("head_dim", "scaling")):
            return f"{type(layer.self_attn).__name__} has no head_dim/scaling"
    return ""
