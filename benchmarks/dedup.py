"""Precision and recall of `DuplicateFinder` on labelled pairs built from the real listings in ../shared/data/listings.

Positives: real records versus (a) the same record with the perturbations a real second version shows, and (b) real
cross-source versions: ICML 2019 listings vs their PMLR v97 BibTeX, ICLR 2017/2018 submissions vs their final
BibTeX (id dropped, so only the title/author/embedding rules can match them), PMLR v235 vs OpenReview ICML 2024 (by
openreview id). Negatives: different real papers of one venue-year with near titles. As in the pipeline, one side is
registered and `find` is called for the other side.

Usage: .venv/bin/python benchmarks/dedup.py [--listings DIR] [--no-embedding] [--seed N]
"""

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from annapurna_resources.listed_paper import ListedPaper

DEFAULT_LISTINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "listings"
FORUM_PREFIX = "https://openreview.net/forum?id="


@dataclass
class Record:
    key: str
    dataset: str
    paper: ListedPaper


def _split_authors(text: str, separator: str) -> list[str]:
    return [name.strip() for name in text.split(separator) if name.strip()]


def load_iclr2025(listings: Path) -> list[Record]:
    """Title, authors (comma-separated), decision; no id and no abstract."""
    with open(listings / "iclr2025_openreview_all_submissions.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [
        Record(
            f"iclr2025/{row_number}",
            "iclr2025",
            ListedPaper(
                "openreview",
                f"iclr2025-row{row_number}",
                row["Title"],
                _split_authors(row["Authors"], ","),
                venue="iclr",
                year=2025,
                track=row["Decision"],
            ),
        )
        for row_number, row in enumerate(rows)
    ]


def load_neurips2023(listings: Path) -> list[Record]:
    """paper_id, title, link, keywords, abstract; no authors. Some rows have unquoted commas in title/abstract:
    the link column, found by its prefix, tells where the title ends."""
    records = []
    for csv_path in sorted((listings / "neurips2023").glob("*.csv")):
        with open(csv_path, newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))[1:]
        for fields in rows:
            link = next(i for i, field in enumerate(fields) if field.startswith(FORUM_PREFIX))
            paper_id, title, abstract = fields[0], ",".join(fields[1:link]), ",".join(fields[link + 2 :])
            paper = ListedPaper(
                "openreview", paper_id, title, abstract=abstract, venue="neurips", year=2023, track=csv_path.stem
            )
            records.append(Record(f"neurips2023/{paper_id}", "neurips2023", paper))
    return records


def load_icml2024(listings: Path) -> list[Record]:
    """OpenReview API v2 TSV, no header: forum_url, title, authors (;), keywords, primary_area, venue, pdf_url,
    supplementary_material, TLDR, spotlight, abstract."""
    records = []
    for line in (listings / "openreview_api_v2_tsv" / "ICML_cc_2024_Conference.tsv").read_text("utf-8").splitlines():
        fields = line.split("\t")
        forum_id = fields[0].removeprefix(FORUM_PREFIX)
        paper = ListedPaper(
            "openreview",
            forum_id,
            fields[1],
            _split_authors(fields[2], ";"),
            abstract=fields[10],
            venue="icml",
            year=2024,
            track=fields[5],
        )
        records.append(Record(f"icml2024/{forum_id}", "icml2024", paper))
    return records


def load_pmlr_v235(listings: Path) -> list[ListedPaper]:
    """PMLR Jekyll pages: YAML front matter with the LaTeX title, BibTeX authors ("Last, First") and openreview id."""
    import yaml

    papers = []
    for page in sorted((listings / "pmlr_v235_icml2024").glob("*.md")):
        front = yaml.safe_load(page.read_text("utf-8").split("---")[1])
        papers.append(
            ListedPaper(
                "pmlr",
                f"v235/{front['id']}",
                front["tex_title"],
                _split_authors(front["bibtex_author"], " and "),
                abstract=re.sub(r"</?em>", "", front["abstract"]),
                venue="icml",
                year=2024,
                ids={"openreview": front["openreview"]},
            )
        )
    return papers


def bibtex_field(bibtex: str, name: str) -> str:
    """The braced value of `name = {...}` in a BibTeX entry (nested braces kept), or ""."""
    found = re.search(rf"\b{name}\s*=\s*{{", bibtex)
    if not found:
        return ""
    depth, start = 1, found.end()
    for position in range(start, len(bibtex)):
        depth += {"{": 1, "}": -1}.get(bibtex[position], 0)
        if depth == 0:
            return " ".join(bibtex[start:position].split())
    return ""


def load_papercopilot(listings: Path, dump: str) -> list[tuple[Record, ListedPaper | None]]:
    """Paper Copilot dump: each listing record, with the paper as its BibTeX shows it (the final version: PMLR for
    ICML, camera-ready OpenReview for ICLR), or None when the BibTeX is missing, anonymous or of another paper."""
    venue, year = dump.split("__")[1][:-4], int(dump[-4:])
    pairs = []
    for entry in json.loads((listings / "papercopilot" / f"{dump}.json").read_text("utf-8")):
        if not entry.get("title"):
            continue
        source, paper_id = ("icml", entry["id"]) if venue == "icml" else ("openreview", entry["id"])
        paper = ListedPaper(
            source,
            paper_id,
            entry["title"],
            _split_authors(entry.get("author", ""), ";"),
            abstract=entry.get("abstract") or "",
            venue=venue,
            year=year,
            track=entry.get("status") or "",
        )
        record = Record(f"{venue}{year}/{paper_id}", f"{venue}{year}", paper)
        bibtex = entry.get("bibtex") or ""
        final = None
        bib_title, bib_authors = bibtex_field(bibtex, "title"), bibtex_field(bibtex, "author")
        same_forum = venue == "icml" or f"id={paper_id}" in bibtex_field(bibtex, "url")
        if bib_title and bib_authors and same_forum and "anonymous" not in bib_authors.casefold():
            pmlr_id = re.search(r"pmlr-(v\d+)-(\w+)", bibtex)
            final = ListedPaper(
                "pmlr" if pmlr_id else "bibtex",
                "/".join(pmlr_id.groups()) if pmlr_id else f"{venue}{year}/{paper_id}",
                bib_title,
                _split_authors(bib_authors, " and "),
                abstract=bibtex_field(bibtex, "abstract"),
                venue=venue,
                year=year,
            )
        pairs.append((record, final))
    return pairs
