"""``hf-addons data prepare``: WARC/JSONL/Parquet/Hub input -> extraction, rules, dedup -> sharded Parquet.

Only argparse here; the pipeline is imported when the command runs.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="Extract, filter and deduplicate web data into Parquet shards with a JSON report.",
        description=(
            "Run the data-prepare pipeline: HTML -> Markdown (for WARC/HTML input), language ID, Gopher and "
            "FineWeb rules, exact and MinHash dedup (or the steps of --config). Output: DIR/data/*.parquet, "
            "DIR/report.json; rerunning into the same DIR resumes."
        ),
    )
    p.add_argument(
        "--input", nargs="+", required=True, help="WARC/JSONL/Parquet files or dirs, or a Hub dataset"
    )
    p.add_argument("--output", required=True, help="output directory (resumes when it holds a run)")
    p.add_argument("--config", help="YAML: steps (names with options), num_proc, shard_rows, batch_size")
    p.add_argument("--num-proc", type=int, default=None, help="worker processes for the map steps")
    p.add_argument("--shard-rows", type=int, default=None, help="rows per output shard (default 50000)")
    p.add_argument("--streaming", action="store_true", help="stream the input instead of loading it")
    p.add_argument("--html-column", default="html", help="column holding HTML (default: html)")
    p.add_argument("--keep-rejects", action="store_true", help="also write rejected rows to DIR/rejects/")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hf_addons.data.executors.pipeline import Pipeline, default_steps, load_input

    config: dict = {}
    if args.config:
        import yaml

        path = Path(args.config)
        if not path.exists():
            raise FileNotFoundError(f"config file not found: {args.config}")
        config = yaml.safe_load(path.read_text()) or {}
        if not isinstance(config, dict):
            raise ValueError(f"{args.config}: the config must be a mapping")
    for key, value in (("num_proc", args.num_proc), ("shard_rows", args.shard_rows)):
        if value is not None:
            config[key] = value
    if args.keep_rejects:
        config["keep_rejects"] = True
    dataset = load_input(args.input, streaming=args.streaming)
    columns = getattr(dataset, "column_names", None) or list(getattr(dataset, "features", None) or [])
    if config.get("steps"):
        pipe = Pipeline.from_config(config)
    else:
        has_html = args.html_column in columns
        if not has_html and "text" not in columns:
            raise ValueError(f"input has neither a {args.html_column!r} nor a 'text' column: {columns}")
        steps = default_steps(html=has_html)
        if has_html and args.html_column != "html":
            steps[0].html_column = args.html_column
        opts = {k: config[k] for k in ("num_proc", "shard_rows", "batch_size", "keep_rejects") if k in config}
        pipe = Pipeline(steps, **opts)
    pipe.progress = not args.no_progress
    report = pipe.run(dataset, args.output)
    print(json.dumps(report, indent=2))
    return 0
