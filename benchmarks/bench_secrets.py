"""Secrets: detect-secrets used plainly (default plugins and filters) vs ``SecretScanner`` on a labelled set.

Positives: secrets in their real formats (GitHub/npm tokens with a valid CRC32, AWS key pairs, Slack/Discord
webhooks, Stripe/Google/OpenAI/SendGrid/HF keys, JWTs, PEM private keys, passwords in code and in URLs) each
written into a copy of a real Python source file at a random line, in a realistic statement. Negatives: the
Python sources of installed packages, unchanged, plus decoy GitHub-shaped tokens with a wrong CRC32 (a handful of real tokens left in test helpers count as false
positives for both tools). A secret counts as found when a report lands on its line; every other report is a
false positive. Both tools read the same files from disk, in this process, one after the other.

    .venv/bin/python benchmarks/bench_secrets.py [--negatives-lines 100000] [--per-type 15]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_result  # noqa: E402

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
ALNUM = string.ascii_letters + string.digits
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _r(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _crc_token(rng: random.Random, prefix: str) -> str:
    body = _r(rng, 30)
    v, check = zlib.crc32(body.encode()), ""
    while v:
        v, x = divmod(v, 62)
        check = B62[x] + check
    return f"{prefix}_{body}{check.rjust(6, '0')}"


def _jwt(rng: random.Random) -> str:
    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'sub': _r(rng, 10), 'iat': rng.randint(1, 10**9)})}.{_r(rng, 43, ALNUM + '-_')}"


def _pem(rng: random.Random) -> str:
    body = "\\n".join(_r(rng, 64, ALNUM + "+/") for _ in range(6))
    return f"-----BEGIN RSA PRIVATE KEY-----\\n{body}\\n-----END RSA PRIVATE KEY-----"


# type -> statement template producing one line of code (secret in real format)
GENERATORS = {
    "github_token": lambda g: f'GITHUB_TOKEN = "{_crc_token(g, "ghp")}"',
    "github_oauth": lambda g: f'headers = {{"Authorization": "token {_crc_token(g, "gho")}"}}',
    "npm_token": lambda g: f'NPM_AUTH = "{_crc_token(g, "npm")}"',
    "aws_access_key_id": lambda g: (
        f'aws_access_key_id = "AKIA{_r(g, 16, string.ascii_uppercase + "234567")}"'
    ),
    "aws_secret_access_key": lambda g: f'aws_secret_access_key = "{_r(g, 40, ALNUM + "/+")}"',
    "slack_webhook": lambda g: (
        "WEBHOOK = 'https://hooks.slack.com/services/T"
        + _r(g, 8, string.ascii_uppercase + string.digits)
        + "/B"
        + _r(g, 8, string.ascii_uppercase + string.digits)
        + "/"
        + _r(g, 24)
        + "'"
    ),
    "slack_token": lambda g: (
        f'client = WebClient(token="xoxb-{g.randint(10**11, 10**12)}-{g.randint(10**11, 10**12)}-{_r(g, 24)}")'
    ),
    "stripe_key": lambda g: f'stripe.api_key = "sk_live_{_r(g, 24)}"',
    "google_api_key": lambda g: f'GOOGLE_API_KEY = "AIza{_r(g, 35, ALNUM + "-_")}"',
    "openai_api_key": lambda g: f'openai.api_key = "sk-proj-{_r(g, 20)}T3BlbkFJ{_r(g, 20)}"',
    "sendgrid_api_key": lambda g: f'sg = SendGridAPIClient("SG.{_r(g, 22)}.{_r(g, 43)}")',
    "huggingface_token": lambda g: f'login(token="hf_{_r(g, 34, string.ascii_letters)}")',
    "jwt": lambda g: f'session_cookie = "{_jwt(g)}"',
    "private_key": lambda g: f'KEY = "{_pem(g)}"',
    "password_in_url": lambda g: f'DATABASE_URL = "postgresql://app:{_r(g, 14)}@db.prod.internal:5432/app"',
    "password_assignment": lambda g: f'db_password = "{_r(g, 6)}-{_r(g, 4, string.digits)}!{_r(g, 3)}"',
    "discord_webhook": lambda g: (
        f'URL = "https://discord.com/api/webhooks/{g.randint(10**17, 10**18)}/{_r(g, 68, ALNUM + "-_")}"'
    ),
    "twilio_api_key": lambda g: f'TWILIO_KEY = "SK{_r(g, 32, "0123456789abcdef")}"',
}


def build_positives(
    files: list[Path], per_type: int, seed: int, out_dir: Path
) -> list[tuple[Path, int, str]]:
    """Write each secret into a copy of a real file; returns (path, 1-based line, type) labels."""
    rng = random.Random(seed)
    labels = []
    n = 0
    for kind, gen in GENERATORS.items():
        for _ in range(per_type):
            src = files[n % len(files)]
            n += 1
            lines = src.read_text(encoding="utf-8", errors="replace").splitlines()
            # a statement at module level: before a top-level line so indentation stays valid
            tops = [i for i, line in enumerate(lines) if line and not line[0].isspace()] or [0]
            at = rng.choice(tops)
            lines.insert(at, gen(rng))
            path = out_dir / f"{kind}_{n}.py"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            labels.append((path, at + 1, kind))
    return labels


def build_decoys(files: list[Path], n: int, seed: int, out_dir: Path) -> list[Path]:
    """GitHub-shaped tokens whose CRC32 is wrong (docs, tests, truncated copies): not secrets."""
    rng = random.Random(seed + 1)
    paths = []
    for i in range(n):
        lines = files[i % len(files)].read_text(encoding="utf-8", errors="replace").splitlines()
        token = _crc_token(rng, "ghp")
        token = token[:-1] + ("0" if token[-1] != "0" else "1")
        lines.insert(0, f'EXAMPLE_TOKEN = "{token}"  # not a real token')
        path = out_dir / f"decoy_{i}.py"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def run_detect_secrets(paths: list[Path]) -> dict[str, set[int]]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with default_settings():
        coll = SecretsCollection()
        for p in paths:
            coll.scan_file(str(p))
    found: dict[str, set[int]] = {}
    for filename, secrets in coll.data.items():
        found[filename] = {s.line_number for s in secrets}
    return found


def run_ours(paths: list[Path]) -> dict[str, set[int]]:
    from hf_addons.data.privacy.secrets import SecretScanner

    scanner = SecretScanner()
    found: dict[str, set[int]] = {}
    for i in range(0, len(paths), 256):
        chunk = paths[i : i + 256]
        texts = [p.read_bytes().decode("utf-8", errors="replace") for p in chunk]
        for p, text, items in zip(chunk, texts, scanner.scan(texts)):
            if items:
                found[str(p)] = {text.count("\n", 0, f["start"]) + 1 for f in items}
    return found


def score(
    found: dict[str, set[int]], labels: list[tuple[Path, int, str]], total_lines: int, neg_paths
) -> dict:
    truth = {(str(p), line): kind for p, line, kind in labels}
    hit_by_type, n_by_type = Counter(), Counter(kind for _, _, kind in labels)
    fp, fp_neg = 0, 0
    neg = {str(p) for p in neg_paths}
    for path, lines in found.items():
        for line in lines:
            if (path, line) in truth:
                hit_by_type[truth[(path, line)]] += 1
            else:
                fp += 1
                fp_neg += path in neg
    recall = sum(hit_by_type.values()) / max(len(labels), 1)
    return {
        "recall": round(recall, 4),
        "recall_by_type": {k: round(hit_by_type[k] / n, 3) for k, n in sorted(n_by_type.items())},
        "false_positives": fp,
        "false_positives_on_negatives": fp_neg,
        "fp_per_10k_lines": round(fp / total_lines * 1e4, 3),
        "precision": round(sum(hit_by_type.values()) / max(sum(hit_by_type.values()) + fp, 1), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--negatives-lines", type=int, default=100_000)
    ap.add_argument("--per-type", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--decoys", type=int, default=15, help="GitHub-shaped tokens with a wrong CRC32 (negatives)"
    )
    args = ap.parse_args()

    pool = sorted(p for p in SITE.rglob("*.py") if p.is_file() and "hf_addons" not in str(p))
    random.Random(args.seed).shuffle(pool)
    negatives, n_lines = [], 0
    for p in pool:
        if n_lines >= args.negatives_lines:
            break
        text = p.read_bytes().decode("utf-8", errors="replace")
        if 20 <= text.count("\n") <= 3000:
            negatives.append(p)
            n_lines += text.count("\n")
    carriers = [p for p in pool[len(negatives) :] if 50 <= p.stat().st_size <= 20_000][:200]
    with tempfile.TemporaryDirectory() as tmp:
        labels = build_positives(carriers, args.per_type, args.seed, Path(tmp))
        pos_paths = [p for p, _, _ in labels]
        decoys = build_decoys(carriers[::-1], args.decoys, args.seed, Path(tmp))
        negatives = negatives + decoys
        paths = negatives + pos_paths
        total_lines = sum(p.read_bytes().count(b"\n") for p in paths)
        run_ours(paths[:50])  # warm both (imports, compiled regexes) outside the timed region
        run_detect_secrets(paths[:5])
        t0 = time.perf_counter()
        ours = run_ours(paths)
        ours_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        anchor = run_detect_secrets(paths)
        anchor_s = time.perf_counter() - t0
        o, a = score(ours, labels, total_lines, negatives), score(anchor, labels, total_lines, negatives)
        fp_lines = []
        for path, lines in ours.items():
            truth = {line for p, line, _ in labels if str(p) == path}
            text = Path(path).read_text(errors="replace").splitlines()
            fp_lines += [f"{Path(path).name}:{ln}: {text[ln - 1][:120]}" for ln in sorted(lines - truth)]
    o_rate, a_rate = total_lines / ours_s, total_lines / anchor_s
    print(json.dumps({"ours": o, "detect_secrets": a}, indent=1))
    print("our false positives:", *fp_lines[:20], sep="\n  ")
    rows = [
        {"capability": "data-privacy", "metric": f"secrets recall ({len(labels)} secrets, {len(GENERATORS)} types)",
         "anchor": "detect-secrets 1.5 (defaults)", "anchor_value": a["recall"], "ours": o["recall"],
         "ratio": o["recall"] / a["recall"] if a["recall"] else None, "unit": "recall", "target": ">= anchor",
         "met": o["recall"] >= a["recall"]},
        {"capability": "data-privacy", "metric": f"secrets false positives per 10k lines ({total_lines} lines)",
         "anchor": "detect-secrets 1.5 (defaults)", "anchor_value": a["fp_per_10k_lines"],
         "ours": o["fp_per_10k_lines"], "ratio": None, "unit": "FP/10k lines", "target": "<= 1",
         "met": o["fp_per_10k_lines"] <= 1},
        {"capability": "data-privacy", "metric": "secrets scan lines/s (2 cores shared)",
         "anchor": "detect-secrets 1.5 (defaults)", "anchor_value": round(a_rate), "ours": round(o_rate),
         "ratio": o_rate / a_rate, "unit": "lines/s", "target": ">= 20x", "met": o_rate / a_rate >= 20},
    ]  # fmt: skip
    write_result(
        "secrets",
        {"files": len(paths), "lines": total_lines, "negative_files": len(negatives), "secrets": len(labels),
         "ours": o, "detect_secrets": a, "ours_seconds": ours_s, "detect_secrets_seconds": anchor_s,
         "our_false_positive_lines": fp_lines},
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
