"""Reading PDFs: validation with a clear reason, per-page text, and the title/abstract a paper states."""

import re
import unicodedata
from dataclasses import dataclass

MIN_TEXT_CHARS = 500


def open_pdf(data: bytes):
    """`data` as a PyMuPDF document. PyMuPDF is imported here, not with the module: loading it takes over a second,
    and most processes that load the definitions (status, sensors, judging runs) never open a PDF."""
    import pymupdf

    return pymupdf.open(stream=data, filetype="pdf")


@dataclass(frozen=True)
class PdfInspection:
    readable: bool
    problem: str
    page_count: int
    pdf_title: str


def inspect_pdf(data: bytes) -> PdfInspection:
    """Whether `data` is a PDF we can read, and if not, why in words a person understands."""
    if not data:
        return PdfInspection(False, "the file is empty (0 bytes)", 0, "")
    head = data[:1024].lstrip()
    if not head.startswith(b"%PDF"):
        lowered = head[:256].lower()
        if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
            return PdfInspection(False, "this is an HTML page saved as .pdf, not a PDF", 0, "")
        return PdfInspection(False, f"not a PDF: it starts with {data[:16]!r} instead of %PDF", 0, "")
    try:
        doc = open_pdf(data)
    except Exception as error:  # pymupdf raises several types for broken files
        return PdfInspection(False, f"corrupt PDF that cannot be opened: {error}", 0, "")
    with doc:
        if doc.needs_pass:
            return PdfInspection(False, "encrypted PDF: a password is required to read it", doc.page_count, "")
        if doc.page_count == 0:
            return PdfInspection(False, "the PDF has no pages", 0, "")
        try:
            doc.load_page(0).get_text()
        except Exception as error:
            return PdfInspection(False, f"corrupt PDF whose pages cannot be read: {error}", doc.page_count, "")
        return PdfInspection(True, "", doc.page_count, (doc.metadata or {}).get("title") or "")


def extract_pages(data: bytes) -> list[str]:
    """Plain text of each page, in reading order."""

    with open_pdf(data) as doc:
        return [page.get_text("text") for page in doc]


def text_problem(pages: list[str]) -> str:
    """Why the extracted text is unusable, or "" when it is fine."""
    chars = sum(len(p.strip()) for p in pages)
    if chars < MIN_TEXT_CHARS:
        return (
            f"only {chars} characters of text in {len(pages)} pages: an image-only or scanned PDF "
            "(no OCR is configured)"
        )
    return ""


def first_page_title(data: bytes) -> str:
    """The text set in the largest font on page 1: the title of nearly every paper."""

    with open_pdf(data) as doc:
        lines = [
            (
                max(span["size"] for span in line["spans"]),
                round(line["bbox"][1]),
                line["bbox"][0],
                "".join(span["text"] for span in line["spans"]).strip(),
            )
            for block in doc.load_page(0).get_text("dict")["blocks"]
            for line in block.get("lines", [])
            if line["dir"] == (1.0, 0.0) and line["spans"]  # skips the rotated arXiv stamp in the margin
        ]
    lines = [line for line in lines if len(line[3]) > 1]
    if not lines:
        return ""
    largest = max(size for size, *_ in lines)
    title_lines = sorted((y, x, text) for size, y, x, text in lines if size >= largest - 0.5)
    return _clean(" ".join(text for *_, text in title_lines))[:300]


def choose_title(pdf_title: str, page_title: str) -> str:
    bad = ("microsoft word", "untitled", ".dvi", ".tex", "arxiv")
    if len(pdf_title) > 12 and not any(b in pdf_title.lower() for b in bad):
        return _clean(pdf_title)
    return page_title


_ABSTRACT = re.compile(
    r"\babstract\b[\s.:—-]*(?P<body>.+?)(?=\n\s*(?:(?:1|I)\.?\s+)?introduction\b|\bkeywords\b|\bccs concepts\b|"
    r"\n\s*1\s+[A-Z])",
    re.IGNORECASE | re.DOTALL,
)


def find_abstract(pages: list[str]) -> str:
    head = "\n".join(pages[:2])
    match = _ABSTRACT.search(head)
    body = match.group("body") if match else pages[0] if pages else ""
    return _clean(body)[:2500]


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"(?<=[a-z])-(?:\n| )(?=[a-z])|(?<=[A-Z])- (?=[A-Z])", "", text)
    return re.sub(r"\s+", " ", text).strip().rstrip("∗*†").strip()


@dataclass(frozen=True)
class PdfHeading:
    title: str
    abstract: str
    problem: str


def read_heading(data: bytes) -> PdfHeading:
    """The title and abstract a PDF states on its first pages, or the reason it cannot be read."""
    inspection = inspect_pdf(data)
    if not inspection.readable:
        return PdfHeading("", "", inspection.problem)

    with open_pdf(data) as doc:
        pages = [doc.load_page(n).get_text("text") for n in range(min(3, doc.page_count))]
    problem = text_problem(pages)
    if problem:
        return PdfHeading(_clean(inspection.pdf_title), "", problem)
    return PdfHeading(choose_title(inspection.pdf_title, first_page_title(data)), find_abstract(pages), "")
