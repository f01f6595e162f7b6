"""Texts and checks shared by the data-suite tests (``from data.helpers import ...``: pytest puts ``tests/``
on the path, for its conftest)."""

import re
import zlib

import numpy as np

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

#: a clean English news paragraph every quality rule keeps
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

#: short documents of mixed kinds (prose, a one-letter text, repetition, spam, code)
TEXTS = [
    "The mitochondria is the powerhouse of the cell.",
    "a",
    "Photosynthesis converts light energy into chemical energy stored in glucose. " * 3,
    "BUY NOW!!! cheap watches $$$ click here",
    "def add(a, b):\n    return a + b\n",
]


def outside_spans_unchanged(original: str, new: str, spans: list[dict]) -> bool:
    """Rebuild ``new`` from the original's untouched pieces and the replacements: must be identical."""
    pieces, pos = [], 0
    for s in sorted(spans, key=lambda s: s["start"]):
        pieces.append(original[pos : s["start"]])
        pieces.append(s["replacement"])
        pos = s["end"]
    pieces.append(original[pos:])
    return "".join(pieces) == new


def with_edits(base: str, rate: float, seed: int) -> str:
    """``base`` with a share ``rate`` of its words replaced by unique ones: a near-duplicate of it."""
    rng = np.random.default_rng(seed)
    words = base.split()
    idx = rng.choice(len(words), int(rate * len(words)), replace=False)
    for i in idx:
        words[i] = f"edit{seed}x{i}"
    return " ".join(words)


def record_starts(data: bytes, compressed: bool) -> set[int]:
    """Byte offsets where a record (a gzip member, or a plain ``WARC/1.0`` header) starts."""
    if not compressed:
        return {m.start() for m in re.finditer(rb"WARC/1\.0\r\n", data)}
    starts, pos = set(), 0
    while pos < len(data):
        starts.add(pos)
        dec = zlib.decompressobj(31)
        dec.decompress(data[pos:])
        pos = len(data) - len(dec.unused_data)
    return starts


def fold32(h64: np.ndarray) -> np.ndarray:
    """64-bit input hashes as datasketch's 32-bit input, as the signature pass folds them: high half xor low."""
    return ((h64 ^ (h64 >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
