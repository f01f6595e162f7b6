"""Greedy Coordinate Gradient (Zou et al. 2023), readable in one file, for any HF causal LM on transformers 5.

One step: take the gradient of the target loss w.r.t. the one-hot suffix tokens, sample ``search_width``
candidates from the ``topk`` most promising replacements, keep those that survive decode/re-encode (alone and
inside the rendered prompt, so the suffix found is the one a user typing the text gets), compute
every candidate's loss in memory-sized chunks, move to the best. What makes it fast:

* the fixed prefix (system prompt + user text before the suffix) is run once and kept as a KV cache; each
  chunk gets a ``DynamicCache`` built from it by batch-expansion, so candidates run only suffix+after+target;
* a candidate that first differs from the current suffix at position ``j`` shares the KV of tokens ``< j``
  with it; the gradient pass already computed that KV, so candidates are sorted by ``j`` and a chunk may
  start at its first changed token (exact) where that saves more than a forward pass's fixed cost;
* only the logits that predict the target are computed (``logits_to_keep``), not ``seq x vocab`` per candidate;
* one host sync per step (the chosen loss); chunks, filtering and sampling stay on the device.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hf_addons.kv_cache import batched_cache, cache_kwarg, cache_tensors, output_cache
from hf_addons.redteam.config import GCGConfig, GCGResult, GCGStep

SLOT = "{optim_str}"
NO_CACHE_HINT = "Pass GCGConfig(use_prefix_cache=False) for models without KV-cache support."
# nanoGCG's characters for random buffer initialisations
INIT_CHARS = list(".,!?;:()[]{}@#$%&*wxyz")


def mellowmax(t: Tensor, alpha: float = 1.0, dim: int = -1) -> Tensor:
    """Smooth maximum (Asadi & Littman 2017): the loss option nanoGCG calls ``use_mellowmax``."""
    return (torch.logsumexp(alpha * t, dim=dim) - math.log(t.shape[dim])) / alpha


def sample_ids_from_grad(
    ids: Tensor,
    grad: Tensor,
    search_width: int,
    topk: int,
    n_replace: int = 1,
    forbidden: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``search_width`` copies of ``ids`` (L,), each with ``n_replace`` positions set to a random top-k token."""
    n = ids.shape[0]
    if forbidden is not None:
        grad = grad.masked_fill(forbidden[: grad.shape[1]].to(grad.device), float("inf"))
    top = (-grad).topk(min(topk, grad.shape[1]), dim=1).indices  # (L, k)
    noise = torch.rand((search_width, n), device=grad.device, generator=generator)
    pos = noise.argsort(dim=1)[:, : min(n_replace, n)]  # (S, r) distinct positions per candidate
    pick = torch.randint(0, top.shape[1], pos.shape, device=grad.device, generator=generator)
    vals = top[pos, pick]
    return ids.unsqueeze(0).repeat(search_width, 1).scatter_(1, pos, vals)


def retokenizes(
    tokenizer: Any,
    ids: Tensor,
    before: str = "",
    after: str = "",
    context: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Bool mask of the rows of ``ids`` that decode and re-encode to exactly themselves (batched, in Rust).

    With ``before``/``after`` text and their token ids as ``context``, the check is done in the prompt: a suffix
    whose first or last token merges with the text around it would be another prompt once typed as text.
    """
    texts = tokenizer.batch_decode(ids.tolist())
    if context is not None:
        texts = [before + t + after for t in texts]
        pre, post = (c.reshape(1, -1).to(ids.device) for c in context)
        ids = torch.cat([pre.expand(ids.shape[0], -1), ids, post.expand(ids.shape[0], -1)], 1)
    n = ids.shape[1]
    if tokenizer.pad_token_id is None:
        enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
        ref = ids.tolist()
        return torch.tensor([e == r for e, r in zip(enc, ref)], device=ids.device)
    enc = tokenizer(texts, add_special_tokens=False, padding=True, padding_side="right", return_tensors="pt")
    got, lengths = enc["input_ids"], enc["attention_mask"].sum(1)
    if got.shape[1] < n:
        got = F.pad(got, (0, n - got.shape[1]), value=-1)
    same = (got[:, :n] == ids.cpu()).all(1) & (lengths == n)
    return same.to(ids.device)


def survives(tokenizer: Any, cands: Tensor, current: Tensor, prompts: list[Prompt]) -> Tensor:
    """Candidates that re-encode to themselves alone and inside every prompt where the current suffix does
    (where even the current one merges with its neighbours, single-token edits cannot fix it: alone only)."""
    keep = retokenizes(tokenizer, cands)
    rows = torch.cat([current, cands])
    for p in prompts:
        ok = retokenizes(tokenizer, rows, p.before_text, p.after_text, (p.before_ids, p.after_ids))
        keep &= ok[1:] | ~ok[0]
    return keep


def forbidden_tokens(tokenizer: Any, rows: int, allow_non_ascii: bool, allow_special: bool) -> Tensor:
    """Bool mask over the embedding rows that candidates may not use: beyond the tokenizer, special, non-ASCII."""
    mask = torch.zeros(rows, dtype=torch.bool)
    n = min(len(tokenizer), rows)
    mask[n:] = True
    if not allow_special:
        special = set(tokenizer.all_special_ids)
        special |= {i for i, tok in getattr(tokenizer, "added_tokens_decoder", {}).items() if tok.special}
        special = [i for i in special if i is not None and 0 <= i < rows]
        mask[special] = True
    if not allow_non_ascii:
        # once per GCG object, not per step: decode each token alone and keep printable ASCII
        decoded = tokenizer.batch_decode([[i] for i in range(n)])
        mask[:n] |= torch.tensor([not (s and s.isascii() and s.isprintable()) for s in decoded])
    return mask


def plan_chunks(
    groups: list[tuple[int, int]], span: int, max_rows: int, overhead: float
) -> list[tuple[int, int, int]]:
    """Split candidates sorted by first changed position into chunks ``(lo, hi, start)``.

    ``groups`` are (start, count) runs; a chunk runs every row from its first row's start, so merging runs
    wastes ``rows * (start difference)`` token-rows but saves a pass's ``overhead``. Exact DP over the runs.
    """
    bounds = [0]
    for _, count in groups:
        bounds.append(bounds[-1] + count)
    g = len(groups)
    best = [0.0] + [math.inf] * g
    prev = [0] * (g + 1)
    for j in range(1, g + 1):
        for i in range(j):
            rows = bounds[j] - bounds[i]
            cost = best[i] + math.ceil(rows / max_rows) * overhead + rows * (span - groups[i][0])
            if cost < best[j]:
                best[j], prev[j] = cost, i
    plan, j = [], g
    while j > 0:
        i = prev[j]
        plan.append((bounds[i], bounds[j], groups[i][0]))
        j = i
    return plan[::-1]


def render_slot(tokenizer: Any, messages: str | list[dict[str, str]]) -> tuple[str, str]:
    """The prompt text before and after the ``{optim_str}`` slot (appended to the last message if absent),
    with the chat template applied, or the messages one a line for a tokenizer without one."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty string or a list of {'role', 'content'} dicts")
    messages = copy.deepcopy(messages)
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or "role" not in m:
            raise ValueError(f"each message needs a 'role' and a string 'content', got {m!r}")
    slots = sum(m["content"].count(SLOT) for m in messages)
    if slots > 1:
        raise ValueError(f"the messages contain {slots} {SLOT} slots; GCG optimises exactly one")
    if slots == 0:
        messages[-1]["content"] += SLOT
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:  # a plain LM: the messages' text, one per line
        text = "\n".join(m["content"] for m in messages)
    if text.count(SLOT) != 1:
        raise ValueError(
            f"the chat template dropped or repeated the {SLOT} slot (found {text.count(SLOT)} in the "
            "rendered prompt); put the slot in a message the template renders, e.g. the last user turn"
        )
    before, after = text.split(SLOT)
    return before, after


def check_prompt(
    tokenizer: Any, messages: str | list[dict[str, str]], target: str, add_space_before_target: bool = False
) -> tuple[str, str, str]:
    """(before, after, target) text of an attack prompt, or a ValueError saying what is wrong with it: an empty
    target, a slot problem, or a target that tokenizes differently after the prompt than alone (the loss would
    then optimise tokens the model never sees). Cheap: tokenizer only, no model."""
    if not isinstance(target, str) or not target.strip():
        raise ValueError("the target string is empty; GCG needs a target continuation to optimise towards")
    before, after = render_slot(tokenizer, messages)
    if add_space_before_target:
        target = " " + target
    after_ids = tokenizer(after, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    joint = tokenizer(after + target, add_special_tokens=False)["input_ids"]
    if joint != after_ids + target_ids:
        raise ValueError(
            f"the target {target!r} tokenizes differently after the prompt than alone "
            f"(in context: {tokenizer.convert_ids_to_tokens(joint[len(after_ids) :])}, alone: "
            f"{tokenizer.convert_ids_to_tokens(target_ids)}); adjust its leading space "
            "(GCGConfig.add_space_before_target) or the template"
        )
    return before, after, target


@dataclass
class _Side:
    """One model's view of a prompt: fixed embeddings, the prefix KV and the KV of prefix + current suffix."""

    model: Any
    embed: Any
    before_embeds: Tensor
    after_embeds: Tensor
    target_embeds: Tensor
    prefix_kv: list[tuple[Tensor, Tensor]] | None = None
    state_kv: list[tuple[Tensor, Tensor]] | None = None  # prefix + current suffix, from the gradient pass
    state_ids: Tensor | None = None


@dataclass
class Prompt:
    """A (messages, target) pair tokenized around the ``{optim_str}`` slot."""

    before_ids: Tensor
    after_ids: Tensor
    target_ids: Tensor
    target: str
    main: _Side
    draft: _Side | None = None
    before_text: str = ""
    after_text: str = ""


class _Buffer:
    """nanoGCG's attack buffer: size 0 keeps only the latest step's best; size k keeps the k lowest losses."""

    def __init__(self, size: int):
        self.size = size
        self.items: list[tuple[float, Tensor]] = []

    def add(self, loss: float, ids: Tensor) -> None:
        if self.size == 0:
            self.items = [(loss, ids)]
        elif len(self.items) < self.size:
            self.items.append((loss, ids))
            self.items.sort(key=lambda x: x[0])
        elif loss < self.items[-1][0]:
            self.items[-1] = (loss, ids)
            self.items.sort(key=lambda x: x[0])

    @property
    def best_ids(self) -> Tensor:
        return self.items[0][1]


def _spearman(a: Tensor, b: Tensor) -> Tensor:
    ra = a.argsort().argsort().float()
    rb = b.argsort().argsort().float()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12)


class GCG:
    """GCG attack on ``model`` (any HF causal LM, PEFT models included) with ``tokenizer``.

    ``run(messages, target)`` returns a ``GCGResult``; ``steps(messages, target)`` yields a ``GCGStep`` per
    step for live display. ``draft_model`` (same tokenizer) enables probe sampling when the config asks.
    """

    def __init__(self, model: Any, tokenizer: Any, config: GCGConfig | None = None, draft_model: Any = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config or GCGConfig()
        self.embed = _input_embeddings(model)
        self.device = self.embed.weight.device
        self.result: GCGResult | None = None
        self.draft_model = draft_model
        if self.config.probe_sampling and draft_model is None:
            raise ValueError(
                "GCGConfig.probe_sampling needs a draft_model (sharing the tokenizer) passed to GCG"
            )
        if draft_model is not None:
            rows = _input_embeddings(draft_model).weight.shape[0]
            if rows < len(tokenizer):
                raise ValueError(
                    f"draft_model has {rows} embedding rows but the tokenizer has {len(tokenizer)} tokens; "
                    "probe sampling needs a draft model that shares the target model's tokenizer"
                )
        self._matrix: Tensor | None = None
        self._forbidden: Tensor | None = None
        self._keep_logits_ok: dict[int, bool] = {}
        self.found: list[Tensor] = []  # each earlier attack's best suffix ids, newest last (warm_start)

    # ---------------------------------------------------------------- prompt preparation
    def render(self, messages: str | list[dict[str, str]]) -> tuple[str, str]:
        """The prompt text before and after the ``{optim_str}`` slot, with the chat template applied."""
        return render_slot(self.tokenizer, messages)

    def prepare(self, messages: str | list[dict[str, str]], target: str) -> Prompt:
        """Tokenize around the slot, check the target survives in context, and cache the prefix KV."""
        before, after, target = check_prompt(
            self.tokenizer, messages, target, self.config.add_space_before_target
        )
        tok = self.tokenizer

        def ids(text: str) -> Tensor:
            return torch.tensor([tok(text, add_special_tokens=False)["input_ids"]], device=self.device).long()

        before_ids, after_ids, target_ids = ids(before), ids(after), ids(target)
        prompt = Prompt(
            before_ids,
            after_ids,
            target_ids,
            target,
            self._side(self.model, before_ids, after_ids, target_ids),
            before_text=before,
            after_text=after,
        )
        if self.draft_model is not None and self.config.probe_sampling:
            prompt.draft = self._side(self.draft_model, before_ids, after_ids, target_ids)
        return prompt

    def _side(self, model: Any, before_ids: Tensor, after_ids: Tensor, target_ids: Tensor) -> _Side:
        embed = _input_embeddings(model)
        dev = embed.weight.device
        with torch.no_grad():
            side = _Side(
                model, embed, embed(before_ids.to(dev)), embed(after_ids.to(dev)), embed(target_ids.to(dev))
            )
            if self.config.use_prefix_cache and before_ids.shape[1] > 0:
                out = model(inputs_embeds=side.before_embeds, use_cache=True)
                side.prefix_kv = cache_tensors(output_cache(out), before_ids.shape[1], hint=NO_CACHE_HINT)
        return side

    # ---------------------------------------------------------------- model calls
    def _target_logits(self, model: Any, embeds: Tensor, cache: Any, n_target: int, keep_cache: bool):
        """Logits at the positions that predict the target (B, T, V), and the cache when asked for."""
        kw: dict[str, Any] = {
            "inputs_embeds": embeds,
            cache_kwarg(model): cache,
            "use_cache": keep_cache or cache is not None,
        }
        key = id(model)
        if self._keep_logits_ok.get(key, True):
            try:
                out = model(**kw, logits_to_keep=n_target + 1)
                self._keep_logits_ok[key] = True
            except TypeError:
                if key in self._keep_logits_ok:
                    raise
                self._keep_logits_ok[key] = False
                out = model(**kw)
        else:
            out = model(**kw)
        return out.logits[:, -(n_target + 1) : -1], output_cache(out)

    def _loss(self, logits: Tensor, target_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Per-row loss (B,) and whether the greedy prediction equals the target at every position (B,)."""
        logits = logits.float()
        tgt = target_ids.expand(logits.shape[0], -1)
        picked = logits.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)  # (B, T)
        if self.config.use_mellowmax:
            loss = mellowmax(-picked, self.config.mellowmax_alpha, dim=-1)
        else:  # cross-entropy over the contiguous vocab axis (F.cross_entropy on (B, V, T) is several times slower)
            loss = (torch.logsumexp(logits, dim=-1) - picked).mean(-1)
        return loss, (picked >= logits.amax(-1)).all(-1)

    def _embedding_matrix(self) -> Tensor:
        """What the embedding layer maps each token to (its weight, unless the layer rescales it)."""
        if self._matrix is None:
            if type(self.embed) is torch.nn.Embedding:
                self._matrix = self.embed.weight
            else:
                with torch.no_grad():
                    rows = torch.arange(self.embed.weight.shape[0], device=self.device)
                    self._matrix = self.embed(rows)
        return self._matrix

    def token_gradient(self, ids: Tensor, prompts: list[Prompt]) -> Tensor:
        """d(sum of target losses)/d(one-hot suffix), shape (L, vocab); also caches prefix+suffix KV per prompt."""
        total = None
        for p in prompts:
            side = p.main
            leaf = side.embed(ids).detach().requires_grad_(True)
            with torch.enable_grad():
                if self.config.use_prefix_cache:
                    embeds = torch.cat([leaf, side.after_embeds, side.target_embeds], dim=1)
                    cache = batched_cache(side.prefix_kv, p.before_ids.shape[1], 1, _config(side.model))
                else:
                    embeds = torch.cat(
                        [side.before_embeds, leaf, side.after_embeds, side.target_embeds], dim=1
                    )
                    cache = None
                logits, cache = self._target_logits(
                    side.model, embeds, cache, p.target_ids.shape[1], self.config.use_prefix_cache
                )
                loss, _ = self._loss(logits, p.target_ids)
                (grad,) = torch.autograd.grad(loss.sum(), [leaf])
            if self.config.use_prefix_cache:
                side.state_kv = cache_tensors(cache, p.before_ids.shape[1] + ids.shape[1], hint=NO_CACHE_HINT)
                side.state_ids = ids[0]
            total = grad[0] if total is None else total + grad[0]
        return total @ self._embedding_matrix().T.to(total.dtype)

    def _refresh_state(self, side: _Side, p: Prompt, ids: Tensor) -> None:
        """KV of prefix + current suffix for a model that had no gradient pass (the draft model)."""
        if not self.config.use_prefix_cache:
            return
        with torch.no_grad():
            cache = batched_cache(side.prefix_kv, p.before_ids.shape[1], 1, _config(side.model))
            out = side.model(
                inputs_embeds=side.embed(ids), use_cache=True, **{cache_kwarg(side.model): cache}
            )
        side.state_kv = cache_tensors(
            output_cache(out), p.before_ids.shape[1] + ids.shape[1], hint=NO_CACHE_HINT
        )
        side.state_ids = ids[0]

    def _chunk(self, side: _Side, p: Prompt, n: int, run_len: int) -> int:
        """Candidates per forward pass so that one chunk's logits, KV and activations fit the memory budget."""
        if self.config.batch_size is not None:
            return min(self.config.batch_size, n)
        budget = self.config.memory_budget
        if budget is None:
            if self.device.type == "cuda":
                budget = int(torch.cuda.mem_get_info(self.device)[0] * 0.5)
            else:
                budget = 1 << 30
        c = _config(side.model).get_text_config()
        hidden = c.hidden_size
        heads = c.num_attention_heads
        head_dim = getattr(c, "head_dim", None) or hidden // heads
        kv_heads = getattr(c, "num_key_value_heads", None) or heads
        inter = getattr(c, "intermediate_size", None) or 4 * hidden
        el = side.embed.weight.element_size()
        total = p.before_ids.shape[1] + run_len
        vocab = side.embed.weight.shape[0]
        per = (
            (p.target_ids.shape[1] + 1) * vocab * (el + 12)  # logits, their float copy, log-softmax
            + c.num_hidden_layers * 2 * kv_heads * head_dim * total * el * 2  # cache + its concatenation
            + run_len * (hidden * 10 + inter * 3) * el  # one layer's activations
            + heads * run_len * total * 4  # attention scores
        )
        return max(1, min(n, budget // per))

    def _overhead_rows(self, side: _Side) -> float:
        """A forward pass's fixed cost in token-rows: kernel launches on a GPU; on a CPU, op dispatch and
        streaming the weights, which do not shrink with threads or a faster dtype while the per-token matmuls
        do. Measured on SmolLM2, one Sapphire Rapids core: ~70 token-rows in float32, ~140 in bfloat16 (AMX)."""
        if side.embed.weight.device.type == "cuda":
            params = sum(t.numel() for t in side.model.parameters())
            return max(64.0, 2.5e11 / params)  # ~5 ms of launches at ~100 TFLOP/s
        faster = 2.0 if side.embed.weight.dtype in (torch.bfloat16, torch.float16) else 1.0
        return 64.0 * faster * torch.get_num_threads()

    def candidate_losses(
        self, cands: Tensor, prompts: list[Prompt], draft: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Loss of each candidate suffix summed over ``prompts`` (S,), and whether it hits every target (S,)."""
        n, length = cands.shape
        total = torch.zeros(n, device=cands.device)
        hit = torch.ones(n, dtype=torch.bool, device=cands.device)
        for p in prompts:
            side = p.draft if draft else p.main
            reuse = side.state_kv is not None and side.state_ids is not None
            if reuse:
                # candidates sorted by first changed position share the KV of the unchanged tokens before it
                first = (cands != side.state_ids.to(cands.device)).int().argmax(1)
                order = first.argsort(stable=True)
                values, counts = torch.unique_consecutive(first[order], return_counts=True)
                groups = list(zip(values.tolist(), counts.tolist()))  # the step's one extra host sync
                kv = side.state_kv
            else:
                order, groups, kv = None, [(0, n)], side.prefix_kv
            rows = cands if order is None else cands[order]
            loss_sorted = torch.empty(n, device=cands.device)
            hit_sorted = torch.empty(n, dtype=torch.bool, device=cands.device)
            fixed = p.after_ids.shape[1] + p.target_ids.shape[1]
            size = self._chunk(side, p, n, length - groups[0][0] + fixed)
            for lo, hi, s in plan_chunks(groups, length + fixed, size, self._overhead_rows(side)):
                i = lo
                while i < hi:
                    b = min(size, hi - i)
                    chunk = rows[i : i + b, s:].to(side.embed.weight.device)
                    parts = [
                        side.embed(chunk),
                        side.after_embeds.expand(b, -1, -1),
                        side.target_embeds.expand(b, -1, -1),
                    ]
                    if kv is None and not self.config.use_prefix_cache:
                        parts.insert(0, side.before_embeds.expand(b, -1, -1))
                    cache_len = p.before_ids.shape[1] + s if kv is not None else 0
                    try:
                        with torch.no_grad():
                            cache = batched_cache(kv, cache_len, b, _config(side.model))
                            logits, _ = self._target_logits(
                                side.model, torch.cat(parts, 1), cache, p.target_ids.shape[1], False
                            )
                            loss, ok = self._loss(logits, p.target_ids.to(logits.device))
                    except torch.OutOfMemoryError:
                        if b == 1:
                            raise
                        size = max(1, b // 2)  # the estimate was off: halve and retry this chunk
                        _empty_cache(self.device)
                        continue
                    loss_sorted[i : i + b] = loss.to(cands.device)
                    hit_sorted[i : i + b] = ok.to(cands.device)
                    i += b
            if order is None:
                total += loss_sorted
                hit &= hit_sorted
            else:
                total[order] += loss_sorted
                hit[order] &= hit_sorted
        return total, hit

    def _evaluate(
        self, cands: Tensor, prompts: list[Prompt], gen: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(losses, hits, the candidates they belong to): all candidates, or probe sampling's subset."""
        if not (self.config.probe_sampling and prompts[0].draft is not None):
            loss, hit = self.candidate_losses(cands, prompts)
            return loss, hit, cands
        n = cands.shape[0]
        probe = torch.randperm(n, device=cands.device, generator=gen)[
            : max(2, n // self.config.probe_sampling_factor)
        ]
        draft_loss, _ = self.candidate_losses(cands, prompts, draft=True)
        probe_loss, probe_hit = self.candidate_losses(cands[probe], prompts)
        alpha = (1 + _spearman(probe_loss, draft_loss[probe])) / 2
        size = int(((1 - alpha) * n / self.config.probe_r).clamp(1, n))
        top = draft_loss.topk(size, largest=False).indices
        top_loss, top_hit = self.candidate_losses(cands[top], prompts)
        return (
            torch.cat([probe_loss, top_loss]),
            torch.cat([probe_hit, top_hit]),
            torch.cat([cands[probe], cands[top]]),
        )

    # ---------------------------------------------------------------- the search
    def _initial_ids(self, gen: torch.Generator) -> Tensor:
        cfg, tok = self.config, self.tokenizer
        inits = [cfg.optim_str_init] if isinstance(cfg.optim_str_init, str) else list(cfg.optim_str_init)
        enc = [tok(s, add_special_tokens=False)["input_ids"] for s in inits]
        if len({len(e) for e in enc}) != 1:
            raise ValueError("all optim_str_init strings must tokenize to the same number of tokens")
        if not enc[0]:
            raise ValueError(f"optim_str_init {inits[0]!r} tokenizes to no tokens")
        ids = torch.tensor(enc, device=self.device).long()
        extra = max(cfg.buffer_size, 1) - ids.shape[0]
        if extra > 0:  # random initialisations from nanoGCG's character set, as many as the buffer holds
            chars = torch.tensor(
                [tok(c, add_special_tokens=False)["input_ids"][0] for c in INIT_CHARS], device=self.device
            )
            pick = torch.randint(0, len(chars), (extra, ids.shape[1]), device=self.device, generator=gen)
            ids = torch.cat([ids, chars[pick]])
        if cfg.warm_start:  # earlier best suffixes of this length (the length never changes in a search)
            earlier = [w for w in self.found[-cfg.warm_start :] if w.shape[1] == ids.shape[1]]
            ids = torch.cat([ids, *earlier])
        return ids

    def _fill_buffer(self, ids: Tensor, prompts: list[Prompt]) -> _Buffer:
        """The buffer's first contents: the lowest-loss starting points (a size-0 buffer keeps the best one)."""
        buffer = _Buffer(self.config.buffer_size)
        loss, _ = self.candidate_losses(ids, prompts)
        for value, row in sorted(zip(loss.tolist(), ids), key=lambda x: -x[0]):  # the best is added last
            buffer.add(value, row.unsqueeze(0))
        return buffer

    def reply(self, prompt: Prompt, suffix_ids: Tensor, max_new_tokens: int = 64) -> str:
        """The model's greedy reply to ``prompt`` with ``suffix_ids`` in the slot, token for token as searched
        (no decode/re-encode in between)."""
        ids = torch.cat([prompt.before_ids, suffix_ids.view(1, -1), prompt.after_ids], dim=1)
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
        return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    def _remember(self, best_ids: Tensor | None) -> None:
        if best_ids is not None:  # None: no step had a finite loss
            self.found.append(best_ids)

    def _search(
        self,
        prompts: list[Prompt],
        progressive: bool = False,
        accept: Callable[[str], bool] | None = None,
        accept_tokens: int = 64,
    ) -> Iterator[GCGStep]:
        """The GCG loop as a generator; ``self.result`` holds the ``GCGResult`` when it finishes."""
        cfg, tok = self.config, self.tokenizer
        seed = cfg.seed if cfg.seed is not None else int(torch.randint(0, 2**62, (1,)))
        gen = torch.Generator(device=self.device).manual_seed(seed)
        if self._forbidden is None:
            rows = self.embed.weight.shape[0]
            self._forbidden = forbidden_tokens(tok, rows, cfg.allow_non_ascii, cfg.allow_special_tokens).to(
                self.device
            )
        n_active = 1 if progressive else len(prompts)
        buffer = self._fill_buffer(self._initial_ids(gen), prompts[:n_active])
        losses: list[float] = []
        strings: list[str] = []
        best, best_won, best_ids = (math.inf, ""), False, None
        steps_to_success = steps_to_target = None
        stopped = False
        start = time.perf_counter()
        for step in range(1, cfg.num_steps + 1):
            t0 = time.perf_counter()
            active = prompts[:n_active]
            ids = buffer.best_ids
            grad = self.token_gradient(ids, active)
            with torch.no_grad():
                cands = sample_ids_from_grad(
                    ids[0], grad, cfg.search_width, cfg.topk, cfg.n_replace, self._forbidden, gen
                )
                # duplicates and no-op replacements cost a forward each and can never win: drop them
                cands = torch.unique(cands, dim=0)
                cands = cands[(cands != ids).any(1)]
                if cfg.filter_ids:
                    cands = cands[survives(tok, cands, ids, active)]
                if cands.shape[0] == 0:
                    raise RuntimeError(
                        "no candidate suffix survives decode/re-encode; set GCGConfig(filter_ids=False) "
                        "or choose another optim_str_init"
                    )
                if self.draft_model is not None and cfg.probe_sampling:
                    for p in active:
                        self._refresh_state(p.draft, p, ids)
                loss, hit, pool = self._evaluate(cands, active, gen)
                i = loss.argmin()
                value, matched = torch.stack([loss[i], hit[i].float()]).tolist()  # the step's host sync
                chosen = pool[i].unsqueeze(0)
            buffer.add(value, chosen)
            text = tok.decode(buffer.best_ids[0])
            losses.append(value)
            strings.append(text)
            hit = bool(matched)
            grow = hit and n_active < len(prompts)
            if hit and not grow and steps_to_target is None:
                steps_to_target = step
            # a bare target hit can still be followed by a refusal or gibberish: with a judge, it decides
            success = hit and (accept is None or grow or accept(self.reply(active[0], chosen, accept_tokens)))
            # the result's suffix: the lowest loss, except that a winning suffix outranks any that did not win
            won = success and not grow
            if (won, -value) > (best_won, -best[0]):
                best, best_won, best_ids = (value, tok.decode(chosen[0])), won, chosen
            if success and not grow and steps_to_success is None:
                steps_to_success = step
            try:
                yield GCGStep(
                    step=step,
                    loss=value,
                    suffix=text,
                    best_loss=best[0],
                    best_suffix=best[1],
                    success=success and not grow,
                    n_candidates=int(cands.shape[0]),
                    seconds=time.perf_counter() - t0,
                    n_active=n_active,
                    target_hit=hit and not grow,
                )
            except GeneratorExit:  # the caller stopped the attack: what it found still seeds a warm start
                self._remember(best_ids)
                raise
            if grow:  # progressive schedule: all current targets hit, add the next prompt
                n_active += 1
                buffer = self._fill_buffer(chosen, prompts[:n_active])
                best, best_won = (math.inf, ""), False
            elif success and cfg.early_stop:
                stopped = True
                break
        self._remember(best_ids)
        self.result = GCGResult(
            best_loss=best[0],
            best_string=best[1],
            losses=losses,
            strings=strings,
            success=steps_to_success is not None,
            steps_to_success=steps_to_success,
            steps_to_target=steps_to_target,
            seconds=time.perf_counter() - start,
            stopped_early=stopped,
            extra={"n_active": n_active, "n_prompts": len(prompts), "seed": seed},
        )

    def steps(
        self,
        messages: str | list[dict[str, str]],
        target: str,
        accept: Callable[[str], bool] | None = None,
        accept_tokens: int = 64,
    ) -> Iterator[GCGStep]:
        """Yield a ``GCGStep`` after each step (stop iterating to stop the attack); ``self.result`` at the end."""
        with _eval_mode(self.model, self.draft_model):
            prompt = self.prepare(messages, target)
            yield from self._search([prompt], accept=accept, accept_tokens=accept_tokens)

    def run(
        self,
        messages: str | list[dict[str, str]],
        target: str,
        on_step: Callable[[GCGStep], bool | None] | None = None,
        accept: Callable[[str], bool] | None = None,
        accept_tokens: int = 64,
    ) -> GCGResult:
        """Optimise a suffix so that ``model`` continues ``messages`` with ``target``; ``on_step`` may return
        True to stop early (e.g. a time budget in a Space). ``accept``: a judge of the greedy reply
        (``accept_tokens`` new tokens), asked at each step whose suffix hits the target exactly; only a reply
        it accepts counts as success (and stops an ``early_stop`` search), so the search goes on past a bare
        target that the model follows with a refusal or nonsense."""
        return self._drive(self.steps(messages, target, accept, accept_tokens), on_step)

    def _drive(self, it: Iterator[GCGStep], on_step: Callable[[GCGStep], bool | None] | None) -> GCGResult:
        self.result = None
        start = time.perf_counter()
        seen: list[GCGStep] = []
        for step in it:
            seen.append(step)
            if on_step is not None and on_step(step):
                break
        close = getattr(it, "close", None)
        if close is not None:
            close()
        if self.result is None:  # stopped by on_step: assemble the result from the steps that ran
            last = seen[-1] if seen else None
            self.result = GCGResult(
                best_loss=last.best_loss if last else math.inf,
                best_string=last.best_suffix if last else "",
                losses=[s.loss for s in seen],
                strings=[s.suffix for s in seen],
                success=any(s.success for s in seen),
                steps_to_success=next((s.step for s in seen if s.success), None),
                steps_to_target=next((s.step for s in seen if s.target_hit), None),
                seconds=time.perf_counter() - start,
                stopped_early=True,
            )
        return self.result


def _config(model: Any) -> Any:
    return model.config


def _input_embeddings(model: Any) -> Any:
    try:
        embed = model.get_input_embeddings()
    except (AttributeError, NotImplementedError) as exc:
        raise ValueError(
            f"{type(model).__name__} does not give access to its input embeddings (get_input_embeddings); "
            "GCG needs them to take gradients w.r.t. the suffix tokens"
        ) from exc
    if embed is None or not hasattr(embed, "weight"):
        raise ValueError(
            f"{type(model).__name__}.get_input_embeddings() returned {type(embed).__name__}, not an embedding "
            "layer with a weight; GCG needs it to take gradients w.r.t. the suffix tokens"
        )
    return embed


def _empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


@contextlib.contextmanager
def _eval_mode(*models: Any):
    """Eval mode (no dropout) for the attack, each model's previous mode restored afterwards."""
    models = tuple(m for m in models if m is not None)
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        yield
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)
