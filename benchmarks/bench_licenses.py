"""Licenses: ScanCode toolkit (the accuracy reference, as used for The Stack) vs ``licenses.classify``.

Development set: the 47 shared choosealicense texts, each also perturbed three ways (reflowed with a changed
copyright line; as a ``#`` comment header of a Python file; as a ``/* * */`` header of a C file), plus an even
spread of the LICENSE / COPYING files of the venv's installed packages. Held-out set (``--heldout``, never
looked at while the classifier was developed): ``/usr/share/common-licenses``, the license files of the
packages installed beside ScanCode (``--scancode-path``) and an even spread of Debian ``/usr/share/doc/*/
copyright`` files, minus any file whose content is already in the development set.

Agreement with ScanCode, three readings:

- ``exact``: the two SPDX expressions are the same once parsed (nested ``AND``/``OR`` flattened, repeats
  dropped, operands sorted, ids case-insensitive; ScanCode nests and repeats ids, we list them once);
- ``ids`` (the headline, as in earlier runs): the same set of license ids, ``-only``/``-or-later``/``+``
  suffixes dropped, ``WITH`` read as ``AND``;
- ``overlap``: mean Jaccard overlap of the two id sets (both empty = 1).

Both "no license" agree. Accuracy of both tools against the known id on the shared texts and files/s of each
in this process are reported too (ours timed first, twice, interleaved with ``--fast``: the mean; ScanCode
then, once, on the same files). ``--fast`` scores and times ``classify(..., exhaustive=False)`` (the speed
cut-offs: fewer of ScanCode's approximate alignments) on the same files as well.

ScanCode is not a dependency of hf-addons: install it into a separate folder so it cannot change the venv,
``.venv/bin/pip install --target ../scancode-site scancode-toolkit==32.5.0 && cp -r <pluggy 1.5.0> ...``
(plugincode 32 needs pluggy < 1.6), and pass ``--scancode-path ../scancode-site``. ScanCode's per-file
answers are stored in ``results/licenses-scancode-cache.json`` (by content SHA-256); ``--reuse-cache`` reads
them back (for development; ScanCode is then timed on ``--timing-files`` files only). Without it every file
is scanned live and timed.

    flock /tmp/hf-bench.lock .venv/bin/python benchmarks/bench_licenses.py --scancode-path ../scancode-site \\
        --limit-installed 160 --heldout --debian-copyright 120 --debian-dev 200 --debian-fresh 200 --fast
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import RESULTS, row, write_result  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "licenses"
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
CACHE = RESULTS / "licenses-scancode-cache.json"
_LICENSE_NAME = re.compile(r"(?i)licen[cs]e|copying")


def perturbations(text: str) -> dict[str, str]:
    body = text.replace("[year]", "2017").replace("[fullname]", "Grace Hopper")
    paragraphs = [" ".join(p.split()) for p in body.split("\n\n")]
    reflowed = "Copyright (c) 2015-2023 The Example Authors <dev@example.org>\n\n" + "\n\n".join(
        textwrap.fill(p, 66) for p in paragraphs
    )
    py = (
        "\n".join(("# " + line).rstrip() for line in reflowed.splitlines())
        + "\n\nimport os\n\nprint(os.name)\n"
    )
    c = (
        "/*\n"
        + "\n".join((" * " + line).rstrip() for line in reflowed.splitlines())
        + "\n */\n#include <stdio.h>\n"
    )
    return {"reflowed.txt": reflowed, "header.py": py, "header.c": c}


def _tokens(spdx: str | None) -> list[str]:
    return re.findall(r"\(|\)|[^\s()]+", (spdx or "").strip())


def canonical(spdx: str | None):
    """An SPDX expression in a canonical form: nested same operators flattened, repeats dropped, unordered."""
    toks = _tokens(spdx)
    pos = 0

    def parse(level: int):  # level 0: OR, 1: AND, 2: WITH / atom
        nonlocal pos
        if level == 2:
            if pos < len(toks) and toks[pos] == "(":
                pos += 1
                node = parse(0)
                pos += 1  # ")"
            else:
                node = toks[pos].lower() if pos < len(toks) else ""
                pos += 1
            if pos + 1 < len(toks) and toks[pos].upper() == "WITH":
                node = ("with", node, toks[pos + 1].lower())
                pos += 2
            return node
        op = ("or", "and")[level]
        parts = [parse(level + 1)]
        while pos < len(toks) and toks[pos].lower() == op:
            pos += 1
            parts.append(parse(level + 1))
        flat = set()
        for p in parts:  # flatten "(A AND B) AND C"
            flat |= p[1] if isinstance(p, tuple) and p[0] == op else {p}
        return flat.pop() if len(flat) == 1 else (op, frozenset(flat))

    return parse(0) if toks else ""


def id_set(spdx: str | None) -> set[str]:
    """The license ids of an expression, ``-only``/``-or-later``/``+`` dropped (the earlier runs' reading)."""
    s = (spdx or "").strip()
    s = re.sub(r"LicenseRef-scancode-public-domain(?:-disclaimer)?", "LicenseRef-public-domain", s)
    s = re.sub(r"-(?:only|or-later)\b|\+", "", s).lower()
    return {t for t in re.split(r"[()\s]+", s) if t and t not in ("and", "or", "with")}


def jaccard(a: set[str], b: set[str]) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def _spread(paths: list, n: int, offset: float = 0.0) -> list:
    """``n`` paths evenly spread over ``paths`` (all when ``n`` is 0 or covers them), starting ``offset`` steps in."""
    if not n or len(paths) <= n:
        return list(paths)
    step = len(paths) / n
    return [paths[int((i + offset) * step)] for i in range(n)]


UNTIMED = ("debian-dev", "debian-fresh")  # answered and scored, neither timed nor in the dev / held-out sets


def collect(
    limit_installed: int, heldout: bool, scancode_path: str, n_copyright: int, n_debian_dev: int = 0,
    n_debian_fresh: int = 0,
):  # fmt: skip
    """``[(name, text, true id or None, group)]``; held-out files whose content is in the dev set are dropped.

    ``n_debian_dev``: a second spread of Debian ``copyright`` files, half a step off the held-out one and
    without its files (group ``debian-dev``, reported apart from both sets): the Debian files the classifier
    is developed on, so that the held-out Debian files stay a check. ``n_debian_fresh``: two more spreads
    (a quarter and three quarters of a step off), without the held-out files and those of the
    ``n_debian_dev`` spread (group ``debian-fresh``): a second held-out check of Debian files, added after
    the classifier's Debian work, never developed on (use it with the ``--debian-dev`` that was)."""
    files: list[tuple[str, str, str | None, str]] = []
    for src in sorted(SHARED.glob("*.txt")):
        raw = src.read_text()
        spdx = next(line.split(":", 1)[1].strip() for line in raw.splitlines() if line.startswith("spdx-id:"))
        body = raw.split("---", 2)[2].strip() + "\n"
        files.append((f"{src.stem}.LICENSE", body, spdx, "shared"))
        files += [(f"{src.stem}.{n}", t, spdx, "perturbed") for n, t in perturbations(body).items()]
    installed = sorted(
        p for p in SITE.glob("*.dist-info/**/*")
        if p.is_file() and _LICENSE_NAME.search(p.name) and p.stat().st_size < 500_000
    )  # fmt: skip
    installed = _spread(installed, limit_installed)  # an even spread, not the A-to-C packages
    files += [(str(p.relative_to(SITE)), _read(p), None, "installed") for p in installed]
    if heldout:
        seen = {hashlib.sha256(t.encode()).hexdigest() for _, t, _, _ in files}
        extra: list[tuple[Path, str]] = [
            (p, "common-licenses") for p in sorted(Path("/usr/share/common-licenses").glob("*"))
        ]
        if scancode_path:
            extra += [
                (p, "scancode-site")
                for p in sorted(Path(scancode_path).resolve().glob("*.dist-info/**/*"))
                if p.is_file() and _LICENSE_NAME.search(p.name) and p.stat().st_size < 500_000
            ]
        all_copyrights = sorted(Path("/usr/share/doc").glob("*/copyright"))
        copyrights = _spread(all_copyrights, n_copyright)
        extra += [(p, "debian-copyright") for p in copyrights if p.stat().st_size < 500_000]

        def add(paths, group: str, taken=frozenset()) -> None:
            """Files of ``paths`` not in ``taken``, under 500 kB and not seen by content, as ``group``."""
            for p in paths:
                if p in taken or p.stat().st_size >= 500_000:
                    continue
                text = _read(p)
                h = hashlib.sha256(text.encode()).hexdigest()
                if h not in seen:
                    seen.add(h)
                    files.append((str(p), text, None, group))

        for p, group in extra:
            add([p], f"heldout:{group}")
        dev_spread = _spread(all_copyrights, n_debian_dev, offset=0.5) if n_debian_dev else []
        add(dev_spread, "debian-dev", set(copyrights))
        if n_debian_fresh:
            for off in (0.25, 0.75):
                add(
                    _spread(all_copyrights, n_debian_fresh, offset=off),
                    "debian-fresh",
                    set(copyrights) | set(dev_spread),
                )
    return files


def _read(p: Path) -> str:
    return p.read_bytes().decode("utf-8", errors="replace")


def run_scancode(files, scancode_path: str, reuse: bool, timing_files: int, cache_only: bool = False):
    """ScanCode's expression per file and its seconds per file; answers cached by content hash.

    ``cache_only``: the stored answers only (ScanCode not installed): no timing (``None``)."""
    if cache_only:
        cache = json.loads(CACHE.read_text())
        return [cache[hashlib.sha256(t.encode()).hexdigest()] for _, t, _, _ in files], None, 0
    if scancode_path:
        sys.path.insert(0, str(Path(scancode_path).resolve()))
    from scancode.api import get_licenses

    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (_, text, _, _) in enumerate(files):
            p = Path(tmp) / f"f{i:05d}"
            p.write_bytes(text.encode("utf-8"))
            paths.append(p)
        get_licenses(str(paths[0]))  # builds/loads ScanCode's license index (not timed)
        keys = [hashlib.sha256(t.encode()).hexdigest() for _, t, _, _ in files]
        todo = list(range(len(files)))
        eligible = [i for i, f in enumerate(files) if f[3] not in UNTIMED]  # the timed sets: dev and held-out
        if reuse:
            todo = [i for i, k in enumerate(keys) if k not in cache]
            timed = eligible[:: max(1, len(eligible) // max(timing_files, 1))][:timing_files]
        else:  # every timed file live; the untimed groups from the cache where it has them
            timed = eligible
            todo = sorted(set(eligible) | {i for i, k in enumerate(keys) if k not in cache})
        answers = {}
        t0 = time.perf_counter()
        for i in timed:
            answers[i] = get_licenses(str(paths[i])).get("detected_license_expression_spdx") or None
        per_file = (time.perf_counter() - t0) / max(len(timed), 1)
        for i in todo:
            if i not in answers:
                answers[i] = get_licenses(str(paths[i])).get("detected_license_expression_spdx") or None
    for i, a in answers.items():
        cache[keys[i]] = a
    CACHE.write_text(json.dumps(dict(sorted(cache.items())), indent=0) + "\n")
    return [cache[k] for k in keys], per_file, len(timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--scancode-path", default="", help="folder where scancode-toolkit was pip-installed --target"
    )
    ap.add_argument(
        "--limit-installed", type=int, default=0, help="at most N installed LICENSE files (0 = all)"
    )
    ap.add_argument("--heldout", action="store_true", help="add the held-out set (reported separately)")
    ap.add_argument(
        "--debian-copyright", type=int, default=40, help="Debian copyright files in the held-out set"
    )
    ap.add_argument(
        "--debian-dev", type=int, default=0,
        help="with --heldout: a spread of N Debian copyright files disjoint from the held-out ones (group debian-dev)",
    )  # fmt: skip
    ap.add_argument(
        "--debian-fresh", type=int, default=0,
        help="with --heldout: two more spreads of N Debian copyright files without the held-out and --debian-dev ones (group debian-fresh)",
    )  # fmt: skip
    ap.add_argument(
        "--fast", action="store_true",
        help="also score and time classify(..., exhaustive=False) (the speed cut-offs) on the same files",
    )  # fmt: skip
    ap.add_argument("--reuse-cache", action="store_true", help="reuse cached ScanCode answers (development)")
    ap.add_argument(
        "--cache-only",
        action="store_true",
        help="without ScanCode: score against the cached answers only, on the files the cache holds (no timing)",
    )
    ap.add_argument(
        "--timing-files", type=int, default=60, help="files ScanCode is timed on with --reuse-cache"
    )
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"missing {SHARED}")

    from hf_addons.data.privacy.licenses import classify

    name = "licenses"

    files = collect(
        args.limit_installed, args.heldout, args.scancode_path, args.debian_copyright, args.debian_dev,
        args.debian_fresh,
    )  # fmt: skip
    n_collected = len(files)
    if args.cache_only:  # the files ScanCode has answered before (by content hash)
        cached = json.loads(CACHE.read_text())
        files = [f for f in files if hashlib.sha256(f[1].encode()).hexdigest() in cached]
    t_load = time.perf_counter()
    classify(files[0][1])  # loads the shipped rule index and reference texts, outside the timed region
    load_seconds = time.perf_counter() - t_load
    timed = [i for i, f in enumerate(files) if f[3] not in UNTIMED]  # as ScanCode: dev and held-out sets

    def time_ours(exhaustive: bool) -> tuple[list[str | None], float]:
        """Our answer per timed file and seconds per timed file (the untimed groups are answered below, once
        per mode)."""
        answers: list[str | None] = [None] * len(files)
        t0 = time.perf_counter()
        for i in timed:
            answers[i] = classify(files[i][1], exhaustive=exhaustive)["spdx"]
        return answers, (time.perf_counter() - t0) / len(timed)

    modes = (True, False) if args.fast else (True,)
    runs: dict[bool, list] = {m: [] for m in modes}
    for _ in range(2):  # interleaved: default, fast, default, fast
        for m in modes:
            runs[m].append(time_ours(m))
    answers_of: dict[bool, list[str | None]] = {}
    for m in modes:  # the first repetition's answers, plus the untimed groups'
        answers_of[m] = runs[m][0][0]
        for i, f in enumerate(files):
            if f[3] in UNTIMED:
                answers_of[m][i] = classify(f[1], exhaustive=m)["spdx"]
    mean_seconds = {m: sum(r[1] for r in runs[m]) / len(runs[m]) for m in modes}
    ours, ours_per_file = answers_of[True], mean_seconds[True]
    ours_f, ours_f_per_file = (answers_of[False], mean_seconds[False]) if args.fast else (None, None)

    def acc(answers, group):
        sel = [(a, t) for a, (_, _, t, g) in zip(answers, files) if g == group]
        return sum(id_set(a) == id_set(t) for a, t in sel) / max(len(sel), 1)

    truth_acc = {g: acc(ours, g) for g in ("shared", "perturbed")}
    payload = {
        "files": len(files),
        "ours_seconds_per_file": ours_per_file,
        "ours_seconds_per_file_runs": {
            "exhaustive=True" if m else "exhaustive=False": [r[1] for r in v] for m, v in runs.items()
        },  # fmt: skip
        "ours_first_call_seconds": load_seconds,
        "ours_accuracy_vs_truth": truth_acc,
        "files_collected": n_collected,
        "scancode_answers": "cache only (--cache-only)" if args.cache_only else "live or cached",
    }
    rows = []
    try:
        anchor, anchor_per_file, n_timed = run_scancode(
            files, args.scancode_path, args.reuse_cache, args.timing_files, args.cache_only
        )
    except Exception as exc:  # noqa: BLE001 - report why the anchor could not run
        payload["scancode_error"] = f"{type(exc).__name__}: {exc}"
        print("ScanCode unavailable:", payload["scancode_error"])
        rows.append(row("data-privacy", "license accuracy on perturbed shared texts", anchor=None,
                        anchor_value=None, ours=truth_acc["perturbed"], unit="accuracy", target="-", met=None))  # fmt: skip
        write_result(name, payload, rows)
        return

    groups: dict[str, list[int]] = {}
    for i, (_, _, _, g) in enumerate(files):
        groups.setdefault(g, []).append(i)
        if g not in UNTIMED:
            groups.setdefault("heldout" if g.startswith("heldout") else "dev", []).append(i)

    def agreement(answers: list[str | None]) -> tuple[list[dict], dict[str, dict[str, float]]]:
        """Per-file scores against ScanCode and their means per group."""
        sc = [
            {"exact": canonical(o) == canonical(a), "ids": id_set(o) == id_set(a), "overlap": jaccard(id_set(o), id_set(a))}
            for o, a in zip(answers, anchor)
        ]  # fmt: skip
        means = {
            g: {k: sum(sc[i][k] for i in idx) / max(len(idx), 1) for k in ("exact", "ids", "overlap")}
            | {"files": len(idx)}
            for g, idx in groups.items()
        }
        return sc, means

    scores, by_group = agreement(ours)
    # diagnostic: where the true id is known (shared texts) and ScanCode misses it, score ours against the truth
    adjudicated = [
        id_set(o) == id_set(t) if t is not None and id_set(a) != id_set(t) else sc["ids"]
        for o, a, (_, _, t, _), sc in zip(ours, anchor, files, scores)
    ]
    by_group["dev"]["ids_adjudicated"] = sum(adjudicated[i] for i in groups["dev"]) / len(groups["dev"])
    anchor_truth = {g: acc(anchor, g) for g in ("shared", "perturbed")}
    disagreements = [
        {"file": n, "group": g, "ours": o, "scancode": a, "truth": t, "exact": s["exact"]}
        for o, a, (n, _, t, g), s in zip(ours, anchor, files, scores) if not s["ids"] or not s["exact"]
    ]  # fmt: skip
    rate_o, rate_a = 1 / ours_per_file, (1 / anchor_per_file if anchor_per_file else None)
    payload.update({"scancode_seconds_per_file": anchor_per_file, "scancode_timed_files": n_timed,
                    "scancode_answers": "cache only" if args.cache_only else "cached (--reuse-cache)" if args.reuse_cache else "live",
                    "agreement_by_group": by_group, "scancode_accuracy_vs_truth": anchor_truth,
                    "disagreements": disagreements})  # fmt: skip
    for g, s in by_group.items():
        print(
            f"{g:28s} files={s['files']:4d} exact={s['exact']:.4f} ids={s['ids']:.4f} overlap={s['overlap']:.4f}"
        )
    print(
        f"truth accuracy ours={truth_acc} scancode={anchor_truth}; files/s ours={rate_o:.1f} scancode={rate_a}"
    )
    for d in disagreements:
        print("  differs:", {k: v for k, v in d.items() if k != "truth"})
    dev, held = by_group["dev"], by_group.get("heldout")
    cap, sc = "data-privacy", "ScanCode toolkit 32.5"
    rows += [
        row(cap, f"license SPDX-id agreement with ScanCode, dev set ({dev['files']} files)", anchor=sc,
            anchor_value=1.0, ours=dev["ids"], unit="share", target=">= 0.98", met=dev["ids"] >= 0.98, digits=4),
        row(cap, "license SPDX-id agreement, dev set, known ids decide where ScanCode misses them", anchor=sc,
            anchor_value=1.0, ours=dev["ids_adjudicated"], unit="share", target="(diagnostic)", met=None, digits=4),
        row(cap, f"license exact-expression agreement with ScanCode, dev set ({dev['files']} files)", anchor=sc,
            anchor_value=1.0, ours=dev["exact"], unit="share", target="(diagnostic)", met=None, digits=4),
        row(cap, f"license id-set overlap (Jaccard) with ScanCode, dev set ({dev['files']} files)", anchor=sc,
            anchor_value=1.0, ours=dev["overlap"], unit="share", target="(diagnostic)", met=None, digits=4),
    ]  # fmt: skip
    if held:
        rows += [
            row(cap, f"license SPDX-id agreement with ScanCode, held-out set ({held['files']} files)", anchor=sc,
                anchor_value=1.0, ours=held["ids"], unit="share", target=">= 0.98", met=held["ids"] >= 0.98, digits=4)
            | {"headline": True},  # the README shows the held-out agreement
            row(cap, f"license id-set overlap with ScanCode, held-out set ({held['files']} files)", anchor=sc,
                anchor_value=1.0, ours=held["overlap"], unit="share", target="(diagnostic)", met=None, digits=4),
        ]  # fmt: skip
        for g in sorted(k for k in by_group if k.startswith("heldout:")):
            rows.append(
                row(cap, f"license SPDX-id agreement with ScanCode, {g} ({by_group[g]['files']} files)", anchor=sc,
                    anchor_value=1.0, ours=by_group[g]["ids"], unit="share", target="(diagnostic)", met=None,
                    digits=4)
            )  # fmt: skip
    if dd := by_group.get("debian-dev"):
        rows.append(
            row(cap, f"license SPDX-id agreement (id-set overlap {dd['overlap']:.3f}), Debian copyright files of the "
                f"development set ({dd['files']})", anchor=sc, anchor_value=1.0, ours=dd["ids"],
                unit="share", target="(diagnostic)", met=None, digits=4)
        )  # fmt: skip
    if fr := by_group.get("debian-fresh"):
        rows.append(
            row(cap, f"license SPDX-id agreement with ScanCode, second held-out spread of Debian copyright files "
                f"({fr['files']})", anchor=sc, anchor_value=1.0, ours=fr["ids"], unit="share", target="(diagnostic)",
                met=None, digits=4)
        )  # fmt: skip
    if rate_a:
        rows.append(
            row(cap, f"license files/s (ScanCode timed on {n_timed} files, 2 cores shared)", anchor=sc,
                anchor_value=rate_a, ours=rate_o, ratio=rate_o / rate_a, unit="files/s", target=">= 50x",
                met=rate_o / rate_a >= 50)
        )  # fmt: skip
    rows += [
        row(cap, "license accuracy vs known id, 141 perturbed shared texts", anchor=sc,
            anchor_value=anchor_truth["perturbed"], ours=truth_acc["perturbed"], unit="accuracy", target="-", met=None),
    ]  # fmt: skip
    if ours_f is not None:  # the same files, classify(..., exhaustive=False): the speed cut-offs
        scores_f, by_group_f = agreement(ours_f)
        payload.update({"fast_seconds_per_file": ours_f_per_file, "fast_agreement_by_group": by_group_f,
                        "fast_disagreements": [
                            {"file": n, "group": g, "ours": o, "scancode": a}
                            for o, a, (n, _, _, g), s in zip(ours_f, anchor, files, scores_f) if not s["ids"]]})  # fmt: skip
        for g, s in by_group_f.items():
            print(f"fast {g:28s} files={s['files']:4d} ids={s['ids']:.4f} overlap={s['overlap']:.4f}")
        mode = "exhaustive=False"
        for g, label in (("heldout", "held-out set"), ("dev", "dev set"),
                         ("heldout:debian-copyright", "held-out Debian copyright files"),
                         ("debian-dev", "Debian copyright files of the development set"),
                         ("debian-fresh", "second held-out spread of Debian copyright files")):  # fmt: skip
            if g in by_group_f:
                v = by_group_f[g]
                rows.append(
                    row(cap, f"license SPDX-id agreement with ScanCode, {mode}, {label} ({v['files']} files)",
                        anchor=sc, anchor_value=1.0, ours=v["ids"], unit="share", target="(diagnostic)", met=None,
                        digits=4)
                )  # fmt: skip
        if rate_a:
            rate_f = 1 / ours_f_per_file
            rows.append(
                row(cap, f"license files/s, {mode} (ScanCode timed on {n_timed} files, 2 cores shared)", anchor=sc,
                    anchor_value=rate_a, ours=rate_f, ratio=rate_f / rate_a, unit="files/s", target="(diagnostic)",
                    met=None)
            )  # fmt: skip
    write_result(name, payload, rows)


if __name__ == "__main__":
    main()
