"""Exact CLIP / SigLIP contrastive losses with O(N) memory (tiled, recomputed in backward), single or multi-GPU."""

from hf_addons.contrastive.loss import (
    MAX_LOGIT_SCALE,
    ClipLoss,
    SigLipLoss,
    clamp_logit_scale,
    clip_loss_tiled,
    naive_clip_loss,
    naive_siglip_loss,
    siglip_loss_tiled,
)

__all__ = [
    "MAX_LOGIT_SCALE",
    "ClipLoss",
    "SigLipLoss",
    "clamp_logit_scale",
    "clip_loss_tiled",
    "naive_clip_loss",
    "naive_siglip_loss",
    "siglip_loss_tiled",
]
