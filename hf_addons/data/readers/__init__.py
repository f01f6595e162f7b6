"""Readers: documents into a ``datasets.Dataset`` (WARC archives, JSONL/Parquet files, Hub datasets)."""
