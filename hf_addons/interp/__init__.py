"""Sparse autoencoders on a causal LM's activations: train, evaluate, inspect features, load SAELens/sparsify."""

from hf_addons.interp.config import SAEConfig
from hf_addons.interp.model import SAEOutput, SparseAutoencoder

__all__ = ["SAEConfig", "SAEOutput", "SparseAutoencoder"]
