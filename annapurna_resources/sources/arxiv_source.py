"""arXiv as a paper source: the search API (through the `arxiv` package) for one day's submissions and id
lookups, and OAI-PMH ListRecords (metadataPrefix=arXiv) for harvesting a window of days."""

import datetime
import logging
import re
from collections.abc import Iterator

import arxiv
import dagster as dg
import requests
from lxml import etree
from pydantic import Field, PrivateAttr
from requests.adapters import HTTPAdapter

from annapurna_resources.sources.http_client import HttpFailure, PoliteHttpClient
from annapurna_resources.sources.listed_paper import ListedPaper

logger = logging.getLogger("annapurna.arxiv")

API_TIMEOUT_S = 60.0
OAI = "{http://www.openarchives.org/OAI/2.0/}"  # the namespace, as a tag prefix
ATOM = "{http://www.w3.org/2005/Atom}"
VERSION_SUFFIX = re.compile(r"v\d+$")
SAFE_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class ArxivUnavailable(Exception):
    """arXiv could not answer, or rejected the request; the message says which and why."""


class ArxivSource(dg.ConfigurableResource):
    """Lists arXiv papers. `delay_seconds` paces requests as arXiv asks (one per 3 s); tests set it to 0."""

    api_url: str = "https://export.arxiv.org/api/query"
    oai_url: str = "https://oaipmh.arxiv.org/oai"
    categories: list[str] = Field(
        default=["cs.LG", "cs.CL", "cs.AI", "cs.CV", "stat.ML"], description="The categories arxiv_listing lists."
    )
    query: str = Field(default="", description="An optional keyword query ANDed with the categories.")
    page_size: int = 100
    delay_seconds: float = Field(default=3.0, description="Seconds between arXiv API requests (arXiv asks for 3).")
    num_retries: int = 3
    max_results: int = Field(default=2000, description="Papers per day at most.")
    start_date: str = Field(default="2025-01-01", description="The first day arxiv_listing has a partition for.")

    _api_client: arxiv.Client | None = PrivateAttr(default=None)
    _oai_http: PoliteHttpClient | None = PrivateAttr(default=None)

    def api_client(self) -> arxiv.Client:
        """One client per resource, so its pacing holds across calls."""
        if self._api_client is None:
            self._api_client = _ArxivApiClient(self.api_url, self.page_size, self.delay_seconds, self.num_retries)
        return self._api_client

    def oai_http_client(self) -> PoliteHttpClient:
        if self._oai_http is None:
            self._oai_http = PoliteHttpClient(default_interval_s=self.delay_seconds, max_retries=self.num_retries)
        return self._oai_http

    def day_query(self, day: datetime.date) -> str:
        """The search_query for papers first submitted on `day` (GMT) in the configured categories."""
        stamp = day.strftime("%Y%m%d")
        parts = [f"submittedDate:[{stamp}0000 TO {stamp}2359]"]
        if self.categories:
            parts.insert(0, "(" + " OR ".join(f"cat:{category}" for category in self.categories) + ")")
        if self.query:
            parts.append(f"({self.query})")
        return " AND ".join(parts)

    def list_day(self, day: datetime.date) -> list[ListedPaper]:
        papers = self.search(
            self.day_query(day),
            max_results=self.max_results,
            sort_by=arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Ascending,
        )
        logger.info("arXiv listed %d papers submitted on %s", len(papers), day)
        if len(papers) >= self.max_results:
            logger.warning("arXiv listing of %s stopped at max_results=%d; the day may have more", day, len(papers))
        return papers

    def fetch_ids(self, arxiv_ids: list[str]) -> list[ListedPaper]:
        """The papers with these ids (with or without version); unknown ids are left out."""
        papers = []
        for first in range(0, len(arxiv_ids), self.page_size):
            batch = arxiv_ids[first : first + self.page_size]
            papers += self._run(arxiv.Search(id_list=batch, max_results=len(batch)))
        logger.info("arXiv id lookup: %d of %d ids found", len(papers), len(arxiv_ids))
        return papers

    def search(
        self,
        search_query: str,
        max_results: int | None = None,
        sort_by: arxiv.SortCriterion = arxiv.SortCriterion.Relevance,
        sort_order: arxiv.SortOrder = arxiv.SortOrder.Descending,
    ) -> list[ListedPaper]:
        """Every result of an arXiv API search_query, fetched `page_size` at a time, up to `max_results`."""
        return self._run(arxiv.Search(search_query, max_results=max_results, sort_by=sort_by, sort_order=sort_order))

    def _run(self, search: arxiv.Search) -> list[ListedPaper]:
        try:
            return [_paper_from_result(result) for result in self.api_client().results(search)]
        except arxiv.HTTPError as error:
            raise ArxivUnavailable(
                f"arXiv API answered HTTP {error.status} after {error.retry + 1} tries ({error.url})"
            ) from error
        except arxiv.UnexpectedEmptyPageError as error:
            raise ArxivUnavailable(f"arXiv API kept answering an empty page mid-listing ({error.url})") from error
        except requests.RequestException as error:
            raise ArxivUnavailable(f"arXiv API could not be reached: {type(error).__name__}: {error}") from error

    def harvest(self, set_spec: str, from_date: datetime.date, until_date: datetime.date) -> Iterator[ListedPaper]:
        """Every record of an OAI-PMH set whose datestamp (last change, not submission) is in the window."""
        params = {
            "verb": "ListRecords",
            "metadataPrefix": "arXiv",
            "set": set_spec,
            "from": from_date.isoformat(),
            "until": until_date.isoformat(),
        }
        pages = papers = 0
        while params:
            root = self._oai_request(params)
            error = root.find(OAI + "error")
            if error is not None and error.get("code") == "noRecordsMatch":
                break
            if error is not None:
                raise ArxivUnavailable(f"OAI-PMH error {error.get('code')}: {(error.text or '').strip()}")
            records = root.findall(f"{OAI}ListRecords/{OAI}record")
            live = [record for record in records if record.find(OAI + "header").get("status") != "deleted"]
            pages, papers = pages + 1, papers + len(live)
            skipped = len(records) - len(live)
            logger.info("OAI-PMH %s page %d: %d records, %d deleted skipped", set_spec, pages, len(records), skipped)
            for record in live:
                yield _paper_from_oai_record(record)
            token = (root.findtext(f"{OAI}ListRecords/{OAI}resumptionToken") or "").strip()
            if token and token == params.get("resumptionToken"):
                raise ArxivUnavailable(f"OAI-PMH repeated resumptionToken {token!r}; stopping to avoid a loop")
            params = {"verb": "ListRecords", "resumptionToken": token} if token else {}
        logger.info("OAI-PMH %s %s..%s: %d papers in %d pages", set_spec, from_date, until_date, papers, pages)

    def _oai_request(self, params: dict[str, str]) -> etree._Element:
        try:
            reply = self.oai_http_client().get(self.oai_url, params=params)
        except HttpFailure as failure:
            raise ArxivUnavailable(f"OAI-PMH request failed: {failure}") from failure
        try:
            root = etree.fromstring(reply.content, SAFE_XML_PARSER)
        except etree.XMLSyntaxError as error:
            raise ArxivUnavailable(f"OAI-PMH answered something that is not XML ({reply.url}): {error}") from error
        if root.tag != OAI + "OAI-PMH":
            raise ArxivUnavailable(f"OAI-PMH answered a {root.tag} document, not OAI-PMH ({reply.url})")
        return root

    def paper_details(self, paper: ListedPaper) -> ListedPaper:
        """Listings already carry everything arXiv knows."""
        return paper


class _TimeoutAdapter(HTTPAdapter):
    """The `arxiv` package sends requests without a timeout; a stalled connection would hang a run."""

    def send(self, request, timeout=None, **kwargs):
        return super().send(request, timeout=timeout or API_TIMEOUT_S, **kwargs)


class _ArxivApiClient(arxiv.Client):
    """`arxiv.Client` sending its queries to `api_url`, with a timeout, failing at once on a rejected query."""

    def __init__(self, api_url: str, page_size: int, delay_seconds: float, num_retries: int):
        super().__init__(page_size=page_size, delay_seconds=delay_seconds, num_retries=num_retries)
        self.query_url_format = api_url + "?{}"
        self._session.mount("https://", _TimeoutAdapter())
        self._session.mount("http://", _TimeoutAdapter())
        self._session.hooks["response"].append(_raise_if_rejected)


def _raise_if_rejected(response: requests.Response, *args, **kwargs) -> None:
    """arXiv answers a malformed query (e.g. a bad id) with HTTP 400 and an Atom error entry. `arxiv.Client`
    would retry it and then raise an HTTPError without the body, so it is raised here with arXiv's words."""
    if 400 <= response.status_code < 500 and response.status_code != 429:
        raise ArxivUnavailable(
            f"arXiv rejected the query (HTTP {response.status_code}): {_atom_error_message(response.content)}"
            f" ({response.url})"
        )


def _atom_error_message(body: bytes) -> str:
    try:
        root = etree.fromstring(body, SAFE_XML_PARSER)
    except etree.XMLSyntaxError:
        root = None
    summary = root.findtext(f"{ATOM}entry/{ATOM}summary") if root is not None else None
    return _collapse(summary) if summary else _collapse(body[:200].decode("utf-8", errors="replace"))


def _paper_from_result(result: arxiv.Result) -> ListedPaper:
    arxiv_id = VERSION_SUFFIX.sub("", result.get_short_id())
    categories = result.categories
    if result.primary_category:
        categories = [result.primary_category] + [c for c in categories if c != result.primary_category]
    return _arxiv_paper(
        arxiv_id,
        title=result.title,
        authors=[author.name for author in result.authors],
        abstract=result.summary,
        categories=categories,
        published=result.published.date(),
        track=result.journal_ref or result.comment or "",
    )


def _paper_from_oai_record(record: etree._Element) -> ListedPaper:
    """One record in the `arXiv` metadata format; matched by local name, whatever namespace the fields carry."""
    metadata = record.find(OAI + "metadata")
    fields = next(iter(metadata))
    authors = []
    for author in _children(_child(fields, "authors"), "author"):
        parts = [_child_text(author, "forenames"), _child_text(author, "keyname"), _child_text(author, "suffix")]
        authors.append(" ".join(part for part in parts if part))
    return _arxiv_paper(
        VERSION_SUFFIX.sub("", _child_text(fields, "id")),
        title=_child_text(fields, "title"),
        authors=authors,
        abstract=_child_text(fields, "abstract"),
        categories=_child_text(fields, "categories").split(),
        published=datetime.date.fromisoformat(_child_text(fields, "created")),
        track=_child_text(fields, "journal-ref") or _child_text(fields, "comments"),
    )


def _arxiv_paper(
    arxiv_id: str,
    *,
    title: str,
    authors: list[str],
    abstract: str,
    categories: list[str],
    published: datetime.date,
    track: str,
) -> ListedPaper:
    return ListedPaper(
        source="arxiv",
        source_id=arxiv_id,
        arxiv_id=arxiv_id,
        title=_collapse(title),
        authors=authors,
        abstract=_collapse(abstract),
        venue="arxiv",
        year=published.year,
        decision="preprint",
        track=_collapse(track),
        categories=categories,
        published=published.isoformat(),
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        forum_url=f"https://arxiv.org/abs/{arxiv_id}",
    )


def _children(element: etree._Element | None, name: str) -> list[etree._Element]:
    if element is None:
        return []
    return [child for child in element if isinstance(child.tag, str) and etree.QName(child).localname == name]


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    return next(iter(_children(element, name)), None)


def _child_text(element: etree._Element | None, name: str) -> str:
    child = _child(element, name)
    return _collapse("".join(child.itertext())) if child is not None else ""


def _collapse(text: str) -> str:
    return " ".join(text.split())
