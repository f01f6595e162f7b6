"""Synthetic ground truth: known sparse features mixed into a dense space, and the recovered-feature MCC.

A sound SAE must find the true dictionary when one exists; this runs in seconds, so it guards training
changes in CI (Sharkey et al. 2022; the "toy model" check used by SAELens and SAEBench).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SyntheticData:
    activations: torch.Tensor  # (n_tokens, d_in)
    features: torch.Tensor  # (n_features, d_in), unit rows
    codes: torch.Tensor  # (n_tokens, n_features), the true sparse coefficients


def make_synthetic(
    n_tokens: int = 200_000,
    d_in: int = 64,
    n_features: int = 256,
    mean_active: float = 4.0,
    seed: int = 0,
    noise: float = 0.0,
) -> SyntheticData:
    """Each token = sum of ~``mean_active`` random unit features with magnitudes in [0.5, 1.5]."""
    if n_features < 1 or d_in < 1 or n_tokens < 1:
        raise ValueError("n_tokens, d_in and n_features must be positive")
    if not 0 < mean_active <= n_features:
        raise ValueError(f"mean_active must be in (0, n_features={n_features}], got {mean_active}")
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n_features, d_in, generator=g)
    features /= features.norm(dim=-1, keepdim=True)
    # a mild frequency spread, as in real data: some features fire 4x more often than others
    freq = torch.linspace(0.5, 2.0, n_features)
    prob = (freq / freq.sum() * mean_active).clamp(max=1.0)
    on = torch.rand(n_tokens, n_features, generator=g) < prob
    mags = 0.5 + torch.rand(n_tokens, n_features, generator=g)
    codes = on * mags
    acts = codes @ features
    if noise:
        acts += noise * torch.randn(acts.shape, generator=g)
    return SyntheticData(acts, features, codes)


def feature_mcc(decoder: torch.Tensor, features: torch.Tensor) -> float:
    """Mean cosine between each true feature and its matched learned direction (Hungarian matching)."""
    from scipy.optimize import linear_sum_assignment

    d = decoder.detach().float()
    f = features.detach().float().to(d.device)
    cos = (f / f.norm(dim=-1, keepdim=True)) @ (d / d.norm(dim=-1, keepdim=True).clamp_min(1e-8)).T
    cos = cos.cpu().numpy()
    rows, cols = linear_sum_assignment(-cos)
    return float(cos[rows, cols].mean())
