"""BioExtractor: templated bios, unfilled slots and chatbot leftovers; no findings on human text."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostscore.document import Document
from ghostscore.features import available
from ghostscore.features.bio import BioExtractor, find_leftovers

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_EXAMPLE = Path("/work/shared/examples/content_farm_article.txt")


def _extract(path: Path):
    doc = Document.from_path(path)
    return doc, BioExtractor().extract(doc)


def test_registered_with_prefixed_features() -> None:
    assert available()["bio"] is BioExtractor
    assert all(n.startswith(("bio_", "leftover_")) for n in BioExtractor.feature_names)


def test_templated_bio_with_unfilled_slot() -> None:
    doc, fs = _extract(FIXTURES / "bio_templated_unfilled.txt")
    slots = [e for e in fs.evidence if e.kind == "unfilled_slot"]
    assert len(slots) == 1
    slot = slots[0]
    assert slot.text == "writer at,"
    assert doc.text[slot.start : slot.end] == "writer at,"
    assert slot.weight >= 0.9
    assert "site" in slot.reason and "'writer at,'" in slot.reason
    # the slot is in the bio paragraph, after the byline
    bio = doc.region_paragraphs("bio")
    assert bio and bio[0].start <= slot.start < bio[0].end
    assert fs.values["bio_unfilled_slots"] == 1.0
    assert fs.values["bio_present"] == 1.0
    assert fs.values["bio_template_score"] >= 0.75
    cues = {e.text.lower() for e in fs.evidence if e.kind == "template_bio"}
    assert "immerse myself" in cues and "keen eye for detail" in cues
    assert fs.values["leftover_count"] == 0.0


@pytest.mark.skipif(not SHARED_EXAMPLE.exists(), reason="shared example not available")
def test_shared_content_farm_example() -> None:
    doc, fs = _extract(SHARED_EXAMPLE)
    slots = [e for e in fs.evidence if e.kind == "unfilled_slot"]
    assert [e.text for e in slots] == ["writer at,"]
    assert fs.values["bio_template_score"] == 1.0


def test_chatbot_leftovers_found() -> None:
    doc, fs = _extract(FIXTURES / "bio_chatbot_leftovers.txt")
    found = {e.text: e for e in fs.evidence if e.kind == "chatbot_leftover"}
    for text in (
        "Certainly! Here's",
        "Meta description:",
        "As of my last knowledge update",
        "[Your Name]",
        "I hope this helps",
        "Let me know if you'd like any changes",
    ):
        assert text in found, (text, sorted(found))
        assert doc.text[found[text].start : found[text].end] == text
    assert found["[Your Name]"].weight >= 0.9
    assert found["As of my last knowledge update"].weight >= 0.9
    assert fs.values["leftover_count"] == 6.0
    assert fs.values["leftover_distinct"] == 6.0
    assert fs.values["leftover_max_weight"] >= 0.95


def test_human_report_has_no_findings() -> None:
    _, fs = _extract(FIXTURES / "phr_human_report.txt")
    assert fs.evidence == []
    assert all(v == 0.0 for v in fs.values.values()), fs.values


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("Kendra Ashby is an entertainment writer at , where she covers film.", "writer at ,"),
        ("{author_name} is a certified wellness enthusiast.", "{author_name}"),
        ("Follow %SITE_NAME% on social media.", "%SITE_NAME%"),
        ("Read more stories on [Site Name] every week.", "[Site Name]"),
        ("This story was written by [Author Name] for our readers.", "[Author Name]"),
        ("By undefined\n\nThe city council met on Monday.", "By undefined"),
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "Lorem ipsum"),
        ("She has written about money for XX years.", "XX years"),
        ("Contact <name> for details about the event.", "<name>"),
        ("As an AI language model, I cannot predict the outcome.", "As an AI language model"),
        ("The market grew fast. Sure, here is a revised article: Prices rose.", "Sure, here is"),
        ("Here is a 6-sentence abstract for the given title: We study graphs.", None),
        ("Note: This article is a work of fiction and not a real report.", None),
        ("I cannot browse the internet, but the trend is clear.", "I cannot browse"),
        ("About {{ author.display_name }}", "{{ author.display_name }}"),
        ("By Ana Ruiz [Insert 2-3 sentence author bio here.]", "[Insert 2-3 sentence author bio here.]"),
        ("Jordan is a undefined writer based in Ohio.", "a undefined"),
    ],
)
def test_slot_and_leftover_patterns(snippet: str, expected: str | None) -> None:
    hits = find_leftovers(snippet)
    assert hits, snippet
    if expected is not None:
        assert snippet[hits[0][1] : hits[0][2]] == expected


@pytest.mark.parametrize(
    "snippet",
    [
        '"Sure, here\'s the deal," he said, leaning on the counter.',
        'The filing reads: "[Name] shall pay the sum within 30 days."',
        "He was a reporter for, among others, the Times and the Globe.",
        "The prize was presented by none other than the mayor.",
        "I am an AI researcher at the university, she explained.",
        'Set box = InputBox(Title:="Search", Default:="")',
        "The value is undefined for negative inputs.",
        "Here is the full statement the senator released:",
        "His passion for jazz began when he was seven.",
        r"the overlap $\delta = \braket{K_L}{K_S}$ is small",
        "Bring [first visit: 3 stars] and [insert gagging sounds here] to the party.",
        "We reject the null hypothesis at the 5% level.",
        "Reading past the end of the array results in undefined behavior.",
        "The council set aside an undefined amount for repairs.",
    ],
)
def test_human_lookalikes_are_not_flagged(snippet: str) -> None:
    assert find_leftovers(snippet) == []


def test_leftover_counted_anywhere_not_only_at_start() -> None:
    body = "The bridge reopened on Friday after six weeks of repairs, officials said. " * 5
    text = body + "\n\nI hope this helps! Let me know if you need any changes.\n\n" + body
    fs = BioExtractor().extract(Document.from_text(text))
    assert fs.values["leftover_count"] == 2.0


def test_bio_found_without_paragraph_breaks() -> None:
    # Flattened text (no layout): the tail self-description is still found as a bio.
    text = (
        "The museum opened a new wing on Saturday with paintings from local artists and a cafe. " * 4
        + "As a dedicated content writer, I immerse myself in culture and strive to captivate readers "
        "with a keen eye for detail."
    )
    fs = BioExtractor().extract(Document.from_text(text))
    assert fs.values["bio_present"] == 1.0
    assert fs.values["bio_template_cues"] >= 3


def test_features_do_not_depend_on_layout() -> None:
    # Several training corpora flattened human texts only: the bio features must not need paragraph breaks.
    raw = (FIXTURES / "bio_templated_unfilled.txt").read_text(encoding="utf-8")
    with_layout = BioExtractor().extract(Document.from_text(raw)).values
    flat = BioExtractor().extract(Document.from_text(" ".join(raw.split()))).values
    for name in ("bio_present", "bio_unfilled_slots", "leftover_count"):
        assert flat[name] == with_layout[name], name
    assert flat["bio_template_score"] >= 0.75
