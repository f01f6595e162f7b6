"""data-prepare: WARC reading, HTML -> Markdown, quality rules, language ID, dedup, Pipeline."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter

import numpy as np
import pytest

from hf_addons.data.dedup.minhash import (
    ExactDeduplicator,
    MinHashDeduplicator,
    MinHashParams,
    MinHashSignatures,
    cluster_minhash,
    dedup_dataset,
    jaccard,
    minhash_signatures,
    near_dedup,
    shingles,
)
from hf_addons.data.executors.pipeline import Pipeline
from hf_addons.data.extract.html import HtmlToMarkdown, markdown_to_text
from hf_addons.data.filters.langid import LanguageFilter
from hf_addons.data.filters.quality import (
    C4Filter,
    FineWebFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from hf_addons.data.readers.files import load_input
from hf_addons.data.readers.warc import read_warc, warc_dataset, write_warc

ARTICLE = " ".join(
    f"Paragraph {i} explains that the river and the valley have changed with the seasons of year {1900 + i}."
    for i in range(12)
)

PAGE = f"""<html><head><title>River Report - Example News</title>
<meta property="og:title" content="River Report">
<meta name="author" content="Ada Writer">
<meta property="article:published_time" content="2024-03-01T10:00:00Z"></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news section</a></li></ul></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies now.</div>
<article>
<h1>River Report</h1>
<p class="dek">A short standfirst that summarises the whole story for readers.</p>
<h2>Background</h2>
<p>{ARTICLE}</p>
<ul><li>First point about the river and the valley.</li><li>Second point about the seasons here.</li></ul>
<table><tr><th>Year</th><th>Flow</th></tr><tr><td>1900</td><td>12</td></tr><tr><td>1901</td><td>15</td></tr></table>
<pre><code>print("water level")</code></pre>
<p>The <strong>important</strong> conclusion is that the <em>valley</em> keeps changing every single year.</p>
<div class="share-buttons">Share this article on Facebook Twitter and LinkedIn right now</div>
<p>Advertisement</p>
</article>
<div id="comments"><h3>Comments</h3><p>Great article, I totally disagree with the author about everything here!</p></div>
<aside class="related-stories"><p>Ten other stories you will certainly enjoy reading today.</p></aside>
<footer>Copyright 2024 Example News. All rights reserved. Contact us for more information.</footer>
</body></html>"""


def _text(md: str) -> str:
    return " ".join(re.findall(r"\w+", markdown_to_text(md)))


# ---------------------------------------------------------------- extraction


def test_html_to_markdown_keeps_structure_and_drops_noise():
    step = HtmlToMarkdown()
    out = step({"html": [PAGE], "url": ["https://example.com/river"]})
    md = out["text"][0]
    assert out["extract_keep"] == [True] and out["extract_reason"] == [""]
    assert out["title"] == ["River Report"] and out["author"] == ["Ada Writer"]
    assert out["date"][0].startswith("2024-03-01")
    assert "## Background" in md  # headings as Markdown
    assert re.search(r"^- First point", md, re.M)  # lists
    assert "| Year | Flow |" in md.replace("  ", " ") or "|Year|Flow|" in md.replace(" ", "")  # tables
    assert "**important**" in md and "*valley*" in md  # emphasis
    assert 'print("water level")' in md  # code
    for noise in (
        "cookies",
        "Share this",
        "Advertisement",
        "Great article",
        "other stories",
        "Copyright",
        "World",
    ):
        assert noise not in md, noise
    assert "River Report" not in md  # the title has its own column
    assert "standfirst" not in md


def test_plain_mode_is_plain_trafilatura_and_noisier():
    import trafilatura

    plain = HtmlToMarkdown(denoise=False).extract_one(PAGE)
    expected = trafilatura.extract(PAGE, output_format="markdown", include_formatting=True)
    assert plain["text"] == expected
    assert "Advertisement" in expected and "Great article" in expected  # what de-noising removes
    ours = HtmlToMarkdown().extract_one(PAGE)["text"]
    assert len(_text(ours)) < len(_text(plain["text"]))


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("", "extract:empty"),
        (None, "extract:empty"),
        (b"\x89PNG\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "extract:binary"),
        ("<html><body><nav><a href='/'>Home</a></nav></body></html>", "extract:boilerplate_only"),
        ("x" * 200, "extract:too_large"),
    ],
)
def test_bad_pages_are_flagged_not_dropped(html, reason):
    step = HtmlToMarkdown(max_html_bytes=100)
    out = step({"html": [html, PAGE.replace("<html>", "<html> ")[:99]], "url": [None, None]})
    assert len(out["text"]) == 2
    assert out["extract_keep"][0] is False and out["extract_reason"][0] == reason


def test_extract_rejects_wrong_column_type_with_clear_reason():
    out = HtmlToMarkdown()({"html": [12345]})
    assert out["extract_keep"] == [False] and out["extract_reason"][0] == "extract:error:TypeError"
    with pytest.raises(KeyError, match="missing column"):
        HtmlToMarkdown()({"body": ["<p>x</p>"]})


def test_extraction_beats_plain_trafilatura_on_article_benchmark(shared):
    """Ours (denoised) scores higher F1 than plain trafilatura on the first 25 pages of the benchmark."""
    import trafilatura

    root = shared("data", "article-extraction")
    truth = json.loads((root / "ground-truth.json").read_text())
    ids = sorted(truth)[:25]

    def f1(pred_fn):
        ps, rs = [], []
        for k in ids:
            html = gzip.open(root / "html" / f"{k}.html.gz").read()
            pred, gold = _shingles(pred_fn(html)), _shingles(truth[k]["articleBody"])
            tp, fp, fn = sum((pred & gold).values()), sum((pred - gold).values()), sum((gold - pred).values())
            ps.append(tp / (tp + fp) if tp + fp else 0.0)
            rs.append(tp / (tp + fn) if tp + fn else 0.0)
        p, r = np.mean(ps), np.mean(rs)
        return 2 * p * r / (p + r)

    plain = f1(lambda h: trafilatura.extract(h) or "")
    step = HtmlToMarkdown()
    ours = f1(lambda h: markdown_to_text(step.extract_one(h)["text"]))
    assert ours > plain, (ours, plain)
    assert ours > 0.93


def _shingles(text: str) -> Counter:
    toks = re.findall(r"\w+", text)
    return Counter(tuple(toks[i : i + 4]) for i in range(len(toks) - 3))


# ---------------------------------------------------------------- WARC


def test_warc_roundtrip_charsets_and_broken_records(tmp_path):
    path = write_warc(
        tmp_path / "a.warc.gz",
        [
            {"url": "https://a.example/", "html": PAGE},
            {
                "url": "https://b.example/",
                "html": "<p>café crème</p>".encode("latin-1"),
                "charset": "iso-8859-1",
            },
            {"url": "https://c.example/", "html": b"\x89PNG\x00\x00", "content_type": "image/png"},
            {"url": "https://d.example/", "html": b"\x00\x01\x02binary", "content_type": "text/html"},
        ],
    )
    rows = list(read_warc(path))
    assert [r["url"] for r in rows] == [f"https://{c}.example/" for c in "abcd"]
    assert (
        rows[0]["html"] == PAGE
        and rows[0]["status"] == 200
        and rows[0]["warc_date"] == "2024-01-01T00:00:00Z"
    )
    assert rows[1]["html"] == "<p>café crème</p>" and rows[1]["charset"] == "iso-8859-1"
    assert json.loads(rows[1]["headers"])["Content-Type"].startswith("text/html")
    assert rows[2]["warc_error"] == "warc:non_text" and rows[3]["warc_error"] == "warc:binary"
    # a truncated file: the records before the break are read, the break becomes an error row
    data = path.read_bytes()
    (tmp_path / "cut.warc").write_bytes(gzip.decompress(data)[:900])
    cut = list(read_warc(tmp_path / "cut.warc"))
    assert cut and all(r["warc_error"] or r["html"] for r in cut)
    with pytest.raises(FileNotFoundError):
        list(read_warc(tmp_path / "missing.warc"))


def test_warc_dataset_streaming_and_pipeline_report_counts_errors(tmp_path):
    path = write_warc(
        tmp_path / "b.warc.gz",
        [{"url": f"https://x/{i}", "html": PAGE.replace("River", f"River{i}")} for i in range(3)]
        + [{"url": "https://x/bin", "html": b"\x00" * 64}],
    )
    ds = warc_dataset(path)
    assert len(ds) == 4 and set(ds.column_names) >= {"url", "html", "warc_error"}
    stream = load_input(str(path), streaming=True)
    report = Pipeline([HtmlToMarkdown()], shard_rows=2).run(stream, tmp_path / "out")
    assert report["input_rows"] == 4 and report["output_rows"] == 3
    assert report["errors"] == {"warc:binary": 1}
    assert report["steps"][0]["reasons"] == {"warc:binary": 1}
    import pyarrow.parquet as pq

    out = pq.read_table(tmp_path / "out" / "data")
    assert out.column("warc_date").to_pylist() == ["2024-01-01T00:00:00Z"] * 3  # crawl date and page date
    assert out.column("date").to_pylist()[0].startswith("2024-03-01")  # both kept


# ---------------------------------------------------------------- quality rules

GOOD = (
    "The committee said that the new bridge will be finished next spring. "
    "Engineers have worked with the city to reduce the noise of the traffic. "
    "Residents of the area welcomed the plan and asked that the old path be kept. "
    "The mayor thanked the workers and promised that the budget is safe. "
    "A local historian noted that the first crossing was built of timber in 1850. "
    "Floods destroyed it twice, so the council chose stone for its successor. "
    "Shops near the river expect more visitors once the footpath reopens. "
    "Cyclists asked for a separate lane, which the designers have now included. "
    "Work starts on Monday and should disturb nearby homes only for a few weeks."
)


def test_gopher_quality_rules_and_reasons():
    f = GopherQualityFilter()
    texts = [
        GOOD,
        "too short text",
        "# " * 30 + GOOD,
        "12345 67890 " * 40,
        ("word " * 60).strip(),
        "\n".join(["- item the and of"] * 60),
    ]
    out = f({"text": texts})
    assert out["gopher_quality_reason"] == [
        "",
        "gopher_quality:gopher_short_doc",
        "gopher_quality:gopher_too_many_hashes",
        "gopher_quality:gopher_below_alpha_threshold",
        "gopher_quality:gopher_enough_stop_words",
        "gopher_quality:gopher_too_many_bullets",
    ]
    assert out["gopher_quality_keep"] == [True] + [False] * 5
    assert GopherQualityFilter(min_doc_words=1)({"text": ["too short text the and"]})[
        "gopher_quality_keep"
    ] == [True]


def test_gopher_repetition_rules():
    f = GopherRepetitionFilter()
    repeated_lines = "\n".join(["Buy cheap watches online today."] * 8 + ["A real sentence here."])
    spammy = "click here now " * 50
    out = f({"text": [GOOD.replace(". ", ".\n"), repeated_lines, spammy]})
    assert out["gopher_repetition_reason"][0] == ""
    assert out["gopher_repetition_reason"][1].startswith("gopher_repetition:dup_")
    assert out["gopher_repetition_reason"][2].startswith("gopher_repetition:")


def test_c4_drops_lines_and_rejects_documents():
    text = "\n".join(
        [
            "This line is a proper sentence with an ending.",
            "Menu Home About",
            "Please enable JavaScript to view this site properly.",
            "We use cookies, see our privacy policy for details.",
            "A second proper sentence ends here[1].",
            "Third sentence of real content follows.",
            "Fourth sentence is also real content.",
            "Fifth and final sentence closes it.",
        ]
    )
    out = C4Filter()({"text": [text, "lorem ipsum dolor sit amet.", "function() { return 1; }"]})
    assert out["c4_reason"] == ["", "c4:lorem_ipsum", "c4:curly_bracket"]
    kept = out["text"][0].splitlines()
    assert kept[1] == "A second proper sentence ends here."
    assert len(kept) == 5 and not any("JavaScript" in x or "cookies" in x or "Menu" in x for x in kept)
    assert C4Filter()({"text": ["One sentence only."]})["c4_reason"] == ["c4:too_few_sentences"]


def test_fineweb_rules():
    f = FineWebFilter()
    lines = "\n".join(f"Item number {i}" for i in range(20))
    dup = GOOD + "\n" + "\n".join(["Subscribe to our newsletter for updates."] * 3)
    out = f({"text": [GOOD, lines, dup, ""]})
    assert out["fineweb_reason"] == [
        "",
        "fineweb:line_punct_ratio",
        "fineweb:char_dup_ratio",
        "fineweb:empty",
    ]


# ---------------------------------------------------------------- language ID


def test_language_filter_columns_and_decisions():
    f = LanguageFilter(languages=["en"], min_score=0.2)
    texts = [
        GOOD,
        "Le comité a déclaré que le nouveau pont sera terminé au printemps prochain avec la ville.",
        "",
    ]
    out = f({"text": texts})
    assert out["language"][:2] == ["en", "fr"] and out["language"][2] == ""
    assert out["language_score"][0] > 0.2
    assert out["langid_reason"] == ["", "langid:language", "langid:unknown"]
    only_id = LanguageFilter()({"text": texts})
    assert only_id["langid_keep"] == [True, True, True]
    with pytest.raises(ValueError, match="unknown ISO 639-1"):
        LanguageFilter(candidates=["xx"])({"text": ["hello"]})


# ---------------------------------------------------------------- dedup


def test_minhash_signatures_equal_datasketch():
    from datasketch import MinHash

    from hf_addons.data.dedup.minhash import _word_ngram_hashes

    texts = [GOOD, ARTICLE, "short", ""]
    # "sha1": bit-identical to MinHash.update per shingle string; small chunks exercise window folding
    sig = minhash_signatures(texts, MinHashParams(hash="sha1"), chunk_shingles=16)
    for text, row in zip(texts, sig):
        m = MinHash(num_perm=112)
        for s in shingles(text):
            m.update(s.encode("utf-8"))
        np.testing.assert_array_equal(m.hashvalues, row)
    # "words" (default): datasketch's permutations over our vectorised n-gram hashes
    fast = minhash_signatures(texts, chunk_shingles=7)
    raw, counts = _word_ngram_hashes(texts, 5)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for i, row in enumerate(fast):
        m = MinHash(num_perm=112, hashfunc=int)
        for h in raw[bounds[i] : bounds[i + 1]].tolist():
            m.update(h)
        np.testing.assert_array_equal(m.hashvalues, row)
    # and its Jaccard estimate tracks the true shingle Jaccard
    other = _variants(ARTICLE, 0.03, 5)
    est = minhash_signatures([ARTICLE, other])
    true = jaccard(shingles(ARTICLE), shingles(other))
    assert abs((est[0] == est[1]).mean() - true) < 0.12


def _variants(base: str, rate: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    words = base.split()
    idx = rng.choice(len(words), int(rate * len(words)), replace=False)
    for i in idx:
        words[i] = f"edit{seed}x{i}"
    return " ".join(words)


def test_near_dedup_finds_clusters_and_precision_mode():
    bases = [" ".join(f"w{d}_{i}" for i in range(300)) for d in range(6)]
    texts = bases + [_variants(bases[0], 0.01, 1), _variants(bases[1], 0.01, 2), _variants(bases[2], 0.3, 3)]
    bands = MinHashSignatures()({"text": texts})["minhash_bands"]
    cluster, keep = cluster_minhash(bands)
    assert cluster.tolist()[6:8] == [0, 1] and keep.tolist()[:6] == [True] * 6
    assert keep[8]  # 30 % of words edited: Jaccard ~0.2, not a duplicate
    # precision mode: a threshold above the variants' true Jaccard undoes the merge
    j = jaccard(shingles(texts[0]), shingles(texts[6]))
    assert 0.8 < j < 0.97
    cluster_v, keep_v = cluster_minhash(bands, texts=texts, verify_threshold=min(1.0, j + 0.01))
    assert keep_v[6] and cluster_v[6] == 6
    # rows not eligible are not judged
    eligible = np.ones(len(texts), bool)
    eligible[0] = False
    _, keep_e = cluster_minhash(bands, eligible)
    assert keep_e[6] and not keep_e[7]
    with pytest.raises(ValueError, match="needs the texts"):
        cluster_minhash(bands, verify_threshold=0.9)
    # the in-memory function (shingles hashed once) agrees with the step + global pass
    for thr in (None, 0.5, min(1.0, j + 0.01)):
        ref = cluster_minhash(bands, texts=texts, verify_threshold=thr)
        got = near_dedup(texts, verify_threshold=thr)
        np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(near_dedup(texts, MinHashParams(hash="sha1"))[1], keep)


def test_dedup_dataset_plain_function():
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["Hello,  World!", "hello world", "other text"]})
    out = dedup_dataset(ds, ExactDeduplicator())
    assert out["exact_dedup_keep"] == [True, False, True] and out["exact_dedup_cluster"] == [0, 0, 2]
    assert out["exact_dedup_reason"][1] == "exact_dedup:duplicate"
    texts = _corpus()
    near = dedup_dataset(
        datasets.Dataset.from_dict({"text": texts}), MinHashDeduplicator(verify_threshold=0.7)
    )
    assert (
        near["minhash_dedup_keep"]
        == cluster_minhash(
            MinHashSignatures()({"text": texts})["minhash_bands"], texts=texts, verify_threshold=0.7
        )[1].tolist()
    )
    assert not all(near["minhash_dedup_keep"])
    with pytest.raises(ValueError, match="verify_threshold"):
        MinHashDeduplicator(verify_threshold=1.5)
    assert abs(MinHashParams().threshold() - 0.719) < 0.01


# ---------------------------------------------------------------- pipeline


def _corpus():
    # distinct documents (word order shuffled: shared 5-grams are rare) with the same word statistics
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.permutation(GOOD.split())) + "." for _ in range(10)]
    return docs + [docs[0], docs[1].upper(), _variants(docs[2], 0.02, 7), "short junk", "# " * 80]


def test_pipeline_apply_and_run_report(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": _corpus()})
    pipe = Pipeline(
        [GopherQualityFilter(), ExactDeduplicator(), MinHashDeduplicator()], shard_rows=4, keep_rejects=True
    )
    applied = pipe.apply(ds)
    assert len(applied) == len(ds)
    assert applied["exact_dedup_keep"][10:12] == [False, False]
    report = pipe.run(ds, tmp_path / "out")
    assert report["input_rows"] == 15 and report["output_rows"] == 10 and report["shards"] == 4
    by = {s["name"]: s for s in report["steps"]}
    assert by["gopher_quality"]["removed"] == 2 and by["exact_dedup"]["removed"] == 2
    assert by["minhash_dedup"]["seen"] == 11 and by["minhash_dedup"]["removed"] == 1
    assert json.loads((tmp_path / "out" / "report.json").read_text())["output_rows"] == 10
    out = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out" / "data"), split="train")
    assert sorted(out["text"]) == sorted(_corpus()[:10])
    rejects = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out" / "rejects"), split="train")
    assert len(rejects) == 5


def test_pipeline_resumes_without_redoing_shards(tmp_path):
    import datasets

    calls = {"n": 0}

    class Counting(GopherQualityFilter):
        def process(self, batch):
            calls["n"] += len(batch["text"])
            return super().process(batch)

    ds = datasets.Dataset.from_dict({"text": _corpus()})
    out = tmp_path / "out"
    pipe = Pipeline([Counting(), MinHashDeduplicator()], shard_rows=5)
    full = pipe.run(ds, out)
    assert calls["n"] == 15
    # simulate a crash after shard 1: later shards, the global pass and outputs are gone, a temp file lingers
    for p in list((out / "_work").glob("stage-0000[2-9].parquet")) + [out / "_work" / "global.parquet"]:
        p.unlink()
    for p in (out / "data").glob("*.parquet"):
        p.unlink()
    (out / "_work" / ".stage-00002.parquet.tmp-1").write_bytes(b"partial")
    (out / "report.json").unlink()
    calls["n"] = 0
    again = pipe.run(ds, out)
    assert calls["n"] == 5  # only the missing shard was mapped again
    assert again["shards_resumed"] == 2 and again["output_rows"] == full["output_rows"]
    with pytest.raises(ValueError, match="different pipeline"):
        Pipeline([FineWebFilter()], shard_rows=5).run(ds, out)


def test_pipeline_num_proc_matches_single_process(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": _corpus() * 20})
    steps = [GopherQualityFilter(), FineWebFilter(), MinHashDeduplicator()]
    one = Pipeline(steps, batch_size=32).apply(ds)
    two = Pipeline(steps, batch_size=32, num_proc=2).apply(ds)
    assert one.to_dict() == two.to_dict()


def test_pipeline_config_and_errors():
    pipe = Pipeline.from_config(
        {"steps": [{"gopher_quality": {"min_doc_words": 10}}, "fineweb", "minhash_dedup"], "shard_rows": 7}
    )
    assert pipe.steps[0].min_doc_words == 10 and pipe.shard_rows == 7
    with pytest.raises(ValueError, match="unknown step"):
        Pipeline.from_config({"steps": ["nope"]})
    with pytest.raises(ValueError, match="unique"):
        Pipeline([FineWebFilter(), FineWebFilter()])
    with pytest.raises(ValueError, match="at least one"):
        Pipeline([])
    with pytest.raises(FileNotFoundError):
        load_input("no/such/file.jsonl")


def test_cli_prepare_jsonl_with_config(tmp_path, capsys):
    from hf_addons.cli import main

    rows = [{"text": t} for t in _corpus()]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = tmp_path / "prepare.yaml"
    cfg.write_text(
        "steps:\n  - gopher_quality\n  - exact_dedup\n  - minhash_dedup: {verify_threshold: 0.7}\n"
    )
    args = ["data", "prepare", "--input", str(src), "--output", str(tmp_path / "out"), "--no-progress"]
    assert main([*args, "--config", str(cfg), "--shard-rows", "6"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["input_rows"] == 15 and report["output_rows"] == 10 and report["shards"] == 3
    assert main(["data", "prepare", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path)]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [nope]\n")
    assert main([*args, "--config", str(bad)]) == 2
    assert "unknown step" in capsys.readouterr().err


def test_pipeline_output_shards_share_one_schema(tmp_path):
    import datasets

    rows = [{"html": PAGE, "url": "https://a"}, {"html": PAGE.replace("River", "Lake"), "url": "https://b"}]
    rows += [{"html": "<html><body><p>" + GOOD + "</p></body></html>", "url": "https://c"}]  # no meta tags
    pipe = Pipeline([HtmlToMarkdown(min_words=1)], shard_rows=2)
    report = pipe.run(datasets.Dataset.from_list(rows), tmp_path / "out")
    assert report["output_rows"] == 3
    out = datasets.load_dataset("parquet", data_dir=str(tmp_path / "out" / "data"), split="train")
    assert out["author"] == ["Ada Writer", "Ada Writer", None]


def test_code_blocks_are_fenced_and_untouched():
    body = (
        "<p>"
        + GOOD
        + "</p><pre><code>def f(x):\n    # comments\n    return x + 1\n</code></pre><p>"
        + GOOD
        + "</p>"
    )
    md = HtmlToMarkdown().extract_one(f"<html><body><article>{body}</article></body></html>")["text"]
    assert "\n\n```\ndef f(x):\n    # comments\n    return x + 1\n```\n\n" in md
