"""Listed papers become `papers` partitions: one per paper, whichever sources list it.

A newly listed paper that is a version of one already registered (the arXiv preprint of a conference paper,
the PMLR page of an OpenReview paper) is merged into that paper's record (both ids kept) instead of becoming
a second partition.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import numpy as np

from annapurna_assets.papers.partitions import arxiv_paper_key, papers_partitions, slugify, title_slug
from annapurna_assets.sources.dedup import DuplicateFinder
from annapurna_resources import PaperIndex
from annapurna_resources.sources.listed_paper import ListedPaper
from annapurna_resources.storage.paper_document import SourceSection, SourceVersion

CONFERENCE_FIELDS = ("venue", "year", "decision", "track", "keywords", "primary_area", "forum_url", "proceedings_url")


@dataclass
class Registration:
    new_keys: list[str] = field(default_factory=list)
    merged: dict[str, str] = field(default_factory=dict)  # "<source>:<id>" -> the existing paper it joined
    already_registered: int = 0


def paper_key(paper: ListedPaper, taken: set[str]) -> str:
    """`arxiv-2106-09685-<title slug>` for arXiv papers, `iclr-2025-<title slug>` for conference papers."""
    if paper.source == "arxiv":
        return arxiv_paper_key(paper.arxiv_id or paper.source_id, paper.title)
    key = "-".join(part for part in (paper.venue, str(paper.year or ""), title_slug(paper.title)) if part)
    if key in taken:
        key = f"{key}-{slugify(paper.source_id)[:12]}"
    return key


def merge_versions(kept: ListedPaper, other: ListedPaper) -> ListedPaper:
    """One record for two versions: every id; the conference version's venue and decision over the preprint's."""
    merged = ListedPaper.from_dict(kept.to_dict())
    merged.ids = {**other.ids, **kept.ids}
    merged.arxiv_id = kept.arxiv_id or other.arxiv_id
    if kept.source == "arxiv" and other.source != "arxiv":
        for name in CONFERENCE_FIELDS:
            setattr(merged, name, getattr(other, name))
    merged.abstract = kept.abstract or other.abstract
    merged.pdf_url = kept.pdf_url or other.pdf_url
    return merged


def registered_papers(paper_index: PaperIndex) -> dict[str, ListedPaper]:
    """Every registered paper as its best-known listing (with the title read from its PDF, for local files)."""
    papers = {}
    for key, doc in paper_index.all_documents().items():
        record = doc.get("source", {}).get("paper")
        if record is None:
            continue
        paper = ListedPaper.from_dict(record)
        metadata = doc.get("metadata", {})
        paper.title = paper.title or metadata.get("title", "")
        paper.abstract = paper.abstract or metadata.get("abstract", "")
        papers[key] = paper
    return papers


def register_papers(
    instance: dg.DagsterInstance,
    paper_index: PaperIndex,
    papers: list[ListedPaper],
    listing: str,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> Registration:
    """Registers each paper not registered yet (index document + `papers` partition); merges new versions."""
    existing = registered_papers(paper_index)
    finder = DuplicateFinder(embed=embed)
    for key, paper in existing.items():
        if paper.title:
            finder.add(key, paper)
    taken = set(instance.get_dynamic_partitions(papers_partitions.name)) | set(existing)
    registration = Registration()
    new_records: list[tuple[str, dict]] = []
    listed_now: set[tuple[str, str]] = set()
    for paper in papers:
        if (paper.source, paper.source_id) in listed_now:  # e.g. cross-listed in two harvested arXiv sets
            continue
        listed_now.add((paper.source, paper.source_id))
        match = finder.find(paper)
        if match is not None and _distinct_entries_of_one_source(existing.get(match.key), paper):
            match = None
        if match is not None:
            known = existing.get(match.key)
            if known is not None and paper.source_id in (known.ids.get(paper.source), known.source_id):
                registration.already_registered += 1
                continue
            if known is not None:
                existing[match.key] = merge_versions(known, paper)
                _store_merge(paper_index, match.key, existing[match.key], paper, listing, match.reason)
            registration.merged[f"{paper.source}:{paper.source_id}"] = match.key
            continue
        key = paper_key(paper, taken)
        taken.add(key)
        existing[key] = paper  # not added to the finder: a listing names each of its papers once
        new_records.append(
            (
                key,
                SourceSection(
                    source=paper.source,
                    source_id=paper.source_id,
                    listing=listing,
                    pdf_uri=paper.pdf_url,
                    paper=paper.to_dict(),
                ),
            )
        )
        registration.new_keys.append(key)
    paper_index.register_many(new_records)
    if registration.new_keys:
        instance.add_dynamic_partitions(papers_partitions.name, registration.new_keys)
    return registration


def _distinct_entries_of_one_source(known: ListedPaper | None, paper: ListedPaper) -> bool:
    """Two entries of one source with different ids are two papers, however alike (a source lists a paper once)."""
    if known is None or paper.source not in known.ids:
        return False
    return known.ids[paper.source] != paper.source_id


def _store_merge(paper_index, key: str, merged: ListedPaper, version: ListedPaper, listing: str, reason: str) -> None:
    doc = paper_index.get(key) or {}
    source = doc.get("source", {})
    versions = source.get("versions", [])
    versions.append(
        SourceVersion(
            source=version.source,
            source_id=version.source_id,
            listing=listing,
            matched_by=reason,
            pdf_url=version.pdf_url,
            title=version.title,
        )
    )
    paper_index.update(key, source={**source, "paper": merged.to_dict(), "versions": versions})
