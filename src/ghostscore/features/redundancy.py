"""Placeholder: the redundancy extractor is being written."""
