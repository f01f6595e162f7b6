"""Log-probabilities of target tokens from an LM head, run only on the scored positions, in fp32.

``head_logprobs`` chunks the head's rows (no full ``tokens x vocab`` logits tensor), ``compiled_target_logprob``
is the compiled log-softmax it uses on CPU once it is checked against the eager one.
"""

from __future__ import annotations

import warnings
from typing import Any

from hf_addons.data.scoring.compiled import compile_cached, mark_dynamic


def target_logprob(logits: Any, targets: Any) -> Any:
    """log p(target) per row of ``logits`` (N x vocab, any float dtype), in fp32."""
    x = logits.float()
    return x.gather(-1, targets[:, None]).squeeze(-1) - x.logsumexp(-1)


def compiled_target_logprob(head: Any, device: Any) -> Any:
    """The fp32 log-softmax over a head chunk as one fused kernel: eager ``logits.float().logsumexp()`` makes
    an fp32 copy and five passes over ``rows x vocab`` (it was ~30% of the CPU time); compiled it is one read.
    Compiled here on 1 and 3 rows of the head's vocab (dynamo specialises size 1), so the cost is paid now,
    not mid-job; None when ``torch.compile`` fails (e.g. no C++ compiler) and the eager function is used."""
    import torch

    fn = compile_cached("target_logprob", target_logprob)
    weight = getattr(head, "weight", None)
    if weight is None or weight.dim() != 2:
        return None
    try:
        with torch.inference_mode():  # the scorer's mode (grad mode is part of dynamo's guards)
            for n in (1, 3):
                x = torch.randn(n, weight.shape[0], dtype=weight.dtype, device=device)  # the real vocab
                t = torch.zeros(n, dtype=torch.long, device=device)
                mark_dynamic((x, 0), (t, 0))
                torch.testing.assert_close(fn(x, t), target_logprob(x, t), rtol=1e-4, atol=1e-4)
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: stay eager
        warnings.warn(
            f"PerplexityScorer: torch.compile unavailable ({exc!r:.200}); eager log-softmax", stacklevel=3
        )
        return None
    return fn


def head_logprobs(
    head: Any, hidden: Any, targets: Any, rows: int = 256, logprob_fn: Any = None, buffers: dict | None = None
) -> Any:
    """log p(target) for ``hidden`` rows (N x H) through the LM ``head``, ``rows`` at a time: the full-vocab
    logits exist only as a ``rows x vocab`` block, and logsumexp/gather run in fp32 on it. A bias-free linear
    head writes into one reused buffer, kept in ``buffers`` across calls when given (a fresh 50-100 MB block
    per batch is page-faulted in again on CPU: ~2x the matmul's own time)."""
    import torch

    fn = logprob_fn or target_logprob
    n = hidden.shape[0]
    out = torch.empty(n, dtype=torch.float32, device=hidden.device)
    weight = getattr(head, "weight", None)
    plain = isinstance(head, torch.nn.Linear) and head.bias is None and weight.dtype == hidden.dtype
    buf = None
    if plain:
        key = (weight.shape[0], hidden.dtype, hidden.device)
        buf = (buffers or {}).get(key)
        if buf is None or buf.shape[0] < min(rows, n):
            buf = torch.empty(min(rows, n), weight.shape[0], dtype=hidden.dtype, device=hidden.device)
            if buffers is not None and n >= rows:
                buffers.clear()
                buffers[key] = buf
    for i in range(0, n, rows):
        h = hidden[i : i + rows]
        x = torch.mm(h, weight.t(), out=buf[: h.shape[0]]) if plain else head(h)
        t = targets[i : i + rows]
        if logprob_fn is not None:
            mark_dynamic((x, 0), (t, 0))
        out[i : i + rows] = fn(x, t)
    return out


def token_logprobs(logits: Any, targets: Any, rows: int = 1024) -> Any:
    """log p(target) per position in fp32, a chunk of rows at a time: only ``rows x vocab`` temporaries,
    never a second (batch x length x vocab) tensor."""
    import torch

    flat = logits.reshape(-1, logits.shape[-1])
    tgt = targets.reshape(-1, 1)
    out = torch.empty(flat.shape[0], dtype=torch.float32, device=logits.device)
    for i in range(0, flat.shape[0], rows):
        x = flat[i : i + rows].float()
        out[i : i + rows] = x.gather(-1, tgt[i : i + rows]).squeeze(-1) - x.logsumexp(-1)
    return out.view(targets.shape)
