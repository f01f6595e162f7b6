"""Sparse autoencoders on a causal LM's activations: train, evaluate, inspect features, load SAELens/sparsify.

Submodules import torch; ``import hf_addons`` stays light because the top-level names resolve lazily.
"""

from hf_addons.interp.activations import (
    ActivationBuffer,
    ActivationStream,
    ShardedActivationSource,
    TensorSource,
    cache_activations,
    cache_activations_sharded,
    collect_activations,
    iter_activations,
    load_cached_activations,
    resolve_hook,
)
from hf_addons.interp.config import SAEConfig
from hf_addons.interp.convert import (
    load_sae,
    load_saelens,
    load_sparsify,
    load_sparsify_run,
    save_saelens,
    save_sparsify,
)
from hf_addons.interp.evaluation import ce_loss_recovered, evaluate
from hf_addons.interp.features import generate_steered, logit_effect, steer, top_contexts
from hf_addons.interp.model import SAEOutput, SparseAutoencoder
from hf_addons.interp.synthetic import feature_mcc, make_synthetic
from hf_addons.interp.trainer import SAETrainer, SAETrainingArguments, geometric_median, train_sae

__all__ = [
    "ActivationBuffer",
    "ActivationStream",
    "SAEConfig",
    "SAEOutput",
    "SAETrainer",
    "SAETrainingArguments",
    "SparseAutoencoder",
    "ShardedActivationSource",
    "TensorSource",
    "cache_activations",
    "cache_activations_sharded",
    "ce_loss_recovered",
    "collect_activations",
    "evaluate",
    "feature_mcc",
    "generate_steered",
    "geometric_median",
    "iter_activations",
    "load_cached_activations",
    "load_sae",
    "load_saelens",
    "load_sparsify",
    "load_sparsify_run",
    "logit_effect",
    "make_synthetic",
    "resolve_hook",
    "save_saelens",
    "save_sparsify",
    "steer",
    "top_contexts",
    "train_sae",
]
