"""Data-cleaning Space: paste a page's HTML or upload a WARC / JSONL / HTML file and see what the pre-training
data suite makes of it: Markdown, redacted secrets and personal data, and the per-step report.

The same ``Pipeline`` and steps as ``hf-addons data`` and ``dataset.map(step, batched=True)``; nothing is
dropped silently: removed documents stay visible with the reason.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from hf_addons.hub import user_errors

MAX_DOCS = 200
EXAMPLE_HTML = """<html><head><title>Tide pools</title></head><body>
<nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>Tide pools</h1>
<p>Tide pools are rocky pools on the sea shore which are filled with seawater at low tide. Many of them
are habitats of especially adaptable animals that have engaged the attention of naturalists and marine
biologists, as well as philosophical essayists. Write to the warden at warden@example.org for a guided walk,
and the park office key is AKIAQYLPMN5HHHFPZAM2 which was committed by mistake.</p>
<p>The pools are home to anemones, barnacles, crabs and small fish that can survive the changes of
temperature and salinity between the tides, and they are often studied by schools and visitors in summer.</p>
</article><footer>Subscribe to our newsletter</footer></body></html>"""


def read_rows(html: str | None, upload: Any) -> list[dict[str, Any]]:
    """Rows with ``html`` (pages) or ``text`` (already plain), from the pasted HTML or the uploaded file."""
    from hf_addons.data.readers.warc import read_warc

    path = Path(upload if isinstance(upload, str) else getattr(upload, "name", "")) if upload else None
    if path is None:
        if not html or not html.strip():
            raise ValueError("paste some HTML or upload a .warc(.gz), .jsonl or .html file")
        return [{"url": "pasted", "html": html}]
    name = path.name.lower()

    def read_text() -> str:  # .html / .jsonl, gzipped or not
        if name.endswith(".gz"):
            import gzip

            return gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        return path.read_text(encoding="utf-8", errors="replace")

    if name.endswith((".warc", ".warc.gz")):
        rows = [r for r in read_warc(path) if r.get("html")]
        rows = [{"url": r.get("url") or "", "html": r["html"]} for r in rows]
    elif name.endswith((".jsonl", ".jsonl.gz")):
        rows = []
        for i, line in enumerate(read_text().splitlines()):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or not ({"html", "text"} & set(row)):
                raise ValueError(f"{path.name}:{i + 1}: each JSONL row needs an 'html' or a 'text' field")
            rows.append(
                {"url": str(row.get("url", "")), **{k: str(row[k]) for k in ("html", "text") if k in row}}
            )
    elif name.endswith((".html", ".htm", ".html.gz", ".htm.gz")):
        rows = [{"url": path.name, "html": read_text()}]
    else:
        raise ValueError(
            f"unsupported file {path.name!r}: upload a .warc, .jsonl or .html file (each may be gzipped)"
        )
    if not rows:
        raise ValueError(f"{path.name} holds no text or HTML documents")
    kinds = {"html" in r for r in rows}
    if len(kinds) > 1:
        raise ValueError(f"{path.name}: mix of rows with 'html' and rows with only 'text'; use one kind")
    return rows[:MAX_DOCS]


def default_steps(html: bool, pii_mode: str = "placeholder") -> list[Any]:
    """Extract (pages only), quality rules, then secrets and PII redaction on the Markdown."""
    from hf_addons.data.extract.html import HtmlToMarkdown
    from hf_addons.data.filters.quality import FineWebFilter, GopherQualityFilter
    from hf_addons.data.privacy.pii import PIIAnonymizer
    from hf_addons.data.privacy.secrets import SecretFilter

    steps: list[Any] = [HtmlToMarkdown()] if html else []
    return steps + [
        GopherQualityFilter(),
        FineWebFilter(),
        SecretFilter(text_column="text", action="redact"),
        PIIAnonymizer(text_column="text", mode=pii_mode),
    ]


def clean(
    rows: list[dict[str, Any]], steps: list[Any] | None = None, pii_mode: str = "placeholder"
) -> tuple[list[dict[str, Any]], dict]:
    """Run the pipeline on ``rows``; every row comes back (kept and removed, in input order) with the report."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    from hf_addons.data.executors.pipeline import Pipeline

    steps = default_steps("html" in rows[0], pii_mode) if steps is None else steps
    ds = Dataset.from_list([{**r, "doc": i} for i, r in enumerate(rows)])
    with tempfile.TemporaryDirectory() as tmp:
        report = Pipeline(steps, keep_rejects=True).run(ds, tmp)
        out = [
            row for p in sorted(Path(tmp).glob("*/shard-*.parquet")) for row in pq.read_table(p).to_pylist()
        ]
    report.pop("output", None)
    return sorted(out, key=lambda r: r["doc"]), report


def rendered(text: str) -> str:
    """Markdown safe to render: placeholders such as ``<EMAIL_ADDRESS>`` must not be read as HTML tags."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def decision(row: dict[str, Any]) -> str:
    reasons = [row[k] for k in sorted(row) if k.endswith("_reason") and row[k]]
    return "kept" if not reasons else "removed: " + ", ".join(reasons)


def redactions(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """One line per redacted span: document, kind (secret / PII), type, position."""
    out = []
    for row in rows:
        for column, kind in (("secrets_found", "secret"), ("pii_spans", "PII")):
            for f in row.get(column) or []:
                out.append(
                    [row["doc"], kind, f.get("type") or f.get("entity_type"), f.get("start"), f.get("end")]
                )
    return out


def report_table(report: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            s["name"],
            s.get("kind", ""),
            s.get("seen"),
            s.get("kept"),
            s.get("removed"),
            ", ".join(f"{k} ({v})" for k, v in (s.get("reasons") or {}).items()),
        ]
        for s in report.get("steps", [])
    ]


def build_demo(model: Any = None, tokenizer: Any = None) -> gr.Blocks:
    """The Space; the model arguments are accepted for the combined app and not needed here."""
    del model, tokenizer

    @user_errors
    def run(html, upload, pii_mode="placeholder", progress=gr.Progress()):
        progress(0.1, desc="reading input")
        rows = read_rows(html, upload)
        progress(0.3, desc=f"cleaning {len(rows)} document(s)")
        out, report = clean(rows, pii_mode=pii_mode)
        choices = [
            (f"{r['doc']}: {r.get('title') or r.get('url') or 'document'} ({decision(r)})", r["doc"])
            for r in out
        ]
        first = out[0]
        summary = (
            f"**{report['output_rows']} of {report['input_rows']} document(s) kept**; "
            f"{len(redactions(out))} span(s) redacted."
        )
        return (
            out,
            gr.update(choices=choices, value=first["doc"]),
            *show(out, first["doc"]),
            redactions(out),
            report_table(report),
            report,
            summary,
        )

    def show(rows, doc):
        if not rows or doc is None:
            return "", "", ""
        row = next(r for r in rows if r["doc"] == int(doc))
        return rendered(row.get("text") or ""), row.get("text") or "", decision(row)

    with gr.Blocks(title="Data cleaning") as demo:
        gr.Markdown(
            "## Pre-training data cleaning\n"
            "HTML → Markdown (main content only), Gopher and FineWeb quality rules, secret and personal-data "
            "redaction (presidio + checksummed patterns), "
            f"as in `hf_addons.data`. Up to {MAX_DOCS} documents per upload."
        )
        state = gr.State([])
        with gr.Row():
            html = gr.Code(
                value=EXAMPLE_HTML, language="html", label="paste a page's HTML", elem_id="dc-html"
            )
            upload = gr.File(
                label="or upload .warc / .jsonl / .html, each may be .gz (used instead)",
                file_types=[".warc", ".gz", ".jsonl", ".html", ".htm"],
                elem_id="dc-upload",
            )
        pii_mode = gr.Radio(
            ["placeholder", "pseudonym", "hash", "flag"],
            value="placeholder",
            label="personal data: replace with",
            elem_id="dc-pii-mode",
        )
        run_btn = gr.Button("Clean", variant="primary", elem_id="dc-run")
        summary = gr.Markdown(elem_id="dc-summary")
        doc = gr.Dropdown(label="document", choices=[], elem_id="dc-doc")
        status = gr.Textbox(label="decision", elem_id="dc-status")
        with gr.Row():
            markdown = gr.Markdown(label="Markdown", elem_id="dc-markdown", container=True)
            source = gr.Code(
                label="Markdown source", language="markdown", wrap_lines=True, elem_id="dc-source"
            )
        redacted = gr.Dataframe(
            headers=["doc", "kind", "type", "start", "end"], label="redactions", elem_id="dc-redactions"
        )
        steps = gr.Dataframe(
            headers=["step", "kind", "seen", "kept", "removed", "reasons"],
            label="step report",
            elem_id="dc-report",
        )
        report_json = gr.JSON(label="full report")
        run_btn.click(
            run,
            [html, upload, pii_mode],
            [state, doc, markdown, source, status, redacted, steps, report_json, summary],
            api_name="data_clean",
        )
        doc.change(show, [state, doc], [markdown, source, status], api_name=False)
    return demo


if __name__ == "__main__":
    build_demo().launch()
