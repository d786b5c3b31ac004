"""The service's API key check, shared by the JSON API middleware and the browser page's form post."""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def header_key(headers: Mapping[str, str]) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer ...`` (lower-case header names); None if absent."""
    given = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    return given


def key_matches(given: str | None, key: str) -> bool:
    """Constant-time comparison; a missing key never matches."""
    return given is not None and hmac.compare_digest(given.encode(), key.encode())
