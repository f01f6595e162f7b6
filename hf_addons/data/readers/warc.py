"""WARC reading with FastWARC: response records -> rows (url, date, headers, decoded html), bad records kept.

A broken record (truncated, bad HTTP block, undecodable bytes, binary payload) becomes a row with
``warc_error`` set instead of stopping the read; ``Pipeline`` counts those errors in its report.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hf_addons.data.base import renamed

WARC_COLUMNS = (
    "url",
    "warc_date",
    "record_id",
    "status",
    "content_type",
    "charset",
    "headers",
    "html",
    "warc_error",
)
_TEXT_TYPES = ("text/html", "application/xhtml", "text/plain", "application/xml", "text/xml")


def decode_html(payload: bytes, declared: str | None = None) -> tuple[str, str]:
    """(text, error): declared charset first, then UTF-8, then trafilatura's sniffing, else lossy UTF-8."""
    for enc in (declared, "utf-8"):
        if not enc:
            continue
        try:
            return payload.decode(enc), ""
        except (LookupError, UnicodeDecodeError):
            continue
    from trafilatura.utils import detect_encoding

    for enc in detect_encoding(payload):
        try:
            return payload.decode(enc), ""
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace"), "warc:undecodable_bytes"


def _row(**kw: Any) -> dict[str, Any]:
    row = dict.fromkeys(WARC_COLUMNS)
    row.update(status=0, headers="{}", html="", warc_error="")
    row.update(kw)
    return row


def read_warc(
    path: str | Path,
    *,
    max_bytes: int = 20_000_000,
    text_only: bool = True,
    max_payload_bytes: int | None = None,
) -> Iterator[dict]:
    """Rows of the response records of a (gzip/zstd/lz4 or plain) WARC file.

    Args:
        path: the WARC file.
        max_bytes: a larger payload keeps its row with ``warc_error`` set and no ``html``.
        text_only: mark non-HTML payloads (images, PDFs) with ``warc:non_text`` and leave ``html`` empty.
        max_payload_bytes: deprecated name of ``max_bytes``.

    Examples:

    ```python
    >>> rows = list(read_warc("crawl.warc.gz"))  # doctest: +SKIP
    >>> sorted(rows[0])[:3]  # doctest: +SKIP
    ['charset', 'content_type', 'date']
    ```
    """
    max_bytes = renamed(
        "read_warc", "max_payload_bytes", max_payload_bytes, "max_bytes", max_bytes, 20_000_000
    )
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"WARC file not found: {path}")
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True)
        while True:
            try:
                record = next(it)
            except StopIteration:
                return
            except Exception as exc:  # a corrupt stream ends the file, it does not end the run
                yield _row(url=None, warc_error=f"warc:broken_stream:{type(exc).__name__}")
                return
            yield _record_row(record, max_bytes, text_only)


def _record_row(record: Any, max_bytes: int, text_only: bool) -> dict[str, Any]:
    url = record.headers.get("WARC-Target-URI")
    meta: dict[str, Any] = {
        "url": url,
        "warc_date": record.headers.get("WARC-Date"),
        "record_id": record.record_id,
    }
    try:
        http = record.http_headers
        if http is None:
            return _row(**meta, warc_error="warc:no_http_headers")
        content_type = (http.get("Content-Type") or "").split(";")[0].strip().lower()
        charset = record.http_charset
        meta.update(
            status=int(http.status_code or 0),
            content_type=content_type,
            charset=charset,
            headers=json.dumps(dict(http.asdict()), ensure_ascii=False),
        )
        if record.content_length > max_bytes:
            return _row(**meta, warc_error="warc:too_large")
        payload = record.reader.read()
        if text_only and content_type and not content_type.startswith(_TEXT_TYPES):
            return _row(**meta, warc_error="warc:non_text")
        if b"\x00" in payload[:2048]:
            return _row(**meta, warc_error="warc:binary")
        html, err = decode_html(payload, charset)
        return _row(**meta, html=html, warc_error=err)
    except Exception as exc:
        return _row(**meta, warc_error=f"warc:broken_record:{type(exc).__name__}")


def warc_dataset(paths: str | Path | Iterable[str | Path], streaming: bool = False, **kwargs: Any):
    """A ``datasets`` Dataset (or IterableDataset with ``streaming``) of the records of one or more WARCs.

    Args:
        paths: one WARC file or several.
        streaming: return an ``IterableDataset``.
        **kwargs: passed to :func:`read_warc` (``max_bytes``, ``text_only``).

    Examples:

    ```python
    >>> ds = warc_dataset(["a.warc.gz", "b.warc.gz"])  # doctest: +SKIP
    >>> ds.column_names[:3]  # doctest: +SKIP
    ['url', 'warc_date', 'record_id']
    ```
    """
    import datasets

    files = [str(paths)] if isinstance(paths, (str, Path)) else [str(p) for p in paths]
    if not files:
        raise ValueError("warc_dataset: no WARC files given")
    features = datasets.Features(
        {c: datasets.Value("int32" if c == "status" else "string") for c in WARC_COLUMNS}
    )

    def gen(files: list[str]):
        for f in files:
            yield from read_warc(f, **kwargs)

    if streaming:
        return datasets.IterableDataset.from_generator(gen, features=features, gen_kwargs={"files": files})
    return datasets.Dataset.from_generator(gen, features=features, gen_kwargs={"files": files})


def write_warc(path: str | Path, pages: Iterable[dict[str, Any]], compress: bool = True) -> Path:
    """Write response records (``url``, ``html`` str/bytes, optional ``content_type``, ``charset``, ``date``).

    For tests, examples and benchmarks: a minimal WARC/1.0 writer, one gzip member per record.

    Args:
        path: the file written.
        pages: dicts with ``url`` and ``html`` (str or bytes), optional ``content_type``, ``charset``, ``date``.
        compress: gzip each record.

    Examples:

    ```python
    >>> write_warc("/tmp/x.warc.gz", [{"url": "https://a.example/", "html": "<p>hi</p>"}])  # doctest: +SKIP
    PosixPath('/tmp/x.warc.gz')
    ```
    """
    path = Path(path)
    with open(path, "wb") as out:
        for page in pages:
            body = page["html"]
            charset = page.get("charset", "utf-8")
            if isinstance(body, str):
                body = body.encode(charset)
            ctype = page.get("content_type", "text/html")
            http = (
                f"HTTP/1.1 {page.get('status', 200)} OK\r\nContent-Type: {ctype}; charset={charset}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            head = (
                "WARC/1.0\r\nWARC-Type: response\r\n"
                f"WARC-Target-URI: {page['url']}\r\n"
                f"WARC-Date: {page.get('date', '2024-01-01T00:00:00Z')}\r\n"
                f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
                "Content-Type: application/http; msgtype=response\r\n"
                f"Content-Length: {len(http)}\r\n\r\n"
            ).encode()
            record = head + http + b"\r\n\r\n"
            if compress:
                buf = io.BytesIO()
                with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
                    gz.write(record)
                record = buf.getvalue()
            out.write(record)
    return path
