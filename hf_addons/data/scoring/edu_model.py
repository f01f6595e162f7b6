"""The educational-quality head as a Hub model: :class:`EduClassifier` (a ``PreTrainedModel``) and its config,
registered with the Auto classes. Apart from :mod:`hf_addons.data.scoring.edu` so that importing the steps
(every pipeline does, to look them up) does not import torch and transformers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from hf_addons.data.scoring.edu import MAX_SCORE


class EduClassifierConfig(PretrainedConfig):
    """Regression head over text embeddings; ``embedder`` names the embedding model it was trained on.

    Args:
        embedding_dim: size of the embeddings the head reads.
        hidden_dim: hidden layer width (0: a linear head).
        embedder: the embedding model it was trained on (``"minilm"``, ``"lm"``, ``"lm:<name>"``).
        threshold: the score from which :class:`EduScorer` keeps a document.
        max_score: the top of the rubric's scale.
        dropout: dropout before the head (training only).
        agreement: the held-out agreement with the judge recorded at training time.

    Examples:

    ```python
    >>> EduClassifierConfig(hidden_dim=0).threshold
    3.0
    ```
    """

    model_type = "hf_addons_edu_classifier"

    def __init__(
        self,
        embedding_dim: int = 384,
        hidden_dim: int = 0,
        embedder: str = "minilm",
        threshold: float = 3.0,
        max_score: int = MAX_SCORE,
        dropout: float = 0.0,
        agreement: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.agreement = agreement  # the training report (held-out judge agreement), shown in the card
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.embedder = embedder
        self.threshold = threshold
        self.max_score = max_score
        self.dropout = dropout
        super().__init__(**kwargs)


@dataclass
class EduClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class EduClassifier(PreTrainedModel):
    """Predicts the judge's 0-5 score from an embedding (``logits`` has shape ``(batch,)``).

    Args:
        config: its :class:`EduClassifierConfig`.

    Examples:

    ```python
    >>> import torch
    >>> model = EduClassifier(EduClassifierConfig(embedding_dim=4))
    >>> model(torch.zeros(2, 4)).logits.shape
    torch.Size([2])
    ```
    """

    config_class = EduClassifierConfig
    base_model_prefix = "edu"

    def __init__(self, config: EduClassifierConfig) -> None:
        super().__init__(config)
        if config.hidden_dim:
            self.head = nn.Sequential(
                nn.Dropout(config.dropout),
                nn.Linear(config.embedding_dim, config.hidden_dim),
                nn.GELU(),
                nn.Linear(config.hidden_dim, 1),
            )
        else:
            self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.embedding_dim, 1))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor | None = None, **_: Any
    ) -> EduClassifierOutput:
        logits = self.head(embeddings).squeeze(-1)
        loss = None if labels is None else nn.functional.mse_loss(logits, labels.to(logits.dtype))
        return EduClassifierOutput(loss=loss, logits=logits)

    def predict(self, embeddings: np.ndarray | torch.Tensor) -> np.ndarray:
        """Scores clipped to [0, max_score] for a batch of embeddings."""
        x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=self.device)
        if x.ndim != 2 or x.shape[1] != self.config.embedding_dim:
            raise ValueError(
                f"expected embeddings of shape (n, {self.config.embedding_dim}), got {tuple(x.shape)}; "
                f"this classifier was trained on the {self.config.embedder!r} embedder"
            )
        with torch.inference_mode():
            return self(x).logits.clamp(0, self.config.max_score).double().cpu().numpy()

    def model_card(self, **fields: Any) -> str:
        """README for the Hub from ``model_cards/edu-classifier.md``."""
        from hf_addons.hub import render_card

        return render_card("edu-classifier", config=self.config.to_dict(), **fields)


AutoConfig.register(EduClassifierConfig.model_type, EduClassifierConfig, exist_ok=True)
AutoModel.register(EduClassifierConfig, EduClassifier, exist_ok=True)
