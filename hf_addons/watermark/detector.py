"""``WatermarkDetector``: z-score test for green tokens, from token ids or from text plus a tokenizer.

No model is needed. Scoring is vectorised over the batch and positions: one hash per (context, token) window,
repeated n-grams counted once (the paper's recommendation, so a looping text cannot fake a high z), and an
optional WinMax-style scan (Kirchenbauer et al., "On the Reliability of Watermarks") that finds a watermarked
span inside longer human text. Each result keeps the per-token green mask, token strings and character offsets
so a UI can colour the text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from hf_addons.watermark.config import WatermarkConfig
from hf_addons.watermark.hashing import GreenHasher, transformers_green

NOT_ENOUGH = "not enough tokens to score"


@dataclass
class DetectionResult:
    """Detection outcome for one text; ``prediction`` is None (with ``reason``) when nothing could be scored."""

    z_score: float
    p_value: float
    prediction: bool | None
    num_tokens_scored: int
    num_green_tokens: int
    green_fraction: float
    z_threshold: float
    token_ids: list[int] = field(default_factory=list)
    green_mask: list[bool] = field(default_factory=list)
    scored_mask: list[bool] = field(default_factory=list)
    tokens: list[str] | None = None
    offsets: list[tuple[int, int]] | None = None
    window: dict[str, Any] | None = None
    reason: str | None = None

    def to_dict(self, per_token: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not per_token:
            for k in ("token_ids", "green_mask", "scored_mask", "tokens", "offsets"):
                d.pop(k)
        for k in ("z_score", "p_value", "green_fraction"):
            if isinstance(d[k], float) and math.isnan(d[k]):
                d[k] = None  # JSON has no NaN
        return d

    def highlights(self) -> list[tuple[str, str | None]]:
        """``(token text, "green" | "red" | None)`` per token, for a coloured view (None: not scored)."""
        tokens = self.tokens if self.tokens is not None else [str(t) for t in self.token_ids]
        return [
            (tok, ("green" if g else "red") if s else None)
            for tok, g, s in zip(tokens, self.green_mask, self.scored_mask)
        ]


def _pad(rows: Sequence[Sequence[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    length = max((len(r) for r in rows), default=0)
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, r in enumerate(rows):  # building the input tensor, not scoring
        ids[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        mask[i, : len(r)] = True
    return ids.to(device), mask.to(device)


class WatermarkDetector:
    """Detect the watermark of ``config`` in token ids or texts (texts need ``tokenizer``: object or name).

    ``z_threshold`` / ``ignore_repeated_ngrams`` default to the config's values; ``min_tokens`` is the least
    number of scored tokens for a verdict (fewer gives ``prediction=None`` and a reason, never a silent z=0).
    """

    def __init__(
        self,
        config: WatermarkConfig,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        z_threshold: float | None = None,
        ignore_repeated_ngrams: bool | None = None,
        min_tokens: int = 1,
        min_window: int = 16,
    ):
        if not isinstance(config, WatermarkConfig):
            raise TypeError(f"config must be a WatermarkConfig, got {type(config).__name__}")
        self.config = config
        config.key  # noqa: B018 - a missing key fails here with a clear message
        self.device = torch.device(device or "cpu")
        self.z_threshold = float(config.z_threshold if z_threshold is None else z_threshold)
        self.ignore_repeated = (
            config.ignore_repeated_ngrams if ignore_repeated_ngrams is None else bool(ignore_repeated_ngrams)
        )
        if min_tokens < 1:
            raise ValueError(f"min_tokens must be >= 1, got {min_tokens}")
        self.min_tokens = int(min_tokens)
        self.min_window = int(min_window)
        self.hasher = None if config.interop else GreenHasher(config)
        # n-gram identity only (any key): interop configs have no native hasher of their own
        self._ngram_hasher = self.hasher or GreenHasher(WatermarkConfig(hashing_key=0))
        self.tokenizer = self._resolve_tokenizer(tokenizer)
        ignore = set(config.ignore_token_ids)
        self._ignore = torch.tensor(sorted(ignore), dtype=torch.long, device=self.device)

    def _resolve_tokenizer(self, tokenizer: Any) -> Any:
        if tokenizer is None:
            return None
        if isinstance(tokenizer, str):
            from hf_addons.models import load_tokenizer

            try:
                tokenizer = load_tokenizer(None if tokenizer == "default" else tokenizer)
            except Exception as exc:  # noqa: BLE001 - any loader failure means the same thing to the user
                raise ValueError(f"unknown tokenizer {tokenizer!r}: {exc}") from exc
        if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
            raise ValueError(
                f"tokenizer must be a transformers tokenizer or a name, got {type(tokenizer).__name__}"
            )
        vocab = self.config.vocab_size
        if vocab is not None and len(tokenizer) > vocab:
            raise ValueError(
                f"mismatched vocab size: the tokenizer has {len(tokenizer)} tokens but the watermark config's "
                f"vocab_size is {vocab}; use the tokenizer the text was generated with"
            )
        return tokenizer

    # --- core, tensors in / tensors out ---------------------------------------------------------------------
    @torch.no_grad()
    def score_ids(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Batched scores: ``green`` / ``scored`` (B, L) masks and per-row counts, z-scores and p-values."""
        ids = torch.as_tensor(input_ids, device=self.device).long()
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        if ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(ids.shape)}")
        mask = (
            torch.ones_like(ids, dtype=torch.bool)
            if attention_mask is None
            else torch.as_tensor(attention_mask, device=self.device).bool()
        )
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0:
                raise ValueError(f"token ids must be >= 0, found {lo}")
            vocab = self.config.vocab_size
            if vocab is not None and hi >= vocab:
                raise ValueError(
                    f"mismatched vocab size: token id {hi} is outside the config's vocab_size {vocab}"
                )
        batch, length = ids.shape
        need = self.config.context_needed
        green = torch.zeros(batch, length, dtype=torch.bool, device=self.device)
        scored = torch.zeros_like(green)
        if length > need:
            win = ids.unfold(1, need + 1, 1)  # (B, L - need, need + 1)
            ctx, target = win[..., :need], win[..., need]
            valid = mask.unfold(1, need + 1, 1).all(-1)
            if self._ignore.numel():
                valid &= ~torch.isin(target, self._ignore)
            if self.hasher is not None:
                g = self.hasher.green_targets(ctx, target)
            else:
                g = torch.zeros_like(valid)
                g[valid] = transformers_green(self.config, ctx[valid], target[valid])
            if self.ignore_repeated:
                valid &= self._first_occurrences(ctx, target, valid)
            green[:, need:] = g & valid
            scored[:, need:] = valid
        n = scored.sum(1)
        g_count = green.sum(1)
        z, p = self._z_and_p(g_count, n)
        return {"green": green, "scored": scored, "num_scored": n, "num_green": g_count, "z": z, "p": p}

    def _first_occurrences(
        self, ctx: torch.Tensor, target: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """True at the first occurrence of each (context, token) n-gram within its row."""
        hasher = self._ngram_hasher
        row = torch.arange(target.shape[0], device=target.device).unsqueeze(1).expand_as(target)
        keys = hasher.ngram_keys(ctx, target, row)[valid]
        first = torch.zeros_like(valid)
        if keys.numel() == 0:
            return first
        uniq, inverse = torch.unique(keys, return_inverse=True)
        pos = torch.arange(keys.numel(), device=keys.device)
        first_pos = torch.full((uniq.numel(),), keys.numel(), device=keys.device).scatter_reduce(
            0, inverse, pos, reduce="amin"
        )
        flat = torch.zeros(keys.numel(), dtype=torch.bool, device=keys.device)
        flat[first_pos] = True
        first[valid] = flat
        return first

    def _z_and_p(self, green: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gamma = self.config.gamma
        n = n.double()
        z = (green.double() - gamma * n) / torch.sqrt(n * gamma * (1 - gamma))
        z = torch.where(n > 0, z, torch.full_like(z, float("nan")))
        return z, 0.5 * torch.special.erfc(z / math.sqrt(2))

    def window_scores(self, green: torch.Tensor, scored: torch.Tensor) -> dict[str, torch.Tensor]:
        """WinMax: the window with the highest z per row, its bounds, and a Bonferroni-corrected p-value.

        Window lengths grow geometrically from ``min_window`` (a few dozen sizes); each size is one vectorised
        pass over all rows and start positions.
        """
        batch, length = green.shape
        gs = torch.nn.functional.pad(green.long().cumsum(1), (1, 0))
        ns = torch.nn.functional.pad(scored.long().cumsum(1), (1, 0))
        gamma = self.config.gamma
        best_z = torch.full((batch,), float("-inf"), dtype=torch.double, device=green.device)
        best_start = torch.zeros(batch, dtype=torch.long, device=green.device)
        best_len = torch.zeros_like(best_start)
        tests = torch.zeros(batch, dtype=torch.double, device=green.device)
        sizes = sorted({min(length, round(self.min_window * 1.15**k)) for k in range(64)} | {length})
        for w in (s for s in sizes if 0 < s <= length):  # window sizes, each vectorised
            g = (gs[:, w:] - gs[:, :-w]).double()
            n = (ns[:, w:] - ns[:, :-w]).double()
            ok = n >= self.min_window
            z = torch.where(ok, (g - gamma * n) / torch.sqrt(n.clamp_min(1) * gamma * (1 - gamma)), -math.inf)
            tests += ok.sum(1)
            zmax, start = z.max(1)
            better = zmax > best_z
            best_z = torch.where(better, zmax, best_z)
            best_start = torch.where(better, start, best_start)
            best_len = torch.where(better, torch.full_like(best_len, w), best_len)
        p = (0.5 * torch.special.erfc(best_z / math.sqrt(2)) * tests.clamp_min(1)).clamp_max(1.0)
        return {"z": best_z, "start": best_start, "end": best_start + best_len, "p": p, "tests": tests}

    # --- results --------------------------------------------------------------------------------------------
    def detect_ids(
        self,
        input_ids: torch.Tensor | Sequence[Sequence[int]],
        attention_mask: torch.Tensor | None = None,
        windowed: bool = False,
        _text: tuple[list[str], list[list[tuple[int, int]]]] | None = None,
    ) -> list[DetectionResult]:
        """One ``DetectionResult`` per row; ragged lists of ids are padded for you."""
        if isinstance(input_ids, torch.Tensor):
            ids = input_ids if input_ids.dim() == 2 else input_ids.unsqueeze(0)
            mask = attention_mask
        else:
            if attention_mask is not None:
                raise ValueError("attention_mask goes with a tensor of ids, not with lists")
            ids, mask = _pad(input_ids, self.device)
        out = self.score_ids(ids, mask)
        win = self.window_scores(out["green"], out["scored"]) if windowed else None
        keep = (
            torch.as_tensor(mask).bool().tolist()
            if mask is not None
            else [[True] * ids.shape[1]] * ids.shape[0]
        )
        cols = {k: v.tolist() for k, v in out.items()}
        wcols = {k: v.tolist() for k, v in win.items()} if win else None
        id_rows = torch.as_tensor(ids).tolist()
        results = []
        for i, row_keep in enumerate(keep):  # packaging Python results, after the vectorised scoring
            n_tok = sum(row_keep)
            pick = lambda xs, k=row_keep: [x for x, m in zip(xs, k) if m]  # noqa: E731 - real tokens only
            n = cols["num_scored"][i]
            texts, offsets = (_text[0][i], _text[1][i]) if _text else (None, None)
            tokens = [texts[s:e] for s, e in offsets] if _text else None
            enough = n >= self.min_tokens
            z = cols["z"][i] if enough else float("nan")
            res = DetectionResult(
                z_score=z,
                p_value=cols["p"][i] if enough else float("nan"),
                prediction=bool(z > self.z_threshold) if enough else None,
                num_tokens_scored=n,
                num_green_tokens=cols["num_green"][i],
                green_fraction=cols["num_green"][i] / n if n else float("nan"),
                z_threshold=self.z_threshold,
                token_ids=pick(id_rows[i]),
                green_mask=pick(cols["green"][i]),
                scored_mask=pick(cols["scored"][i]),
                tokens=tokens,
                offsets=[tuple(o) for o in offsets] if offsets is not None else None,
                reason=None
                if enough
                else (
                    f"{NOT_ENOUGH}: {n} scorable token(s) of {n_tok}, need {self.min_tokens} "
                    f"(the {self.config.seeding_scheme} scheme uses {self.config.context_needed} token(s) of context)"
                ),
            )
            if wcols is not None and wcols["z"][i] > float("-inf"):
                s, e = wcols["start"][i], wcols["end"][i]
                res.window = {
                    "start": s,
                    "end": e,
                    "z_score": wcols["z"][i],
                    "p_value": wcols["p"][i],
                    "windows_tested": int(wcols["tests"][i]),
                    "prediction": bool(wcols["p"][i] < 0.5 * math.erfc(self.z_threshold / math.sqrt(2))),
                }
                if offsets is not None and e > s:
                    res.window["char_start"], res.window["char_end"] = offsets[s][0], offsets[e - 1][1]
            results.append(res)
        return results

    def detect(self, texts: str | Sequence[str], windowed: bool = False, batch_size: int = 64):
        """Detect in one text (returns one result) or a list of texts (a result per text)."""
        if self.tokenizer is None:
            raise ValueError("detecting in text needs a tokenizer: WatermarkDetector(config, tokenizer=...)")
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        for i, t in enumerate(batch):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
        results: list[DetectionResult] = []
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size]
            enc = self.tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True)
            results += self.detect_ids(
                enc["input_ids"], windowed=windowed, _text=(chunk, enc["offset_mapping"])
            )
        return results[0] if single else results

    __call__ = detect
