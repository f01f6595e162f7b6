"""WARC reading with FastWARC: response records -> rows (url, date, headers, decoded html), bad records kept.

Nothing is lost silently. A broken record (truncated block, bad HTTP head, undecodable bytes, binary or
oversized payload) becomes a row with ``warc_error`` set instead of stopping the read, and a file that ends
inside a record (a cut download, a truncated gzip member) ends with a ``warc:truncated_stream`` row; a
corrupt gzip stream ends with a ``warc:broken_stream`` row, and a record whose own gzip member fails its CRC
is ``warc:corrupt_record``, never kept as whole.
``Pipeline`` counts those errors in its report, and ``HtmlToMarkdown`` rejects such rows with the error as
the reason, so records in = kept + removed.

The HTTP head is parsed here rather than by FastWARC: the WARC block is read whole, so a block shorter than
its declared ``Content-Length`` is seen, and the charset is decided by :func:`decode_html` (BOM, HTTP header,
``<meta>``, UTF-16 sniffing, strict UTF-8, then a detector).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import uuid
import zlib
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


# byte-order marks, longest first (a UTF-32-LE BOM starts with the UTF-16-LE one)
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# labels as browsers read them (WHATWG Encoding): a page declared latin-1 is decoded as windows-1252, etc.
_LABELS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "big5": "big5hkscs",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "sjis": "shift_jis",
    "windows-31j": "cp932",
    "utf8": "utf-8",
    "unicode": "utf-16",
}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]{1,40})""", re.I)
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.I)


def _codec(label: str | None) -> str | None:
    """A Python codec for a declared charset label, or None when the label is unknown."""
    if not label:
        return None
    import codecs

    label = label.strip().strip("\"'").lower()
    label = _LABELS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _sniff_utf16_32(head: bytes) -> str | None:
    """UTF-16/32 without a BOM: the wide decoding whose head reads as text with ASCII markup in it.

    Pages in a wide encoding have NUL bytes (the high bytes of their ASCII markup); binary payloads have NUL
    bytes too, but their wide decodings are not mostly ASCII-bearing printable text.
    """
    if len(head) < 8 or b"\x00" not in head:
        return None
    best, best_score = None, 0.0
    for codec, unit in (("utf-32-le", 4), ("utf-32-be", 4), ("utf-16-le", 2), ("utf-16-be", 2)):
        sample = head[: len(head) - len(head) % unit]
        try:
            text = sample.decode(codec)
        except UnicodeDecodeError:
            text = sample[: max(len(sample) - 2 * unit, 0)].decode(codec, errors="ignore")
            if not text:
                continue
        printable = sum(c.isprintable() or c in "\r\n\t" for c in text) / len(text)
        ascii_share = sum(c.isascii() for c in text) / len(text)
        if printable > 0.95 and ascii_share > 0.2 and "\x00" not in text and ascii_share > best_score:
            best, best_score = codec, ascii_share
    return best


def _strict(payload: bytes, codec: str | None) -> str | None:
    if not codec:
        return None
    try:
        return payload.decode(codec)
    except (LookupError, UnicodeDecodeError):
        return None


def decode_payload(payload: bytes, declared: str | None = None) -> tuple[str, str, str]:
    """``(text, codec, error)`` of an HTML/text payload; ``error`` is ``""`` or a ``warc:`` reason.

    Order: a byte-order mark; the declared (HTTP) charset, then a ``<meta>`` charset, except that a payload
    that is valid UTF-8 with non-ASCII bytes is read as UTF-8 whatever a single-byte label says (servers
    mislabel UTF-8 as latin-1 far more often than latin-1 text is valid UTF-8 by chance); UTF-16/32 by the
    stride of their NUL bytes; strict UTF-8; then windows-1252 for Western text or chardet's guess (measured best of
    chardet, charset-normalizer and cchardet on re-encoded real pages); last, lossy windows-1252
    flagged ``warc:undecodable_bytes``. Binary payloads (NUL bytes in a non-wide text) give ``warc:binary``.
    """
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            text = _strict(payload, codec)
            if text is not None:
                return text.lstrip("\ufeff"), codec, ""
    head = payload[:4096]
    wide = _sniff_utf16_32(head)
    if wide:
        text = _strict(payload, wide)
        if text is not None:
            return text, wide, ""
    if b"\x00" in payload[:2048]:
        return "", "", "warc:binary"
    utf8 = _strict(payload, "utf-8")
    meta = _META_CHARSET.search(head)
    for label in (declared, meta.group(1).decode("ascii", "ignore") if meta else None):
        codec = _codec(label)
        if not codec:
            continue
        if codec.startswith("utf-16") or codec.startswith("utf-32"):
            continue  # a wide label on a payload with no wide layout is a mislabel
        if utf8 is not None and codec != "utf-8" and not payload.isascii():
            return utf8, "utf-8", ""
        text = _strict(payload, codec)
        if text is not None:
            return text, codec, ""
    if utf8 is not None:
        return utf8, "utf-8", ""
    guess = _detect(payload)
    if guess:
        text = _strict(payload, guess)
        if text is not None:
            return text, guess, ""
    return payload.decode("cp1252", errors="replace"), "cp1252", "warc:undecodable_bytes"


# what windows-1252 text in a Western European language shows outside ASCII: Latin-1 letters, typography
_WESTERN = frozenset(
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ‘’‚“”„–—…•€\u00a0©®°±²³·×÷«»¡¿£¥§¶ªº"
    "½¼¾™†‡ŒœŠšŽžŸƒˆ˜‰‹›¢¤¦¨¬¯´¸¹"
)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{4}")


def _looks_western(payload: bytes) -> bool:
    """Windows-1252 text: every non-ASCII character a Western letter or typographic sign, none in runs.

    Statistical detectors misread such pages (a few accented letters in ASCII markup) as Baltic or Central
    European code pages; text in Cyrillic, Greek or CJK code pages decoded as windows-1252 shows runs of
    non-ASCII characters or bytes windows-1252 leaves undefined.
    """
    try:
        text = payload.decode("cp1252")
    except UnicodeDecodeError:
        return False
    if _NON_ASCII_RUN.search(text):
        return False
    return all(ch in _WESTERN for ch in text if not ch.isascii())


def _detect(payload: bytes) -> str | None:
    """The codec of bytes that are not UTF-8: windows-1252 for Western text, else chardet's best guess."""
    if _looks_western(payload):
        return "cp1252"
    import chardet

    return _codec(chardet.detect(payload).get("encoding"))


def decode_html(payload: bytes, declared: str | None = None) -> tuple[str, str]:
    """``(text, error)``: the payload decoded as :func:`decode_payload` decides."""
    text, _codec_used, error = decode_payload(payload, declared)
    return text, error


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
        max_bytes: records whose WARC block is larger are kept as ``warc:too_large`` rows, unread.
        text_only: mark non-text payloads (images, PDFs) ``warc:non_text`` and leave ``html`` empty.
        max_payload_bytes: deprecated name of ``max_bytes``.

    Examples:

    ```python
    >>> rows = list(read_warc("crawl.warc.gz"))  # doctest: +SKIP
    >>> [r["url"] for r in rows if not r["warc_error"]]  # doctest: +SKIP
    ['https://example.com/']
    ```
    """
    max_bytes = renamed(
        "read_warc", "max_payload_bytes", max_payload_bytes, "max_bytes", max_bytes, 20_000_000
    )
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"WARC file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"expected a WARC file, got a directory: {path}")
    last: tuple[int, int] | None = None
    pending: tuple[int, dict] | None = None  # the newest row, held back until the end-of-file check
    with open(path, "rb") as fh:
        # every record type is iterated, so ``last`` is the file's last record (for the end-of-file check)
        it = ArchiveIterator(fh, parse_http=False)
        while True:
            try:
                record = next(it)
            except StopIteration:
                break
            except Exception as exc:  # a corrupt stream ends the file, it does not end the run
                if pending is not None:
                    # the break may be in the held-back record's own gzip member (a bad CRC is seen only
                    # when the reader moves past it), so its text is kept as whole only if that member checks
                    if not _gzip_member_intact(path, pending[0]):
                        pending[1]["warc_error"] = "warc:corrupt_record"
                    yield pending[1]
                yield _row(url=None, warc_error=f"warc:broken_stream:{type(exc).__name__}")
                return
            last = (record.stream_pos, record.content_length)
            if record.record_type != WarcRecordType.response:
                continue
            if pending is not None:
                yield pending[1]
            pending = (record.stream_pos, _record_row(record, max_bytes, text_only))
    if path.stat().st_size == 0:
        return
    if last is None:
        yield _row(url=None, warc_error="warc:not_a_warc")
        return
    clean = _ends_cleanly(path, *last)
    if pending is not None:
        if not clean and pending[0] == last[0]:  # the cut is inside this record: whatever it read is partial
            pending[1]["warc_error"] = "warc:truncated_record"
            clean = True
        yield pending[1]
    if not clean:
        yield _row(url=None, warc_error="warc:truncated_stream")


def _record_row(record: Any, max_bytes: int, text_only: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "url": record.headers.get("WARC-Target-URI"),
        "warc_date": record.headers.get("WARC-Date"),
        "record_id": record.record_id,
    }
    try:
        if record.content_length > max_bytes:
            return _row(**meta, warc_error="warc:too_large")
        block = record.reader.read()
        truncated = len(block) < record.content_length
        http = _parse_http(block)
        if http is None:
            return _row(**meta, warc_error="warc:truncated_record" if truncated else "warc:no_http_headers")
        status, headers, payload = http
        ctype_header = _header(headers, "Content-Type")
        content_type = ctype_header.split(";")[0].strip().lower()
        match = _HTTP_CHARSET.search(ctype_header)
        meta.update(
            status=status,
            content_type=content_type,
            charset=match.group(1) if match else None,
            headers=json.dumps(headers, ensure_ascii=False),
        )
        if text_only and content_type and not content_type.startswith(_TEXT_TYPES):
            return _row(**meta, warc_error="warc:truncated_record" if truncated else "warc:non_text")
        html, _codec_used, err = decode_payload(payload, meta["charset"])
        return _row(**meta, html=html, warc_error="warc:truncated_record" if truncated else err)
    except Exception as exc:
        return _row(**meta, warc_error=f"warc:broken_record:{type(exc).__name__}")


def _parse_http(block: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """``(status, headers, payload)`` of an HTTP response block, or None when it has no complete head."""
    end, skip = block.find(b"\r\n\r\n"), 4
    if end < 0:
        end, skip = block.find(b"\n\n"), 2
    if end < 0 or not block.startswith(b"HTTP/"):
        return None
    lines = block[:end].decode("iso-8859-1").splitlines()
    parts = lines[0].split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            name, value = name.strip(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return status, headers, block[end + skip :]


def _header(headers: dict[str, str], name: str) -> str:
    name = name.lower()
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _ends_cleanly(path: Path, stream_pos: int, content_length: int) -> bool:
    """Whether the file ends with its last record complete (no cut gzip member or WARC block after it).

    Gzip files with one member per record (the WARC convention) are checked from the last record's member;
    any other gzip layout by reading the whole stream. Zstandard/LZ4 files are not checked.
    """
    with open(path, "rb") as fh:
        magic = fh.read(4)
        if magic[:2] == b"\x1f\x8b":
            fh.seek(stream_pos)
            if _gzip_members_complete(fh):
                return True
            return not gzip_problem(path) and stream_pos == 0
        if magic in (b"\x28\xb5\x2f\xfd", b"\x04\x22\x4d\x18"):
            return True
        fh.seek(stream_pos)
        head = fh.read(65536)
        end = head.find(b"\r\n\r\n")
        if end < 0:
            return False
        expected = stream_pos + end + 4 + content_length
        size = path.stat().st_size
        if size < expected:
            return False
        fh.seek(expected)
        return not fh.read(64).strip()


def _inflate_member(fh, data: bytes) -> bytes | None:
    """Inflate the one gzip member that starts at ``data`` (read on from ``fh`` as needed): the bytes after it,
    or None when it is cut or fails its CRC."""
    dec = zlib.decompressobj(31)
    try:
        while True:
            dec.decompress(data)
            if dec.eof:
                return dec.unused_data
            data = fh.read(1 << 20)
            if not data:
                return None
    except zlib.error:
        return None


def _gzip_members_complete(fh) -> bool:
    """Whether the gzip members from the current position to the end of ``fh`` are all complete."""
    data = fh.read(1 << 20)
    while data:
        data = _inflate_member(fh, data)
        if data is None:
            return False
        if not data:
            data = fh.read(1 << 20)
    return True


def _gzip_member_intact(path: Path, stream_pos: int) -> bool:
    """Whether the gzip member at ``stream_pos`` decompresses to its end with a matching CRC (True for a
    file that is not gzip: a plain WARC has no checksum to check)."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return True
        fh.seek(stream_pos)
        return _inflate_member(fh, fh.read(1 << 20)) is not None


def gzip_problem(path: str | Path) -> str:
    """What is wrong with a gzip file's whole stream (cut or corrupt), or ``""`` when it reads to the end."""
    try:
        with gzip.open(path, "rb") as gz:
            while gz.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        return f"the gzip stream is cut or corrupt ({exc})"
    return ""


def file_identity(path: str | Path) -> str:
    """Size, mtime and a hash of the first and last 64 KiB: changes when the file is replaced or edited."""
    p = Path(path)
    st = p.stat()
    h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(p, "rb") as fh:
        h.update(fh.read(65536))
        if st.st_size > 65536:
            fh.seek(max(st.st_size - 65536, 65536))
            h.update(fh.read(65536))
    return h.hexdigest()[:32]


def warc_dataset(paths: str | Path | Iterable[str | Path], streaming: bool = False, **kwargs: Any):
    """A ``datasets`` Dataset (or IterableDataset with ``streaming``) of the records of one or more WARCs.

    The ``datasets`` cache is keyed on each file's content identity (:func:`file_identity`), not only on its
    path, so a replaced or edited file is read afresh, in this process and in a new one.

    Args:
        paths: one WARC file or several.
        streaming: an ``IterableDataset`` that reads the files lazily.
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
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"WARC file not found: {f}")
    identities = [file_identity(f) for f in files]
    features = datasets.Features(
        {c: datasets.Value("int32" if c == "status" else "string") for c in WARC_COLUMNS}
    )

    def gen(files: list[str], identities: list[str]):  # identities: part of the cache key only
        for f in files:
            yield from read_warc(f, **kwargs)

    if streaming:
        return datasets.IterableDataset.from_generator(
            gen, features=features, gen_kwargs={"files": files, "identities": identities}
        )
    return datasets.Dataset.from_generator(
        gen, features=features, gen_kwargs={"files": files, "identities": identities}
    )


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
