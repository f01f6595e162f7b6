"""``hf-addons data prepare``: WARC/JSONL/Parquet/Hub input -> extraction, rules, dedup -> sharded Parquet;
``hf-addons data steps``: the registered steps a config may name.

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
    p.add_argument("--config", help="YAML: steps (names with options), num_proc, shard_rows, map_batch_size")
    p.add_argument("--num-proc", type=int, default=None, help="worker processes for the map steps")
    p.add_argument("--shard-rows", type=int, default=None, help="rows per output shard (default 50000)")
    p.add_argument("--streaming", action="store_true", help="stream the input instead of loading it")
    p.add_argument("--html-column", default="html", help="column holding HTML (default: html)")
    p.add_argument("--keep-rejects", action="store_true", help="also write rejected rows to DIR/rejects/")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--ray-address",
        help="run on this Ray cluster (e.g. ray://HEAD:10001, HEAD:6379, or 'local' for a local instance); "
        "DIR must be storage every node can write",
    )
    p.set_defaults(func=_prepare)
    register_steps(sub)


def _prepare(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hf_addons.data.executors.pipeline import Pipeline, default_step_names
    from hf_addons.data.readers.files import load_input

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
    dataset = None
    if args.ray_address:
        if args.streaming:
            raise ValueError("--streaming does not apply with --ray-address (the workers read the input)")
        import ray

        from hf_addons.data.executors.ray import read_files

        ray.init(address=args.ray_address, log_to_driver=False, ignore_reinit_error=True)
        dataset = read_files(args.input)
    if dataset is not None:
        columns = dataset.schema().names
    else:
        dataset = load_input(args.input, streaming=args.streaming)
        columns = getattr(dataset, "column_names", None) or list(getattr(dataset, "features", None) or [])
    if not config.get("steps"):
        has_html = args.html_column in columns
        if not has_html and "text" not in columns:
            raise ValueError(f"input has neither a {args.html_column!r} nor a 'text' column: {columns}")
        steps: list = default_step_names(html=has_html)
        if has_html and args.html_column != "html":
            steps = [{"extract": {"html_column": args.html_column}} if s == "extract" else s for s in steps]
        config["steps"] = steps
    pipe = Pipeline.from_config(config)
    pipe.progress = not args.no_progress
    if args.ray_address:
        from hf_addons.data.executors.ray import run_ray

        report = run_ray(pipe, dataset, args.output)
    else:
        report = pipe.run(dataset, args.output)
    print(json.dumps(report, indent=2))
    return 0


def register_steps(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "steps",
        help="List every registered data step with its one-line description, extra and options.",
        description="The step names a --config YAML may use (steps: [name, {name: {option: value}}]).",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_steps)


def _steps(args: argparse.Namespace) -> int:
    import inspect
    import json
    import textwrap

    from hf_addons.data.base import registered_steps

    rows = []
    for info in registered_steps().values():
        helps = info.option_help()
        options = {
            k: {
                "default": None if v is inspect.Parameter.empty else v,
                "required": v is inspect.Parameter.empty,
                "help": helps.get(k, ""),
            }
            for k, v in info.options().items()
        }
        rows.append(
            {
                "name": info.name,
                "class": f"{info.cls.__module__}.{info.cls.__qualname__}",
                "extra": info.extra,
                "default_position": info.default,
                "description": info.description,
                "options": options,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2, default=repr))
        return 0
    for row in rows:
        where = "" if row["default_position"] is None else f", default pipeline #{row['default_position']}"
        print(f"{row['name']}  ({row['class']}; extra: {row['extra']}{where})")
        print(textwrap.fill(row["description"], 110, initial_indent="    ", subsequent_indent="    "))
        for k, o in row["options"].items():
            value = "<required>" if o["required"] else repr(o["default"])
            value = value if len(value) <= 60 else value[:57] + "..."
            print(f"    {k}={value}" + (f"  -- {o['help']}" if o["help"] else ""))
    return 0
