"""Errors raised on input that cannot be scored, each with a stable machine-readable code."""

from __future__ import annotations


class InputError(ValueError):
    """Input that cannot become a Document (empty, binary, undecodable, too long).

    ``code`` is stable and meant for pipelines (batch ``error`` field, HTTP 422 bodies, CLI exit paths).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ModelError(RuntimeError):
    """A model artifact is missing, corrupt, or does not match the extractors that feed it."""
