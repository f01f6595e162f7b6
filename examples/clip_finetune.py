"""Fine-tune a small CLIP (built from a config, random init) on synthetic image-caption pairs with our loss.

The loss plugs into ``Trainer(compute_loss_func=...)``; it reads ``image_embeds`` / ``text_embeds`` from the
``CLIPModel`` output and trains the model's own ``logit_scale`` (clamped at 100 inside the loss).

    python examples/clip_finetune.py --tiny          # seconds on a CPU
    python examples/clip_finetune.py --siglip        # the sigmoid loss instead
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
from torch.utils.data import Dataset


class SyntheticPairs(Dataset):
    """Class ``k`` = a fixed random image pattern + noise, captioned by a fixed random token sequence."""

    def __init__(self, n: int, classes: int, image_size: int, seq_len: int, vocab: int, seed: int) -> None:
        g = torch.Generator().manual_seed(1234)  # the classes are shared by every split
        self.patterns = torch.randn(classes, 3, image_size, image_size, generator=g)
        self.captions = torch.randint(1, vocab, (classes, seq_len), generator=g)
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, classes, (n,), generator=g)
        self.noise = 0.5 * torch.randn(n, 3, image_size, image_size, generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        k = self.labels[i]
        return {"pixel_values": self.patterns[k] + self.noise[i], "input_ids": self.captions[k]}


@torch.no_grad()
def retrieval_accuracy(model, data: SyntheticPairs) -> float:
    """Image -> caption top-1 over the distinct captions (one per class)."""
    model.eval()
    images = torch.stack([data[i]["pixel_values"] for i in range(len(data))])
    out = model(input_ids=data.captions, pixel_values=images)  # embeddings come out normalised
    return float(((out.image_embeds @ out.text_embeds.t()).argmax(1) == data.labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny model and data: runs in seconds")
    parser.add_argument("--siglip", action="store_true", help="use SigLipLoss instead of ClipLoss")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()

    from transformers import CLIPConfig, CLIPModel, Trainer, TrainingArguments
    from transformers.utils import logging

    from hf_addons import ClipLoss, SigLipLoss

    logging.set_verbosity_error()
    torch.manual_seed(0)
    if args.tiny:
        torch.set_num_threads(1)  # a model this small only pays thread synchronisation
    hidden, layers, classes, batch = (32, 1, 8, 32) if args.tiny else (128, 4, 64, 64)
    steps = args.steps or (15 if args.tiny else 600)
    size, seq_len, vocab = 16, 8, 128
    layer = {"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": layers}
    config = CLIPConfig(
        text_config={
            **layer,
            "num_attention_heads": 2,
            "vocab_size": vocab,
            "max_position_embeddings": seq_len,
        },
        vision_config={**layer, "num_attention_heads": 2, "image_size": size, "patch_size": 8},
        projection_dim=32,
    )
    model = CLIPModel(config)
    train = SyntheticPairs(batch * steps, classes, size, seq_len, vocab, seed=0)
    test = SyntheticPairs(256, classes, size, seq_len, vocab, seed=1)

    loss = SigLipLoss() if args.siglip else ClipLoss()
    compute_loss = loss.as_trainer_loss(logit_scale=model.logit_scale)
    if args.siglip:  # SigLIP's bias is the loss module's own parameter: train it with the model
        model.siglip_logit_bias = loss.logit_bias
        compute_loss = loss.as_trainer_loss(logit_scale=model.logit_scale, logit_bias=model.siglip_logit_bias)
        with torch.no_grad():
            model.logit_scale.fill_(loss.logit_scale.item())

    before = retrieval_accuracy(model, test)
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=os.path.join(out, "run"),
            per_device_train_batch_size=batch,
            max_steps=steps,
            learning_rate=2e-3,
            warmup_steps=steps // 10,
            logging_steps=max(1, steps // 5),
            save_strategy="no",
            report_to=[],
            use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=train, compute_loss_func=compute_loss)
        result = trainer.train()
    after = retrieval_accuracy(model, test)
    print(
        f"{'SigLIP' if args.siglip else 'CLIP'} loss, {steps} steps: train loss {result.training_loss:.3f}; "
        f"image->caption top-1 {before:.2f} -> {after:.2f} (chance {1 / classes:.2f}); "
        f"logit scale {model.logit_scale.exp().item():.1f}"
    )
    if after <= before:
        raise SystemExit("retrieval did not improve: the loss is not training the model")


if __name__ == "__main__":
    main()
