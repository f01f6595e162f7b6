"""Scoring: language-model perplexity and educational-quality scores (with their filters)."""
