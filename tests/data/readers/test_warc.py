"""WARC reading/writing and input loading (``hf_addons.data.readers``)."""

from __future__ import annotations

import gzip
import json

import pytest
from data.helpers import PAGE

from hf_addons.data.executors.pipeline import Pipeline
from hf_addons.data.extract.html import HtmlToMarkdown
from hf_addons.data.readers.files import load_input
from hf_addons.data.readers.warc import read_warc, warc_dataset, write_warc


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
    assert report["steps"][0]["reasons"] == {"extract:empty": 1}
    import pyarrow.parquet as pq

    out = pq.read_table(tmp_path / "out" / "data")
    assert out.column("warc_date").to_pylist() == ["2024-01-01T00:00:00Z"] * 3  # crawl date and page date
    assert out.column("date").to_pylist()[0].startswith("2024-03-01")  # both kept
