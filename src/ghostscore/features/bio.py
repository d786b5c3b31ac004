"""Placeholder: the bio extractor is being written."""
