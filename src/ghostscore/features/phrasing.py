"""Placeholder: the phrasing extractor is being written."""
