"""OpenReview as a paper source: every submission of ICLR, ICML, NeurIPS and COLM it can see, with its decision,
read through openreview-py (API v2 for ICLR 2024+, ICML 2023+, NeurIPS 2023+, COLM 2024+; API v1 for ICLR 2017-2023)."""

import contextlib
import functools
import io
import logging
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import dagster as dg
import openreview
import requests
from pydantic import Field

from annapurna_resources.sources.listed_paper import ListedPaper, accepted_decision

log = logging.getLogger("annapurna.openreview")

OPENREVIEW_SITE = "https://openreview.net"
VENUE_GROUPS = {"iclr": "ICLR.cc", "icml": "ICML.cc", "neurips": "NeurIPS.cc", "colm": "colmweb.org/COLM"}
FIRST_API_V2_YEAR = {"iclr": 2024, "icml": 2023, "neurips": 2023, "colm": 2024}
FIRST_CONFIGURED_YEAR = 2023  # configured venues (`more_venues`) are read with API v2, which holds venues from 2023
ICLR_API_V1_YEARS = range(2017, 2024)
V2_DECISION_BY_VENUEID_SUFFIX = {
    "Rejected_Submission": "reject",
    "Withdrawn_Submission": "withdrawn",
    "Desk_Rejected_Submission": "desk_rejected",
}
V1_DECISION_BY_INVITATION_SUFFIX = {
    "/-/Withdrawn_Submission": "withdrawn",
    "/-/Desk_Rejected_Submission": "desk_rejected",
}
# openreview-py sends its requests without a timeout; a silent server would hang a listing forever.
REQUEST_TIMEOUT_S = 60
# openreview-py already retries 429/5xx (honouring Retry-After); a broken connection or cut-off body is not retried.
LISTING_ATTEMPTS = 2

T = TypeVar("T")


class OpenReviewUnavailable(Exception):
    """OpenReview could not be read; the message names the request and the reason."""


class OpenReviewSource(dg.ConfigurableResource):
    """Lists OpenReview submissions. Credentials are optional: public listings need none."""

    base_url: str = "https://api2.openreview.net"
    base_url_v1: str = "https://api.openreview.net"
    site_url: str = OPENREVIEW_SITE  # forum pages and PDFs
    username: str = ""
    password: str = ""
    more_venues: dict[str, str] = Field(
        default={},
        description="Other OpenReview venues, read with API v2 from 2023: partition name -> the prefix of their venue "
        "ids (<prefix>/<year>/Conference), e.g. {corl: robot-learning.org/CoRL, uai: auai.org/UAI}.",
    )

    def venue_groups(self) -> dict[str, str]:
        """Every venue this source lists (its partition name -> venue id prefix), the configured ones included."""
        configured = {name.lower(): group.strip("/") for name, group in self.more_venues.items()}
        return {**configured, **VENUE_GROUPS}  # a built-in venue keeps its own id and years

    def configured_first_years(self) -> dict[str, int]:
        """The configured venues and the first year each is listed for (their `conference_listing` partitions)."""
        return {name.lower(): FIRST_CONFIGURED_YEAR for name in self.more_venues if name.lower() not in VENUE_GROUPS}

    def covers(self, venue: str, year: int) -> bool:
        if venue not in self.venue_groups():
            return False
        return year >= FIRST_API_V2_YEAR.get(venue, FIRST_CONFIGURED_YEAR) or (
            venue == "iclr" and year in ICLR_API_V1_YEARS
        )

    def list_papers(self, venue: str, year: int) -> list[ListedPaper]:
        if not self.covers(venue, year):
            raise ValueError(f"OpenReview does not cover {venue} {year}")
        if year >= FIRST_API_V2_YEAR.get(venue, FIRST_CONFIGURED_YEAR):
            return self._list_api_v2(venue, year)
        return self._list_iclr_api_v1(year)

    def paper_details(self, paper: ListedPaper) -> ListedPaper:
        return paper

    def _list_api_v2(self, venue: str, year: int) -> list[ListedPaper]:
        venue_id = f"{self.venue_groups()[venue]}/{year}/Conference"
        invitation = f"{venue_id}/-/Submission"
        client = self._connect(openreview.api.OpenReviewClient, self.base_url)
        notes = self._call(
            f"listing {invitation} from {self.base_url}", lambda: client.get_all_notes(invitation=invitation)
        )
        papers = [_paper_from_v2_note(note, venue, year, venue_id, self.site_url) for note in notes]
        return _report(f"{venue} {year} (API v2, {invitation})", len(notes), papers)

    def _list_iclr_api_v1(self, year: int) -> list[ListedPaper]:
        if year == 2017:
            invitations = ["ICLR.cc/2017/conference/-/submission"]
        else:
            venue_id = f"ICLR.cc/{year}/Conference"
            invitations = [f"{venue_id}{suffix}" for suffix in V1_DECISION_BY_INVITATION_SUFFIX]
            invitations.append(f"{venue_id}/-/Blind_Submission")
        client = self._connect(openreview.Client, self.base_url_v1)
        notes = []
        for invitation in invitations:
            notes += self._call(
                f"listing {invitation} from {self.base_url_v1}",
                lambda: client.get_all_notes(invitation=invitation, details="directReplies"),
            )
        papers_by_forum: dict[str, ListedPaper | None] = {}
        for note in notes:  # withdrawn and desk-rejected come first: their decision wins over a leftover blind note
            papers_by_forum.setdefault(note.forum or note.id, _paper_from_v1_note(note, year, self.site_url))
        return _report(f"iclr {year} (API v1, {', '.join(invitations)})", len(notes), list(papers_by_forum.values()))

    def _connect(self, client_class: type[T], base_url: str) -> T:
        client = self._call(f"connecting to {base_url}", lambda: client_class(baseurl=base_url))
        client.session.request = functools.partial(client.session.request, timeout=REQUEST_TIMEOUT_S)
        client.session.hooks["response"].append(_raise_for_http_error)
        if self.username:
            self._call(f"logging in to {base_url}", lambda: client.login_user(self.username, self.password))
        return client

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Runs one openreview-py call with its printed output (tqdm bars on stderr, retry notices on stdout) kept
        off the terminal, retry notices logged, and every failure turned into OpenReviewUnavailable."""
        for attempt in range(1, LISTING_ATTEMPTS + 1):
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
                    return call()
            except _HttpError as error:
                raise OpenReviewUnavailable(f"OpenReview failed {what}: {error}") from error
            except openreview.OpenReviewException as error:
                raise OpenReviewUnavailable(f"OpenReview failed {what}: {_reason(error)}") from error
            except (requests.RequestException, KeyError) as error:
                if attempt == LISTING_ATTEMPTS:
                    raise OpenReviewUnavailable(
                        f"OpenReview failed {what} after {attempt} attempts: {error!r}"
                    ) from error
                log.warning("OpenReview failed %s (%r); trying again", what, error)
            finally:
                for line in printed.getvalue().splitlines():
                    log.warning("openreview-py: %s", line)
        raise AssertionError("unreachable")


class _HttpError(Exception):
    pass


def _raise_for_http_error(response: requests.Response, *args, **kwargs) -> None:
    """Runs on the answer left after openreview-py's own retries. Its API v2 client reads an error body while logging
    a retry, so once retries run out it finds the body empty and fails parsing it (JSONDecodeError) instead of
    reporting the status: report the status here."""
    if response.status_code >= 400:
        body = response.text.strip()[:300]
        request = response.request
        raise _HttpError(
            f"HTTP {response.status_code} {response.reason} for {request.method} {request.url}"
            + (f": {body}" if body else "")
        )


def _reason(error: openreview.OpenReviewException) -> str:
    detail = error.args[0] if error.args else error
    if isinstance(detail, dict):
        return " ".join(str(detail[key]) for key in ("status", "name", "message") if detail.get(key))
    return str(detail)


def _report(what: str, note_count: int, papers: list[ListedPaper | None]) -> list[ListedPaper]:
    listed = [paper for paper in papers if paper is not None]
    skipped = len(papers) - len(listed)
    decisions = Counter(paper.decision for paper in listed)
    log.info(
        "OpenReview %s: read %d notes, listed %d papers, decisions %s", what, note_count, len(listed), dict(decisions)
    )
    if skipped:
        log.warning("OpenReview %s: skipped %d notes without a title or with malformed content", what, skipped)
    return listed


def _paper_from_v2_note(note, venue: str, year: int, venue_id: str, site: str) -> ListedPaper | None:
    content = note.content if isinstance(note.content, dict) else {}

    def value(field: str, default):
        entry = content.get(field)
        return entry.get("value", default) if isinstance(entry, dict) else default

    title = value("title", "")
    if not isinstance(title, str) or not title.strip():
        return None
    forum_id = note.forum or note.id
    try:
        return ListedPaper(
            source="openreview",
            source_id=forum_id,
            title=title.strip(),
            authors=list(value("authors", [])),
            abstract=value("abstract", "").strip(),
            venue=venue,
            year=year,
            decision=decision_from_venue_fields(value("venueid", ""), value("venue", ""), venue_id),
            track=value("venue", ""),
            keywords=list(value("keywords", [])),
            primary_area=value("primary_area", ""),
            forum_url=f"{site}/forum?id={forum_id}",
            pdf_url=_pdf_url(value("pdf", ""), forum_id, site),
            ids={"openreview": forum_id},
        )
    except (TypeError, AttributeError):
        return None


def decision_from_venue_fields(venueid: str, venue_words: str, venue_id: str) -> str:
    """API v2: `venueid` says where the submission ended up, `venue` how the venue words an acceptance."""
    if venueid == venue_id:
        return accepted_decision(venue_words)
    return V2_DECISION_BY_VENUEID_SUFFIX.get(venueid.removeprefix(f"{venue_id}/"), "unknown")


def _paper_from_v1_note(note, year: int, site: str) -> ListedPaper | None:
    content = note.content if isinstance(note.content, dict) else {}
    title = content.get("title")
    if not isinstance(title, str) or not title.strip():
        return None
    forum_id = note.forum or note.id
    decision_words = _v1_decision_words(note)
    decision = next(
        (kind for suffix, kind in V1_DECISION_BY_INVITATION_SUFFIX.items() if (note.invitation or "").endswith(suffix)),
        decision_from_v1_words(decision_words),
    )
    try:
        return ListedPaper(
            source="openreview",
            source_id=forum_id,
            title=title.strip(),
            authors=list(content.get("authors") or []),
            abstract=(content.get("abstract") or "").strip(),
            venue="iclr",
            year=year,
            decision=decision,
            track=content.get("venue") or decision_words,
            keywords=list(content.get("keywords") or []),
            primary_area=content.get("primary_area") or "",
            forum_url=f"{site}/forum?id={forum_id}",
            pdf_url=_pdf_url(content.get("pdf") or "", forum_id, site),
            ids={"openreview": forum_id},
        )
    except (TypeError, AttributeError):
        return None


def _v1_decision_words(note) -> str:
    """The decision reply: `.../-/Acceptance_Decision` (2018), `.../PaperN/-/Decision` (2020+), `.../paperN/acceptance`
    (2017); ICLR 2019 put it in the meta review's `recommendation`."""
    replies = (note.details or {}).get("directReplies") or []
    meta_review_words = ""
    for reply in replies:
        invitation = reply.get("invitation", "").lower()
        reply_content = reply.get("content") or {}
        if invitation.endswith(("decision", "acceptance")) and reply_content.get("decision"):
            return reply_content["decision"]
        if invitation.endswith("meta_review") and reply_content.get("recommendation"):
            meta_review_words = reply_content["recommendation"]
    return meta_review_words


def decision_from_v1_words(words: str) -> str:
    """ "Accept (Oral)", "Accept (Talk)", "Accept: notable-top-5%", "Accept (Poster)", "Reject", "Invite to Workshop
    Track" (a conference reject) ..."""
    words = words.lower()
    if not words:
        return "unknown"
    if "reject" in words or "workshop" in words:
        return "reject"
    if any(kind in words for kind in ("oral", "talk", "top-5%")):
        return "oral"
    if "spotlight" in words or "top-25%" in words:
        return "spotlight"
    if "poster" in words:
        return "poster"
    return "accept" if words.startswith("accept") else "unknown"


def _pdf_url(pdf: str, forum_id: str, site: str) -> str:
    if isinstance(pdf, str) and pdf.startswith("/pdf"):
        return f"{site}{pdf}"
    if isinstance(pdf, str) and pdf.startswith("http"):
        return pdf
    return f"{site}/pdf?id={forum_id}"
