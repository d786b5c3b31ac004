"""The one key for a text in every cache and table: SHA-1 of its UTF-8 bytes."""

from __future__ import annotations

import hashlib


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
