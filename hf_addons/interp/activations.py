"""Activations from any HF causal LM, without TransformerLens: a forward hook on a named module.

The forward stops right after the hooked module (an exception raised in the hook), BOS and pad positions are
dropped, a shuffled buffer keeps tokens from many texts mixed on the device, and activations can be cached
to disk as a ``datasets`` Arrow dataset.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hf_addons.interp.config import HOOK_POINTS, INPUT_HOOK_POINTS


class _StopForward(Exception):
    """Raised by the capture hook: nothing after the hooked module needs to run."""


@dataclass
class HookSpec:
    """Where to read activations: ``module_name``'s output, or its input when ``read_input``."""

    module_name: str
    module: nn.Module
    read_input: bool = False
    layer: int | None = None
    hook_point: str = "resid_post"
    columns: slice | None = None  # one attention head's part of attn_z (its d_head columns)

    def read(self, hidden: torch.Tensor) -> torch.Tensor:
        """The SAE's input from the hooked tensor."""
        return hidden if self.columns is None else hidden[..., self.columns]

    def write(self, hidden: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """``hidden`` with the SAE's input replaced by ``value`` (only the head's columns for one head)."""
        if self.columns is None:
            return value
        out = hidden.clone()
        out[..., self.columns] = value
        return out


def _text_config(model: nn.Module) -> Any:
    """The model's text config (a multimodal model's language part)."""
    return model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The transformer block list (``model.layers`` for Llama, ``transformer.h`` for GPT-2 ...)."""
    n_layers = getattr(_text_config(model), "num_hidden_layers", None)
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if (
            isinstance(module, nn.ModuleList)
            and len(module) > 0
            and (n_layers is None or len(module) == n_layers)
        ):
            if best is None or len(name) < len(best[0]):
                best = (name, module)
    if best is None:
        raise ValueError(f"could not find the decoder layer list of {type(model).__name__}; pass hook_name")
    return best


def _child(block: nn.Module, names: tuple[str, ...], what: str, block_name: str) -> str:
    for n in names:
        if hasattr(block, n):
            return n
    children = [n for n, _ in block.named_children()]
    raise ValueError(f"no {what} module in {block_name}; its children are {children}; pass hook_name")


def resolve_hook(
    model: nn.Module,
    layer: int | None = None,
    hook_point: str = "resid_post",
    hook_name: str | None = None,
    head_index: int | None = None,
) -> HookSpec:
    """Turn ``(layer, hook_point)`` or an explicit module name into a module to hook, with clear errors.

    ``head_index`` (``attn_z`` only): one attention head's output, its ``d_head`` columns of the concatenation
    (SAELens's ``hook_head_index``)."""
    if head_index is not None:
        if hook_point != "attn_z":
            raise ValueError(f"head_index selects one head of attn_z; the hook point is {hook_point!r}")
        spec = resolve_hook(model, layer, hook_point, hook_name)
        width, heads = hook_width(model, "attn_z"), getattr(_text_config(model), "num_attention_heads", None)
        if width is None or not heads:
            raise ValueError(
                f"{type(model).__name__}'s config names no attention heads: head_index cannot be placed"
            )
        if not 0 <= head_index < heads:
            raise ValueError(
                f"head_index {head_index} out of range: the model has {heads} heads (0..{heads - 1})"
            )
        d_head = width // heads
        spec.columns = slice(head_index * d_head, (head_index + 1) * d_head)
        return spec
    modules = dict(model.named_modules())
    if hook_name:
        if hook_name not in modules:
            valid = [n for n in modules if n]
            shown = ", ".join(valid[:60]) + (f", ... ({len(valid)} in all)" if len(valid) > 60 else "")
            raise ValueError(
                f"hook {hook_name!r} is not a module of {type(model).__name__}; valid names: {shown}"
            )
        return HookSpec(
            hook_name,
            modules[hook_name],
            read_input=hook_point in INPUT_HOOK_POINTS,
            layer=layer,
            hook_point=hook_point,
        )
    if hook_point not in HOOK_POINTS:
        raise ValueError(f"unknown hook point {hook_point!r}; expected one of {HOOK_POINTS}")
    list_name, blocks = decoder_layers(model)
    n = len(blocks)
    if layer is None:
        layer = n // 2
    if not -n <= layer < n:
        raise ValueError(f"layer {layer} out of range: the model has {n} layers (0..{n - 1})")
    layer = layer % n
    block_name = f"{list_name}.{layer}"
    block = blocks[layer]
    if hook_point in ("resid_post", "resid_pre"):
        return HookSpec(
            block_name, block, read_input=hook_point == "resid_pre", layer=layer, hook_point=hook_point
        )
    if hook_point == "mlp_out":
        child = _child(block, ("mlp", "feed_forward", "ffn"), "MLP", block_name)
    else:
        child = _child(block, ("self_attn", "attn", "attention", "self_attention"), "attention", block_name)
    name = f"{block_name}.{child}"
    if hook_point == "attn_z":  # the output projection's input: every head's output, concatenated
        proj = _child(
            modules[name], ("o_proj", "c_proj", "out_proj", "dense", "o"), "output projection", name
        )
        name = f"{name}.{proj}"
        return HookSpec(name, modules[name], read_input=True, layer=layer, hook_point=hook_point)
    return HookSpec(name, modules[name], read_input=False, layer=layer, hook_point=hook_point)


def hook_width(model: nn.Module, hook_point: str) -> int | None:
    """Activation width at a hook point from the model's config: the hidden size, or heads x head_dim at attn_z."""
    cfg = _text_config(model)
    hidden = getattr(cfg, "hidden_size", None)
    if hook_point != "attn_z" or hidden is None:
        return hidden
    heads = getattr(cfg, "num_attention_heads", None)
    head_dim = getattr(cfg, "head_dim", None) or (hidden // heads if heads else None)
    return heads * head_dim if heads and head_dim else None


def spec_width(model: nn.Module, spec: HookSpec) -> int | None:
    """Width of what ``spec`` reads: one head's ``d_head``, else the hook point's width."""
    if spec.columns is not None:
        return spec.columns.stop - spec.columns.start
    return hook_width(model, spec.hook_point)


def hook_for(sae: Any, model: nn.Module) -> HookSpec:
    """The hook an SAE was trained on (from its config), checking the model's width matches ``d_in``."""
    cfg = sae.config
    source = getattr(cfg, "source_hook_name", None)
    if cfg.layer is None and cfg.hook_name is None and source:
        raise ValueError(
            f"this SAE was trained on hook {source!r}, which has no HF equivalent here; set "
            "sae.config.layer and sae.config.hook_point (or sae.config.hook_name) to the module to hook"
        )
    spec = resolve_hook(model, cfg.layer, cfg.hook_point, cfg.hook_name, getattr(cfg, "head_index", None))
    width = spec_width(model, spec)
    if width is not None and width != cfg.d_in and cfg.hook_name is None:
        what = "heads x head_dim" if cfg.hook_point == "attn_z" else "hidden size"
        raise ValueError(f"SAE d_in={cfg.d_in} does not match the model's {what} {width}")
    return spec


def _first_tensor(value: Any) -> torch.Tensor:
    return value[0] if isinstance(value, (tuple, list)) else value


@contextmanager
def capture(spec: HookSpec, stop: bool = True):
    """Context manager yielding a dict whose ``"acts"`` holds the hooked tensor after a forward.

    With ``stop`` the forward raises past the hooked module; call the model through ``run_to_hook``.
    """
    store: dict[str, torch.Tensor] = {}

    if spec.read_input:

        def pre_hook(module, args, kwargs):
            store["acts"] = spec.read(args[0] if args else kwargs["hidden_states"])
            if stop:
                raise _StopForward

        handle = spec.module.register_forward_pre_hook(pre_hook, with_kwargs=True)
    else:

        def hook(module, args, output):
            store["acts"] = spec.read(_first_tensor(output))
            if stop:
                raise _StopForward

        handle = spec.module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


@contextmanager
def edit_hook(spec: HookSpec, edit: Callable[[torch.Tensor], torch.Tensor]):
    """While active, every forward replaces the hooked activation ``a`` (a module's output, or its input for
    ``resid_pre`` / ``attn_z``; one head's columns for a single-head spec) by ``edit(a)``: splicing an SAE in,
    steering."""

    def replace(hidden: torch.Tensor) -> torch.Tensor:
        return spec.write(hidden, edit(spec.read(hidden)))

    if spec.read_input:

        def pre_hook(module, args, kwargs):
            if args:
                return (replace(args[0]), *args[1:]), kwargs
            kwargs["hidden_states"] = replace(kwargs["hidden_states"])
            return args, kwargs

        handle = spec.module.register_forward_pre_hook(pre_hook, with_kwargs=True)
    else:

        def hook(module, args, output):
            if isinstance(output, tuple):
                return (replace(output[0]), *output[1:])
            if isinstance(output, list):
                return [replace(output[0]), *output[1:]]
            return replace(output)

        handle = spec.module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def run_to_hook(
    model: nn.Module, spec: HookSpec, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
):
    """Hooked activations (B, T, d) for one batch; the layers after the hook never run."""
    with capture(spec, stop=True) as store:
        try:
            model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        except _StopForward:
            pass
    if "acts" not in store:
        raise RuntimeError(f"the hook on {spec.module_name!r} never fired during the forward")
    return store["acts"]


def keep_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, tokenizer: Any) -> torch.Tensor:
    """Positions that are real text: not padding, not BOS (its activations are outliers that skew an SAE)."""
    keep = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None:
        keep &= input_ids != bos
    return keep


def tokenize(tokenizer: Any, texts: list[str], context_size: int, device: Any) -> dict[str, torch.Tensor]:
    """Right-padded batch truncated to ``context_size``, with BOS prepended when the tokenizer has one."""
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=context_size)
    finally:
        tokenizer.padding_side = side
    ids, mask = enc["input_ids"], enc["attention_mask"]
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and not bool((ids[:, 0] == bos).all()):
        ids = torch.cat([torch.full((ids.shape[0], 1), bos, dtype=ids.dtype), ids], dim=1)[:, :context_size]
        mask = torch.cat([torch.ones((mask.shape[0], 1), dtype=mask.dtype), mask], dim=1)[:, :context_size]
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def _batched(numbered: Iterable[tuple[int, str]], n: int) -> Iterator[tuple[list[str], int]]:
    """Batches of ``n`` non-blank texts from ``(input index, text)`` pairs, each with the input index after it."""
    batch: list[str] = []
    pos = -1
    for pos, t in numbered:
        if not isinstance(t, str):
            raise ValueError(f"texts must be strings, got {type(t).__name__}")
        if t.strip():
            batch.append(t)
        if len(batch) == n:
            yield batch, pos + 1
            batch = []
    if batch:
        yield batch, pos + 1


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def iter_activations(
    model: nn.Module, tokenizer: Any, texts: Iterable[str], **kwargs: Any
) -> ActivationStream:
    """(n_tokens, d) activations per batch of texts, BOS/pad positions dropped, NaNs rejected.

    The iterator is an :class:`ActivationStream` (its keyword arguments: ``layer``, ``hook_point``, ``hook_name``,
    ``head_index``, ``context_size``, ``batch_size``, ``dtype``, ``repeat``): over re-iterable ``texts`` (a list,
    a ``datasets`` column) it can ``seek``, which is how an :class:`ActivationBuffer` resumes exactly."""
    return ActivationStream(model, tokenizer, texts, **kwargs)


def chunk_activations(
    model: nn.Module, tokenizer: Any, spec: HookSpec, texts: list[str], context_size: int, dtype: torch.dtype
) -> torch.Tensor:
    """One LM forward over ``texts`` up to the hook: (n_tokens, d) without BOS/pad, NaNs rejected."""
    enc = tokenize(tokenizer, texts, context_size, _model_device(model))
    acts = run_to_hook(model, spec, enc["input_ids"], enc["attention_mask"])
    acts = acts[keep_mask(enc["input_ids"], enc["attention_mask"], tokenizer)].to(dtype)
    if not torch.isfinite(acts).all():
        raise ValueError(
            f"NaN or inf activations at {spec.module_name!r}; check the model's dtype and weights"
        )
    return acts


class ActivationStream:
    """Activations of ``texts`` chunk by chunk, knowing which input texts are behind the chunks it gave.

    ``position`` counts the input texts (blank ones included) read for the chunks yielded so far, and
    ``seek(n)`` restarts after the first ``n`` texts without running the model on them: a checkpoint of a live
    stream needs only that number. ``repeat=True`` goes over ``texts`` epoch after epoch (for a token budget
    larger than the corpus). Seeking needs re-iterable ``texts``; a one-shot iterator streams but cannot seek.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        texts: Iterable[str],
        *,
        repeat: bool = False,
        layer: int | None = None,
        hook_point: str = "resid_post",
        hook_name: str | None = None,
        head_index: int | None = None,
        context_size: int = 128,
        batch_size: int = 8,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.seekable = iter(texts) is not texts
        if repeat and not self.seekable:
            raise ValueError(
                "repeat=True needs re-iterable texts (a list or a dataset column), not an iterator"
            )
        self.model, self.tokenizer, self.texts, self.repeat = model, tokenizer, texts, repeat
        self.spec = resolve_hook(model, layer, hook_point, hook_name, head_index)
        self.context_size, self.batch_size, self.dtype = context_size, batch_size, dtype
        self.position = 0
        self._produced = False
        self._chunks = _batched(self._numbered(0), batch_size)

    def seek(self, position: int) -> None:
        """Go on after the first ``position`` input texts (as counted by ``position``)."""
        if position < 0:
            raise ValueError(f"position must be >= 0, got {position}")
        if not self.seekable:
            raise ValueError("this stream reads a one-shot iterator of texts and cannot seek")
        self.position = position
        self._produced = position > 0
        self._chunks = _batched(self._numbered(position), self.batch_size)

    def _numbered(self, start: int) -> Iterator[tuple[int, str]]:
        """``(input index, text)`` from index ``start`` on, epochs chained when ``repeat``."""
        if not self.repeat:
            yield from enumerate(itertools.islice(self.texts, start, None) if start else self.texts, start)
            return
        n = len(self.texts) if hasattr(self.texts, "__len__") else None
        if n == 0:
            raise ValueError("no tokens: the text dataset is empty")
        skip, pos = (start % n if n else start), start
        while True:
            seen, useful = 0, False
            for t in self.texts:
                seen += 1
                if seen <= skip:  # the rest of a partly read epoch (whole epochs are skipped by length)
                    continue
                useful = useful or (isinstance(t, str) and bool(t.strip()))
                yield pos, t
                pos += 1
            if seen == 0 or (skip == 0 and not useful):
                raise ValueError("no tokens: the text dataset is empty (or holds only blank texts)")
            skip = max(0, skip - seen)

    def __iter__(self) -> ActivationStream:
        return self

    def __next__(self) -> torch.Tensor:
        try:
            chunk, position = next(self._chunks)
        except StopIteration:
            if not self._produced:
                raise ValueError("no tokens: the text dataset is empty (or holds only blank texts)") from None
            raise
        acts = chunk_activations(self.model, self.tokenizer, self.spec, chunk, self.context_size, self.dtype)
        self._produced = self._produced or acts.shape[0] > 0
        self.position = position
        return acts


def collect_activations(
    model: nn.Module, tokenizer: Any, texts: Iterable[str], max_tokens: int | None = None, **kwargs: Any
) -> torch.Tensor:
    """All activations of ``texts`` as one (N, d) tensor (stops after ``max_tokens``)."""
    parts, n = [], 0
    for acts in iter_activations(model, tokenizer, texts, **kwargs):
        parts.append(acts)
        n += acts.shape[0]
        if max_tokens is not None and n >= max_tokens:
            break
    out = torch.cat(parts)
    return out if max_tokens is None else out[:max_tokens]


class _Prefetcher:
    """Runs the activation stream (the LM forwards) in a background thread, ``depth`` chunks ahead.

    On CUDA the thread uses its own stream, so the LM forward overlaps the SAE step on the default stream.
    Errors raised by the stream (NaN activations, an empty dataset) re-raise in the consumer.
    """

    _END = object()

    def __init__(self, stream: Iterator[torch.Tensor], depth: int) -> None:
        import queue
        import threading

        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.position: int | None = None  # the stream's position after the last chunk handed out
        self.stopped = threading.Event()
        self.cuda_stream = torch.cuda.Stream() if torch.cuda.is_available() else None
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: Iterator[torch.Tensor]) -> None:
        from contextlib import nullcontext

        side = torch.cuda.stream(self.cuda_stream) if self.cuda_stream is not None else nullcontext()
        try:
            with side:  # the current CUDA stream is per thread: the LM forwards run on the side stream
                for acts in stream:
                    event = None
                    if self.cuda_stream is not None and acts.is_cuda:
                        event = torch.cuda.Event()
                        event.record(self.cuda_stream)
                    self.queue.put((acts, event, getattr(stream, "position", None)))
                    if self.stopped.is_set():
                        return
        except BaseException as exc:  # hand the error to the consumer
            self.queue.put((exc, None, None))
            return
        self.queue.put((self._END, None, None))

    def __iter__(self) -> _Prefetcher:
        return self

    def close(self) -> None:
        """Stop the background thread (it may be blocked on a full queue: make room once)."""
        self.stopped.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.1)
            except Exception:  # queue.Empty: the thread is finishing its current chunk
                pass
            self.thread.join(timeout=0.1)

    def __next__(self) -> torch.Tensor:
        item, event, position = self.queue.get()
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        if event is not None:
            torch.cuda.current_stream(item.device).wait_event(event)
            item.record_stream(torch.cuda.current_stream(item.device))
        self.position = position
        return item


class ActivationBuffer:
    """Shuffled token buffer on the device, refilled from an activation stream when half empty.

    Shuffling across many texts matters: consecutive tokens of one text are strongly correlated. With
    ``prefetch > 0`` the stream runs that many chunks ahead in a background thread (its own CUDA stream on
    GPU), so the LM forward overlaps SAE training. Over a seekable :class:`ActivationStream` the buffer
    resumes exactly: ``state_dict`` holds the unserved tokens, the shuffle's generator and the number of
    input texts behind the chunks taken (chunks prefetched but not taken are read again).
    """

    def __init__(
        self,
        stream: Iterable[torch.Tensor],
        batch_size: int,
        buffer_tokens: int = 65536,
        device: Any = None,
        seed: int = 0,
        prefetch: int = 0,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.source = iter(stream)
        self.prefetch = prefetch
        self.stream = _Prefetcher(self.source, prefetch) if prefetch > 0 else self.source
        self.batch_size = batch_size
        self.buffer_tokens = max(buffer_tokens, 2 * batch_size)
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.storage: torch.Tensor | None = None
        self.exhausted = False
        self.tokens_served = 0
        self.stream_position = 0  # input texts behind the chunks taken (seekable streams)

    def close(self) -> None:
        """Stop a prefetching stream's background thread (needed for endless streams)."""
        if isinstance(self.stream, _Prefetcher):
            self.stream.close()

    def _refill(self) -> None:
        parts = [] if self.storage is None else [self.storage]
        have = 0 if self.storage is None else self.storage.shape[0]
        while have < self.buffer_tokens and not self.exhausted:
            try:
                acts = next(self.stream)
            except StopIteration:
                self.exhausted = True
                break
            self.stream_position = getattr(self.stream, "position", None) or 0
            acts = acts.to(self.device) if self.device is not None else acts
            parts.append(acts)
            have += acts.shape[0]
        if parts:
            data = torch.cat(parts)
            perm = torch.randperm(data.shape[0], generator=self.generator).to(data.device)
            self.storage = data[perm]

    def __iter__(self) -> ActivationBuffer:
        return self

    def __next__(self) -> torch.Tensor:
        if self.storage is None or (self.storage.shape[0] < self.buffer_tokens // 2 and not self.exhausted):
            self._refill()
        if self.storage is None or self.storage.shape[0] < self.batch_size:
            raise StopIteration
        batch, self.storage = self.storage[: self.batch_size], self.storage[self.batch_size :]
        self.tokens_served += batch.shape[0]
        return batch

    def state_dict(self) -> dict[str, Any] | None:
        """What an exact resume needs, or None when the stream cannot seek (a one-shot iterator of texts).

        The unserved tokens are part of it: up to ``buffer_tokens`` rows (65536 x d floats by default)."""
        if not getattr(self.source, "seekable", False):
            return None
        return {
            "storage": None if self.storage is None else self.storage.clone(),
            "generator": self.generator.get_state(),
            "exhausted": self.exhausted,
            "tokens_served": self.tokens_served,
            "stream_position": self.stream_position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` was taken: the same tokens in the same order as without the break."""
        if not getattr(self.source, "seekable", False):
            raise ValueError(
                "this buffer's stream cannot seek (a one-shot iterator of texts): it cannot resume"
            )
        self.close()
        self.source.seek(int(state["stream_position"]))
        self.stream = _Prefetcher(self.source, self.prefetch) if self.prefetch > 0 else self.source
        storage = state["storage"]
        if storage is not None and self.device is not None:
            storage = storage.to(self.device)
        self.storage = storage
        self.generator.set_state(state["generator"].cpu())
        self.exhausted = bool(state["exhausted"])
        self.tokens_served = int(state["tokens_served"])
        self.stream_position = int(state["stream_position"])


class TensorSource:
    """Shuffled batches from an in-memory (N, d) tensor, epoch after epoch; resumable via ``state_dict``."""

    def __init__(self, acts: torch.Tensor, batch_size: int, seed: int = 0, device: Any = None) -> None:
        if acts.ndim != 2 or acts.shape[0] == 0:
            raise ValueError(f"activations must be a non-empty (N, d) tensor, got shape {tuple(acts.shape)}")
        if not torch.isfinite(acts).all():
            raise ValueError("activations contain NaN or inf values")
        self.acts = acts if device is None else acts.to(device)
        self.batch_size = min(batch_size, acts.shape[0])
        self.seed = seed
        self.epoch = 0
        self.pos = 0
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.acts.shape[0], generator=g).to(self.acts.device)

    def __iter__(self) -> TensorSource:
        return self

    def __next__(self) -> torch.Tensor:
        if self.pos + self.batch_size > self.acts.shape[0]:
            self.epoch += 1
            self.pos = 0
            self._perm = self._permutation()
        idx = self._perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.acts[idx]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._perm = self._permutation()


def cache_activations(acts: torch.Tensor | Iterable[torch.Tensor], path: str | Path) -> Path:
    """Save activations as a ``datasets`` Arrow dataset (one fixed-size float32 list per token)."""
    import numpy as np
    import pyarrow as pa
    from datasets import Dataset

    parts = [acts] if isinstance(acts, torch.Tensor) else list(acts)
    if not parts or sum(p.shape[0] for p in parts) == 0:
        raise ValueError("no activations to cache")
    data = torch.cat([p.detach().float().cpu() for p in parts]).numpy()
    flat = pa.array(np.ascontiguousarray(data).reshape(-1), type=pa.float32())
    column = pa.FixedSizeListArray.from_arrays(flat, data.shape[1])
    Dataset(pa.table({"activations": column})).save_to_disk(str(path))
    return Path(path)


def load_cached_activations(path: str | Path) -> torch.Tensor:
    """The (N, d) float32 tensor saved by ``cache_activations``."""
    import numpy as np
    from datasets import load_from_disk

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no cached activations at {path}")
    table = load_from_disk(str(path)).data.table.column("activations").combine_chunks()
    d = table.type.list_size
    return torch.from_numpy(np.asarray(table.flatten()).reshape(-1, d).copy())


# -- sharded on-disk caches ------------------------------------------------------------------------------------
SHARD_INDEX = "index.json"


def cache_activations_sharded(
    model: nn.Module,
    tokenizer: Any,
    texts: Iterable[str],
    path: str | Path,
    *,
    shard_tokens: int = 262_144,
    batch_size: int = 8,
    max_tokens: int | None = None,
    **hook_kwargs: Any,
) -> Path:
    """Collect activations of ``texts`` into ``path/shard-NNNNN.safetensors`` files of ~``shard_tokens`` rows.

    Resumable: ``index.json`` records each finished shard and how many input texts it covers, so a rerun on the
    same ``texts`` skips the texts already cached and appends new shards (a crash loses at most the shard being
    filled). Training streams the shards with ``ShardedActivationSource`` without loading them all.

    Args:
        model, tokenizer: the LM and its tokenizer.
        texts: the corpus (the same order on every run, for resuming).
        path: the cache folder (created).
        shard_tokens: rows per shard file (the memory held while collecting).
        batch_size: texts per LM forward.
        max_tokens: stop once this many rows are cached in all.
        hook_kwargs: ``layer`` / ``hook_point`` / ``hook_name`` / ``head_index`` / ``context_size`` / ``dtype``, as for
            ``iter_activations``.
    """
    import json

    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    index_file = path / SHARD_INDEX
    index = json.loads(index_file.read_text()) if index_file.exists() else {"shards": [], "texts_done": 0}
    spec = resolve_hook(
        model,
        hook_kwargs.get("layer"),
        hook_kwargs.get("hook_point", "resid_post"),
        hook_kwargs.get("hook_name"),
        hook_kwargs.get("head_index"),
    )
    meta = {"module": spec.module_name, "layer": spec.layer, "hook_point": spec.hook_point}
    if spec.columns is not None:
        meta["head_index"] = hook_kwargs["head_index"]
    if index.get("hook", meta) != meta:
        raise ValueError(f"{path} caches hook {index['hook']}, not {meta}; use another folder")
    index["hook"] = meta
    rows = sum(s["rows"] for s in index["shards"])
    texts_done = index["texts_done"]  # input texts behind the chunks cached or buffered
    parts: list[torch.Tensor] = []
    buffered = 0

    def flush(texts_done: int) -> None:
        nonlocal parts, buffered, rows
        if not parts:
            return
        data = torch.cat(parts)
        name = f"shard-{len(index['shards']):05d}.safetensors"
        save_file({"activations": data.contiguous()}, str(path / name))
        index["shards"].append({"file": name, "rows": data.shape[0]})
        index["texts_done"] = texts_done
        index["d"] = data.shape[1]
        rows += data.shape[0]
        tmp = index_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=1))
        tmp.replace(index_file)  # atomic: the index never names a shard that is not fully written
        parts, buffered = [], 0

    context_size, dtype = hook_kwargs.get("context_size", 128), hook_kwargs.get("dtype", torch.float32)
    # a rerun skips the texts already cached; a chunk read but not cached (max_tokens) is not counted as done
    remaining = enumerate(itertools.islice(texts, texts_done, None), texts_done)
    for chunk, after in _batched(remaining, batch_size):
        if max_tokens is not None and rows + buffered >= max_tokens:
            break
        acts = chunk_activations(model, tokenizer, spec, chunk, context_size, dtype)
        parts.append(acts.cpu())
        buffered += acts.shape[0]
        texts_done = after
        if buffered >= shard_tokens:
            flush(texts_done)
    flush(texts_done)
    if not index["shards"]:
        raise ValueError("no activations cached: the text dataset is empty")
    return path


class ShardedActivationSource:
    """Shuffled batches streamed from a sharded cache (``cache_activations_sharded``), ``shards_in_memory`` at a time.

    Each epoch visits the shards in a seeded random order; rows are shuffled within the shards held in memory,
    so memory stays at ``shards_in_memory`` shards however large the cache. Resumable via ``state_dict``.
    """

    def __init__(
        self, path: str | Path, batch_size: int, seed: int = 0, shards_in_memory: int = 2, device: Any = None
    ) -> None:
        import json

        self.path = Path(path)
        index_file = self.path / SHARD_INDEX
        if not index_file.exists():
            raise FileNotFoundError(f"{self.path} is not a sharded activation cache (no {SHARD_INDEX})")
        self.index = json.loads(index_file.read_text())
        self.shards = [s["file"] for s in self.index["shards"]]
        if not self.shards:
            raise ValueError(f"{self.path} holds no shards")
        self.rows = sum(s["rows"] for s in self.index["shards"])
        self.batch_size = min(batch_size, self.rows)
        self.seed, self.shards_in_memory, self.device = seed, max(1, shards_in_memory), device
        self.epoch, self.served = 0, 0
        self._start_epoch()

    def _start_epoch(self) -> None:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self._order = torch.randperm(len(self.shards), generator=g).tolist()
        self._g = g
        self._next_shard = 0
        self._buffer = torch.empty(0, self.index["d"])
        self._served_in_epoch = 0

    def _load(self, name: str) -> torch.Tensor:
        from safetensors import safe_open

        with safe_open(str(self.path / name), framework="pt") as f:
            return f.get_tensor("activations").float()

    def _fill(self) -> bool:
        """Load the next group of shards (shuffled together with what is left); False at the end of an epoch."""
        if self._next_shard >= len(self._order):
            return False
        group = self._order[self._next_shard : self._next_shard + self.shards_in_memory]
        self._next_shard += len(group)
        data = torch.cat([self._buffer, *(self._load(self.shards[i]) for i in group)])
        self._buffer = data[torch.randperm(data.shape[0], generator=self._g)]
        return True

    def __iter__(self) -> ShardedActivationSource:
        return self

    def __next__(self) -> torch.Tensor:
        while self._buffer.shape[0] < self.batch_size:
            if not self._fill():  # epoch over: the remainder (< one batch) is dropped, like TensorSource
                self.epoch += 1
                self._start_epoch()
        batch, self._buffer = self._buffer[: self.batch_size], self._buffer[self.batch_size :]
        self.served += 1
        self._served_in_epoch += 1
        return batch if self.device is None else batch.to(self.device)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_in_epoch": self._served_in_epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Replays the epoch's shuffles up to the saved batch (reads shards again, holds no more memory)."""
        self.epoch = int(state["epoch"])
        self._start_epoch()
        for _ in range(int(state["batches_in_epoch"])):
            next(self)
