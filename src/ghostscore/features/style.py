"""Placeholder: the style extractor is being written."""
