"""Shared text views for extractors: the layout-free sentence view of a Document's body and the word
pattern, kept here so extractors never import one another."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

import blingfire

from ..document import Document

WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*")
_NONSPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class FlatView:
    """Body text with whitespace folded (equal to ``Document.flat_text``) and its own sentence split.

    Sentences are segmented on the flat text, not per paragraph, so their count and lengths do not
    depend on where paragraph breaks were. ``doc_spans`` maps each sentence back to ``Document.text``
    (for evidence) and ``paragraphs`` gives the body paragraph (index into ``doc.paragraphs``) where
    each sentence starts: that one is layout and only for layout-dependent features.
    """

    text: str
    spans: list[tuple[int, int]]
    doc_spans: list[tuple[int, int]]
    paragraphs: list[int]

    @cached_property
    def sentences(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]


def flat_view(doc: Document) -> FlatView:
    """Build the layout-free sentence view of the body, keeping offsets into ``doc.text``."""
    pieces: list[str] = []
    tok_flat: list[int] = []
    tok_doc: list[int] = []
    tok_para: list[int] = []
    pos = 0
    for k, para in enumerate(doc.paragraphs):
        if para.region != "body":
            continue
        for m in _NONSPACE.finditer(doc.text, para.start, para.end):
            if pieces:
                pieces.append(" ")
                pos += 1
            tok_flat.append(pos)
            tok_doc.append(m.start())
            tok_para.append(k)
            pieces.append(m.group())
            pos += m.end() - m.start()
    text = "".join(pieces)
    if not text:
        return FlatView(text, [], [], [])
    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    spans: list[tuple[int, int]] = []
    doc_spans: list[tuple[int, int]] = []
    paras: list[int] = []
    for s, e in offsets:
        if e <= s or not text[s:e].strip():
            continue
        i = max(0, bisect_right(tok_flat, s) - 1)
        j = max(0, bisect_right(tok_flat, e - 1) - 1)
        spans.append((s, e))
        doc_spans.append((tok_doc[i] + (s - tok_flat[i]), tok_doc[j] + (e - tok_flat[j])))
        paras.append(tok_para[i])
    return FlatView(text, spans, doc_spans, paras)
