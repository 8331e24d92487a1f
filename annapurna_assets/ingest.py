"""From a registered paper to its metadata, its stored PDF and its text."""

import json

import dagster as dg

from annapurna_assets.partitions import paper_check, papers_partitions
from annapurna_assets.pdf_text import (
    choose_title,
    extract_pages,
    find_abstract,
    first_page_title,
    inspect_pdf,
    text_problem,
)
from annapurna_resources import LocalBlobStore, LocalFolderSource, SqlitePaperIndex

GROUP = "ingest"


def paper_document(paper_index: SqlitePaperIndex, paper_key: str, *sections: str) -> dict:
    """The paper's index document, failing clearly when an earlier stage has not run for it."""
    doc = paper_index.get(paper_key)
    if doc is None:
        raise dg.Failure(f"paper {paper_key} was never registered (no index document)")
    missing = [s for s in sections if s not in doc]
    if missing:
        raise dg.Failure(f"paper {paper_key} has no {', '.join(missing)} yet: materialize the upstream assets first")
    return doc


def source_link(metadata: dict) -> dg.MetadataValue:
    url = metadata.get("url") or metadata.get("pdf_uri", "")
    if url.startswith("file://"):
        return dg.MetadataValue.path(url.removeprefix("file://"))
    return dg.MetadataValue.url(url)


@dg.asset(partitions_def=papers_partitions, group_name=GROUP, kinds={"python"})
def paper_metadata(context: dg.AssetExecutionContext, paper_index: SqlitePaperIndex) -> dg.MaterializeResult:
    """Title, authors, abstract, venue and links of one paper, from its source record."""
    doc = paper_document(paper_index, context.partition_key, "source")
    source = doc["source"]
    provided = source.get("provided_metadata", {})
    metadata = {
        "title": provided.get("title", ""),
        "authors": provided.get("authors", []),
        "abstract": provided.get("abstract", ""),
        "venue": provided.get("venue", ""),
        "year": provided.get("year"),
        "keywords": provided.get("keywords", []),
        "arxiv_id": provided.get("arxiv_id", ""),
        "url": provided.get("url", ""),
        "pdf_uri": source["pdf_uri"],
        "source": source["source"],
        "source_id": source["source_id"],
        "title_from": "source" if provided.get("title") else "pdf (filled in by paper_text)",
    }
    paper_index.update(context.partition_key, metadata=metadata)
    if source.get("metadata_error"):
        context.log.warning(source["metadata_error"])
    return dg.MaterializeResult(
        metadata={
            "title": metadata["title"] or "(from the PDF, after paper_text)",
            "source": metadata["source"],
            "source_link": source_link(metadata),
            "authors": ", ".join(metadata["authors"])
            if isinstance(metadata["authors"], list)
            else str(metadata["authors"]),
            "file": source.get("file_name", ""),
        }
    )


@dg.asset(
    partitions_def=papers_partitions,
    group_name=GROUP,
    deps=[paper_metadata],
    kinds={"pdf"},
    check_specs=[
        paper_check("readable_pdf", "raw_pdf", "The file is a PDF that opens, is not encrypted and has pages.")
    ],
)
def raw_pdf(
    context: dg.AssetExecutionContext,
    paper_index: SqlitePaperIndex,
    blob_store: LocalBlobStore,
    paper_source: LocalFolderSource,
):
    """The paper's PDF in the content-addressed blob store (fetched once, never again)."""
    doc = paper_document(paper_index, context.partition_key, "metadata")
    source = doc["source"]
    known = doc.get("pdf", {}).get("ref") or (f"blob://{source['source_id']}" if source["source"] == "local" else "")
    if known and blob_store.exists(known):
        data, fetched = blob_store.get(known), False
    else:
        try:
            data = paper_source.fetch_pdf(source)
        except (OSError, ValueError) as error:
            raise dg.Failure(f"could not fetch the PDF of {context.partition_key}: {error}") from error
        fetched = True
    ref = blob_store.put(data)
    inspection = inspect_pdf(data)
    paper_index.update(
        context.partition_key,
        pdf={
            "ref": ref,
            "size": len(data),
            "readable": inspection.readable,
            "problem": inspection.problem,
            "page_count": inspection.page_count,
            "pdf_title": inspection.pdf_title,
        },
    )
    yield dg.MaterializeResult(
        metadata={
            "blob": ref,
            "path": dg.MetadataValue.path(str(blob_store.local_path(ref))),
            "bytes": len(data),
            "page_count": inspection.page_count,
            "fetched": fetched,
            "readable": inspection.readable,
        }
    )
    yield dg.AssetCheckResult(
        check_name="readable_pdf",
        passed=inspection.readable,
        metadata={"problem": inspection.problem or "none", "bytes": len(data)},
        description=inspection.problem or "readable PDF",
    )


@dg.asset(
    partitions_def=papers_partitions,
    group_name=GROUP,
    deps=[raw_pdf],
    kinds={"python"},
    check_specs=[
        paper_check("has_text", "paper_text", "The PDF yields enough text to judge and read (not image-only).")
    ],
)
def paper_text(context: dg.AssetExecutionContext, paper_index: SqlitePaperIndex, blob_store: LocalBlobStore):
    """Per-page text of the PDF, indexed for full-text search; fills in title/abstract the source lacked."""
    key = context.partition_key
    doc = paper_document(paper_index, key, "metadata", "pdf")
    if not doc["pdf"]["readable"]:
        raise dg.Failure(f"{key} has no readable PDF: {doc['pdf']['problem']}")
    data = blob_store.get(doc["pdf"]["ref"])
    pages = extract_pages(data)
    problem = text_problem(pages)
    text_ref = blob_store.put(json.dumps({"pages": pages}).encode())

    metadata = doc["metadata"]
    if not metadata["title"]:
        metadata["title"] = choose_title(doc["pdf"]["pdf_title"], first_page_title(data)) or key
    if not metadata["abstract"]:
        metadata["abstract"] = find_abstract(pages)
    full_text = "\n".join(pages)
    paper_index.index_text(key, metadata["title"], metadata["abstract"], full_text)
    paper_index.update(
        key,
        metadata=metadata,
        text={
            "ref": text_ref,
            "pages": len(pages),
            "chars": len(full_text),
            "words": len(full_text.split()),
            "problem": problem,
        },
    )
    yield dg.MaterializeResult(
        metadata={
            "title": metadata["title"],
            "page_count": len(pages),
            "words": len(full_text.split()),
            "abstract": dg.MetadataValue.md(metadata["abstract"][:1500] or "_none found_"),
            "blob": text_ref,
        }
    )
    yield dg.AssetCheckResult(
        check_name="has_text",
        passed=not problem,
        metadata={"chars": len(full_text), "problem": problem or "none"},
        description=problem or "text extracted",
    )
