"""A paper's text as structure: headings from the outline or the type, blocks, boilerplate left out."""

import json
import textwrap

import pytest

from annapurna_assets.papers.structure import PaperText, read_structure
from tests.conftest import SHARED_PDFS, requires_shared_data

PARAGRAPH = (
    "We train the encoder with Adam at a learning rate of 0.001 and a batch size of 64 for ten epochs, "
    "and the decoder shares its embedding with the softmax layer of the model."
)


def make_pdf(with_outline: bool) -> bytes:
    """Three pages of a small paper: running header and page numbers on each, bold numbered headings, an equation
    with a subscript set beside it, references, then an appendix."""
    import pymupdf

    doc = pymupdf.open()
    headings = []
    for number in range(1, 4):
        page = doc.new_page(width=612, height=792)
        page.insert_text((72, 40), "A Small Paper About Encoders", fontsize=8)
        page.insert_text((300, 760), str(number), fontsize=9)
        y = 80
        if number == 1:
            page.insert_text((72, y), "A Small Paper About Encoders", fontsize=16, fontname="hebo")
            y += 30
            page.insert_text((72, y), "Abstract", fontsize=10, fontname="hebo")
            y += 16
            page.insert_text((72, y), "We study encoders and what they learn.", fontsize=10)
            y += 30
        sections = {1: ["1 Introduction", "2 Method"], 2: ["2.1 Training"], 3: ["References", "A Hyperparameters"]}
        for heading in sections[number]:
            page.insert_text((72, y), heading, fontsize=10, fontname="hebo")
            headings.append((heading.count(".") + 1 if heading[0].isdigit() else 1, heading, number))
            y += 16
            body = "Smith et al. 2019. In Proceedings of NeurIPS." if heading == "References" else PARAGRAPH
            body += f" ({heading})"  # no two pages end alike (a line closing three pages is a running footer)
            for line in textwrap.wrap(body, 80):
                page.insert_text((72, y), line, fontsize=10)
                y += 12
            if heading == "2 Method":
                page.insert_text((72, y + 14), "h = W", fontsize=10)
                page.insert_text((99, y + 17), "i", fontsize=7)
                page.insert_text((104, y + 14), "x + b", fontsize=10)
                y += 30
            y += 20
    if with_outline:
        doc.set_toc([[level, title, page] for level, title, page in headings])
    return doc.tobytes()


@pytest.mark.parametrize("with_outline", [True, False])
def test_sections_come_from_the_outline_or_the_type(with_outline):
    paper = read_structure(make_pdf(with_outline))
    assert paper.outline == ("pdf outline" if with_outline else "type")
    headings = [s.heading for s in paper.sections]
    assert headings == (
        ["Front matter", *([] if with_outline else ["Abstract"])]
        + ["1 Introduction", "2 Method", "2.1 Training", "References", "A Hyperparameters"]
    )
    by_heading = {s.heading: s for s in paper.sections}
    assert by_heading["2.1 Training"].level == 2 and by_heading["2.1 Training"].parent == "Method"
    assert by_heading["References"].kind == "references" and by_heading["References"].blocks[0].kind == "reference"
    assert by_heading["A Hyperparameters"].in_appendix and not by_heading["2 Method"].in_appendix
    assert by_heading["2 Method"].pages == [1] and by_heading["2.1 Training"].pages == [2]
    method = by_heading["2 Method"].text
    assert "h = Wi x + b" in method  # the subscript stays on its line
    assert f"{PARAGRAPH} (2 Method)" in method  # prose lines joined into one paragraph
    every_text = "\n".join(s.text for s in paper.sections)
    assert every_text.count("A Small Paper About Encoders") == 1  # the title, not the running header
    assert "\n2\n" not in every_text and not every_text.rstrip().endswith("3")  # no page numbers


def test_roman_sections_with_lettered_subsections_are_read_from_the_type():
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    y = 80
    for heading in ("I. INTRODUCTION", "II. METHOD", "A. Encoder", "B. Training", "REFERENCES"):
        page.insert_text((72, y), heading, fontsize=10, fontname="hebo")
        y += 14
        for line in textwrap.wrap(f"{PARAGRAPH} ({heading})", 80):
            page.insert_text((72, y), line, fontsize=10)
            y += 12
        y += 14
    paper = read_structure(doc.tobytes())
    shown = [(s.heading, s.level, s.parent, s.in_appendix) for s in paper.sections]
    assert shown == [
        ("I INTRODUCTION", 1, "", False),
        ("II METHOD", 1, "", False),
        ("A Encoder", 2, "METHOD", False),
        ("B Training", 2, "METHOD", False),
        ("REFERENCES", 1, "", True),
    ]


def test_structure_survives_its_json():
    paper = read_structure(make_pdf(True))
    again = PaperText.from_json(json.loads(json.dumps(paper.to_json())))
    assert again == paper and again.page_chars() == paper.page_chars()


def test_a_pdf_without_text_has_no_sections():
    import pymupdf

    doc = pymupdf.open()
    doc.new_page()
    paper = read_structure(doc.tobytes())
    assert paper.sections == [] and paper.outline == "none" and paper.page_chars() == [0]


@requires_shared_data
def test_real_papers_with_and_without_an_outline():
    transformer = read_structure((SHARED_PDFS / "transformer__1706.03762__attention_is_all_you_need.pdf").read_bytes())
    assert transformer.outline == "pdf outline"
    headings = [s.heading for s in transformer.sections]
    assert {"3.1 Encoder and Decoder Stacks", "5.3 Optimizer", "References"} <= set(headings)
    multi_head = next(s for s in transformer.sections if s.title == "Multi-Head Attention")
    assert "MultiHead(Q, K, V ) = Concat(head1, ..., headh)W O" in multi_head.text
    assert any(b.kind == "caption" and b.text.startswith("Table 1") for s in transformer.sections for b in s.blocks)

    resnet = read_structure((SHARED_PDFS / "cnn__1512.03385__resnet.pdf").read_bytes())  # no outline
    assert resnet.outline == "type"
    headings = [s.heading for s in resnet.sections]
    assert (
        headings.index("3.4 Implementation")
        < headings.index("References")
        < headings.index("A Object Detection Baselines")
    )
    assert sum(resnet.page_chars()) > 50_000
