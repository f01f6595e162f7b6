"""datatrove's ``Trafilatura()`` extractor (default settings) over pages; run in datatrove's venv.

Usage: python _datatrove_extract.py < pages.json  (a JSON list of .html.gz paths). Prints one JSON object:
``{"texts": [...], "seconds": float}``. Each page is decoded as UTF-8 the way datatrove's WARC reader tries
first; a page that is not UTF-8 goes to trafilatura as bytes (it detects the charset itself).
"""

from __future__ import annotations

import gzip
import json
import sys
import time


def main() -> None:
    from datatrove.pipeline.extractors import Trafilatura

    extractor = Trafilatura()  # favour_precision=True, deduplicate=True, include_comments=False
    paths = json.load(sys.stdin)
    pages = []
    for p in paths:
        raw = gzip.open(p).read()
        try:
            pages.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            pages.append(raw)
    extractor.extract(pages[0])  # warm-up (imports)
    t0 = time.perf_counter()
    texts = [extractor.extract(page) or "" for page in pages]
    print(json.dumps({"texts": texts, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
