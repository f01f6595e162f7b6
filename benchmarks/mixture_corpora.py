"""Real per-domain corpora available offline on this machine, each with its licence, split train/validation.

- ``code``: Python source files of installed PyPI packages (licence per package from its metadata).
- ``math``: docstrings of SymPy and mpmath (BSD-3-Clause): formulas, LaTeX and worked examples.
- ``multilingual``: translated messages (``msgstr``) of the Debian packages' gettext catalogues in
  ``/usr/share/locale/<lang>/LC_MESSAGES/*.mo`` of the ``CATALOGUES`` (licence per package from
  ``/usr/share/doc/<pkg>/copyright``).
- ``web``: the article bodies of the shared article-extraction pages (MIT); with ``web=("articles", "lee")``
  also the 343 ABC news articles of the Lee corpus (Lee, Pincombe & Welsh 2005) that gensim's wheel ships as
  test data (LGPL-2.1), fetched from PyPI with ``pip download``; with ``"wiki"`` also the 106 English Wikipedia
  articles of the dump excerpt in the same test data (CC BY-SA 3.0), as plain text (``mwparserfromhell``).
- ``short`` (mixture benchmark only): Debian package descriptions (``dpkg-query``), licence per package.

The split is by origin file (a file's documents all land in one split), 1 in ``val_every`` files to validation.
"""

from __future__ import annotations

import ast
import gettext
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections import Counter
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "article-extraction"
CODE_PACKAGES = [
    "requests",
    "click",
    "jinja2",
    "attrs",
    "yaml",
    "dill",
    "fsspec",
    "datasets",
    "tqdm",
    "filelock",
]
# its wheel carries the Lee news corpus as test data; pinned: another release, other data
GENSIM = "gensim==4.4.0"
VAL_EVERY = 8  # 1 in this many origin files of a domain is held out for validation
LANGS = ["de", "fr", "es", "ru", "ja", "zh_CN", "it", "pt_BR", "uk", "sv"]
# the message catalogues read (of the base image's packages): another package installed later (Chromium brings
# cups-pk-helper) would otherwise join in alphabetical order and change the multilingual corpus
CATALOGUES = frozenset(
    "Linux-PAM PackageKit adduser appstream apt at-spi2-core avahi bash bfd binutils coreutils diffutils dpkg "
    "findutils gas gdk-pixbuf gettext-runtime gettext-tools".split()
)


def _val(key: str, val_every: int) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % val_every == 0


def _test(key: str, test_every: int) -> bool:
    """Of the held-out files, 1 in ``test_every`` is a test file: a hash independent of ``_val``'s."""
    return int(hashlib.sha1(f"test:{key}".encode()).hexdigest(), 16) % test_every == 0


def _dist_licence(module: str) -> str:
    try:
        dists = metadata.packages_distributions().get(module, [module])
        md = metadata.metadata(dists[0])
        lic = md.get("License-Expression") or md.get("License") or ""
        if not lic or len(lic) > 60:
            classifiers = [
                c.split(" :: ")[-1] for c in md.get_all("Classifier") or [] if c.startswith("License")
            ]
            lic = ", ".join(classifiers) or lic[:60]
        # the version too: the code corpus is the installed files, so another release is other data
        return f"{dists[0]} {md['Version']}: {lic}"
    except metadata.PackageNotFoundError:
        return f"{module}: unknown"


def code_docs(max_chars: int = 12_000) -> tuple[list[tuple[str, str]], list[str]]:
    site = Path(sysconfig.get_paths()["purelib"])
    docs, licences = [], []
    for pkg in CODE_PACKAGES:
        root = site / pkg
        if not root.exists():
            continue
        licences.append(_dist_licence(pkg))
        for f in sorted(root.rglob("*.py")):
            text = f.read_text(encoding="utf-8", errors="replace")
            if len(text) > 200:
                docs.append((f"code:{f.relative_to(site)}", text[:max_chars]))
    return docs, licences


def math_docs(min_chars: int = 300, max_files: int = 400) -> tuple[list[tuple[str, str]], list[str]]:
    site = Path(sysconfig.get_paths()["purelib"])
    docs = []
    files = sorted((site / "sympy").rglob("*.py")) + sorted((site / "mpmath").rglob("*.py"))
    files = [f for f in files if "/tests/" not in str(f)][:: max(1, len(files) // max_files)]
    for f in files:
        try:
            tree = ast.parse(f.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= min_chars:
                    docs.append((f"math:{f.relative_to(site)}", doc))
    return docs, [f"{p} {metadata.version(p)}: BSD-3-Clause" for p in ("sympy", "mpmath")]


def _debian_packages(paths: list[Path]) -> set[str]:
    out = subprocess.run(["dpkg", "-S", *map(str, paths)], capture_output=True, text=True)
    return {ln.split(":", 1)[0] for ln in out.stdout.splitlines() if ":" in ln}


def _debian_licence(pkg: str) -> str:
    f = Path("/usr/share/doc") / pkg / "copyright"
    try:
        lines = [
            ln.split(":", 1)[1].strip()
            for ln in f.read_text(errors="replace").splitlines()
            if ln.startswith("License:")
        ]
    except OSError:
        return f"{pkg}: see Debian package"
    common = Counter(lines).most_common(2)
    return f"{pkg}: " + (", ".join(k for k, _ in common) or "see /usr/share/doc copyright")


def multilingual_docs(per_doc: int = 30, max_chars_per_lang: int = 250_000) -> tuple[list, list[str]]:
    docs, used = [], []
    for lang in LANGS:
        chars = 0
        for mo in sorted(Path("/usr/share/locale", lang, "LC_MESSAGES").glob("*.mo")):
            if mo.stem not in CATALOGUES:
                continue
            if chars >= max_chars_per_lang:
                break
            try:
                with mo.open("rb") as fh:
                    cat = gettext.GNUTranslations(fh)._catalog  # noqa: SLF001 - the msgid -> msgstr table
            except (OSError, UnicodeDecodeError):
                continue
            msgs = [v for k, v in cat.items() if k and isinstance(v, str) and v.strip()]
            if len(msgs) < 5:
                continue
            used.append(mo)
            for i in range(0, len(msgs), per_doc):
                docs.append((f"multilingual:{mo}", "\n".join(msgs[i : i + per_doc])))
                chars += len(docs[-1][1])
    return docs, sorted(_debian_licence(p) for p in _debian_packages(used))


def article_docs() -> tuple[list[tuple[str, str]], list[str]]:
    truth = json.loads((SHARED / "ground-truth.json").read_text())
    docs = [(f"web:{k}", v["articleBody"]) for k, v in sorted(truth.items()) if v.get("articleBody")]
    return docs, ["scrapinghub/article-extraction-benchmark: MIT (shared/data/article-extraction/LICENSE)"]


def _gensim_test_bytes(name: str) -> bytes:
    """One file of gensim's test data, read from its wheel (downloaded once; gensim is never installed)."""
    cache = Path(os.environ.get("HF_ADDONS_BENCH_CACHE", Path.home() / ".cache" / "hf-addons-bench"))
    cache = cache / GENSIM.replace("==", "-")
    wheels = sorted(cache.glob("gensim-*.whl"))
    if not wheels:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(cache),
        ]
        done = subprocess.run([*cmd, GENSIM], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(
                f"web source 'lee' needs {GENSIM}'s wheel: pip download failed:\n{done.stderr}"
            )
        wheels = sorted(cache.glob("gensim-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        return z.read(f"gensim/test/test_data/{name}")


def _gensim_test_file(name: str) -> str:
    raw = _gensim_test_bytes(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # lee.cor is Windows-1252 (its pound signs)
        return raw.decode("cp1252")


def lee_docs() -> tuple[list[tuple[str, str]], list[str]]:
    """The Lee corpus: 350 ABC news articles, one per line; its 7 repeated lines are kept once."""
    docs, seen = [], set()
    for name in ("lee_background.cor", "lee.cor"):
        for i, line in enumerate(_gensim_test_file(name).splitlines()):
            if (text := line.strip()) and text not in seen:
                seen.add(text)
                docs.append((f"web:lee:{name}:{i}", text))
    return docs, [f"Lee, Pincombe & Welsh (2005) ABC news articles, test data of {GENSIM}: LGPL-2.1"]


WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
# sections that are lists of links and citations, not prose
WIKI_DROP = (
    r"(?i)^\s*(see also|references|external links|further reading|notes|bibliography|sources|footnotes)\s*$"
)


def wiki_docs() -> tuple[list[tuple[str, str]], list[str]]:
    """The 106 articles (redirects skipped) of the shortened English Wikipedia dump in gensim's test data, as plain
    text: ``mwparserfromhell``'s ``strip_code`` (templates, tables, references and markup gone), without the
    link and citation sections and image captions."""
    import bz2
    import re
    import xml.etree.ElementTree as ET

    import mwparserfromhell

    root = ET.fromstring(bz2.decompress(_gensim_test_bytes(WIKI_DUMP)))
    ns = {"m": root.tag.split("}")[0][1:]}
    docs = []
    for page in root.findall("m:page", ns):
        if page.findtext("m:ns", namespaces=ns) != "0" or page.find("m:redirect", ns) is not None:
            continue
        code = mwparserfromhell.parse(page.findtext("m:revision/m:text", default="", namespaces=ns))
        for section in code.get_sections(levels=[2], matches=WIKI_DROP):
            code.remove(section)
        text = code.strip_code(normalize=True, collapse=True)
        text = re.sub(r"(?m)^(thumb|right|left|upright)\|.*\n?", "", text)
        if text := re.sub(r"\n{3,}", "\n\n", text).strip():
            docs.append((f"web:wiki:{page.findtext('m:title', namespaces=ns)}", text))
    return docs, [f"English Wikipedia articles (dump excerpt in the test data of {GENSIM}): CC BY-SA 3.0"]


WEB_SOURCES = {"articles": article_docs, "lee": lee_docs, "wiki": wiki_docs}


def web_docs(sources=("articles",)) -> tuple[list[tuple[str, str]], list[str]]:
    if unknown := set(sources) - set(WEB_SOURCES):
        raise ValueError(f"unknown web sources {sorted(unknown)}; known: {sorted(WEB_SOURCES)}")
    docs, licences = [], []
    for name in sources:
        d, lic = WEB_SOURCES[name]()
        docs += d
        licences += lic
    return docs, licences


def short_docs() -> tuple[list[tuple[str, str]], list[str]]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Description}\n"], capture_output=True, text=True, check=True
    ).stdout
    docs = []
    for line in out.splitlines():
        if "\t" in line:
            pkg, desc = line.split("\t", 1)
            docs.append((f"short:{pkg}", desc.strip()))
    return docs, [
        "Debian package descriptions: each under its package's licence (/usr/share/doc/<pkg>/copyright)"
    ]


LOADERS = {
    "code": code_docs,
    "math": math_docs,
    "multilingual": multilingual_docs,
    "web": web_docs,
    "short": short_docs,
}


def _fingerprint(docs: list[tuple[str, str]]) -> str:
    """Digest of a domain's documents: result files say which data they measured (installed versions vary)."""
    h = hashlib.sha256()
    for key, text in docs:
        h.update(key.encode())
        h.update(b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def parse_val_every(spec: str, what: str = "--val-every") -> int | dict[str, int]:
    """A benchmark's ``--val-every``: ``"N"`` for every domain or ``"web=4,..."`` per domain (the CLI's
    ``name=value`` parser and its errors)."""
    from hf_addons.cli.data_mixture_search import _value

    held = _value(spec, what)
    return {k: int(v) for k, v in held.items()} if isinstance(held, dict) else int(held)


def load_domains(
    names=("code", "math", "multilingual", "web"),
    val_every: int | dict[str, int] = VAL_EVERY,
    web: tuple[str, ...] = ("articles",),
    test_every: int | None = None,
) -> dict[str, dict]:
    """name -> {"train", "validation" (Datasets), "licences", "docs" (count), "sha256"}; split by origin file.

    ``val_every``: 1 in this many origin files goes to validation; a dict gives it per domain (others:
    ``VAL_EVERY``). ``web``: the web sources (``WEB_SOURCES``). ``test_every``: 1 in this many of the held-out
    files goes to a ``"test"`` split instead (a mixture chosen on the validation files is then measured on
    files nothing chose it by); None: no test split, the validation split as before.
    """
    from datasets import Dataset

    if isinstance(val_every, dict):
        if unknown := set(val_every) - set(names):
            raise ValueError(f"val_every names {sorted(unknown)}, not among the domains {list(names)}")
        every = {**dict.fromkeys(names, VAL_EVERY), **val_every}
    else:
        every = dict.fromkeys(names, val_every)
    if test_every is not None and (
        isinstance(test_every, bool) or int(test_every) != test_every or test_every < 2
    ):
        raise ValueError(f"test_every={test_every!r}: give an integer >= 2 (1 in N held-out files to test)")

    if "web" in names and not SHARED.exists():
        raise FileNotFoundError(f"{SHARED} is missing (the shared article pages)")
    out = {}
    for name in names:
        docs, licences = web_docs(web) if name == "web" else LOADERS[name]()
        held_out = [_val(k, every[name]) for k, _ in docs]
        train = [t for (_, t), held in zip(docs, held_out, strict=True) if not held]
        held_docs = [
            (t, bool(test_every) and _test(k, test_every))
            for (k, t), h in zip(docs, held_out, strict=True)
            if h
        ]
        test = [t for t, to_test in held_docs if to_test]
        val = [t for t, to_test in held_docs if not to_test]
        if test_every and not (test and val):
            raise ValueError(
                f"{name}: test_every={test_every} leaves {len(val)} validation / {len(test)} test docs"
            )
        out[name] = {
            "train": Dataset.from_dict({"text": train}),
            "validation": Dataset.from_dict({"text": val}),
            **({"test": Dataset.from_dict({"text": test})} if test_every else {}),
            "licences": licences,
            "docs": len(docs),
            "sha256": _fingerprint(docs),
        }
    return out


def add_run_args(p, *, val_every: str, name: str) -> None:
    """The arguments every proxy-running mixture script shares with ``bench_mixture_search.py``."""
    p.add_argument("--val-every", default=val_every, help="1 in N origin files held out; per domain: web=4")
    p.add_argument(
        "--web",
        default=("articles",),
        type=lambda v: tuple(v.split(",")),
        help=f"comma-separated web sources, of {sorted(WEB_SOURCES)}",
    )
    p.add_argument("--max-epochs", type=float, default=4.0)
    p.add_argument(
        "--max-doc-tokens", type=int, default=None, help="cut longer training documents into pieces"
    )
    p.add_argument(
        "--stratify", action="store_true", help="proxies draw parts of an epoch spread over each source"
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--cache-dir", default="runs/mixture-search", help="bench_mixture_search.py's: runs reused"
    )
    p.add_argument("--name", default=name, help="result name")


def prepared_search(
    val_every: int | dict[str, int],
    cache_dir: str,
    objective: str = "mean",
    web: tuple[str, ...] = ("articles",),
    **prepare_kw,
) -> tuple[dict, object, object, str, dict[str, float]]:
    """The four domains tokenized for proxy runs, as ``bench_mixture_search.py`` prepares them:
    ``(domains, space, bundle, bundle_path, objective)``; ``prepare_kw`` go to ``search.prepare``."""
    from hf_addons.data.mixture.bundle import prepare, save_bundle
    from hf_addons.data.mixture.space import parse_objective

    domains = load_domains(val_every=val_every, web=web)
    space, bundle, _ = prepare(
        {k: v["train"] for k, v in domains.items()},
        {k: v["validation"] for k, v in domains.items()},
        **prepare_kw,
    )
    obj = parse_objective(objective, list(bundle.val_blocks))
    return domains, space, bundle, str(save_bundle(bundle, cache_dir)), obj


if __name__ == "__main__":
    for name, d in load_domains(tuple(LOADERS), web=tuple(WEB_SOURCES)).items():
        chars = sum(len(t) for t in d["train"]["text"])
        print(f"{name}: {len(d['train'])} train / {len(d['validation'])} val docs, {chars / 1e6:.2f} M chars")
        print("   ", "; ".join(d["licences"])[:300])
