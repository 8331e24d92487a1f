"""Listings kept as files: exports and dumps of a venue-year that a team already has (or that a site offers as a
download), read as if the venue's site had listed them.

Formats (detected from the first line):
- OpenReview CSV dumps `paper_id,title,link,keywords,abstract` (e.g. one file per decision: `oral.csv`,
  `spotlight.csv`, `poster.csv`; the file's stem gives the decision). Rows whose title or abstract held unquoted
  commas are repaired around the forum link; a row that cannot be repaired is skipped and counted, never guessed.
- OpenReview API v2 exports as TSV without header: forum_url, title, authors (;-separated), keywords, primary_area,
  venue, pdf_url, supplementary_material, TLDR, spotlight, abstract.
- Paper Copilot `paperlists` JSON dumps (`iclr/iclr2018.json`, ...): a list of papers with their `status` (Oral,
  Poster, Reject, Withdraw, ...), authors and keywords (`;`-separated), abstract, `site` and BibTeX. A paper whose
  site or BibTeX links its OpenReview forum keeps that id; one whose BibTeX names its PMLR key keeps that (`pmlr`:
  `v97/mao19a`), so the same paper listed by OpenReview or PMLR is recognised as one.
"""

import csv
import glob
import hashlib
import json
import logging
import re
from pathlib import Path

import dagster as dg
from pydantic import Field

from annapurna_resources.sources.listed_paper import DECISIONS, ListedPaper, accepted_decision

log = logging.getLogger("annapurna.listing_files")
FORUM_LINK = re.compile(r"^\s*https?://openreview\.net/forum\?id=(?P<id>[\w-]+)\s*$")
CSV_HEADER = ["paper_id", "title", "link", "keywords", "abstract"]
TSV_COLUMNS = 11
FORUM_ID = re.compile(r"openreview\.net/forum\?id=(?P<id>[\w-]+)")
PMLR_KEY = re.compile(r"@\w+\{pmlr-(?P<volume>v\d+)-(?P<name>[\w-]+),")
BIBTEX_PDF = re.compile(r"\bpdf\s*=\s*\{(?P<url>[^}]+)\}")
COPILOT_STATUS = {  # Paper Copilot's status -> our decision (the status itself is kept as the track)
    "oral": "oral",
    "spotlight": "spotlight",
    "poster": "poster",
    "accept": "accept",
    "reject": "reject",
    "workshop": "reject",  # ICLR's "invited to the workshop track": not accepted to the conference
    "withdraw": "withdrawn",
    "withdrawn": "withdrawn",
    "desk reject": "desk_rejected",
    "desk rejected": "desk_rejected",
}


class ListingFileUnavailable(Exception):
    """The configured file is missing or in no known format."""


class ListingFileSource(dg.ConfigurableResource):
    """`files` maps a venue-year (`neurips-2023`) to a file or a glob (`/data/neurips2023/*.csv`)."""

    files: dict[str, str] = Field(
        default={},
        description="Listing files a team has, venue-year -> path or glob (OpenReview CSV dumps, TSV exports, "
        "Paper Copilot JSON dumps).",
    )

    def covers(self, venue: str, year: int) -> bool:
        return f"{venue}-{year}" in self.files

    def list_papers(self, venue: str, year: int) -> list[ListedPaper]:
        pattern = self.files.get(f"{venue}-{year}")
        paths = sorted(glob.glob(pattern)) if pattern else []
        if not paths:
            raise ListingFileUnavailable(f"no listing file matches {pattern!r} for {venue}-{year}")
        papers: list[ListedPaper] = []
        for path in map(Path, paths):
            papers.extend(read_listing_file(path, venue, year))
        return papers

    def paper_details(self, paper: ListedPaper) -> ListedPaper:
        return paper


def read_listing_file(path: Path, venue: str, year: int) -> list[ListedPaper]:
    csv.field_size_limit(1 << 24)
    with path.open(newline="", encoding="utf-8") as handle:
        first = handle.readline()
        handle.seek(0)
        if first.strip().split(",") == CSV_HEADER:
            rows = list(csv.reader(handle))[1:]
            papers = [_from_csv_row(row, path, venue, year) for row in rows]
        elif first.lstrip().startswith("["):
            try:
                rows = json.load(handle)
            except json.JSONDecodeError as error:
                raise ListingFileUnavailable(f"{path}: not valid JSON ({error})") from error
            papers = [_from_copilot_entry(entry, venue, year) for entry in rows]
        elif first.count("\t") == TSV_COLUMNS - 1:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
            papers = [_from_tsv_row(row, venue, year) for row in rows]
        else:
            raise ListingFileUnavailable(f"{path}: not a known listing format (first line {first[:80]!r})")
    kept = [paper for paper in papers if paper is not None]
    log.info(f"{path.name}: {len(kept)} papers from {len(rows)} rows, {len(rows) - len(kept)} unusable rows skipped")
    return kept


def repair_csv_row(row: list[str]) -> list[str] | None:
    """`paper_id,title,link,keywords,abstract`, with a title or abstract that held unquoted commas put back
    together around the forum link; None when the row has no forum link to anchor on."""
    if len(row) == len(CSV_HEADER) and FORUM_LINK.match(row[2]):
        return row
    link_at = next((i for i, field in enumerate(row) if i > 1 and FORUM_LINK.match(field)), None)
    if link_at is None or link_at + 1 >= len(row):
        return None
    return [row[0], ",".join(row[1:link_at]), row[link_at], row[link_at + 1], ",".join(row[link_at + 2 :])]


def _from_csv_row(row: list[str], path: Path, venue: str, year: int) -> ListedPaper | None:
    fixed = repair_csv_row(row)
    if fixed is None or not fixed[1].strip():
        return None
    paper_id, title, link, keywords, abstract = fixed
    forum_id = FORUM_LINK.match(link)["id"]
    decision = path.stem.lower() if path.stem.lower() in DECISIONS else "accept"
    return ListedPaper(
        source="openreview",
        source_id=forum_id,
        title=" ".join(title.split()),
        abstract=" ".join(abstract.split()),
        venue=venue,
        year=year,
        decision=decision,
        track=f"{venue} {year} {decision}",
        keywords=[k.strip() for k in keywords.split(",") if k.strip()],
        forum_url=link.strip(),
        pdf_url=f"https://openreview.net/pdf?id={forum_id}",
        ids={"openreview": forum_id},
    )


def _from_tsv_row(row: list[str], venue: str, year: int) -> ListedPaper | None:
    if len(row) != TSV_COLUMNS or not FORUM_LINK.match(row[0]) or not row[1].strip():
        return None
    forum_url, title, authors, keywords, primary_area, track, pdf_url, _, _, _, abstract = row
    forum_id = FORUM_LINK.match(forum_url)["id"]
    decision = accepted_decision(track)
    return ListedPaper(
        source="openreview",
        source_id=forum_id,
        title=title.strip(),
        authors=[a.strip() for a in authors.split(";") if a.strip()],
        abstract=abstract.strip(),
        venue=venue,
        year=year,
        decision=decision,
        track=track,
        keywords=[k.strip() for k in keywords.split(",") if k.strip()],
        primary_area=primary_area,
        forum_url=forum_url.strip(),
        pdf_url=pdf_url.strip() or f"https://openreview.net/pdf?id={forum_id}",
        ids={"openreview": forum_id},
    )


def _from_copilot_entry(entry: dict, venue: str, year: int) -> ListedPaper | None:
    if not isinstance(entry, dict):
        return None
    title = " ".join(str(entry.get("title") or "").split())
    if not title:
        return None
    status = str(entry.get("status") or "").strip()
    site = str(entry.get("site") or "").strip()
    bibtex = str(entry.get("bibtex") or "")
    forum = FORUM_ID.search(site) or FORUM_ID.search(bibtex)  # accepted papers' site is often the venue's page
    pmlr, pdf = PMLR_KEY.search(bibtex), BIBTEX_PDF.search(bibtex)
    if forum:
        source, source_id, pdf_url = "openreview", forum["id"], f"https://openreview.net/pdf?id={forum['id']}"
    elif pmlr:
        source, source_id, pdf_url = "pmlr", f"{pmlr['volume']}/{pmlr['name']}", pdf["url"] if pdf else ""
    else:
        entry_id = entry.get("id") or hashlib.sha1(title.casefold().encode()).hexdigest()[:12]
        source, source_id, pdf_url = "papercopilot", f"{venue}{year}/{entry_id}", pdf["url"] if pdf else ""
    return ListedPaper(
        source=source,
        source_id=source_id,
        title=title,
        authors=[a.strip() for a in str(entry.get("author") or "").split(";") if a.strip()],
        abstract=" ".join(str(entry.get("abstract") or "").split()),
        venue=venue,
        year=year,
        decision=COPILOT_STATUS.get(status.lower())
        or (accepted_decision(status) if "accept" in status.lower() else "unknown"),
        track=f"{venue.upper()} {year} {status}".strip(),
        keywords=[k.strip() for k in str(entry.get("keywords") or "").split(";") if k.strip()],
        primary_area=str(entry.get("primary_area") or ""),
        forum_url=f"https://openreview.net/forum?id={forum['id']}" if forum else "",
        proceedings_url=site if "openreview.net" not in site else "",
        pdf_url=pdf_url,
        ids={source: source_id},
    )
