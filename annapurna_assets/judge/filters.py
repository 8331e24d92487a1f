"""Cheap filters before the judge: keywords a paper must mention, keywords that rule it out, authors always judged.

A paper the filters rule out gets a reject verdict that says why (judge `filters`), without an embedding or an LLM
call; every other paper goes to the judge as before.
"""

import re

import dagster as dg
from pydantic import Field

from annapurna_resources.storage.paper_document import MetadataSection, VerdictSection

FILTER_JUDGE = "filters"
RULED_OUT = "filtered out before the judge"


class PaperFilters(dg.Config):
    """Words match whole words of the title, abstract or author keywords, in any case."""

    keywords: list[str] = Field(
        default=[], description="Only papers mentioning one of these reach the judge (none: every paper)."
    )
    exclude_keywords: list[str] = Field(default=[], description="Papers mentioning any of these are rejected unjudged.")
    authors: list[str] = Field(default=[], description="Papers by any of these authors always reach the judge.")

    def rules_out(self, metadata: MetadataSection) -> str | None:
        """Why the filters reject the paper, or None when it goes to the judge."""
        followed = {name.casefold() for name in self.authors}
        if followed & {name.casefold() for name in metadata.get("authors", [])}:
            return None
        text = " ".join([metadata.get("title", ""), metadata.get("abstract", ""), *metadata.get("keywords", [])])
        excluded = [word for word in self.exclude_keywords if word.strip() and _mentions(text, word)]
        if excluded:
            return f"{RULED_OUT}: it mentions {', '.join(excluded)} (lifecycle.filters.exclude_keywords)"
        wanted = [word for word in self.keywords if word.strip()]
        if wanted and not any(_mentions(text, word) for word in wanted):
            return f"{RULED_OUT}: it mentions none of {', '.join(wanted)} (lifecycle.filters.keywords)"
        return None


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


def filtered_verdict(reason: str) -> VerdictSection:
    return VerdictSection(
        judge=FILTER_JUDGE,
        model="",
        prompt_version="",
        decision="reject",
        relevance=0.0,
        novelty=0.0,
        reasons=[reason],
        neighbours=[],
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
    )
