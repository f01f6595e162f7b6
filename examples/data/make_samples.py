"""Write the small sample inputs the README runs on, from the article-extraction pages in ``../shared``.

``sample.warc.gz``: 8 real news/blog pages as WARC ``response`` records (one gzip member per record, as
Common Crawl ships them), plus one exact copy of a page under another URL so deduplication has work to do.
``sample_texts.jsonl``: the same articles' plain text (``{"url", "text"}``), for the text-only examples.

The pages come from scrapinghub/article-extraction-benchmark (MIT licence, ``LICENSE-article-extraction``).
Run: ``python examples/data/make_samples.py`` (deterministic: same input, same bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2] / "shared" / "data" / "article-extraction"
N_PAGES = 8


def warc_record(url: str, html: bytes, date: str = "2024-01-01T00:00:00Z") -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    record_id = hashlib.sha1(url.encode() + html).hexdigest()
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: {date}\r\n"
        f"WARC-Record-ID: <urn:sha1:{record_id}>\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    # mtime=0: the same pages give the same bytes
    return gzip.compress(head + http + b"\r\n\r\n", mtime=0)


def main() -> None:
    truth = json.loads((SOURCE / "ground-truth.json").read_text(encoding="utf-8"))
    ids = sorted(truth)[:N_PAGES]
    records, texts = [], []
    for page_id in ids:
        html = gzip.decompress((SOURCE / "html" / f"{page_id}.html.gz").read_bytes())
        url = truth[page_id].get("url") or f"https://example.org/{page_id}"
        records.append(warc_record(url, html))
        texts.append({"url": url, "text": truth[page_id]["articleBody"]})
    first = gzip.decompress((SOURCE / "html" / f"{ids[0]}.html.gz").read_bytes())
    records.append(warc_record("https://mirror.example.org/copy-of-the-first-page", first))
    (HERE / "sample.warc.gz").write_bytes(b"".join(records))
    with open(HERE / "sample_texts.jsonl", "w", encoding="utf-8") as f:
        for row in texts:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} WARC records and {len(texts)} texts to {HERE}")


if __name__ == "__main__":
    main()
