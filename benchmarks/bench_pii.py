"""PII detection: presidio's default ``AnalyzerEngine`` used plainly vs ``PIIAnonymizer`` on the same spaCy model.

Data: ``../shared/data/pii/synth_dataset_dev.json`` (750 texts with labelled spans, presidio-research), in two
fixed halves: texts 0-374 are the development half (where our patterns were looked at), 375-749 the held-out
half; both are reported. Scoring is token-level as in presidio-research: each whitespace token takes the type
of the span that covers it, and per-entity precision/recall/F1 count tokens. Dataset types are mapped to
presidio's names (GPE and STREET_ADDRESS -> LOCATION, DOMAIN_NAME -> URL; our STREET_ADDRESS -> LOCATION);
types neither side supports (TITLE, AGE, ZIP_CODE ...) only count as misses for nobody. ``ADDRESS`` scores the
gold STREET_ADDRESS spans alone against each tool's location-like spans (presidio: LOCATION; ours: LOCATION and
STREET_ADDRESS). Throughput is docs/s over the whole set, both in this process, timed on interleaved chunks of
150 texts (ours batches within a chunk). Targets: F1 >= presidio + 0.1 on LOCATION and ADDRESS, >= presidio
elsewhere (within 0.01), >= 5x its speed.

    .venv/bin/python benchmarks/bench_pii.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_result  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pii" / "synth_dataset_dev.json"
GOLD_MAP = {"GPE": "LOCATION", "STREET_ADDRESS": "LOCATION", "DOMAIN_NAME": "URL"}
PRED_MAP = {"STREET_ADDRESS": "LOCATION"}
HALF = 375
# entity types presidio's default English recognizers can return
PRESIDIO_TYPES = {
    "PERSON", "LOCATION", "NRP", "DATE_TIME", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
    "IP_ADDRESS", "US_SSN", "URL", "US_DRIVER_LICENSE", "US_BANK_NUMBER", "US_ITIN", "US_PASSPORT",
    "ORGANIZATION", "CRYPTO", "MEDICAL_LICENSE", "UK_NHS", "MAC_ADDRESS", "UUID",
}  # fmt: skip


def token_labels(text: str, spans: list[tuple[str, int, int]]) -> list[str]:
    """Type of each whitespace token: the span covering its first character, else 'O'."""
    labels = []
    for m in re.finditer(r"\S+", text):
        label = "O"
        for etype, a, b in spans:
            if a <= m.start() < b or (m.start() <= a < m.end()):
                label = etype
                break
        labels.append(label)
    return labels


def score(docs, preds, address: bool = False) -> dict[str, dict[str, float]]:
    """Token-level P/R/F1 per type; ``address``: gold STREET_ADDRESS vs location-like predictions only."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for doc, pred in zip(docs, preds):
        if address:
            gold = [("ADDRESS", s["start_position"], s["end_position"]) for s in doc["spans"]
                    if s["entity_type"] == "STREET_ADDRESS"]  # fmt: skip
            pred = [("ADDRESS", a, b) for t, a, b in pred if t in ("LOCATION", "STREET_ADDRESS")]
        else:
            gold = [
                (GOLD_MAP.get(s["entity_type"], s["entity_type"]), s["start_position"], s["end_position"])
                for s in doc["spans"]
            ]
            pred = [(PRED_MAP.get(t, t), a, b) for t, a, b in pred]
        g = token_labels(doc["full_text"], gold)
        p = token_labels(doc["full_text"], pred)
        for a, b in zip(g, p):
            if a == b and a != "O":
                tp[a] += 1
            else:
                if b != "O":
                    fp[b] += 1
                if a != "O":
                    fn[a] += 1
    out = {}
    for e in sorted(set(tp) | set(fp) | set(fn)):
        prec = tp[e] / (tp[e] + fp[e]) if tp[e] + fp[e] else 0.0
        rec = tp[e] / (tp[e] + fn[e]) if tp[e] + fn[e] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[e] = {
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(f1, 4),
            "gold_tokens": tp[e] + fn[e],
            "tp": tp[e],
            "fp": fp[e],
            "fn": fn[e],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="first N texts only (0 = all 750)")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"missing {DATA}: the shared data folder is needed")
    docs = json.loads(DATA.read_text())
    if args.limit:
        docs = docs[: args.limit]
    texts = [d["full_text"] for d in docs]

    from hf_addons.data.privacy.pii import ALL_ENTITIES, PIIAnonymizer, analyzer_for_presidio

    ours = PIIAnonymizer(
        mode="flag", entities=ALL_ENTITIES
    )  # the type set presidio returns when used plainly
    ours.analyze(texts[:4])  # load the model outside the timed region (both sides)
    anchor = analyzer_for_presidio()
    anchor.analyze(texts[0], language="en")

    # interleaved chunks: the shared machine's load drifts, both sides see the same drift
    anchor_pred, ours_found, anchor_s, ours_s = [], [], 0.0, 0.0
    for i in range(0, len(texts), 150):
        chunk = texts[i : i + 150]
        t0 = time.perf_counter()
        anchor_pred += [
            [(r.entity_type, r.start, r.end) for r in anchor.analyze(t, language="en")] for t in chunk
        ]
        anchor_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        ours_found += ours.analyze(chunk)
        ours_s += time.perf_counter() - t0
    ours_pred = [[(s["type"], s["start"], s["end"]) for s in spans] for spans in ours_found]

    halves = {"dev": slice(0, HALF), "heldout": slice(HALF, len(docs))}
    results, rows, met_all = {}, [], {}
    for half, sl in halves.items():
        d, ap, op = docs[sl], anchor_pred[sl], ours_pred[sl]
        if not d:
            continue
        a_scores, o_scores = score(d, ap), score(d, op)
        a_scores["ADDRESS"], o_scores["ADDRESS"] = (
            score(d, ap, True)["ADDRESS"],
            score(d, op, True)["ADDRESS"],
        )
        results[half] = {"n_docs": len(d), "presidio": a_scores, "ours": o_scores}
        print(f"--- {half} ({len(d)} texts)")
        print(f"{'entity':18s} {'gold':>5s} | presidio P/R/F1     | ours P/R/F1")
        ok = True
        for e in sorted(set(a_scores) | set(o_scores)):
            a, o = a_scores.get(e, {}), o_scores.get(e, {})
            gold = max(a.get("gold_tokens", 0), o.get("gold_tokens", 0))
            print(
                f"{e:18s} {gold:5d} | {a.get('precision', 0):.2f} {a.get('recall', 0):.2f} {a.get('f1', 0):.3f} "
                f"| {o.get('precision', 0):.2f} {o.get('recall', 0):.2f} {o.get('f1', 0):.3f}"
            )
            if (e in PRESIDIO_TYPES or e == "ADDRESS") and gold:
                margin = 0.1 if e in ("LOCATION", "ADDRESS") else -0.01
                met = o.get("f1", 0) >= a.get("f1", 0) + margin
                ok &= met
                rows.append(
                    {
                        "capability": "data-privacy",
                        "metric": f"PII F1 {e} (token-level, {half} half, {len(d)} texts)",
                        "anchor": "presidio AnalyzerEngine (same spaCy model)",
                        "anchor_value": a.get("f1", 0),
                        "ours": o.get("f1", 0),
                        "ratio": (o.get("f1", 0) / a["f1"]) if a.get("f1") else None,
                        "unit": "F1",
                        "target": ">= presidio + 0.1" if margin > 0 else ">= presidio (-0.01)",
                        "met": met,
                    }
                )
        met_all[half] = ok
    a_rate, o_rate = len(texts) / anchor_s, len(texts) / ours_s
    speed = {
        "capability": "data-privacy",
        "metric": f"PII docs/s ({len(docs)} synth texts, 2 cores shared)",
        "anchor": "presidio AnalyzerEngine (same spaCy model)",
        "anchor_value": round(a_rate, 1),
        "ours": round(o_rate, 1),
        "ratio": o_rate / a_rate,
        "unit": "docs/s",
        "target": ">= 5x",
        "met": o_rate / a_rate >= 5,
    }
    print(
        f"docs/s presidio={a_rate:.1f} ours={o_rate:.1f} ratio={o_rate / a_rate:.2f}; F1 targets met: {met_all}"
    )
    write_result(
        "pii",
        {**results, "presidio_seconds": anchor_s, "ours_seconds": ours_s, "f1_targets_met": met_all},
        [speed, *rows],
    )


if __name__ == "__main__":
    main()
