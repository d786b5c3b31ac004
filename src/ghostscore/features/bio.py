"""Templated author bios, unfilled template slots and chatbot leftovers.

Why: content farms sign generated articles with invented authors whose bios come from one template
("As a dedicated content writer at, I immerse myself in the art of storytelling...") and publish model
output without reading it, so slots stay empty ("writer at ,", "[Author Name]", "%SITE_NAME%") and chat
replies leak through ("Certainly! Here's", "As an AI language model", "Meta description:"). One such
finding is close to proof and easy for a moderator to verify, so each one is evidence with a high
weight and a plain-language reason.

Patterns are kept tight to avoid hits on human text (dialogue that starts with "Sure", "[Name]" in a
quoted court filing): dialogue-prone patterns are skipped inside double quotes, and bare "[Name]" only
counts outside quotes. Leftover patterns are adapted from the PAN'24 Generative AI Authorship
Verification artefact list (pan-webis-de/pan24-generative-ai-authorship-verification,
typical-generation-artifacts.txt, Apache-2.0). Leftover features count findings anywhere in the text
and do not look at the first characters of a text (in the training corpus a text-initial preamble is
also a source/label shortcut).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ..document import Document, Span
from ..results import Evidence
from .base import Extractor, FeatureSet, register

_WRITER = (
    r"(?:writer|editor|author|journalist|contributor|reporter|blogger|columnist|correspondent|copywriter|"
    r"storyteller|wordsmith|strategist|specialist|analyst|team|founder|staff)"
)


@dataclass(frozen=True)
class Pattern:
    """A leftover/slot pattern: ``reason`` may use {m} (the matched text)."""

    name: str
    kind: str  # "unfilled_slot" or "chatbot_leftover"
    regex: re.Pattern[str]
    reason: str
    weight: float
    outside_quotes: bool = False  # skip matches inside a double-quoted stretch (dialogue, citations)


def _p(name: str, kind: str, rx: str, reason: str, weight: float, *, flags: int = re.I | re.M,
       outside_quotes: bool = False) -> Pattern:
    return Pattern(name, kind, re.compile(rx, flags), reason, weight, outside_quotes)


SLOT = "unfilled_slot"
LEFT = "chatbot_leftover"
_SENT_START = r"(?:^|(?<=[.!?:]\s)|(?<=[.!?:]\s\s))"

PATTERNS: tuple[Pattern, ...] = (
    # "[Your Name]" first: a chatbot-draft placeholder, reported as a leftover (overlaps are dropped)
    _p("your_placeholder", LEFT, r"\[your [^\]\n]{1,30}\]",
       "chatbot leftover: placeholder '{m}' from a chatbot draft was never replaced", 0.95),
    # ------------------------------------------------------------ unfilled template slots
    _p("writer_at_empty", SLOT,
       rf"\b{_WRITER}s?\s+(?:at|for|with|of|on)(?=\s*(?:[.;:!?)](?!\w)|,(?!\s*(?:among|including|like|say|"
       r"most|variously|respectively|at|in|for|and|then|now|later|before|since)\b)))\s*[,.;:!?)]",
       "unfilled template slot: '{m}' (the site or publication name is missing)", 0.95),
    _p("site_empty", SLOT,
       r"\b(?:here at|welcome to|the team at|us at|visit us at)(?=\s*[,.;:!?](?!\w))\s*[,.;:!?]",
       "unfilled template slot: '{m}' (the site name is missing)", 0.92),
    _p("byline_empty", SLOT, r"^[ \t]*(?:by|written by|posted by|author:)[ \t]*(?:[,|.]|(?=\n))",
       "unfilled template slot: byline '{m}' has no author name", 0.92),
    _p("name_empty", SLOT, r"\b(?:i'm|i am|my name is)\s+,",
       "unfilled template slot: '{m}' (the name is missing)", 0.92),
    _p("bracket_placeholder", SLOT,
       r"\[insert\b[^\]\n]{0,120}?\b(?:bio|name|date|company|website|site|link|url|number|quote|location|"
       r"city|title|details|information|email|phone|address|author|brand|product)\b[^\]\n]{0,120}\]"
       r"|\[(?:author|writer|site|website|blog|company|business|brand|product|publication|organi[sz]ation|"
       r"email|phone|link|url|contact|keyword|reporter|journalist|editor|expert)(?:'s)?(?: [\w'-]+){0,2}\]"
       r"|\[(?:first|last|full) name\]|\[name of [^\]\n]{1,30}\]"
       r"|\[[A-Z][a-z]+(?: [A-Z][a-z]+)? (?:Name|Title|Address|Number|URL|Link|Here)\]",
       "unfilled template slot: placeholder '{m}' was never replaced", 0.95),
    _p("bare_name_placeholder", SLOT, r"\[(?:name|date|location|city)\]",
       "unfilled template slot: placeholder '{m}' was never replaced", 0.9, outside_quotes=True),
    _p("brace_placeholder", SLOT,
       r"\{\{\s*[a-z_][\w.]*\s*\}\}"
       r"|(?<![\\_^\w])\{\s*(?:[a-z]{2,}[_.][a-z_.]{2,}|name|author|site|title|company|city|date|keyword|"
       r"brand|product|url|"
       r"link|location)\s*\}\}?|\$\{[A-Za-z_]+\}",
       "unfilled template slot: template variable '{m}' was never filled", 0.95),
    _p("percent_placeholder", SLOT, r"%[A-Z][A-Z0-9_]{2,30}%",
       "unfilled template slot: template variable '{m}' was never filled", 0.95, flags=0),
    _p("angle_placeholder", SLOT,
       r"<(?:name|author(?:[ _]name)?|site(?:[ _]name)?|company(?:[ _]name)?|insert[^<>\n]{1,30}|"
       r"your[ _][a-z ]{2,20})>",
       "unfilled template slot: placeholder '{m}' was never replaced", 0.95),
    _p("undefined_value", SLOT,
       r"\b(?:by|at|from|author:|written by)\s+(?:undefined|null)\b|\ba undefined\b"
       r"|\bin undefined\b(?! (?:behaviou?r|values?|territory|state|areas?|terms?|form|cases?|ways?)\b)",
       "unfilled template slot: '{m}' (a missing value printed as 'undefined')", 0.93),
    _p("lorem_ipsum", SLOT, r"\blorem ipsum\b", "filler text '{m}' left in the page", 0.9),
    _p("xx_years", SLOT, r"\bX{2,}\+?\s+(?:years?|yrs|months|articles|clients)\b",
       "unfilled template slot: '{m}' (the number was never filled in)", 0.93, flags=0),
    # ------------------------------------------------------------ chatbot leftovers
    _p("ai_disclaimer", LEFT,
       r"\bas an ai(?: language model| model| assistant| chatbot)\b|\bi(?:'m| am) (?:just |only )?an ai"
       r"(?: language model| assistant| model| chatbot)?\b(?! (?:researcher|engineer|expert|scientist|"
       r"ethicist|company|startup|reporter|writer))|\bi(?:'m| am) a (?:large )?language model\b",
       "chatbot leftover: '{m}' (a chatbot talking about itself)", 0.97),
    _p("sure_here", LEFT,
       _SENT_START + r"(?:sure|certainly|absolutely|of course|okay|great)\s*[!,.]?\s+(?:here(?:'s| is| are)"
       r"|below is|i(?:'d| would) be (?:happy|glad) to|i can help)",
       "chatbot leftover: '{m}' (the chatbot's reply to the prompt was published)", 0.93,
       outside_quotes=True),
    _p("here_is_text", LEFT,
       r"\bhere(?:'s| is| are) (?:a |an |the |your |my )?(?:(?:possible|revised|rewritten|paraphrased|"
       r"modified|polished|sample|draft|potential|fictional|hypothetical|\d+[- ](?:sentence|word|paragraph))"
       r"[ -])?(?:news article|article|essay|blog post|rewrite|paraphrase|rephrased version|version|"
       r"summary|abstract|press release)\b[^\n.!?\"]{0,120}?:",
       "chatbot leftover: '{m}' (the chatbot's preamble to its answer)", 0.9, outside_quotes=True),
    _p("hope_helps", LEFT,
       r"\bi hope (?:this|that|these) (?:helps|meets your|is helpful|was helpful|fits your|works for you)",
       "chatbot leftover: '{m}' (a chatbot sign-off)", 0.7, outside_quotes=True),
    _p("let_me_know", LEFT,
       r"\b(?:please )?let me know if you(?:'d| would)? (?:like|need|want|have) (?:any )?(?:changes|"
       r"modifications|revisions|adjustments|further (?:changes|assistance|revisions)|anything else|me to)",
       "chatbot leftover: '{m}' (a chatbot offering to revise)", 0.9, outside_quotes=True),
    _p("happy_to_help", LEFT,
       r"\bi(?:'d| would) be (?:happy|glad) to (?:help|assist)(?: you)?(?: with)? (?:that|this|your "
       r"(?:request|article|essay))",
       "chatbot leftover: '{m}' (a chatbot reply)", 0.85, outside_quotes=True),
    _p("knowledge_cutoff", LEFT,
       r"\bas of my (?:last |latest )?(?:knowledge|training)(?: update| cutoff| cut-off| data)?\b"
       r"|\bmy (?:knowledge|training data) (?:cutoff|cut-off|only goes)",
       "chatbot leftover: '{m}' (a chatbot's knowledge-cutoff disclaimer)", 0.97),
    _p("cannot_browse", LEFT,
       r"\bi (?:cannot|can't|am unable to|don't have the ability to|do not have the ability to) (?:browse|"
       r"access the internet|access real-time|provide real-time|access current)"
       r"|\bi (?:don't|do not) have (?:access to )?(?:real-time|current|up-to-date) "
       r"(?:information|data|news)",
       "chatbot leftover: '{m}' (a chatbot saying it cannot browse)", 0.97),
    _p("meta_label", LEFT,
       r"^[ \t]*(?:meta description|meta title|seo title|seo description|focus keyword|"
       r"total word count|word count)\s*:",
       "chatbot leftover: '{m}' (an SEO/prompt label left in the page)", 0.9),
    _p("word_count_note", LEFT, r"\((?:approx\.?|approximately|about|around)?\s*\d{2,4} words\)",
       "chatbot leftover: '{m}' (a word-count note from the prompt)", 0.85),
    _p("fiction_note", LEFT,
       r"\b(?:note|disclaimer)\s*:\s*(?:this|the above|the following)\s+(?:[\w-]+\s+){0,3}?(?:is|was)\s+"
       r"(?:a\s+|an\s+|purely\s+|entirely\s+)?(?:fictional|fictitious|hypothetical|generated|created|"
       r"work of fiction|not (?:a )?real|for illustrative)"
       r"|\bthis (?:news )?(?:article|story|piece|text|content) (?:is|was|has been) "
       r"(?:a |an |purely |entirely )?"
       r"(?:hypothetical|fictional|fictitious|(?:generated|created|written) (?:by|with|using) (?:an? )?"
       r"(?:ai|openai|gpt|chatgpt|language model))",
       "chatbot leftover: '{m}' (a model's note that the text is generated or invented)", 0.93),
    _p("end_of_output", LEFT,
       r"//\s*(?:start|begin(?:ning)?|end) of (?:the )?output\s*//|\[\s*end of (?:article|text|story)\s*\]"
       r"|\(end of (?:article|text)\)",
       "chatbot leftover: '{m}' (an output marker)", 0.9),
    _p("paragraph_label", LEFT, r"\[paragraph \d+\]|^[ \t]*paragraph \d+\s*:",
       "chatbot leftover: '{m}' (a paragraph label from the prompt)", 0.85),
    _p("rewrite_label", LEFT,
       r"^[ \t]*(?:rewritten|paraphrased|revised|polished|humanized) (?:version|text|article|passage)"
       r"\s*:",
       "chatbot leftover: '{m}' (the chatbot's label for its rewrite)", 0.92),
    _p("title_label", LEFT,
       r"^[ \t]*(?:article |blog |seo |news )?(?:sub)?(?:title|headline)\s*:(?!=)(?=\s*\S)",
       "chatbot leftover: '{m}' label left above the text", 0.6),
)

# ---------------------------------------------------------------- templated bio cues
# Stock self-praise of generated author bios. Counted only inside the bio (body text may say "her
# passion for music" without being templated).
BIO_CUES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(rx, re.I))
    for label, rx in (
        ("first-person self-description as a writer",
         r"\b(?:as an?|i am an?|i'm an?|i have been an?)\s+(?:[\w-]+\s+){0,3}?(?:writer|journalist|author|"
         r"editor|blogger|storyteller|wordsmith|contributor|reporter|copywriter|content creator)\b"),
        ("'content writer'", r"\bcontent (?:writer|creator|strategist)\b"),
        ("'immerse myself'", r"\bimmers(?:e|es|ing) (?:myself|himself|herself|themselves)\b"),
        ("'passion for'", r"\b(?:a |my |his |her |their )?(?:deep |lifelong |genuine )?passion for\b"
                          r"|\bpassionate about\b"),
        ("'keen eye for detail'", r"\bkeen eye(?: for(?: detail)?)?\b|\beye for detail\b"),
        ("'strive to captivate'", r"\bstriv(?:e|es|ing) to\b|\bcaptivat(?:e|es|ing) (?:our|my|the|his|her)?"
                                  r"\s*(?:audience|readers?)\b"),
        ("'join me on this journey'", r"\bjoin (?:me|us|him|her) (?:on|in) (?:this|my|our|his|her)\b"
                                      r"[\w\s-]{0,25}\bjourney\b"),
        ("'the art of storytelling'",
         r"\bthe (?:art|power) of (?:storytelling|writing|words|the written word)\b"),
        ("'crafting engaging narratives'", r"\bcraft(?:ing|s)? (?:engaging|compelling|captivating) "
                                           r"(?:narratives|stories|content|articles)\b"),
        ("'inform, entertain, and inspire'", r"\binform(?:,| and)\s+(?:entertain|inspire|educate|engage)"
                                             r"(?:,? and (?:inspire|entertain|educate|engage))?\b"),
        ("'my goal remains'", r"\bmy (?:goal|mission|aim) (?:is|remains)\b"),
        ("'thought-provoking'", r"\bthought-provoking\b"),
        ("'when not writing'", r"\bwhen (?:[a-z']+ ){0,2}?(?:not|isn't|aren't|is not) (?:writing|working|"
                               r"reporting|chasing|on deadline)\b"),
        ("'dedicated to delivering'", r"\b(?:dedicated|committed) to (?:delivering|providing|bringing|"
                                      r"crafting|creating|making|helping)\b"),
        ("'a knack for'", r"\ba knack for\b"),
        ("'brings stories to life'", r"\bbring(?:s|ing)? (?:stories|ideas|words|narratives) to life\b"),
        ("stock writer epithet ('seasoned writer')",
         r"\b(?:seasoned|dedicated|passionate|avid|versatile|talented) (?:[\w-]+ )?"
         r"(?:writer|journalist|storyteller|wordsmith|blogger|content creator)\b"),
        ("'years of experience'", r"\byears of experience (?:in|as|covering|writing|helping)\b"),
        ("'writer who loves'",
         r"\b(?:writer|journalist|blogger|contributor|reporter|storyteller|enthusiast)"
         r"(?: and [\w -]{3,30}?)? who (?:loves|believes|enjoys|cares|is passionate|has a passion|"
         r"has always)\b"),
        ("'loves helping readers'",
         r"\b(?:loves?|enjoys?) (?:helping|sharing|inspiring|connecting|bringing|making|explaining|telling|"
         r"celebrating|digging|exploring|breaking down)\b"),
        ("'helping readers make smarter decisions'",
         r"\bhelp(?:ing|s)? (?:(?:everyday|fellow|busy|curious) )?(?:readers|travell?ers|families|people|"
         r"renters|buyers|consumers) (?:make|get|plan|understand|navigate|take|feel|live|find|stay|save|"
         r"discover)\b"),
        ("'cares deeply about'", r"\bcares? deeply about\b"),
        ("'in her free time'", r"\b(?:in|spends) (?:her|his|my|their) (?:free|spare) time\b"),
        ("'she believes'", r"\b(?:she|he|i) believes?\b"),
    )
)
_SELF_DESCRIPTION = re.compile(
    r"(?i:\b(?:as an?|i am an?|i'm an?)\s+(?:[\w-]+\s+){0,3}?(?:writer|journalist|author|editor|blogger|"
    r"storyteller|wordsmith|contributor|reporter|copywriter)\b)"
    r"|^[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?: [A-Z][a-z.'-]+){0,2} is an? (?:[\w&-]+ ){0,5}?(?:writer|journalist|"
    r"author|editor|blogger|contributor|reporter|storyteller|columnist|enthusiast)\b",
)
_ABOUT = re.compile(r"^(?:about the author|about me|author bio|about the writer|meet the author)\b", re.I)


def _inside_quotes(text: str, pos: int) -> bool:
    """True when ``pos`` lies inside a double-quoted stretch of its paragraph (odd number of quotes)."""
    para_start = text.rfind("\n", 0, pos) + 1
    return text.count('"', para_start, pos) % 2 == 1


def find_leftovers(text: str) -> list[tuple[Pattern, int, int]]:
    """Unfilled slots and chatbot leftovers in ``text``: [(pattern, start, end)], no overlaps."""
    found: list[tuple[Pattern, int, int]] = []
    taken: list[tuple[int, int]] = []
    for pat in PATTERNS:
        for m in pat.regex.finditer(text):
            start, end = m.start(), m.end()
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end <= start:
                continue
            if pat.outside_quotes and _inside_quotes(text, start):
                continue
            if any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            found.append((pat, start, end))
    found.sort(key=lambda f: f[1])
    return found


def bio_spans(doc: Document) -> list[Span]:
    """Where the author bio is: Document's bio/byline regions, an "About the author" section, and a
    tail sentence that describes its author as a writer (covers texts whose paragraphs were lost)."""
    spans: list[Span] = [Span(p.start, p.end) for p in doc.region_paragraphs("bio", "byline")]
    paras = doc.paragraphs
    for k, p in enumerate(paras):
        if _ABOUT.match(doc.text[p.start : p.end]):
            spans.append(Span(p.start, p.end))
            for q in paras[k + 1 : k + 3]:
                if q.region != "boilerplate":
                    spans.append(Span(q.start, q.end))
    content = [s for s in doc.sentences if s.region != "boilerplate"]
    tail = content[-8:]
    for s in tail:
        if _SELF_DESCRIPTION.search(doc.text[s.start : s.end]):
            end = max(x.end for x in tail)
            spans.append(Span(s.start, end))
            break
    spans.sort(key=lambda s: s.start)
    merged: list[Span] = []
    for s in spans:
        if merged and s.start <= merged[-1].end:
            if s.end > merged[-1].end:
                merged[-1] = Span(merged[-1].start, s.end)
        else:
            merged.append(s)
    return merged


@register
class BioExtractor(Extractor):
    """Templated author bio, unfilled template slots and chatbot leftovers, each with strong evidence."""

    name: ClassVar[str] = "bio"
    family: ClassVar[str] = "bio"
    feature_names: ClassVar[tuple[str, ...]] = (
        "bio_present",
        "bio_template_cues",
        "bio_template_score",
        "bio_unfilled_slots",
        "leftover_count",
        "leftover_distinct",
        "leftover_max_weight",
    )
    requires: ClassVar[tuple[str, ...]] = ()

    def extract(self, doc: Document) -> FeatureSet:
        fs = FeatureSet()
        text = doc.text
        slots = leftovers = 0
        kinds: set[str] = set()
        max_w = 0.0
        for pat, start, end in find_leftovers(text):
            reason = pat.reason.format(m=" ".join(text[start:end].split()))
            fs.evidence.append(self.evidence(doc, start, end, pat.kind, reason, weight=pat.weight))
            if pat.kind == SLOT:
                slots += 1
            else:
                leftovers += 1
                kinds.add(pat.name)
                max_w = max(max_w, pat.weight)
        spans = bio_spans(doc)
        cue_ev = self._template_cues(doc, spans)
        n_cues = len(cue_ev)
        fs.evidence.extend(cue_ev)
        v = fs.values
        v["bio_present"] = 1.0 if spans else 0.0
        v["bio_template_cues"] = float(n_cues)
        v["bio_template_score"] = min(1.0, n_cues / 4.0)
        v["bio_unfilled_slots"] = float(slots)
        v["leftover_count"] = float(leftovers)
        v["leftover_distinct"] = float(len(kinds))
        v["leftover_max_weight"] = max_w
        fs.extra["bio_spans"] = [(s.start, s.end) for s in spans]
        return fs

    def _template_cues(self, doc: Document, spans: list[Span]) -> list[Evidence]:
        """One evidence item per distinct stock self-praise cue found in the bio."""
        hits: list[tuple[str, int, int]] = []
        for label, rx in BIO_CUES:
            for span in spans:
                m = rx.search(doc.text, span.start, span.end)
                if m:
                    hits.append((label, m.start(), m.end()))
                    break
        n = len(hits)
        weight = min(0.85, 0.3 + 0.1 * n)
        return [
            self.evidence(
                doc, s, e, "template_bio",
                f"templated author bio: {label} ({n} stock self-praise phrase{'s' if n != 1 else ''} "
                "in the bio)",
                weight=weight,
            )
            for label, s, e in hits
        ]
