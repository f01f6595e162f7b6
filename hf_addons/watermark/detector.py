"""``WatermarkDetector``: a calibrated test for green tokens, from token ids or from text plus a tokenizer.

No model is needed. Scoring is vectorised over the batch and positions. Each green decision is a function of
(seed, token) alone, so every distinct (seed, token) pair is counted once per text (Fernandez et al. 2023,
"Three Bricks"): with min-hash and self-hash seeding the same seed recurs under many contexts, and counting
its repeats made human code and HTML look watermarked. The p-value is the exact binomial tail of the green
count, next to the usual z-score; a verdict thresholds either (``z_threshold`` or ``fpr``). WinMax
(Kirchenbauer et al., "On the Reliability of Watermarks") scans windows of each text for a watermarked span:
half of the false-positive budget goes to the whole text, half to its shorter windows, calibrated by the
scan's simulated null (``scan.py``). A batch gives each text exactly what it gives alone. Each result keeps the per-token green mask, token strings and character offsets for a coloured view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from hf_addons.watermark.config import WatermarkConfig, warn_if_public_key
from hf_addons.watermark.hashing import (
    MASK32,
    GreenHasher,
    transformers_green,
    transformers_seeds,
    tuple_keys,
)

NOT_ENOUGH = "not enough tokens to score"
COUNT_ONCE = ("seed", "ngram")


def binomial_p_value(green: Any, n: Any, gamma: float) -> np.ndarray:
    """Exact one-sided p-value ``P(X >= green)`` for ``X ~ Binomial(n, gamma)`` (NaN where ``n == 0``).

    The normal tail behind the z-score is too small for short texts (at n = 50 and z = 4 the exact tail is
    ~5x the normal one), so decisions at a target FPR use this instead."""
    from hf_addons._extras import require

    # the binomial upper tail as a plain ufunc: binom.sf without its overhead
    bdtrc = require("scipy.special", "watermark").bdtrc

    g = np.asarray(green, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        p = np.where(g <= 0, 1.0, bdtrc(g - 1, n, gamma))
    return np.where(n > 0, p, np.nan)


def normal_tail(z: float) -> float:
    """One-sided normal tail ``P(Z > z)``: the nominal false-positive rate of the rule ``z > threshold``."""
    return 0.5 * math.erfc(z / math.sqrt(2))


@dataclass
class DetectionResult:
    """Detection outcome for one text; ``prediction`` is None (with ``reason``) when nothing could be scored.

    ``p_value`` is the exact binomial tail of the green count; ``fpr`` the target false-positive rate the
    prediction was thresholded on (None: it used ``z > z_threshold``)."""

    z_score: float
    p_value: float
    prediction: bool | None
    num_tokens_scored: int
    num_green_tokens: int
    green_fraction: float
    z_threshold: float
    fpr: float | None = None
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

    Args:
        config: the ``WatermarkConfig`` the text was generated with (its key included).
        tokenizer: a transformers tokenizer or a name/path (``"default"``: the embedded one); needed for text.
        device: where scoring runs (default CPU).
        z_threshold: flag a text when ``z > z_threshold`` (default: the config's, 4.0).
        fpr: flag a text when its exact p-value is ``<= fpr`` instead (e.g. ``1e-4``); windows use it too.
        ignore_repeated_ngrams: count each distinct decision once (default: the config's, True).
        count_once: what "the same decision" means: ``"seed"`` (default; the (seed, token) pair that fixes
            the green flag, calibrated for every scheme) or ``"ngram"`` (the (context, token) n-gram, the rule
            of transformers' and lm-watermarking's detectors; the same as "seed" for lefthash).
        min_tokens: least number of scored tokens for a verdict (fewer: ``prediction=None`` and a reason).
        min_window: least number of scored tokens in a window of the windowed scan.
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
        fpr: float | None = None,
        count_once: str = "seed",
    ):
        if not isinstance(config, WatermarkConfig):
            raise TypeError(f"config must be a WatermarkConfig, got {type(config).__name__}")
        self.config = config
        config.key  # noqa: B018 - a missing key fails here with a clear message
        warn_if_public_key(config)
        self.device = torch.device(device or "cpu")
        self.z_threshold = float(config.z_threshold if z_threshold is None else z_threshold)
        if fpr is not None and not 0.0 < float(fpr) < 1.0:
            raise ValueError(f"fpr must be in (0, 1), got {fpr}")
        self.fpr = None if fpr is None else float(fpr)
        if count_once not in COUNT_ONCE:
            raise ValueError(f"count_once must be one of {COUNT_ONCE}, got {count_once!r}")
        self.count_once = count_once
        self.ignore_repeated = (
            config.ignore_repeated_ngrams if ignore_repeated_ngrams is None else bool(ignore_repeated_ngrams)
        )
        if min_tokens < 1:
            raise ValueError(f"min_tokens must be >= 1, got {min_tokens}")
        if min_window < 1:
            raise ValueError(f"min_window must be >= 1, got {min_window}")
        self.min_tokens = int(min_tokens)
        self.min_window = int(min_window)
        self.hasher = None if config.interop else GreenHasher(config)
        self.tokenizer = self._resolve_tokenizer(tokenizer)
        self._ignore_set = set(config.ignore_token_ids)
        self._ignore = torch.tensor(sorted(self._ignore_set), dtype=torch.long, device=self.device)

    def __repr__(self) -> str:
        rule = f"fpr={self.fpr}" if self.fpr is not None else f"z_threshold={self.z_threshold}"
        return f"WatermarkDetector({self.config!r}, {rule}, count_once={self.count_once!r})"

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
        """Batched scores: ``green`` / ``scored`` (B, L) masks and per-row counts, z-scores and exact p-values.

        The low-level tensor API: invalid ids raise here (``detect_ids`` / ``detect`` give a per-row reason).
        Padding may sit on either side (``attention_mask``); a row scores the same with or without it.
        """
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
                g, seed = self.hasher.green_and_seed(ctx, target)
            else:
                g = torch.zeros_like(valid)
                seed = torch.zeros(valid.shape, dtype=torch.long, device=self.device)
                s = transformers_seeds(self.config, ctx[valid], target[valid])
                seed[valid] = s
                g[valid] = transformers_green(self.config, ctx[valid], target[valid], seeds=s)
            if self.ignore_repeated:
                row = torch.arange(batch, device=self.device).unsqueeze(1).expand_as(target)
                if self.count_once == "seed":
                    # native seeds are int32 multipliers: their unsigned 32 bits identify them exactly
                    keys = tuple_keys(row, seed.long() & MASK32 if self.hasher is not None else seed, target)
                else:
                    keys = tuple_keys(row, target, *ctx.unbind(-1))
                valid &= self._first_occurrences(keys, valid)
            green[:, need:] = g & valid
            scored[:, need:] = valid
        n = scored.sum(1)
        g_count = green.sum(1)
        return {
            "green": green,
            "scored": scored,
            "num_scored": n,
            "num_green": g_count,
            "z": self._z(g_count, n),
            "p": self._p(g_count, n),
        }

    @staticmethod
    def _first_occurrences(keys: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """True at the first valid occurrence of each key (keys carry the row, so per row)."""
        first = torch.zeros_like(valid)
        flat_keys = keys[valid]
        if flat_keys.numel() == 0:
            return first
        uniq, inverse = torch.unique(flat_keys, return_inverse=True)
        pos = torch.arange(flat_keys.numel(), device=flat_keys.device)
        first_pos = torch.full((uniq.numel(),), flat_keys.numel(), device=flat_keys.device).scatter_reduce(
            0, inverse, pos, reduce="amin"
        )
        flat = torch.zeros(flat_keys.numel(), dtype=torch.bool, device=flat_keys.device)
        flat[first_pos] = True
        first[valid] = flat
        return first

    def _z(self, green: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        gamma = self.config.gamma
        n = n.double()
        z = (green.double() - gamma * n) / torch.sqrt(n * gamma * (1 - gamma))
        return torch.where(n > 0, z, torch.full_like(z, float("nan")))

    def _p(self, green: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        p = binomial_p_value(green.cpu().numpy(), n.cpu().numpy(), self.config.gamma)
        return torch.from_numpy(np.asarray(p, dtype=np.float64)).to(green.device)

    def window_scores(
        self, green: torch.Tensor, scored: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """WinMax: per row, the most watermarked window, its bounds, and a p-value calibrated for the scan.

        Row ``i`` holds ``lengths[i]`` tokens from position 0 (right padding; default: the full width). The
        scan runs over its ``m`` scored tokens: windows of ``min_window * 1.15**k < m`` of them at every
        start, and the best is the one with the smallest exact binomial p-value. Half of the false-positive
        budget goes to the whole text and half to the shorter windows: ``p = min(2 p_text, 2 p_scan)``, where
        ``p_scan`` is the chance that a text of ``m`` unwatermarked scored tokens has a window that good
        (``hf_addons.watermark.scan``: simulated null, Hunter-Worsley bound below its resolution). With no
        shorter window, ``p = p_text``. The window reported is the side that sets ``p``, its ``start``/``end``
        in token positions. So the tests, the best window and the p-value depend on that row alone. The
        half to the whole text keeps the plain test's power at half its rate on evenly damaged text; the
        calibration makes the other half as strict as the scan's real multiplicity (about 90 independent
        tests for 150 tokens, not the ~1,500 windows a Bonferroni bound counts).
        """
        from hf_addons.watermark.scan import scan_p_value, window_lengths

        batch, length = green.shape
        device = green.device
        lengths = (
            torch.full((batch,), length, dtype=torch.long, device=device)
            if lengths is None
            else torch.as_tensor(lengths, device=device).long()
        )
        inside = torch.arange(length, device=device) < lengths.unsqueeze(1)
        scored = scored.bool() & inside
        m = scored.sum(1)
        # scored tokens first, in order: the scan runs over them, ``order`` maps them back to positions
        order = torch.argsort((~scored).to(torch.int8), dim=1, stable=True)
        gc = (green.bool() & scored).gather(1, order).long()
        gs = torch.nn.functional.pad(gc.cumsum(1), (1, 0))
        gamma = self.config.gamma
        best_p = np.ones(batch)
        best_start = np.zeros(batch, dtype=np.int64)
        best_len = np.zeros(batch, dtype=np.int64)
        m_np = m.cpu().numpy()
        tests = np.zeros(batch, dtype=np.int64)
        for w in window_lengths(length, self.min_window):  # one vectorised pass per window length
            g = gs[:, w:] - gs[:, :-w]  # (B, length - w + 1): windows of w scored tokens
            ok = torch.arange(g.shape[1], device=device) + w <= m.unsqueeze(1)
            g = torch.where(ok & (m > w).unsqueeze(1), g, -1)
            start = g.argmax(1)  # the first maximum: no dependence on the padded width
            p_w = binomial_p_value(g.gather(1, start.unsqueeze(1)).squeeze(1).cpu().numpy(), w, gamma)
            live = m_np > w
            tests += np.where(live, m_np - w + 1, 0)
            better = live & (p_w < best_p)
            best_p = np.where(better, p_w, best_p)
            best_start = np.where(better, start.cpu().numpy(), best_start)
            best_len = np.where(better, w, best_len)
        has_sub = tests > 0
        p_scan = scan_p_value(np.where(has_sub, best_p, 1.0), m_np, gamma, self.min_window)
        rows = torch.arange(batch, device=device)
        g_text = gs[rows, m]
        text_ok = m >= self.min_window
        p_text = self._p(g_text, m)
        to_t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
        has_sub_t, best_start_t, best_len_t = to_t(has_sub), to_t(best_start), to_t(best_len)
        text_share = torch.where(has_sub_t, 0.5, 1.0).double()
        corrected_text = torch.where(text_ok, p_text / text_share, math.inf)
        corrected_sub = torch.where(has_sub_t, to_t(np.nan_to_num(p_scan, nan=1.0)) / 0.5, math.inf)
        use_text = corrected_text <= corrected_sub
        tests_t = to_t(tests) + text_ok.long()
        p = torch.minimum(corrected_text, corrected_sub).clamp_max(1.0)
        p = torch.where(tests_t > 0, p, torch.full_like(p, float("nan")))
        g_sub = gs[rows, best_start_t + best_len_t] - gs[rows, best_start_t]
        # positions: the first scored token of the window to one past its last
        last = (best_start_t + best_len_t - 1).clamp_min(0)
        order1 = torch.nn.functional.pad(order, (0, 1))  # a zero-width batch still gathers
        sub_start = order1.gather(1, best_start_t.unsqueeze(1)).squeeze(1)
        sub_end = order1.gather(1, last.unsqueeze(1)).squeeze(1) + 1
        start = torch.where(use_text, torch.zeros_like(sub_start), sub_start)
        end = torch.where(use_text, lengths, sub_end)
        n_win = torch.where(use_text, m, best_len_t)
        g_win = torch.where(use_text, g_text, g_sub)
        return {
            "z": self._z(g_win, n_win),
            "start": start,
            "end": end,
            "p": p,
            "p_window": torch.where(use_text, p_text, to_t(best_p)),
            "tests": tests_t,
            "num_scored": n_win,
            "num_green": g_win,
            # uncorrected: the whole text's exact p and the best shorter window's; calibrated: the scan's
            "p_text": p_text,
            "p_shorter": torch.where(has_sub_t, to_t(best_p), torch.full_like(p_text, float("nan"))),
            "p_scan": to_t(p_scan),
        }

    # --- results --------------------------------------------------------------------------------------------
    def _decide(self, z: float, p: float) -> bool:
        if self.fpr is not None:
            return bool(p <= self.fpr)
        return bool(z > self.z_threshold)

    def _window_alpha(self) -> float:
        """The corrected p-value a window must reach: ``fpr``, else the normal tail of ``z_threshold``."""
        return self.fpr if self.fpr is not None else normal_tail(self.z_threshold)

    def _check_row(self, row: Any) -> tuple[list[int], str | None]:
        """A row of token ids as a list, or ``([], reason)`` when it is not one (never raises)."""
        if isinstance(row, str):
            return [], "a text in a batch of token ids: use detect() for texts"
        if isinstance(row, np.ndarray):
            row = torch.from_numpy(row)
        if isinstance(row, torch.Tensor):
            if row.dim() != 1:
                return [], f"token ids must be one row, got a tensor of shape {tuple(row.shape)}"
            t = row
        elif isinstance(row, (list, tuple)):
            if len(row) == 0:
                return [], None
            try:
                t = torch.as_tensor(row)
            except (TypeError, ValueError, RuntimeError) as exc:
                return [], f"token ids must be integers: {exc}"
        else:
            return (
                [],
                f"unsupported input of type {type(row).__name__}: expected a str or a list of token ids",
            )
        if t.numel() == 0:
            return [], None
        if t.dtype in (torch.bool,) or t.dtype.is_floating_point or t.dtype.is_complex:
            return [], f"token ids must be integers, got {t.dtype}"
        lo, hi = int(t.min()), int(t.max())
        if lo < 0:
            return [], f"token ids must be >= 0, found {lo}"
        vocab = self.config.vocab_size
        if vocab is not None and hi >= vocab:
            return [], f"mismatched vocab size: token id {hi} is outside the config's vocab_size {vocab}"
        if self.tokenizer is not None and hi >= len(self.tokenizer):
            return [], f"token id {hi} is outside the tokenizer's {len(self.tokenizer)} tokens"
        return t.long().tolist(), None

    def _not_enough_reason(self, ids: list[int], n: int) -> str:
        need = self.config.context_needed
        scheme = f"the {self.config.seeding_scheme} scheme"
        if not ids:
            detail = "the input has no tokens"
        elif len(ids) <= need:
            detail = f"{len(ids)} token(s), but {scheme} needs {need} token(s) of context before the first scored one"
        elif self._ignore_set and all(t in self._ignore_set for t in ids[need:]):
            detail = f"all {len(ids) - need} token(s) after the context are in ignore_token_ids"
        else:
            detail = (
                f"{n} scorable token(s) of {len(ids)}, need {self.min_tokens} ({scheme} uses {need} token(s) "
                "of context; repeated (seed, token) decisions count once)"
            )
        return f"{NOT_ENOUGH}: {detail}"

    def _detect_rows(
        self,
        rows: list[list[int]],
        windowed: bool,
        texts: list[str | None],
        offsets: list[list[tuple[int, int]] | None],
        reasons: list[str | None],
    ) -> list[DetectionResult]:
        """Score valid rows (right-padded together) and package one result per row."""
        ids, mask = _pad(rows, self.device)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long, device=self.device)
        out = self.score_ids(ids, mask)
        win = self.window_scores(out["green"], out["scored"], lengths) if windowed else None
        cols = {k: v.tolist() for k, v in out.items()}
        wcols = {k: v.tolist() for k, v in win.items()} if win else None
        alpha = self._window_alpha()
        results = []
        for i, row in enumerate(rows):  # packaging Python results, after the vectorised scoring
            n_tok = len(row)
            n = cols["num_scored"][i]
            text, offs = texts[i], offsets[i]
            enough = reasons[i] is None and n >= self.min_tokens
            z = cols["z"][i] if enough else float("nan")
            p = cols["p"][i] if enough else float("nan")
            res = DetectionResult(
                z_score=z,
                p_value=p,
                prediction=self._decide(z, p) if enough else None,
                num_tokens_scored=n,
                num_green_tokens=cols["num_green"][i],
                green_fraction=cols["num_green"][i] / n if n else float("nan"),
                z_threshold=self.z_threshold,
                fpr=self.fpr,
                token_ids=list(row),
                green_mask=cols["green"][i][:n_tok],
                scored_mask=cols["scored"][i][:n_tok],
                tokens=[text[s:e] for s, e in offs] if offs is not None else None,
                offsets=[tuple(o) for o in offs] if offs is not None else None,
                reason=reasons[i]
                if reasons[i] is not None
                else (None if enough else self._not_enough_reason(row, n)),
            )
            if wcols is not None and reasons[i] is None and wcols["tests"][i] > 0:
                s, e = wcols["start"][i], wcols["end"][i]
                res.window = {
                    "start": s,
                    "end": e,
                    "z_score": wcols["z"][i],
                    "p_value": wcols["p"][i],
                    "p_value_uncorrected": wcols["p_window"][i],
                    "num_tokens_scored": wcols["num_scored"][i],
                    "num_green_tokens": wcols["num_green"][i],
                    "windows_tested": wcols["tests"][i],
                    "prediction": bool(wcols["p"][i] <= alpha),
                }
                if offs is not None:
                    res.window["char_start"], res.window["char_end"] = offs[s][0], offs[e - 1][1]
            results.append(res)
        return results

    def detect_ids(
        self,
        input_ids: torch.Tensor | Sequence[Sequence[int]],
        attention_mask: torch.Tensor | None = None,
        windowed: bool = False,
    ) -> list[DetectionResult]:
        """One ``DetectionResult`` per row of ids (a tensor, with an optional mask on either side, or ragged
        lists); a row gives exactly what it gives alone, and a bad row gets a ``reason``, never an exception.

        Args:
            input_ids: (batch, length) tensor or a list of lists of token ids (only the generated part).
            attention_mask: with a tensor: 1 on real tokens (left or right padding).
            windowed: also scan for the most watermarked window (``result.window``).
        """
        if isinstance(input_ids, torch.Tensor):
            ids = input_ids if input_ids.dim() == 2 else input_ids.unsqueeze(0)
            if attention_mask is not None:
                keep = torch.as_tensor(attention_mask).bool()
                if keep.dim() == 1:
                    keep = keep.unsqueeze(0)
                if keep.shape != ids.shape:
                    raise ValueError(
                        f"attention_mask {tuple(keep.shape)} must match input_ids {tuple(ids.shape)}"
                    )
                input_ids = [r[m] for r, m in zip(ids.cpu(), keep.cpu())]
            else:
                input_ids = list(ids.cpu())
        elif attention_mask is not None:
            raise ValueError("attention_mask goes with a tensor of ids, not with lists")
        checked = [self._check_row(r) for r in input_ids]
        return self._detect_rows(
            [r for r, _ in checked],
            windowed,
            [None] * len(checked),
            [None] * len(checked),
            [e for _, e in checked],
        )

    def detect(
        self, texts: str | Sequence[str | Sequence[int]], windowed: bool = False, batch_size: int = 64
    ) -> DetectionResult | list[DetectionResult]:
        """Detect in one text (returns one result) or a list of texts (a result per text, in order).

        Items of a list may also be token-id lists (scored as ``detect_ids`` would). An item that is neither,
        an empty text or one too short to score gets a result with ``prediction=None`` and a ``reason``.
        Each text's result is the same in any batch as alone.

        Args:
            texts: a string, or a list of strings / token-id lists.
            windowed: also scan each text for its most watermarked window (``result.window``).
            batch_size: texts tokenized and scored together (memory, not results).
        """
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        if self.tokenizer is None and any(isinstance(t, str) for t in batch):
            raise ValueError("detecting in text needs a tokenizer: WatermarkDetector(config, tokenizer=...)")
        results: list[DetectionResult] = []
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size]
            is_text = [i for i, t in enumerate(chunk) if isinstance(t, str)]
            rows: list[list[int]] = []
            reasons: list[str | None] = []
            for t in chunk:
                row, reason = ([], None) if isinstance(t, str) else self._check_row(t)
                rows.append(row)
                reasons.append(reason)
            texts_col: list[str | None] = [None] * len(chunk)
            offsets_col: list[list[tuple[int, int]] | None] = [None] * len(chunk)
            if is_text:
                enc = self.tokenizer(
                    [chunk[i] for i in is_text], add_special_tokens=False, return_offsets_mapping=True
                )
                for j, i in enumerate(is_text):
                    rows[i], texts_col[i], offsets_col[i] = (
                        enc["input_ids"][j],
                        chunk[i],
                        enc["offset_mapping"][j],
                    )
            results += self._detect_rows(rows, windowed, texts_col, offsets_col, reasons)
        return results[0] if single else results

    __call__ = detect
