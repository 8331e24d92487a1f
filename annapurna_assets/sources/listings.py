"""Where papers come from: conference years (static partitions) and arXiv days (daily partitions).

Materializing a listing partition registers its papers as `papers` partitions; `lifecycle_batch_sensor`
then runs their lifecycle in batches without further clicks.
"""

import datetime
from collections import Counter

import dagster as dg
from pydantic import Field

from annapurna_assets.sources.registration import Registration, register_papers
from annapurna_resources import MiniLMEmbedder, PaperIndex, PaperSources
from annapurna_resources.sources.listed_paper import ACCEPTED_DECISIONS, DECISIONS, ListedPaper
from annapurna_resources.sources.paper_sources import SourceUnavailable

GROUP = "discover"
FIRST_PAPERS_SHOWN = 25  # new papers linked from a listing's materialization
FIRST_YEAR = {"iclr": 2017, "icml": 2017, "neurips": 2017, "mlsys": 2019, "colm": 2024}


def conference_partitions(more_venues: dict[str, int] | None = None) -> dg.StaticPartitionsDefinition:
    """`<venue>-<year>` from each venue's first year to this one; `more_venues` (name -> first year) adds venues."""
    first_years = {**(more_venues or {}), **FIRST_YEAR}  # a built-in venue keeps its years
    this_year = datetime.date.today().year
    return dg.StaticPartitionsDefinition(
        [f"{venue}-{year}" for venue, first in first_years.items() for year in range(first, this_year + 1)]
    )


class ConferenceListingConfig(dg.Config):
    decisions: list[str] = Field(
        default=list(ACCEPTED_DECISIONS),
        description=f"Which papers become partitions, by the venue's decision: any of {', '.join(DECISIONS)}. "
        "Accepted papers only by default; add reject, withdrawn, ... to register every submission.",
    )
    limit: int = Field(
        default=0, description="Register only the first N kept papers (0: all): a quick look at a new venue."
    )


def registration_metadata(listed: list[ListedPaper], kept: list[ListedPaper], registration: Registration, index):
    shown = registration.new_keys[:FIRST_PAPERS_SHOWN]
    new_titles = index.get_many(shown)
    sample = "\n".join(
        f"| [{key}](/assets/paper_metadata?view=partitions&partition={key}) | "
        f"{new_titles.get(key, {}).get('source', {}).get('paper', {}).get('title', '')[:90]} |"
        for key in shown
    )
    return {
        "listed": len(listed),
        "kept": len(kept),
        "by_decision": dg.MetadataValue.json(dict(Counter(p.decision for p in listed).most_common())),
        "new_papers": len(registration.new_keys),
        "merged_into_existing": len(registration.merged),
        "already_registered": registration.already_registered,
        "merges": dg.MetadataValue.json(dict(list(registration.merged.items())[:50])),
        "first_new_papers": dg.MetadataValue.md("| paper | title |\n|---|---|\n" + sample if sample else "_none_"),
        "all_papers": dg.MetadataValue.url("/assets/paper_metadata?view=partitions"),
    }


def build_conference_listing(more_venues: dict[str, int] | None = None) -> dg.AssetsDefinition:
    """`conference_listing`, one partition per venue-year; `more_venues` (name -> first year) are the OpenReview
    venues a team configured (`paper_sources.openreview.more_venues`)."""

    @dg.asset(
        name="conference_listing",
        partitions_def=conference_partitions(more_venues),
        group_name=GROUP,
        kinds={"python"},
    )
    def conference_listing(
        context: dg.AssetExecutionContext,
        config: ConferenceListingConfig,
        paper_sources: PaperSources,
        paper_index: PaperIndex,
        embedder: MiniLMEmbedder,
    ) -> dg.MaterializeResult:
        """Every paper of one venue-year (OpenReview, PMLR, NeurIPS or MLSys proceedings), registered as `papers`
        partitions with their listing metadata; by default only accepted papers are kept."""
        unknown = set(config.decisions) - set(DECISIONS)
        if unknown:
            raise dg.Failure(f"unknown decisions {sorted(unknown)}; choose from {DECISIONS}")
        venue, year = context.partition_key.rsplit("-", 1)
        try:
            source, listed = paper_sources.list_conference(venue, int(year))
        except SourceUnavailable as error:
            raise dg.Failure(str(error)) from error
        kept = [paper for paper in listed if paper.decision in config.decisions]
        if config.limit:
            kept = kept[: config.limit]
        registration = register_papers(context.instance, paper_index, kept, context.partition_key, embedder.embed)
        context.log.info(
            f"{context.partition_key}: {len(listed)} listed by {source}, {len(kept)} kept, "
            f"{len(registration.new_keys)} new, {len(registration.merged)} merged into existing papers"
        )
        return dg.MaterializeResult(
            metadata={"source": source, **registration_metadata(listed, kept, registration, paper_index)}
        )

    return conference_listing


conference_listing = build_conference_listing()
"""The listing of the built-in venues (tests and scripts; the definitions add the configured ones)."""


def build_arxiv_listing(start_date: str) -> dg.AssetsDefinition:
    """`arxiv_listing`, one partition per day from `start_date` (the arXiv source's setting) to today."""

    @dg.asset(
        name="arxiv_listing",
        partitions_def=dg.DailyPartitionsDefinition(start_date=start_date, end_offset=0),
        group_name=GROUP,
        kinds={"python"},
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def arxiv_listing(
        context: dg.AssetExecutionContext,
        paper_sources: PaperSources,
        paper_index: PaperIndex,
        embedder: MiniLMEmbedder,
    ) -> dg.MaterializeResult:
        """The configured arXiv categories' papers of one day (search API), or of a whole backfilled window in one
        run (OAI-PMH ListRecords with resumption tokens), registered as `papers` partitions."""
        window = context.partition_time_window
        first_day, last_day = window.start.date(), (window.end - datetime.timedelta(days=1)).date()
        try:
            if first_day == last_day:
                method, listed = "search API", paper_sources.list_arxiv_day(first_day)
            else:
                method, listed = "OAI-PMH", list(paper_sources.harvest_arxiv(first_day, last_day))
        except SourceUnavailable as error:
            raise dg.Failure(str(error)) from error
        listing = f"arxiv-{first_day}" if first_day == last_day else f"arxiv-{first_day}-to-{last_day}"
        registration = register_papers(context.instance, paper_index, listed, listing, embedder.embed)
        context.log.info(f"{listing}: {len(listed)} papers via {method}, {len(registration.new_keys)} new")
        return dg.MaterializeResult(
            metadata={
                "method": method,
                "days": len(context.partition_keys),
                **registration_metadata(listed, listed, registration, paper_index),
            }
        )

    return arxiv_listing
