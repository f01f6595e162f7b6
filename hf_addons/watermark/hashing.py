"""Seeding and green lists, vectorised over batch, positions and vocabulary, on any device.

Native schemes never draw a random permutation. Each token ``v`` gets a keyed odd 32-bit value ``T[v]``, each
context a keyed odd 32-bit multiplier ``M``; ``v`` is green under ``M`` when ``T[v] * M mod 2**32`` (read as
a signed int32) falls in the lowest ``gamma`` fraction of the int32 range. For a fixed context that marks
each token green with probability gamma, independently across tokens, and different contexts give unrelated
lists (multiplicative hashing). The whole vocabulary costs one int32 multiply and one compare per step.

All hashing stays inside int64 without overflow (32-bit values times constants < 2**27), except the int32
product above, whose wrap-around is exactly the ``mod 2**32`` we want (checked in the tests against int64).

``transformers_green`` reproduces transformers' ``WatermarkLogitsProcessor`` seeding exactly (a torch
generator and a ``randperm`` per distinct seed), so our detector can score text that transformers generated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from hf_addons.watermark.config import WatermarkConfig

MASK32 = 0xFFFFFFFF
_MIX = 0x45D9F3B  # < 2**27: 32-bit value * _MIX stays below 2**59
# salts separating the hash families derived from one key
_SALT_T, _SALT_H, _SALT_S, _SALT_M, _SALT_U = 0x9E3779B9, 0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F, 0x165667B1


def mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit avalanche hash of int64 values in [0, 2**32) (three xor-shift-multiply rounds)."""
    x = x ^ (x >> 16)
    x = (x * _MIX) & MASK32
    x = x ^ (x >> 16)
    x = (x * _MIX) & MASK32
    return x ^ (x >> 16)


def mix32_int(x: int) -> int:
    """``mix32`` on a Python int (for deriving salts from the key)."""
    x &= MASK32
    x ^= x >> 16
    x = (x * _MIX) & MASK32
    x ^= x >> 16
    x = (x * _MIX) & MASK32
    return x ^ (x >> 16)


def to_int32(x: torch.Tensor) -> torch.Tensor:
    """Reinterpret int64 values in [0, 2**32) as signed int32 (two's complement), without relying on casts."""
    return (((x + 2**31) & MASK32) - 2**31).to(torch.int32)


class GreenHasher:
    """Keyed green-list membership for the native schemes; tables are cached per (device, vocab size)."""

    def __init__(self, config: WatermarkConfig):
        if config.interop is not None:
            raise ValueError("GreenHasher is for native schemes; interop configs use transformers_green")
        self.scheme = config.seeding_scheme
        self.context_needed = config.context_needed
        key = config.key
        folded = (key ^ (key >> 32) ^ (key >> 64)) & MASK32
        self.salt = {
            name: mix32_int(mix32_int(folded ^ salt) ^ i)
            for i, (name, salt) in enumerate(
                [("T", _SALT_T), ("H", _SALT_H), ("S", _SALT_S), ("M", _SALT_M), ("U", _SALT_U)]
            )
        }
        # v is green iff int32(T[v] * M) < threshold: the lowest gamma fraction of the int32 range
        self.threshold = -(2**31) + round(config.gamma * 2**32)
        self._tables: dict[tuple[str, int], dict[str, torch.Tensor]] = {}

    # --- per-token hashes --------------------------------------------------------------------------------
    def token_value(self, ids: torch.Tensor) -> torch.Tensor:
        """Odd keyed int32 value ``T[v]`` of each token id."""
        return to_int32(mix32(ids.long() ^ self.salt["T"]) | 1)

    def token_rank(self, ids: torch.Tensor) -> torch.Tensor:
        """Keyed int64 hash in [0, 2**32) ordering tokens for min-hash seeding."""
        return mix32(ids.long() ^ self.salt["H"])

    def multiplier(self, seed: torch.Tensor) -> torch.Tensor:
        """Odd keyed int32 multiplier ``M`` from an int64 seed in [0, 2**32)."""
        return to_int32(mix32(seed ^ self.salt["M"]) | 1)

    def tables(self, device: torch.device | str, vocab_size: int) -> dict[str, torch.Tensor]:
        """Whole-vocabulary tables, built once per device and size."""
        dev = torch.device(device)
        key = (str(dev), vocab_size)
        tab = self._tables.get(key)
        if tab is None:
            ids = torch.arange(vocab_size, device=dev)
            tab = {"T": self.token_value(ids), "H": self.token_rank(ids)}
            if self.scheme == "selfhash":
                # green status of v when v itself holds the minimum hash (its seed then depends on v alone)
                tab["own"] = (tab["T"] * self.multiplier(tab["H"])) < self.threshold
                tab["H32"] = to_int32(tab["H"] - 2**31 + 2**32)  # same order as H, in int32
                # H32 where the token is green under its own seed, else int32 max (never below a minimum)
                tab["H32_own"] = torch.where(tab["own"], tab["H32"], torch.iinfo(torch.int32).max)
            if self.scheme == "unigram":
                tab["unigram"] = (tab["T"] * self._unigram_multiplier(dev)) < self.threshold
            self._tables[key] = tab
        return tab

    def _unigram_multiplier(self, device) -> torch.Tensor:
        return self.multiplier(torch.tensor(self.salt["U"], device=device))

    # --- seeds ---------------------------------------------------------------------------------------------
    def context_multiplier(self, ctx: torch.Tensor) -> torch.Tensor:
        """Multiplier per context row for lefthash/minhash: ``ctx`` is (..., context_width), oldest first."""
        if self.scheme == "lefthash":
            seed = torch.full(ctx.shape[:-1], self.salt["S"], dtype=torch.long, device=ctx.device)
            ranks = self.token_rank(ctx)
            for j in range(ctx.shape[-1]):  # context width, not tokens: a handful of vectorised steps
                seed = mix32(seed ^ ranks[..., j])
            return self.multiplier(seed)
        if self.scheme == "minhash":
            return self.multiplier(self.token_rank(ctx).amin(-1))
        raise ValueError(f"context_multiplier does not apply to {self.scheme!r}")

    def _context_min(self, ctx: torch.Tensor) -> torch.Tensor:
        if ctx.shape[-1] == 0:
            return torch.full(ctx.shape[:-1], 2**32, dtype=torch.long, device=ctx.device)
        return self.token_rank(ctx).amin(-1)

    # --- green lists ---------------------------------------------------------------------------------------
    def green_vocab(self, ctx: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """(B, vocab) bool: green tokens for each row's next position, given its last tokens ``ctx`` (B, w)."""
        tab = self.tables(ctx.device, vocab_size)
        if self.scheme == "unigram":
            return tab["unigram"].unsqueeze(0).expand(ctx.shape[0], -1)
        if self.scheme == "selfhash":
            cmin = self._context_min(ctx)
            shared = (tab["T"] * self.multiplier(cmin.clamp_max(MASK32)).unsqueeze(-1)) < self.threshold
            return torch.where(tab["H"] < cmin.unsqueeze(-1), tab["own"], shared)
        return (tab["T"] * self.context_multiplier(ctx).unsqueeze(-1)) < self.threshold

    def row_seeds(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-row inputs of ``green_into`` for contexts ``ctx`` (B, w): the (B, 1) int32 multiplier and, for
        selfhash, the (B, 1) window minimum as an order-preserving int32 (``None`` otherwise)."""
        if self.scheme == "selfhash":
            cmin = self._context_min(ctx).unsqueeze(-1)
            return self.multiplier(cmin.clamp_max(MASK32)), to_int32(cmin.clamp_max(MASK32) - 2**31 + 2**32)
        if self.scheme == "unigram":
            return self._unigram_multiplier(ctx.device).expand(ctx.shape[0], 1), None
        return self.context_multiplier(ctx).unsqueeze(-1), None

    def green_into(
        self,
        mult: torch.Tensor,
        cmin: torch.Tensor | None,
        out: torch.Tensor,
        work: torch.Tensor,
        spare: torch.Tensor,
    ) -> torch.Tensor:
        """``green_vocab`` written as 1/0 into the float ``out`` (c, vocab) from ``row_seeds``' outputs.

        The generation hot path: ``work`` (int32) and ``spare`` (float) are buffers shaped like ``out``. Every
        compare writes straight into a float buffer: PyTorch's bool outputs, ``where`` and mixed bool + float
        adds each cost several times a plain float pass on CPU, and nothing here allocates."""
        tab = self.tables(out.device, out.shape[-1])
        if cmin is not None and self.context_needed == 0:  # no context: every token seeds itself
            return out.copy_(tab["own"].expand_as(out))
        torch.mul(tab["T"], mult, out=work)
        torch.lt(work, self.threshold, out=out)  # green under the context's seed
        if cmin is not None:
            # selfhash: a token whose own hash is below the context minimum is seeded by itself, so
            # green = shared * [H >= cmin] + [H < cmin and own green]  (the two terms are disjoint)
            out.mul_(torch.ge(tab["H32"], cmin, out=spare))
            out.add_(torch.lt(tab["H32_own"], cmin, out=spare))
        return out

    def green_targets(self, ctx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Bool, shaped like ``target``: is each target token green given its context ``ctx`` (..., w)."""
        return self.green_and_seed(ctx, target)[0]

    def green_and_seed(self, ctx: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Green flag of each target and the multiplier ``M`` that decided it (shaped like ``target``).

        The decision is a function of ``(M, target)`` alone, so two positions with the same pair are one
        decision, whatever their contexts (min-hash and self-hash reach the same ``M`` from many contexts).
        """
        tv = self.token_value(target)
        if self.scheme == "unigram":
            mult = self._unigram_multiplier(target.device).expand_as(target)
        elif self.scheme == "selfhash":
            mult = self.multiplier(torch.minimum(self._context_min(ctx), self.token_rank(target)))
        else:
            mult = self.context_multiplier(ctx)
        return (tv * mult) < self.threshold, mult


def tuple_keys(*parts: torch.Tensor) -> torch.Tensor:
    """63-bit keys identifying tuples of int64 tensors (same shape), for counting repeats once.

    Each part contributes its 32-bit halves (the high one only when some value needs it); two independent 32-bit hash chains make collisions between
    distinct tuples of one text ~n^2 / 2^63 (negligible)."""
    a = torch.full_like(parts[0], 0x1234567, dtype=torch.long)
    b = torch.full_like(parts[0], 0x7654321, dtype=torch.long)
    for p in parts:
        p = p.long()
        high = (p >> 32) & MASK32
        halves = (p & MASK32, high) if bool(high.any()) else (p & MASK32,)  # 32-bit parts: one round
        for half in halves:
            a = mix32(a ^ half)
            b = mix32((b + 0x632BE5AB) ^ half)
    return (a << 31) | (b & 0x7FFFFFFF)


# --- transformers interop ------------------------------------------------------------------------------------
_FIXED_TABLES: dict[tuple[int, str], torch.Tensor] = {}
_TABLE_SIZE = 1_000_003


def _fixed_table(key: int, device: str) -> torch.Tensor:
    """transformers' selfhash lookup table: ``randperm(1_000_003)`` from a generator seeded with the key."""
    k = (key, device)
    if k not in _FIXED_TABLES:
        rng = torch.Generator(device=device)
        rng.manual_seed(key)
        _FIXED_TABLES[k] = torch.randperm(_TABLE_SIZE, generator=rng, device=device)
    return _FIXED_TABLES[k]


def transformers_seeds(config: WatermarkConfig, ctx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """transformers' seed per scored token, as signed int64 (before its ``% (2**64 - 1)``), vectorised."""
    key = config.key
    if config.seeding_scheme == "lefthash":
        return key * ctx[..., -1].long()  # previous token only, as transformers does for any context_width
    device = str(ctx.device)
    table = _fixed_table(key, device).to(ctx.device)
    window = torch.cat([ctx, target.unsqueeze(-1)], dim=-1).long()[..., -config.context_width :]
    a = table[window % _TABLE_SIZE] + 1
    b = (table[target.long() % _TABLE_SIZE] + 1).unsqueeze(-1)
    return (key * a * b).amin(-1)  # int64 wrap-around, same op order as transformers


def transformers_green(
    config: WatermarkConfig, ctx: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None = None
) -> torch.Tensor:
    """Green flag per target under transformers' seeding: one seeded ``randperm`` per distinct seed.

    Slower than the native schemes by design (the permutation *is* the definition of the green list); it only
    exists to score transformers' outputs. The loop runs over distinct seeds, not tokens or rows. ``seeds``:
    ``transformers_seeds(config, ctx, target)`` when the caller already has them.
    """
    vocab = int(config.vocab_size)
    greenlist_size = int(vocab * config.gamma)
    if seeds is None:
        seeds = transformers_seeds(config, ctx, target)
    seeds = seeds.reshape(-1).cpu()
    flat_target = target.reshape(-1).cpu().long()
    green = torch.zeros(flat_target.shape, dtype=torch.bool)
    if seeds.numel() == 0:
        return green.reshape(target.shape).to(target.device)
    uniq, inverse = torch.unique(seeds, return_inverse=True)
    order = torch.argsort(inverse, stable=True)
    counts = torch.bincount(inverse, minlength=len(uniq)).tolist()
    rng = torch.Generator(device="cpu")
    start = 0
    for seed, count in zip(uniq.tolist(), counts):
        idx = order[start : start + count]
        start += count
        rng.manual_seed(seed % (2**64 - 1))
        greenlist = torch.randperm(vocab, generator=rng)[:greenlist_size]
        tgt = flat_target[idx]
        # few targets per seed (the usual case): a direct compare beats isin's sort
        green[idx] = (tgt.unsqueeze(1) == greenlist).any(1) if count <= 64 else torch.isin(tgt, greenlist)
    return green.reshape(target.shape).to(target.device)
