"""A paper's text as structure: sections under their headings, each a list of blocks (paragraphs, captions,
algorithm boxes, equations, references), in reading order, with the page each block is on.

Headings come from the PDF's outline (the bookmarks LaTeX's hyperref writes) when it has one, located on their
pages; otherwise from the type: a short line set in bold or larger than the body that is numbered ("3.1 Training",
"A Proofs", "IV. METHOD") or is a standard heading ("References", "Acknowledgements"). End matter that outlines
often leave out (references, acknowledgements, checklists) is found by the type either way.
Text set on one baseline stays one line (an equation's sub- and superscripts, a heading's number beside its title),
running headers, footers and page numbers are left out, and prose lines are joined into paragraphs.
"""

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from annapurna_assets.papers.pdf_text import open_pdf

SECTION_KINDS = {  # the kind of a section, from its title; the first pattern that matches wins
    "references": r"^(?:references?|bibliography|literature cited|works cited)$",
    "acknowledgements": r"acknowledge?ments?|^funding|author contributions|^contributions$",
    "checklist": r"checklist",
    "impact": r"broader impacts?|societal impacts?|social impacts?|impact statement|ethic",
    "related_work": r"related work|prior work|previous work|literature review",
}
NOT_FOR_REPRODUCTION = ("references", "acknowledgements", "checklist", "impact", "related_work")
STANDARD_HEADING = re.compile(
    r"^(?:abstract|introduction|background|preliminaries|related work|methods?|methodology|experiments?|"
    r"experimental setup|results|discussion|conclusions?|references|bibliography|acknowledge?ments?|"
    r"appendix(?: [A-Z]\b.*)?|appendices|supplementary material.*|broader impacts?.*|limitations.*|"
    r"ethics statement|reproducibility statement|impact statement|.*checklist)$",
    re.IGNORECASE,
)
NUMBERED_HEADING = re.compile(
    r"^(?P<number>(?:\d{1,2}|[A-H]|[IVX]{1,4})(?:\.\d{1,2}){0,3})\.?\s+(?P<title>[A-Z(][^\n]{1,110})$"
)
APPENDIX_HEADING = re.compile(r"^appendix\s*(?P<letter>[A-Z])?\b\.?:?\s*(?P<title>.*)$", re.IGNORECASE)
CONTENTS_ENTRY = re.compile(r"[A-Za-z][\s.]+\d{1,3}$")  # a line of a printed table of contents
ROMAN = re.compile(r"^[IVX]+$")
CAPTION = re.compile(r"^(?:Figure|Fig\.|Table|Tab\.)\s*[A-Z]?\d")
ALGORITHM = re.compile(r"^Algorithm\s*\d")
MATH = re.compile(r"[=∑∏∫∂∇αβγδεθλμσφψω≤≥≈∈→×·^_{}]")
PAGE_NUMBER = re.compile(r"^\s*(?:\d{1,3}|[ivx]{1,5})\s*$")
STAMP = re.compile(r"^\s*(?:https?://\S+|arXiv:\d{4}\.\d{4,5}(?:v\d+)?\b.*)\s*$")
WORDS = re.compile(r"[^\W\d_]{3,}")
EDGE_LINES = 2  # running headers and footers sit in a page's first or last two lines
RUNNING_LINE_MIN_PAGES = 3
MAX_HEADING_CHARS = 120
FRAGMENT_GAP = 8.0  # points between a line and a fragment set beside it; column gaps are wider (14 pt and up)
PROSE_LINE_CHARS = 40  # a block whose lines average this many characters is prose, joined into one paragraph


@dataclass(frozen=True)
class Block:
    page: int  # 1-based
    kind: str  # paragraph, lines (tables, display maths, lists), caption, algorithm, equation, reference
    text: str


@dataclass
class Section:
    title: str  # "" for what precedes the first heading (title, authors, abstract)
    number: str = ""  # "3.1", "A", "" when unnumbered
    level: int = 1  # 0 for the front matter
    parent: str = ""  # the title of the enclosing top-level section, for subsections
    parent_number: str = ""
    in_appendix: bool = False
    blocks: list[Block] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return f"{self.number} {self.title}".strip() if self.level else "Front matter"

    @property
    def kind(self) -> str:
        if self.level == 0:
            return "front"
        lowered = self.title.lower().strip(" .:")
        for kind, pattern in SECTION_KINDS.items():
            if re.search(pattern, lowered):
                return kind
        return "body"

    @property
    def not_for_reproduction(self) -> str | None:
        """The kind of text no reproduction needs that this section is, itself or by its parent ("related_work"
        for "2.1 Graph models" under "2 Related Work": the parent only when the numbers agree, since a parent
        whose heading was not found is the section before), or None."""
        parent_counts = bool(self.parent) and self.number.split(".")[0] == self.parent_number != ""
        for kind in (self.kind, Section(self.parent).kind if parent_counts else ""):
            if kind in NOT_FOR_REPRODUCTION:
                return kind
        return None

    @property
    def text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)

    @property
    def chars(self) -> int:
        return sum(len(block.text) for block in self.blocks)

    @property
    def pages(self) -> list[int]:
        return sorted({block.page for block in self.blocks})

    def chars_by_page(self) -> Counter:
        counts: Counter = Counter()
        for block in self.blocks:
            counts[block.page] += len(block.text)
        return counts

    def to_json(self) -> dict:
        return {
            "title": self.title,
            "number": self.number,
            "level": self.level,
            "parent": self.parent,
            "parent_number": self.parent_number,
            "in_appendix": self.in_appendix,
            "blocks": [[block.page, block.kind, block.text] for block in self.blocks],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Section":
        blocks = [Block(page, kind, text) for page, kind, text in data["blocks"]]
        return cls(
            data["title"],
            data["number"],
            data["level"],
            data["parent"],
            data.get("parent_number", ""),
            data["in_appendix"],
            blocks,
        )


@dataclass
class PaperText:
    """The paper's sections in reading order; every character of body text is in exactly one block."""

    sections: list[Section]
    page_count: int
    outline: str  # where the headings came from: "pdf outline", "type", or "none"

    def page_chars(self) -> list[int]:
        """Characters of text on each page (index 0 is page 1)."""
        counts = [0] * self.page_count
        for section in self.sections:
            for page, chars in section.chars_by_page().items():
                counts[page - 1] += chars
        return counts

    def to_json(self) -> dict:
        return {
            "page_count": self.page_count,
            "outline": self.outline,
            "sections": [section.to_json() for section in self.sections],
        }

    @classmethod
    def from_json(cls, data: dict) -> "PaperText":
        return cls([Section.from_json(s) for s in data["sections"]], data["page_count"], data["outline"])


@dataclass
class _Line:
    page: int
    block: int
    text: str
    size: float
    bold: bool
    y: float


def read_structure(data: bytes) -> PaperText:
    """The sections of the PDF in `data` (assumed readable: see `inspect_pdf`)."""
    with open_pdf(data) as doc:
        lines = _without_boilerplate([_page_lines(page, number) for number, page in enumerate(doc, start=1)])
        toc = doc.get_toc(simple=True)
        page_count = doc.page_count
    body_size = _body_size(lines)
    typed = _typed_headings(lines, body_size)
    located = _outline_headings(toc, lines) if len(toc) >= 3 else {}
    if len(located) >= len(toc) / 2 and located:
        headings = located
        end_matter = {i: _typed_heading(lines[i].text) for i in typed if i not in headings}
        headings.update({i: h for i, h in end_matter.items() if Section(h.title).kind in NOT_FOR_REPRODUCTION})
        outline = "pdf outline"
    else:
        headings = {i: _typed_heading(lines[i].text) for i in typed}
        outline = "type" if headings else "none"
    return PaperText(_sections(lines, headings), page_count, outline)


def _page_lines(page, number: int) -> list[_Line]:
    """The page's horizontal lines in stream order. Text on one baseline becomes one line, left to right: within a
    block, and across blocks where a fragment sits right beside the line before it (PDFs often put an equation's
    subscripts and pieces in blocks of their own)."""
    rows: list[dict] = []
    for block in page.get_text("dict")["blocks"]:
        for line in block.get("lines", []):
            if line["dir"] != (1.0, 0.0) or not line["spans"]:  # the rotated arXiv stamp in the margin
                continue
            x0, y0, x1, y1 = line["bbox"]
            row = rows[-1] if rows else None
            if row and _same_baseline(row, y0, y1) and (row["block"] == block["number"] or _beside(row, x0, x1)):
                row.update(x0=min(row["x0"], x0), x1=max(row["x1"], x1), y0=min(row["y0"], y0), y1=max(row["y1"], y1))
                row["spans"].extend(line["spans"])
            else:
                rows.append(
                    {"block": block["number"], "x0": x0, "x1": x1, "y0": y0, "y1": y1, "spans": [*line["spans"]]}
                )
    lines = []
    for row in rows:
        spans = sorted(row["spans"], key=lambda s: s["bbox"][0])
        text = _join_spans(spans)
        if not text.strip():
            continue
        lettered = [s for s in spans if any(c.isalnum() for c in s["text"])] or spans
        bold = all(s["flags"] & 16 or "bold" in s["font"].lower() or "cmbx" in s["font"].lower() for s in lettered)
        size = max(s["size"] for s in lettered)
        lines.append(_Line(number, row["block"], text, round(size, 1), bold, row["y0"]))
    return lines


def _same_baseline(row: dict, y0: float, y1: float) -> bool:
    overlap = min(y1, row["y1"]) - max(y0, row["y0"])
    return overlap > 0.5 * min(y1 - y0, row["y1"] - row["y0"])


def _beside(row: dict, x0: float, x1: float) -> bool:
    """Right beside the row or inside its span (never across a column gap, which is wider)."""
    return x0 - row["x1"] <= FRAGMENT_GAP and x1 >= row["x0"] - FRAGMENT_GAP


def _join_spans(spans: list[dict]) -> str:
    """The spans' text left to right, a space where a gap between two spans stands for one."""
    text = ""
    previous_end = None
    for span in spans:
        piece = span["text"]
        gap = previous_end is not None and span["bbox"][0] - previous_end > 1.5
        if text and gap and not text.endswith(" ") and not piece.startswith(" "):
            text += " "
        text += piece
        previous_end = span["bbox"][2]
    return unicodedata.normalize("NFKC", text).strip()


def _without_boilerplate(pages: list[list[_Line]]) -> list[_Line]:
    """Every page's lines without running headers and footers (a line of 2+ words that opens or closes 3+ pages),
    page numbers at a page's edge, and lines that are only a URL or an arXiv stamp."""
    edge_counts: Counter = Counter()
    for lines in pages:
        edge_counts.update({line.text for line in lines[:EDGE_LINES] + lines[-EDGE_LINES:]})
    running = {text for text, n in edge_counts.items() if n >= RUNNING_LINE_MIN_PAGES and len(WORDS.findall(text)) >= 2}
    kept = []
    for lines in pages:
        for i, line in enumerate(lines):
            at_edge = i < EDGE_LINES or i >= len(lines) - EDGE_LINES
            if STAMP.match(line.text) or (at_edge and (line.text in running or PAGE_NUMBER.match(line.text))):
                continue
            kept.append(line)
    return kept


def _body_size(lines: list[_Line]) -> float:
    sizes: Counter = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _typed_headings(lines: list[_Line], body_size: float) -> list[int]:
    """The lines that look like headings. A lettered one ("A Proofs") counts only after a numbered one: before,
    it is a title that starts with the article ("A Simple Framework for ...")."""
    contents_pages = {
        page for page, n in Counter(line.page for line in lines if CONTENTS_ENTRY.search(line.text)).items() if n >= 5
    }
    found = []
    for i, line in enumerate(lines):
        if not _looks_like_heading(line, lines, i, body_size):
            continue
        if line.page in contents_pages and CONTENTS_ENTRY.search(line.text):  # "6 Related Work 24" in a contents page
            continue
        number = _split_number(line.text)[0]
        if _lettered(number) and not any(not _lettered(_split_number(lines[j].text)[0]) for j in found):
            continue
        found.append(i)
    return found


def _lettered(number: str) -> bool:
    """Numbered with a letter ("A", "B.2"), not a digit or a Roman numeral ("IV")."""
    return number[:1].isalpha() and not ROMAN.match(number.split(".")[0])


def _looks_like_heading(line: _Line, lines: list[_Line], i: int, body_size: float) -> bool:
    text = line.text
    if len(text) > MAX_HEADING_CHARS or not re.search(r"[A-Za-z]{2}", text) or CAPTION.match(text):
        return False
    if not (line.bold or line.size >= body_size + 0.8):
        return False
    starts_block = i == 0 or (lines[i - 1].page, lines[i - 1].block) != (line.page, line.block)
    if not starts_block and not STANDARD_HEADING.match(text):
        return False
    number_match = NUMBERED_HEADING.match(text)
    if number_match:
        return not text.rstrip().endswith((".", ",", ":")) or bool(re.match(r"^\d", text))
    return bool(STANDARD_HEADING.match(text.strip(" .:")))


@dataclass(frozen=True)
class _Heading:
    number: str
    title: str
    level: int


def _split_number(text: str) -> tuple[str, str]:
    """("3.1", "Training") from "3.1 Training"; ("A", "Proofs") from "Appendix A: Proofs"; ("", text) otherwise."""
    text = text.strip()
    appendix = APPENDIX_HEADING.match(text)
    if appendix and appendix.group("letter"):
        return appendix.group("letter"), appendix.group("title").strip() or "Appendix"
    numbered = NUMBERED_HEADING.match(text)
    if numbered:
        return numbered.group("number"), numbered.group("title").strip()
    return "", text


def _typed_heading(text: str) -> _Heading:
    number, title = _split_number(text)
    return _Heading(number, title, number.count(".") + 1 if number else 1)


def _normalized(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _outline_headings(toc: list, lines: list[_Line]) -> dict[int, _Heading]:
    """The outline's entries located on their pages, by the index of their line: a line that is the title exactly
    is taken before one that only starts like it (body text such as "Results in Table 2 show...")."""
    headings: dict[int, _Heading] = {}
    after = -1
    for level, entry, page in toc:
        number, title = _split_number(entry)
        full = _normalized(title)
        if not full:
            continue
        for candidate_page in (page, page + 1, page - 1):
            on_page = [i for i, line in enumerate(lines) if i > after and line.page == candidate_page]
            exact = (i for i in on_page if _normalized(_split_number(lines[i].text)[1]) == full)
            starting = (i for i in on_page if _heading_matches(lines[i].text, full[:24]))
            found = next(exact, None)
            found = next(starting, None) if found is None else found
            if found is not None:
                headings[found] = _Heading(number or _split_number(lines[found].text)[0], title, level)
                after = found
                break
    return headings


def _heading_matches(text: str, wanted: str) -> bool:
    if len(text) > MAX_HEADING_CHARS:
        return False
    line = _normalized(_split_number(text)[1])
    return line.startswith(wanted) or (len(line) >= 6 and wanted.startswith(line)) or _normalized(text) == wanted


def _sections(lines: list[_Line], headings: dict[int, _Heading]) -> list[Section]:
    sections = [Section("", level=0)]
    top, top_number = "", ""
    in_appendix = False
    start = 0
    for i in sorted(headings):
        _fill(sections[-1], lines[start:i])
        heading = headings[i]
        level = heading.level
        if level == 1 and _lettered(heading.number) and ROMAN.match(top_number) and not in_appendix:
            level = 2  # "A. Dataset" under "IV. EXPERIMENTS": IEEE letters its subsections
        section = Section(heading.title, heading.number, level)
        if level > 1:
            section.parent, section.parent_number = top, top_number
        lettered_top = level == 1 and _lettered(heading.number)
        in_appendix = in_appendix or section.kind == "references" or lettered_top
        section.in_appendix = in_appendix = in_appendix or heading.title.lower().startswith("appendi")
        if level == 1:
            top, top_number = heading.title, heading.number
        sections.append(section)
        start = i + 1
    _fill(sections[-1], lines[start:])
    return [s for s in sections if s.blocks or s.level]


def _fill(section: Section, lines: list[_Line]) -> None:
    """`lines` as the section's blocks (a PDF text block each, split where the page changes)."""
    groups: list[list[_Line]] = []
    for line in lines:
        if groups and (groups[-1][-1].page, groups[-1][-1].block) == (line.page, line.block):
            groups[-1].append(line)
        else:
            groups.append([line])
    for group in groups:
        texts = [line.text for line in group]
        section.blocks.append(Block(group[0].page, _block_kind(texts, section), _block_text(texts)))


def _block_kind(texts: list[str], section: Section) -> str:
    first = texts[0]
    if section.kind == "references":
        return "reference"
    if CAPTION.match(first):
        return "caption"
    if ALGORITHM.match(first):
        return "algorithm"
    joined = " ".join(texts)
    if len(MATH.findall(joined)) > 0.08 * max(1, len(joined.replace(" ", ""))):
        return "equation"
    return "paragraph" if _is_prose(texts) else "lines"


def _is_prose(texts: list[str]) -> bool:
    return len(texts) == 1 or sum(len(t) for t in texts) / len(texts) >= PROSE_LINE_CHARS


def _block_text(texts: list[str]) -> str:
    """Prose joined into one paragraph (words broken at a line end mended); other blocks keep their lines."""
    if not _is_prose(texts) or ALGORITHM.match(texts[0]):
        return "\n".join(texts)
    text = texts[0]
    for line in texts[1:]:
        if re.search(r"[a-z]-$", text) and line[:1].islower():
            text = text[:-1] + line
        else:
            text += " " + line
    return text
