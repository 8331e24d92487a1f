"""Paper sources that read conference proceedings sites: PMLR for ICML, papers.nips.cc for NeurIPS and
proceedings.mlsys.org for MLSys. A year's listing page gives title, authors and links; a paper's own page
adds the abstract (and, on PMLR, the OpenReview id).

Proceedings list accepted papers only, and none of these pages says oral/spotlight/poster, so every paper
is `decision="accept"`.
"""

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable
from typing import ClassVar
from urllib.parse import parse_qs, urljoin, urlsplit

import dagster as dg
from bs4 import BeautifulSoup, Tag
from pydantic import PrivateAttr

from annapurna_resources.sources.http_client import HttpFailure, PoliteHttpClient
from annapurna_resources.sources.listed_paper import ListedPaper

logger = logging.getLogger("annapurna.proceedings")

ICML_PMLR_VOLUMES = {
    "2017": "v70",
    "2018": "v80",
    "2019": "v97",
    "2020": "v119",
    "2021": "v139",
    "2022": "v162",
    "2023": "v202",
    "2024": "v235",
    "2025": "v267",
}

# A paper's page on the NeurIPS/MLSys proceedings app: /paper_files/paper/2022/hash/<hash>-Abstract-Conference.html
# (no "-<section>" before 2022; older links lack "paper_files/").
ABSTRACT_PAGE_PATH = re.compile(
    r"/(?:paper_files/)?paper/(?P<year>\d{4})/hash/(?P<hash>[0-9a-f]+)-Abstract(?:-(?P<section>[^./]+))?\.html$"
)
PMLR_PAPER_PATH = re.compile(r"/(?P<volume>v\d+)/(?P<key>[^/]+)\.html$")
HEADINGS = ("h1", "h2", "h3", "h4", "h5")


class ProceedingsUnavailable(Exception):
    """A proceedings page that could not be had or read; the message names the page and the reason."""


class _MalformedEntry(Exception):
    """A listing entry without the title or link a paper needs; skipped, never fatal."""


class _ProceedingsSite(dg.ConfigurableResource):
    """What every proceedings source shares: polite HTTP to one site and the page-level error handling."""

    base_url: str
    min_interval_s: float = 1.0  # politeness between two requests to the site
    max_retries: int = 4
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    timeout_s: float = 30.0
    _http: PoliteHttpClient = PrivateAttr()

    source_name: ClassVar[str]
    venue: ClassVar[str]
    site_name: ClassVar[str]

    def model_post_init(self, __context) -> None:
        host = urlsplit(self.base_url).hostname or ""
        self._http = PoliteHttpClient(
            host_intervals={host: self.min_interval_s},
            default_interval_s=self.min_interval_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            timeout_s=self.timeout_s,
        )

    @property
    def http(self) -> PoliteHttpClient:
        return self._http

    def covers(self, venue: str, year: int) -> bool:
        raise NotImplementedError

    def _require_coverage(self, venue: str, year: int) -> None:
        if not self.covers(venue, year):
            raise ProceedingsUnavailable(f"{self.site_name} does not cover {venue} {year}")

    def _fetch_page(self, url: str, what: str) -> BeautifulSoup:
        try:
            reply = self._http.get(url)
        except HttpFailure as failure:
            raise ProceedingsUnavailable(f"{what} at {url} could not be fetched: {failure.reason}") from failure
        return BeautifulSoup(reply.text, "html.parser")

    def _parse_entries(
        self, entries: list[Tag], parse: Callable[[Tag], ListedPaper], page_url: str
    ) -> list[ListedPaper]:
        """Every well-formed entry as a ListedPaper; malformed ones (and repeats) are logged and counted."""
        if not entries:
            raise ProceedingsUnavailable(f"no paper entries found on {page_url}; has the page layout changed?")
        papers: dict[str, ListedPaper] = {}
        skipped = 0
        for position, entry in enumerate(entries, start=1):
            try:
                paper = parse(entry)
            except _MalformedEntry as problem:
                skipped += 1
                logger.warning("skipped entry %d on %s: %s", position, page_url, problem)
                continue
            if paper.source_id in papers:
                skipped += 1
                logger.warning("skipped entry %d on %s: repeats %s", position, page_url, paper.source_id)
                continue
            papers[paper.source_id] = paper
        logger.info("listed %d papers from %s, skipped %d malformed entries", len(papers), page_url, skipped)
        if not papers:
            raise ProceedingsUnavailable(f"none of the {len(entries)} entries on {page_url} could be read")
        return list(papers.values())


class PmlrSource(_ProceedingsSite):
    """ICML papers from the Proceedings of Machine Learning Research (one PMLR volume per ICML year)."""

    base_url: str = "https://proceedings.mlr.press"
    volumes: dict[str, str] = dict(ICML_PMLR_VOLUMES)  # ICML year -> PMLR volume

    source_name: ClassVar[str] = "pmlr"
    venue: ClassVar[str] = "icml"
    site_name: ClassVar[str] = "PMLR"

    def covers(self, venue: str, year: int) -> bool:
        return venue == self.venue and str(year) in self.volumes

    def volume_url(self, year: int) -> str:
        return f"{self.base_url.rstrip('/')}/{self.volumes[str(year)]}/"

    def list_papers(self, venue: str, year: int) -> list[ListedPaper]:
        """The papers of the year's volume page: `<div class="paper">` with title, authors, abs/pdf links."""
        self._require_coverage(venue, year)
        url = self.volume_url(year)
        soup = self._fetch_page(url, f"ICML {year} volume page")
        return self._parse_entries(soup.select("div.paper"), lambda entry: self._parse_entry(entry, year, url), url)

    def _parse_entry(self, entry: Tag, year: int, page_url: str) -> ListedPaper:
        title = _text(entry.find("p", class_="title"))
        if not title:
            raise _MalformedEntry("no title")
        links = entry.find("p", class_="links") or entry
        abs_link = _link_with_text(links.find_all("a", href=True), "abs")
        if abs_link is None:
            raise _MalformedEntry(f"no abs link for {title!r}")
        proceedings_url = urljoin(page_url, abs_link["href"])
        match = PMLR_PAPER_PATH.search(urlsplit(proceedings_url).path)
        if match is None:
            raise _MalformedEntry(f"abs link {proceedings_url} of {title!r} is not a PMLR paper page")
        pdf_link = _link_with_text(links.find_all("a", href=True), "download pdf", "pdf") or links.find(
            "a", href=re.compile(r"\.pdf$")
        )
        paper = ListedPaper(
            source=self.source_name,
            source_id=f"{match['volume']}/{match['key']}",
            title=title,
            authors=_split_names(_text(entry.find(class_="authors"))),
            venue=self.venue,
            year=year,
            decision="accept",
            proceedings_url=proceedings_url,
            pdf_url=urljoin(page_url, pdf_link["href"]) if pdf_link else "",
        )
        return _with_openreview(paper, links)

    def paper_details(self, paper: ListedPaper) -> ListedPaper:
        """The paper with abstract, PDF link and OpenReview id from its own page (`div#abstract`, `div#extras`)."""
        url = paper.proceedings_url
        soup = self._fetch_page(url, f"paper page of {paper.source_id}")
        abstract = _text(soup.find(id="abstract")) or _section_text(soup, "Abstract")
        if not abstract:
            raise ProceedingsUnavailable(f"no abstract on the paper page {url}; has the page layout changed?")
        extras = soup.find(id="extras") or soup
        pdf_link = _link_with_text(extras.find_all("a", href=True), "download pdf", "pdf")
        pdf_url = urljoin(url, pdf_link["href"]) if pdf_link else _meta(soup, "citation_pdf_url") or paper.pdf_url
        authors = paper.authors or [_clean(name) for name in _metas(soup, "citation_author")]
        detailed = dataclasses.replace(
            paper,
            abstract=abstract,
            pdf_url=pdf_url,
            authors=authors,
            published=_iso_date(_meta(soup, "citation_publication_date")) or paper.published,
            ids=dict(paper.ids),
        )
        return _with_openreview(detailed, soup)


class _PaperFilesSite(_ProceedingsSite):
    """The proceedings app that papers.nips.cc and proceedings.mlsys.org both run: a year's listing at
    `/paper_files/paper/<year>`, each paper at `.../hash/<hash>-Abstract[-<section>].html`."""

    first_year: int
    last_year: int

    track_names: ClassVar[dict[str, str]] = {}

    def covers(self, venue: str, year: int) -> bool:
        return venue == self.venue and self.first_year <= year <= self.last_year

    def listing_url(self, year: int) -> str:
        return f"{self.base_url.rstrip('/')}/paper_files/paper/{year}"

    def track_for_section(self, section: str) -> str:
        return self.track_names.get(section, section.replace("_", " "))

    def list_papers(self, venue: str, year: int) -> list[ListedPaper]:
        """The papers of the year's listing: `<ul class="paper-list"><li>` with the abstract-page link
        and the authors (`<span class="paper-authors">` in the current layout, `<i>` in the older one)."""
        self._require_coverage(venue, year)
        url = self.listing_url(year)
        soup = self._fetch_page(url, f"{self.site_name} {year} listing")
        entries = soup.select("ul.paper-list > li") or [
            item for item in soup.find_all("li") if item.find("a", href=ABSTRACT_PAGE_PATH)
        ]
        return self._parse_entries(entries, lambda entry: self._parse_entry(entry, year, url), url)

    def _parse_entry(self, entry: Tag, year: int, page_url: str) -> ListedPaper:
        link = entry.find("a", href=ABSTRACT_PAGE_PATH)
        if link is None:
            raise _MalformedEntry(f"no link to a paper page in {_text(entry)[:80]!r}")
        title = _text(link) or _clean(link.get("title", ""))
        if not title:
            raise _MalformedEntry(f"no title for {link['href']}")
        abstract_url = urljoin(page_url, link["href"])
        match = ABSTRACT_PAGE_PATH.search(urlsplit(abstract_url).path)
        section = match["section"] or ""
        return ListedPaper(
            source=self.source_name,
            source_id=f"{year}/{match['hash']}",
            title=title,
            authors=_split_names(_text(entry.find(class_="paper-authors") or entry.find("i"))),
            venue=self.venue,
            year=year,
            decision="accept",
            track=self.track_for_section(section),
            proceedings_url=abstract_url,
            pdf_url=_pdf_url_from_abstract_url(abstract_url, match["hash"]),
        )

    def paper_details(self, paper: ListedPaper) -> ListedPaper:
        """The paper with abstract, PDF link and track from its own page: `<h4>Abstract</h4>` and what follows,
        the `Paper` button, and the words after the volume link in "Part of <a>...</a> Main Conference Track"."""
        url = paper.proceedings_url
        soup = self._fetch_page(url, f"paper page of {paper.source_id}")
        abstract = _section_text(soup, "Abstract") or _text(soup.find(class_="paper-abstract"))
        if not abstract:
            raise ProceedingsUnavailable(f"no abstract on the paper page {url}; has the page layout changed?")
        paper_link = _link_with_text(soup.find_all("a", href=re.compile(r"\.pdf$")), "paper")
        pdf_url = urljoin(url, paper_link["href"]) if paper_link else _meta(soup, "citation_pdf_url") or paper.pdf_url
        authors = paper.authors or _split_names(_section_text(soup, "Authors"))
        return dataclasses.replace(
            paper, abstract=abstract, pdf_url=pdf_url, authors=authors, track=_part_of_track(soup) or paper.track
        )


class NeuripsProceedingsSource(_PaperFilesSite):
    """NeurIPS papers from papers.nips.cc: main conference and, from 2022, the Datasets and Benchmarks track."""

    base_url: str = "https://papers.nips.cc"
    first_year: int = 2017
    last_year: int = 2024

    source_name: ClassVar[str] = "neurips"
    venue: ClassVar[str] = "neurips"
    site_name: ClassVar[str] = "NeurIPS"
    track_names: ClassVar[dict[str, str]] = {
        "": "Main Conference Track",
        "Conference": "Main Conference Track",
        "Datasets_and_Benchmarks": "Datasets and Benchmarks Track",
        "Datasets_and_Benchmarks_Track": "Datasets and Benchmarks Track",
        "round1": "Datasets and Benchmarks Track",
        "round2": "Datasets and Benchmarks Track",
    }


class MlsysProceedingsSource(_PaperFilesSite):
    """MLSys papers from proceedings.mlsys.org; the track is the site's own section word, e.g. "mlsys2023"."""

    base_url: str = "https://proceedings.mlsys.org"
    first_year: int = 2019
    last_year: int = 2026

    source_name: ClassVar[str] = "mlsys"
    venue: ClassVar[str] = "mlsys"
    site_name: ClassVar[str] = "MLSys"


def _clean(text: str) -> str:
    return " ".join(text.split())


def _text(tag: Tag | None) -> str:
    return _clean(tag.get_text()) if tag is not None else ""


def _split_names(text: str) -> list[str]:
    return [name for name in (_clean(part) for part in text.split(",")) if name]


def _link_with_text(links: Iterable[Tag], *labels: str) -> Tag | None:
    """The first link whose text is one of `labels` (case-insensitive), trying the labels in order."""
    links = list(links)
    for label in labels:
        for link in links:
            if _text(link).lower() == label:
                return link
    return None


def _section_text(soup: BeautifulSoup, heading: str) -> str:
    """The text between a heading saying `heading` and the next heading."""
    for title in soup.find_all(HEADINGS):
        if _text(title).lower() != heading.lower():
            continue
        parts = []
        for sibling in title.find_next_siblings():
            if sibling.name in HEADINGS:
                break
            parts.append(_text(sibling))
        return _clean(" ".join(parts))
    return ""


def _part_of_track(soup: BeautifulSoup) -> str:
    """The words after the volume link in the paper page's "Part of <a>...</a> <track>" line."""
    for paragraph in soup.find_all("p"):
        link = paragraph.find("a")
        if link is not None and _text(paragraph).startswith("Part of"):
            return _clean(" ".join(node.get_text() for node in link.next_siblings))
    return ""


def _pdf_url_from_abstract_url(abstract_url: str, paper_hash: str) -> str:
    """`.../hash/<h>-Abstract-Conference.html` -> `.../file/<h>-Paper-Conference.pdf`, the site's own naming."""
    page = abstract_url.rsplit("/hash/", 1)
    name = page[1].replace(f"{paper_hash}-Abstract", f"{paper_hash}-Paper", 1).removesuffix(".html")
    return f"{page[0]}/file/{name}.pdf"


def _with_openreview(paper: ListedPaper, container: Tag) -> ListedPaper:
    link = container.find("a", href=re.compile(r"openreview\.net/forum\?"))
    forum_id = (parse_qs(urlsplit(link["href"]).query).get("id") or [""])[0] if link else ""
    if not forum_id:
        return paper
    return dataclasses.replace(paper, forum_url=link["href"], ids={**paper.ids, "openreview": forum_id})


def _meta(soup: BeautifulSoup, name: str) -> str:
    values = _metas(soup, name)
    return values[0] if values else ""


def _metas(soup: BeautifulSoup, name: str) -> list[str]:
    return [tag["content"] for tag in soup.find_all("meta", attrs={"name": name}) if tag.get("content")]


def _iso_date(value: str) -> str:
    """`2024/07/08` (the citation_publication_date form) -> `2024-07-08`; anything less precise -> ""."""
    match = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value.strip())
    return f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}" if match else ""
