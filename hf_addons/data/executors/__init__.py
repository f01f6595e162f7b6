"""Executors: run the steps over a dataset (``datasets.map`` shards, or Ray Data)."""
