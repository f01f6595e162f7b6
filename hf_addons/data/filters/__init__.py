"""Filters: rule-based quality filters (Gopher, C4, FineWeb) and language identification."""
