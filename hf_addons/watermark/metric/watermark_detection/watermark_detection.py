"""``evaluate`` metric: watermark detection z-scores, p-values and decisions for a list of texts.

Load it offline with ``hf_addons.watermark.load_metric()`` or ``evaluate.load(hf_addons.watermark.metric_path())``
(the installed folder's absolute path: any working directory, editable install or not). The hashing key comes from ``compute()``
(``hashing_key=``) or from a ``WatermarkConfig`` (object, dict or saved directory) passed as ``config=``.
"""

from __future__ import annotations

import math

import datasets
import evaluate

UNKNOWN = -1  # label of texts added without a reference

_DESCRIPTION = """Detects the green/red-list watermark of Kirchenbauer et al. (2023) in texts with a z-test on
the fraction of green tokens, using hf_addons' WatermarkDetector. Needs the tokenizer the texts were generated
with and the secret hashing key; no model. With references (1 = watermarked, 0 = not), also reports TPR, FPR
and accuracy of the decisions."""

_CITATION = """@inproceedings{kirchenbauer2023watermark,
  title={A Watermark for Large Language Models},
  author={Kirchenbauer, John and Geiping, Jonas and Wen, Yuxin and Katz, Jonathan and Miers, Ian and Goldstein, Tom},
  booktitle={ICML},
  year={2023}
}"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): texts to test (only the generated part, without the prompt).
    references (list of int, optional): 1 if the text is watermarked, 0 if not.
    hashing_key (int or str, optional): the secret key; overrides the one in `config`.
    config (WatermarkConfig, dict or path, optional): watermark settings (gamma, scheme, context width...).
    tokenizer (str or tokenizer, optional): defaults to the embedded SmolLM2 tokenizer ("default").
    z_threshold (float, optional): decision threshold on z (default: the config's, 4.0).
    target_fpr (float, optional): decide on the exact p-value instead: flag when p <= target_fpr.
    windowed (bool, optional): also scan for a watermarked span inside longer text (WinMax).
Returns:
    z_score, p_value (exact binomial), prediction (1/0, None when a text could not be scored), reason (None or
    why not), num_tokens_scored, green_fraction, window_z_score / window_p_value (windowed; p calibrated for
    the windows scanned in that text) (lists, one per text); detection_rate and num_unscored; with references:
    tpr, fpr, accuracy.
Examples:
    >>> from hf_addons.watermark import load_metric
    >>> metric = load_metric()
    >>> metric.compute(predictions=["some generated text"], hashing_key=15485863)["prediction"]
    [0]
"""


def _build_config(config, hashing_key, overrides):
    from hf_addons.watermark import WatermarkConfig

    extra = {k: v for k, v in overrides.items() if v is not None}
    if hashing_key is not None:
        extra["hashing_key"] = hashing_key
    if config is None:
        cfg = WatermarkConfig(**{"hashing_key": None, **extra})
    elif isinstance(config, WatermarkConfig):
        cfg = WatermarkConfig.from_dict(config.to_dict(include_key=True), **extra)
    elif isinstance(config, dict):
        cfg = WatermarkConfig.from_dict(config, **extra)
    else:
        cfg = WatermarkConfig.from_pretrained(config, **extra)
    cfg.key  # noqa: B018 - raises MissingKeyError naming both ways to pass the key
    return cfg


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WatermarkDetection(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {"predictions": datasets.Value("string"), "references": datasets.Value("int32")}
                ),
                datasets.Features({"predictions": datasets.Value("string")}),
            ],
            reference_urls=["https://arxiv.org/abs/2301.10226", "https://arxiv.org/abs/2306.04634"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add texts (references optional: unlabeled texts are stored as -1, unknown)."""
        # evaluate streams batches with the first feature set's columns, so references must be present
        if references is None and predictions is not None:
            references = [UNKNOWN] * len(predictions)
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one text (reference optional)."""
        return super().add(
            prediction=prediction, reference=UNKNOWN if reference is None else reference, **kwargs
        )

    def _compute(
        self,
        predictions,
        references=None,
        hashing_key=None,
        config=None,
        tokenizer="default",
        z_threshold=None,
        target_fpr=None,
        windowed=False,
        seeding_scheme=None,
        context_width=None,
        gamma=None,
    ):
        from hf_addons.watermark import WatermarkDetector

        if references is not None and all(int(y) == UNKNOWN for y in references):
            references = None
        elif references is not None and any(int(y) not in (0, 1) for y in references):
            raise ValueError("references must be 1 (watermarked) or 0 (not), for every text or for none")

        cfg = _build_config(
            config, hashing_key, dict(seeding_scheme=seeding_scheme, context_width=context_width, gamma=gamma)
        )
        detector = WatermarkDetector(cfg, tokenizer=tokenizer, z_threshold=z_threshold, fpr=target_fpr)
        results = detector.detect(list(predictions), windowed=windowed)
        decisions = []
        for r in results:
            if windowed and r.window is not None:
                decisions.append(int(r.prediction or r.window["prediction"]))
            else:
                decisions.append(None if r.prediction is None else int(r.prediction))
        scored = [d for d in decisions if d is not None]
        out = {
            "z_score": [r.z_score for r in results],
            "p_value": [r.p_value for r in results],
            "prediction": decisions,
            "reason": [r.reason for r in results],
            "num_tokens_scored": [r.num_tokens_scored for r in results],
            "green_fraction": [r.green_fraction for r in results],
            "detection_rate": sum(scored) / len(scored) if scored else math.nan,
            "num_unscored": len(decisions) - len(scored),
        }
        if windowed:
            out["window_z_score"] = [r.window["z_score"] if r.window else math.nan for r in results]
            out["window_p_value"] = [r.window["p_value"] if r.window else math.nan for r in results]
        if references is not None:
            pairs = [(d, int(y)) for d, y in zip(decisions, references)]
            pos = [d or 0 for d, y in pairs if y == 1]  # an unscorable text counts as not detected
            neg = [d or 0 for d, y in pairs if y == 0]
            out["tpr"] = sum(pos) / len(pos) if pos else math.nan
            out["fpr"] = sum(neg) / len(neg) if neg else math.nan
            out["accuracy"] = sum(int((d or 0) == y) for d, y in pairs) / len(pairs) if pairs else math.nan
        return out
