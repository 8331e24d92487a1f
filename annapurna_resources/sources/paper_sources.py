"""Every paper source behind one interface: conference listings, arXiv days and windows, and per-paper details.

Which site lists a venue-year is decided here (the first configured source that covers it: a listing file
configured for it, then OpenReview, which carries decisions, keywords and rejected papers, then the proceedings
sites), never in asset code.
"""

import datetime
from collections.abc import Iterator

import dagster as dg

from annapurna_resources.sources.arxiv_source import ArxivSource, ArxivUnavailable
from annapurna_resources.sources.listed_paper import ListedPaper
from annapurna_resources.sources.listing_files import ListingFileSource, ListingFileUnavailable
from annapurna_resources.sources.openreview_source import OpenReviewSource, OpenReviewUnavailable
from annapurna_resources.sources.proceedings_source import (
    MlsysProceedingsSource,
    NeuripsProceedingsSource,
    PmlrSource,
    ProceedingsUnavailable,
)

SOURCE_ERRORS = (OpenReviewUnavailable, ProceedingsUnavailable, ArxivUnavailable, ListingFileUnavailable)


class SourceUnavailable(Exception):
    """A source could not be read; the message says which and why."""


class PaperSources(dg.ConfigurableResource):
    files: ListingFileSource
    openreview: OpenReviewSource
    pmlr: PmlrSource
    neurips: NeuripsProceedingsSource
    mlsys: MlsysProceedingsSource
    arxiv: ArxivSource

    def _conference_sources(self) -> dict[str, object]:
        return {
            "listing file": self.files,
            "openreview": self.openreview,
            "pmlr": self.pmlr,
            "neurips": self.neurips,
            "mlsys": self.mlsys,
        }

    def conference_source_name(self, venue: str, year: int) -> str | None:
        return next((n for n, s in self._conference_sources().items() if s.covers(venue, year)), None)

    def list_conference(self, venue: str, year: int) -> tuple[str, list[ListedPaper]]:
        """(source name, every paper the source lists for the venue-year, with decisions)."""
        name = self.conference_source_name(venue, year)
        if name is None:
            raise SourceUnavailable(f"no configured source lists {venue} {year}")
        try:
            return name, self._conference_sources()[name].list_papers(venue, year)
        except SOURCE_ERRORS as error:
            raise SourceUnavailable(f"{name} could not list {venue} {year}: {error}") from error

    def list_arxiv_day(self, day: datetime.date) -> list[ListedPaper]:
        try:
            return self.arxiv.list_day(day)
        except ArxivUnavailable as error:
            raise SourceUnavailable(f"arXiv could not list {day}: {error}") from error

    def harvest_arxiv(self, first_day: datetime.date, last_day: datetime.date) -> Iterator[ListedPaper]:
        """OAI-PMH harvest of the configured categories' archives over a window (for backfills of many days)."""
        wanted, seen = set(self.arxiv.categories), set()
        for set_spec in sorted({_oai_set(category) for category in wanted}):
            try:
                for paper in self.arxiv.harvest(set_spec, first_day, last_day):
                    if wanted & set(paper.categories) and paper.source_id not in seen:
                        seen.add(paper.source_id)
                        yield paper
            except ArxivUnavailable as error:
                raise SourceUnavailable(f"arXiv OAI-PMH harvest of {set_spec} failed: {error}") from error

    def details(self, paper: ListedPaper) -> ListedPaper:
        """The paper with what its own page adds (abstract, PDF link) when the listing lacked it."""
        source = {**self._conference_sources(), "arxiv": self.arxiv}.get(paper.source)
        if source is None:
            return paper
        try:
            return source.paper_details(paper)
        except SOURCE_ERRORS as error:
            raise SourceUnavailable(f"{paper.source} details of {paper.source_id}: {error}") from error


def _oai_set(category: str) -> str:
    """arXiv OAI-PMH sets are archives (`cs`, `stat`, `math`, `physics:hep-th`): cs.LG is in set `cs`."""
    archive = category.split(".")[0]
    return archive if archive in ("cs", "stat", "math", "econ", "eess", "q-bio", "q-fin") else f"physics:{archive}"
