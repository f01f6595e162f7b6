"""Secrets: ``SecretScanner`` vs detect-secrets (defaults) and trufflehog3 (defaults) on a labelled set.

Positives: ``benchmarks/data/secrets/{dev,heldout}/`` (``make_secrets_set.py``): fake secrets of 100 kinds
(95 provider formats, GitHub/npm tokens with a bad CRC32, passwords, secrets and URL passwords) in .env, YAML,
INI, TOML, JSON, shell, Python and JavaScript files, plus placeholder files (documentation examples,
``user:pass@host``, ``<token>``...) that must not be reported. Negatives: real files of the installed packages
(site-packages: .py, .js, .json, .yaml, .toml, .cfg, .ini, .sh; minified or generated files dropped by The
Stack's filter: no line over 1000 characters, mean line length <= 100), split into dev / held-out halves by a
hash of their path; every report on them is a false positive (a few real keys in test suites count against every tool).
A secret counts as found when a report lands on its line. All tools read the same copies from disk; ours and
detect-secrets are timed in this process on interleaved chunks, trufflehog3 (its own venv, a subprocess) once.

    .venv/bin/python benchmarks/bench_secrets.py [--negatives-lines 60000] [--trufflehog3 /work/envs/trufflehog3/bin/trufflehog3]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_result  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "secrets"
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
NEG_EXT = {".py", ".js", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh"}
# the kinds detect-secrets has a plugin for (its own rule set, besides keyword/entropy heuristics)


def wilson(k: int, n: int, z: float = 1.96, scale: float = 1.0) -> list[float]:
    """95% Wilson interval of the rate k/n, times ``scale`` (1e4: per 10k lines)."""
    if not n:
        return [0.0, scale]
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(max(c - h, 0.0) * scale, 4), round((c + h) * scale, 4)]


def negatives(split: str, max_lines: int) -> list[Path]:
    """Real files of installed packages; the path hash puts each in dev or held-out."""
    pool = sorted(
        p for p in SITE.rglob("*") if p.suffix in NEG_EXT and p.is_file() and "hf_addons" not in str(p)
    )
    want = 0 if split == "dev" else 1
    pool = [p for p in pool if zlib.crc32(str(p.relative_to(SITE)).encode()) % 2 == want]
    # spread over packages and formats: order by a second hash
    pool.sort(key=lambda p: zlib.crc32(b"order" + str(p.relative_to(SITE)).encode()))
    out, n, by_ext = [], 0, Counter()
    for p in pool:
        if n >= max_lines:
            break
        if by_ext[p.suffix] > 0.4 * max_lines and p.suffix == ".py":
            continue
        try:
            text = p.read_bytes()
        except OSError:
            continue
        lines = text.count(b"\n")
        # The Stack's code filter: minified/generated files (a line over 1000 chars, mean over 100) are not code
        longest = max((len(x) for x in text.split(b"\n")), default=0)
        if 5 <= lines <= 3000 and b"\x00" not in text[:4096] and longest <= 1000 and len(text) <= 100 * lines:
            out.append(p)
            n += lines
            by_ext[p.suffix] += lines
    return out


def run_ours(paths: list[Path]) -> dict[str, dict[int, str]]:
    from hf_addons.data.privacy.secrets import SecretScanner

    scanner = SecretScanner()
    found: dict[str, dict[int, str]] = {}
    for i in range(0, len(paths), 256):
        chunk = paths[i : i + 256]
        texts = [p.read_bytes().decode("utf-8", errors="replace") for p in chunk]
        for p, items in zip(chunk, scanner.scan(texts)):
            for f in items:
                found.setdefault(str(p), {})[f["line"]] = f"{f['type']}:{f['confidence']}"
    return found


def run_detect_secrets(paths: list[Path]) -> dict[str, dict[int, str]]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with default_settings():
        coll = SecretsCollection()
        for p in paths:
            coll.scan_file(str(p))
    return {f: {s.line_number: s.type for s in secrets} for f, secrets in coll.data.items()}


def run_trufflehog3(exe: str, root: Path) -> dict[str, dict[int, str]]:
    proc = subprocess.run(
        [exe, "-z", "--no-history", "-f", "JSON", "-p", "2", str(root)], capture_output=True, text=True
    )
    found: dict[str, dict[int, str]] = {}
    for item in json.loads(proc.stdout or "[]"):
        path = item["path"] if Path(item["path"]).is_absolute() else str(root / item["path"])
        found.setdefault(path, {})[int(item["line"])] = item["rule"]["id"]
    return found


def score(found, labels, neg_paths, placeholder_paths, neg_lines) -> dict:
    truth = {(path, line): kind for path, line, kind in labels}
    hit, n_type = Counter(), Counter(kind for _, _, kind in labels)
    fp_neg, fp_ph, fp_lines = 0, 0, []
    neg, ph = set(neg_paths), set(placeholder_paths)
    for path, lines in found.items():
        for line, what in lines.items():
            if (path, line) in truth:
                hit[truth[(path, line)]] += 1
            elif path in neg:
                fp_neg += 1
                fp_lines.append((path, line, what))
            elif path in ph:
                fp_ph += 1
                fp_lines.append((path, line, what))
    k, n = sum(hit.values()), len(labels)
    return {
        "recall": round(k / n, 4),
        "recall_ci95": wilson(k, n),
        "recall_by_type": {t: round(hit[t] / m, 3) for t, m in sorted(n_type.items())},
        "false_positives_real_code": fp_neg,
        "fp_per_10k_lines": round(fp_neg / neg_lines * 1e4, 3),
        "fp_per_10k_ci95": wilson(fp_neg, neg_lines, scale=1e4),
        "placeholder_false_positives": fp_ph,
        "_fp": fp_lines,
    }


def evaluate(split: str, args, tmp: Path) -> dict:
    src = DATA / split
    root = tmp / split
    (root / "pos").mkdir(parents=True)
    (root / "neg").mkdir()
    labels, placeholders = [], []
    rows = [json.loads(x) for x in (src / "labels.jsonl").read_text().splitlines()]
    for f in sorted(src.iterdir()):
        if f.name != "labels.jsonl":
            shutil.copy(f, root / "pos" / f.name)
            if "_placeholder." in f.name:
                placeholders.append(str(root / "pos" / f.name))
    labels = [(str(root / "pos" / r["file"]), r["line"], r["type"]) for r in rows]
    neg_src = negatives(split, args.negatives_lines)
    neg_paths = []
    for i, p in enumerate(neg_src):
        dst = root / "neg" / f"{i:05d}_{p.name}"
        shutil.copy(p, dst)
        neg_paths.append(str(dst))
    neg_lines = sum(Path(p).read_bytes().count(b"\n") for p in neg_paths)
    paths = [Path(p) for p in neg_paths] + sorted(
        {Path(p) for p, _, _ in labels} | {Path(p) for p in placeholders}
    )
    total_lines = sum(p.read_bytes().count(b"\n") for p in paths)

    run_ours(paths[:20])
    run_detect_secrets(paths[:3])
    ours, anchor, ours_s, anchor_s = {}, {}, 0.0, 0.0
    chunk = max(len(paths) // 6, 1)
    for i in range(0, len(paths), chunk):  # interleaved: both sides see the same load drift
        part = paths[i : i + chunk]
        t0 = time.perf_counter()
        ours.update(run_ours(part))
        ours_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        anchor.update(run_detect_secrets(part))
        anchor_s += time.perf_counter() - t0
    out = {
        "files": len(paths),
        "lines": total_lines,
        "negative_files": len(neg_paths),
        "negative_lines": neg_lines,
        "negative_extensions": dict(Counter(Path(p).suffix for p in neg_paths)),
        "secrets": len(labels),
        "placeholder_files": len(placeholders),
        "ours": score(ours, labels, neg_paths, placeholders, neg_lines),
        "detect_secrets": score(anchor, labels, neg_paths, placeholders, neg_lines),
        "ours_seconds": round(ours_s, 3),
        "detect_secrets_seconds": round(anchor_s, 3),
        "speed_ratio_vs_detect_secrets": round(anchor_s / ours_s, 2),
    }
    # the confidence our scanner gives the bad-checksum tokens (reported, not dropped)
    bad = [(p, line) for p, line, k in labels if k.endswith("_bad_crc")]
    out["ours_bad_crc_confidence"] = dict(Counter(ours.get(p, {}).get(line, "missed") for p, line in bad))
    if args.trufflehog3 and Path(args.trufflehog3).exists():
        t0 = time.perf_counter()
        th = run_trufflehog3(args.trufflehog3, root)
        out["trufflehog3_seconds"] = round(time.perf_counter() - t0, 3)
        out["trufflehog3"] = score(th, labels, neg_paths, placeholders, neg_lines)
    ds, ou = out["detect_secrets"]["recall_by_type"], out["ours"]["recall_by_type"]
    covered = {t: v for t, v in ds.items() if v > 0}  # kinds detect-secrets finds at all
    out["types_detect_secrets_covers"] = len(covered)
    out["types_where_ours_below_detect_secrets"] = {t: [ou[t], v] for t, v in covered.items() if ou[t] < v}
    for tool in ("ours", "detect_secrets", "trufflehog3"):
        if tool in out:
            fps = out[tool].pop("_fp")
            out[tool]["false_positive_examples"] = [
                f"{Path(p).name}:{ln} [{w}]: {Path(p).read_text(errors='replace').splitlines()[ln - 1][:100]}"
                for p, ln, w in fps[:25]
            ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--negatives-lines", type=int, default=60_000)
    ap.add_argument("--trufflehog3", default="/work/envs/trufflehog3/bin/trufflehog3")
    ap.add_argument("--splits", default="dev,heldout")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for split in args.splits.split(","):
            results[split] = evaluate(split, args, Path(tmp))
            r = results[split]
            line = (
                f"{split}: recall ours {r['ours']['recall']} detect-secrets {r['detect_secrets']['recall']}"
            )
            if "trufflehog3" in r:
                line += f" trufflehog3 {r['trufflehog3']['recall']}"
            print(line)
            print(
                f"  FP/10k real lines: ours {r['ours']['fp_per_10k_lines']} ds {r['detect_secrets']['fp_per_10k_lines']}"
                f" ({r['negative_lines']} lines); placeholders: ours {r['ours']['placeholder_false_positives']}"
                f" ds {r['detect_secrets']['placeholder_false_positives']}; speed {r['speed_ratio_vs_detect_secrets']}x"
            )
            print("  types below detect-secrets:", r["types_where_ours_below_detect_secrets"])
            print("  missed:", {t: v for t, v in r["ours"]["recall_by_type"].items() if v < 1})
            print("  our FPs:", *r["ours"]["false_positive_examples"], sep="\n    ")
    rows = []
    ds_name = "detect-secrets 1.5 (defaults)"
    for split in results:
        r = results[split]
        tag = "held-out" if split == "heldout" else "dev"
        o, a = r["ours"], r["detect_secrets"]
        rows += [
            {"capability": "data-privacy", "metric": f"secrets recall, {tag} ({r['secrets']} secrets, 100 kinds, 8 file formats)",
             "anchor": ds_name, "anchor_value": a["recall"], "ours": o["recall"], "ratio": o["recall"] / a["recall"],
             "unit": "recall", "target": ">= 0.95 and >= anchor per type",
             "met": o["recall"] >= 0.95 and not r["types_where_ours_below_detect_secrets"]},
            {"capability": "data-privacy", "metric": f"secrets FP per 10k lines of real code, {tag} ({r['negative_lines']} lines)",
             "anchor": ds_name, "anchor_value": a["fp_per_10k_lines"], "ours": o["fp_per_10k_lines"], "ratio": None,
             "unit": "FP/10k lines", "target": "<= 1", "met": o["fp_per_10k_lines"] <= 1},
            {"capability": "data-privacy", "metric": f"secrets scan speed, {tag} ({r['lines']} lines, 2 cores shared)",
             "anchor": ds_name, "anchor_value": r["detect_secrets_seconds"], "ours": r["ours_seconds"],
             "ratio": r["speed_ratio_vs_detect_secrets"], "unit": "seconds", "target": ">= 50x",
             "met": r["speed_ratio_vs_detect_secrets"] >= 50},
        ]  # fmt: skip
        if "trufflehog3" in r:
            t = r["trufflehog3"]
            rows.append(
                {"capability": "data-privacy", "metric": f"secrets recall / FP per 10k lines vs trufflehog3, {tag}",
                 "anchor": "trufflehog3 3.0.10 (defaults)", "anchor_value": [t["recall"], t["fp_per_10k_lines"]],
                 "ours": [o["recall"], o["fp_per_10k_lines"]], "ratio": None, "unit": "recall, FP/10k",
                 "target": "(side by side)", "met": None}
            )  # fmt: skip
    write_result("secrets", results, rows)


if __name__ == "__main__":
    main()
