"""Placeholder: the lm extractor is being written."""
