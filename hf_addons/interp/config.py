"""``SAEConfig``: a transformers config, so an SAE saves, loads and pushes like any Hub model."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from hf_addons.hub import PushMixin

ARCHITECTURES = ("topk", "batchtopk", "jumprelu", "relu", "groupmax")
# architectures whose codes are k (value, index) pairs per token
SPARSE_CODE_ARCHITECTURES = ("topk", "groupmax")
# attn_z: the attention heads' outputs before the output projection (that projection's input, heads
# concatenated), TransformerLens's ``attn.hook_z`` flattened
HOOK_POINTS = ("resid_post", "resid_pre", "mlp_out", "attn_out", "attn_z")
# hook points read from a module's input rather than its output
INPUT_HOOK_POINTS = ("resid_pre", "attn_z")
# SAELens's run-time input normalisations that depend on each token (a constant factor is folded into the weights)
INPUT_NORMALIZATIONS = ("none", "constant_norm_rescale", "layer_norm")


class SAEConfig(PushMixin, PretrainedConfig):
    """Shape, sparsity mechanism and provenance (model, layer, hook point, training stats) of an SAE.

    ``d_sae`` defaults to ``expansion_factor * d_in``. The provenance fields feed the generated model card.
    ``head_index`` (``attn_z``): the SAE reads one attention head's output (SAELens's ``hook_head_index``).
    ``hook_name`` is a module name of the HF model; ``source_hook_name`` keeps the hook name of the library an SAE
    was loaded from (SAELens ``blocks.3.hook_resid_pre``, a sparsify folder name) when it has no HF equivalent
    here, so feature and steering calls refuse instead of hooking a guessed layer.
    ``normalize_activations`` (SAELens's run-time normalisation, for SAEs loaded from it): ``"layer_norm"``
    centres each input and divides it by its standard deviation + 1e-5, ``"constant_norm_rescale"`` scales it to
    norm ``sqrt(d_in)``; the reconstruction is mapped back with the same token's statistics.
    The reconstruction loss is FVU (scale-free), so the sparsity weights are too: ReLU adds
    ``l1_coefficient * sum_i a_i ||W_dec_i|| / rms(x - mean)``, JumpReLU adds ``l0_coefficient * 100 * L0 / d_sae``.
    """

    model_type = "hf_addons_sae"

    def __init__(
        self,
        d_in: int = 576,
        d_sae: int | None = None,
        expansion_factor: int = 16,
        architecture: str = "topk",
        k: int = 32,
        apply_b_dec_to_input: bool = True,
        normalize_activations: str = "none",
        normalize_decoder: bool = True,
        l1_coefficient: float = 5.0,
        l0_coefficient: float = 1.0,
        jumprelu_init_threshold: float = 0.001,
        jumprelu_bandwidth: float = 0.001,
        model_name: str | None = None,
        layer: int | None = None,
        hook_point: str = "resid_post",
        hook_name: str | None = None,
        head_index: int | None = None,
        source_hook_name: str | None = None,
        tokens_trained: int = 0,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown SAE architecture {architecture!r}; expected one of {ARCHITECTURES}")
        if normalize_activations not in INPUT_NORMALIZATIONS:
            raise ValueError(
                f"unknown normalize_activations {normalize_activations!r}; expected one of {INPUT_NORMALIZATIONS}"
            )
        if hook_point not in HOOK_POINTS:
            raise ValueError(f"unknown hook point {hook_point!r}; expected one of {HOOK_POINTS}")
        if int(d_in) <= 0:
            raise ValueError(f"d_in must be positive, got {d_in}")
        self.d_in = int(d_in)
        self.expansion_factor = int(expansion_factor)
        self.d_sae = int(d_sae) if d_sae is not None else self.d_in * self.expansion_factor
        if architecture in ("topk", "batchtopk", "groupmax") and not 0 < int(k) <= self.d_sae:
            raise ValueError(f"k must be in [1, d_sae={self.d_sae}], got {k}")
        if architecture == "groupmax" and self.d_sae % int(k):
            raise ValueError(
                f"groupmax splits d_sae={self.d_sae} into k={k} equal groups: k must divide d_sae"
            )
        self.architecture = architecture
        self.k = int(k)
        self.apply_b_dec_to_input = bool(apply_b_dec_to_input)
        self.normalize_activations = normalize_activations
        self.normalize_decoder = bool(normalize_decoder)
        self.l1_coefficient = float(l1_coefficient)
        self.l0_coefficient = float(l0_coefficient)
        self.jumprelu_init_threshold = float(jumprelu_init_threshold)
        self.jumprelu_bandwidth = float(jumprelu_bandwidth)
        self.model_name = model_name
        self.layer = layer
        self.hook_point = hook_point
        self.hook_name = hook_name
        if head_index is not None and hook_point != "attn_z":
            raise ValueError(f"head_index selects one head of attn_z; the hook point is {hook_point!r}")
        self.head_index = None if head_index is None else int(head_index)
        self.source_hook_name = source_hook_name
        self.tokens_trained = int(tokens_trained)
        self.metrics = dict(metrics or {})
        super().__init__(**kwargs)

    @property
    def hook_layer(self) -> int | None:
        """SAELens/SAEBench name of ``layer``."""
        return self.layer
