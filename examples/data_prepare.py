"""Web pages -> clean, filtered, deduplicated Markdown shards with a report.

python examples/data_prepare.py --tiny            # a few synthetic pages written to a WARC
python examples/data_prepare.py                   # the 88 real pages of ../shared/data/article-extraction
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from pathlib import Path

from hf_addons.data.dedup.minhash import ExactDeduplicator, MinHashDeduplicator
from hf_addons.data.executors.pipeline import Pipeline
from hf_addons.data.extract.html import HtmlToMarkdown
from hf_addons.data.filters.langid import LanguageFilter
from hf_addons.data.filters.quality import FineWebFilter, GopherQualityFilter, GopherRepetitionFilter
from hf_addons.data.readers.files import load_input
from hf_addons.data.readers.warc import write_warc

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "article-extraction"

TINY_BODY = (
    "<p>The harbour town rebuilt its sea wall after the winter storms, and the work finished early.</p>"
    "<p>Fishermen said that the new wall protects the boats and that the market can open again.</p>"
    "<h2>What changes</h2><ul><li>A wider promenade with benches.</li><li>Lights along the pier.</li></ul>"
    "<p>The council will publish the final costs with the annual report in the spring of next year.</p>"
    "<p>Visitors are expected to return in summer, when the ferry to the islands restarts its service.</p>"
)


def tiny_pages() -> list[dict]:
    page = "<html><head><title>Harbour {i}</title></head><body><nav>Home News Sport</nav><article>"
    page += "<h1>Harbour {i}</h1>" + TINY_BODY + "</article><footer>Copyright</footer></body></html>"
    pages = [{"url": f"https://news.example/{i}", "html": page.format(i=i)} for i in range(4)]
    pages.append({"url": "https://news.example/empty", "html": "<html><body><nav>Home</nav></body></html>"})
    pages.append(
        {"url": "https://news.example/logo.png", "html": b"\x89PNG\x00\x00", "content_type": "image/png"}
    )
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="synthetic pages (seconds)")
    parser.add_argument("--output", default=None, help="output dir (default: a temporary one)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="data-prepare-"))
    if args.tiny or not SHARED.exists():
        pages = tiny_pages()
    else:
        truth = json.loads((SHARED / "ground-truth.json").read_text())
        pages = [
            {"url": v["url"], "html": gzip.open(SHARED / "html" / f"{k}.html.gz").read()}
            for k, v in truth.items()
        ]
    warc = write_warc(work / "pages.warc.gz", pages)
    dataset = load_input(str(warc))

    pipe = Pipeline(
        [
            HtmlToMarkdown(),
            LanguageFilter(languages=["en"]),
            GopherQualityFilter(min_doc_words=20 if args.tiny else 50),
            GopherRepetitionFilter(),
            FineWebFilter(),
            ExactDeduplicator(),
            MinHashDeduplicator(verify_threshold=0.85),
        ],
        shard_rows=64,
    )
    report = pipe.run(dataset, args.output or work / "out")
    for step in report["steps"]:
        print(f"{step['name']:>18}: seen {step['seen']:4d}  removed {step['removed']:4d}  {step['reasons']}")
    print("errors:", report["errors"], "| output rows:", report["output_rows"], "->", report["output"])


if __name__ == "__main__":
    main()
