"""From a registered paper to its metadata (judged next), then, for accepted papers, its PDF and text.

Papers are judged on title and abstract before anything is downloaded: a conference year has thousands of
papers and the team wants a few. The PDF is fetched at most once, by whichever stage needs it first
(`paper_metadata` when the listing has no abstract, otherwise `raw_pdf`), and kept by its sha256.
"""

import json
import re

import dagster as dg

from annapurna_assets.lifecycle.runs import LIFECYCLE_OP
from annapurna_assets.lifecycle.stage import Check, CheckOutcome, PaperStage, StageOutcome
from annapurna_assets.papers.pdf_text import extract_pages, inspect_pdf, read_heading, text_problem
from annapurna_assets.papers.structure import PaperText, read_structure
from annapurna_resources import BlobStore, PaperIndex, PaperSources, PdfFetcher
from annapurna_resources.sources.listed_paper import ListedPaper
from annapurna_resources.sources.paper_sources import SourceUnavailable
from annapurna_resources.sources.pdf_fetcher import PdfUnavailable
from annapurna_resources.storage.paper_document import MetadataSection, PaperDocument, PdfSection, TextSection


def paper_document(paper_index: PaperIndex, paper_key: str, *sections: str) -> PaperDocument:
    """The paper's index document, failing clearly when an earlier stage has not run for it."""
    doc = paper_index.get(paper_key)
    if doc is None:
        raise dg.Failure(f"paper {paper_key} was never registered (no index document)")
    missing = [s for s in sections if s not in doc]
    if missing:
        raise dg.Failure(f"paper {paper_key} has no {', '.join(missing)} yet: materialize the upstream assets first")
    return doc


def _outline(structure: PaperText) -> str:
    """The paper's headings, indented by level, with the pages each section is on."""
    lines = []
    for section in structure.sections:
        pages = section.pages
        where = f"p. {pages[0]}" + (f"-{pages[-1]}" if len(pages) > 1 else "") if pages else "heading only"
        lines.append(f"{'  ' * max(0, section.level - 1)}- {section.heading} ({where})")
    return "\n".join(lines) or "_no text_"


def link(url: str) -> dg.MetadataValue:
    if url.startswith("file://"):
        return dg.MetadataValue.path(url.removeprefix("file://"))
    return dg.MetadataValue.url(url)


def listing_link(listing: str) -> dg.MetadataValue:
    """The listing that registered the paper, linked to its partition in the UI (`folder`: the watched folder)."""
    if re.fullmatch(r"arxiv-\d{4}-\d{2}-\d{2}", listing):
        return dg.MetadataValue.url(f"/assets/arxiv_listing?view=partitions&partition={listing.removeprefix('arxiv-')}")
    if re.fullmatch(r"[a-z0-9]+-\d{4}", listing):
        return dg.MetadataValue.url(f"/assets/conference_listing?view=partitions&partition={listing}")
    return dg.MetadataValue.text(listing or "unknown")


def fetch_pdf_once(doc: dict, url: str, blob_store: BlobStore, pdf_fetcher: PdfFetcher) -> tuple[bytes, str, bool]:
    """(bytes, blob ref, fetched now?) of the paper's PDF: the stored copy when there is one, else `url`;
    PdfUnavailable when it cannot be had."""
    for ref in (doc.get("pdf", {}).get("ref"), doc.get("metadata", {}).get("pdf_ref"), doc["source"].get("pdf_ref")):
        if ref and blob_store.exists(ref):
            return blob_store.get(ref), ref, False
    if not url:
        raise PdfUnavailable("no PDF link is known for this paper")
    data = pdf_fetcher.fetch(url)
    return data, blob_store.put(data), True


def describe_paper(
    key: str,
    paper_index: PaperIndex,
    paper_sources: PaperSources,
    pdf_fetcher: PdfFetcher,
    blob_store: BlobStore,
    log,
) -> StageOutcome:
    doc = paper_document(paper_index, key, "source")
    paper = ListedPaper.from_dict(doc["source"]["paper"])
    problems = [doc["source"]["metadata_error"]] if doc["source"].get("metadata_error") else []
    try:
        paper = paper_sources.details(paper)
    except SourceUnavailable as error:
        problems.append(f"the paper's page could not be read: {error}")
        log.warning(problems[-1])
    title_from = abstract_from = paper.source
    pdf_ref = ""
    if not (paper.title and paper.abstract):
        try:
            data, pdf_ref, _ = fetch_pdf_once(doc, paper.pdf_url, blob_store, pdf_fetcher)
            heading = read_heading(data)
            if heading.problem:
                problems.append(f"the PDF gives no title and abstract: {heading.problem}")
        except PdfUnavailable as error:
            heading = None
            problems.append(f"the listing has no abstract and the PDF could not be had: {error}")
        if heading and not paper.title and heading.title:
            paper.title, title_from = heading.title, "pdf"
        if heading and not paper.abstract and heading.abstract:
            paper.abstract, abstract_from = heading.abstract, "pdf"
    if not paper.title and doc["source"].get("file_name"):
        paper.title, title_from = doc["source"]["file_name"].rsplit(".", 1)[0], "file name"
    metadata = MetadataSection(
        **paper.to_dict(),
        listing=doc["source"].get("listing", ""),
        title_from=title_from,
        abstract_from=abstract_from if paper.abstract else "",
        pdf_ref=pdf_ref,
    )
    paper_index.update(key, metadata=metadata)
    paper_index.index_text(key, paper.title, paper.abstract, "")
    judgeable = bool(paper.title and paper.abstract)
    description = "title and abstract found" if judgeable else "; ".join(problems) or "the source gives no abstract"
    return StageOutcome(
        metadata={
            "title": paper.title or "(none)",
            "authors": ", ".join(paper.authors)[:500],
            "venue": f"{paper.venue} {paper.year or ''}".strip(),
            "decision": paper.decision,
            "track": paper.track,
            "source": f"{paper.source}:{paper.source_id}",
            "ids": dg.MetadataValue.json(paper.ids),
            "link": link(paper.forum_url or paper.proceedings_url or paper.pdf_url),
            "abstract": dg.MetadataValue.md(paper.abstract[:1500] or "_none_"),
            "listing": listing_link(doc["source"].get("listing", "")),
            "problems": "; ".join(problems) or "none",
        },
        checks=[
            CheckOutcome(
                "has_title_and_abstract",
                judgeable,
                description,
                {"title_from": title_from, "abstract_from": metadata["abstract_from"] or "none"},
            )
        ],
    )


def store_pdf(key: str, paper_index: PaperIndex, blob_store: BlobStore, pdf_fetcher: PdfFetcher) -> StageOutcome:
    doc = paper_document(paper_index, key, "metadata", "verdict")
    if doc["verdict"].get("decision") != "accept":
        raise dg.Failure(f"{key} is not accepted by the judge: the lifecycle stops at verdict")
    try:
        url = doc["metadata"].get("pdf_url") or doc["source"].get("pdf_uri", "")
        data, ref, fetched = fetch_pdf_once(doc, url, blob_store, pdf_fetcher)
    except PdfUnavailable as error:
        paper_index.update(key, pdf=PdfSection(ref="", readable=False, problem=str(error), page_count=0))
        return StageOutcome(
            metadata={"problem": str(error), "url": doc["metadata"].get("pdf_url", "")},
            checks=[CheckOutcome("readable_pdf", False, str(error), {"problem": str(error)})],
        )
    inspection = inspect_pdf(data)
    paper_index.update(
        key,
        pdf=PdfSection(
            ref=ref,
            size=len(data),
            readable=inspection.readable,
            problem=inspection.problem,
            page_count=inspection.page_count,
            pdf_title=inspection.pdf_title,
        ),
    )
    return StageOutcome(
        metadata={
            "blob": ref,
            "path": dg.MetadataValue.path(blob_store.location(ref)),
            "bytes": len(data),
            "page_count": inspection.page_count,
            "fetched": fetched,
            "readable": inspection.readable,
        },
        checks=[
            CheckOutcome(
                "readable_pdf",
                inspection.readable,
                inspection.problem or "readable PDF",
                {"problem": inspection.problem or "none", "bytes": len(data)},
            )
        ],
    )


def extract_text(key: str, paper_index: PaperIndex, blob_store: BlobStore) -> StageOutcome:
    doc = paper_document(paper_index, key, "metadata", "pdf")
    if not doc["pdf"]["readable"]:
        raise dg.Failure(f"{key} has no readable PDF: {doc['pdf']['problem']}")
    data = blob_store.get(doc["pdf"]["ref"])
    pages = extract_pages(data)
    problem = text_problem(pages)
    structure = read_structure(data)
    text_ref = blob_store.put(json.dumps({"pages": pages, "structure": structure.to_json()}).encode())
    metadata = doc["metadata"]
    full_text = "\n".join(pages)
    paper_index.index_text(key, metadata["title"], metadata["abstract"], full_text)
    paper_index.update(
        key,
        text=TextSection(
            ref=text_ref,
            pages=len(pages),
            chars=len(full_text),
            words=len(full_text.split()),
            problem=problem,
            sections=len(structure.sections),
            headings_from=structure.outline,
        ),
    )
    return StageOutcome(
        metadata={
            "title": metadata["title"],
            "page_count": len(pages),
            "words": len(full_text.split()),
            "sections": len(structure.sections),
            "headings_from": structure.outline,
            "outline": dg.MetadataValue.md(_outline(structure)),
            "blob": text_ref,
        },
        checks=[
            CheckOutcome(
                "has_text",
                not problem,
                problem or "text extracted",
                {"chars": len(full_text), "problem": problem or "none"},
            )
        ],
    )


metadata_stage = PaperStage(
    asset="paper_metadata",
    description="Title, authors, abstract, venue, decision and links of one paper, from its listing and source page.",
    group="describe",
    step=LIFECYCLE_OP,
    accepted_only=False,
    resources=("paper_index", "paper_sources", "pdf_fetcher", "blob_store"),
    run=lambda key, r, log: describe_paper(key, r.paper_index, r.paper_sources, r.pdf_fetcher, r.blob_store, log),
    checks=(
        Check(
            "has_title_and_abstract",
            "A title and an abstract to judge the paper by (from the listing, the paper's page or its PDF).",
        ),
    ),
    extra_deps=(
        dg.AssetDep("conference_listing", partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep("arxiv_listing", partition_mapping=dg.AllPartitionMapping()),
    ),
)
pdf_stage = PaperStage(
    asset="raw_pdf",
    description="The accepted paper's PDF in the content-addressed blob store (fetched once, never again). "
    "Rejected papers stop before this: nothing is downloaded for them.",
    group="read",
    step="read_papers",
    kinds=("pdf",),
    resources=("paper_index", "blob_store", "pdf_fetcher"),
    run=lambda key, r, log: store_pdf(key, r.paper_index, r.blob_store, r.pdf_fetcher),
    checks=(Check("readable_pdf", "The PDF could be had and is a PDF that opens, unencrypted, with pages."),),
)
text_stage = PaperStage(
    asset="paper_text",
    description="Per-page text of the PDF, indexed for full-text search.",
    group="read",
    step="read_papers",
    resources=("paper_index", "blob_store"),
    run=lambda key, r, log: extract_text(key, r.paper_index, r.blob_store),
    checks=(Check("has_text", "The PDF yields enough text to read (not image-only)."),),
)
