"""Loopback fakes of arXiv's search API and OAI-PMH interface that replay real recorded responses.

Origins (see ../shared/data/README.md; read at test time, never copied into this repository):
- `arxiv_api/recorded_json/*.json`: real export.arxiv.org/api/query responses (request URL, HTTP status, Atom
  body) recorded by lukasschwab/arxiv.py, `tests/fixtures/`, commit 93315e7ce9f4, MIT licence.
- `arxiv_oai/*.xml`: real arXiv OAI-PMH GetRecord/ListRecords responses (export.arxiv.org/oai2,
  metadataPrefix=arXiv) from inspirehep/hepcrawl, `tests/functional/arxiv/fixtures/http_server/records/` and
  `tests/unit/responses/arxiv/`, commit 8deff5b6bc65, BSD-3-Clause.
"""

import copy
import datetime
import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from tests.conftest import SHARED_DATA
from tests.fakes.loopback import Reply, Request

ARXIV_API_RECORDINGS = SHARED_DATA / "arxiv_api" / "recorded_json"
ARXIV_OAI_RESPONSES = SHARED_DATA / "arxiv_oai"
OAI = "http://www.openarchives.org/OAI/2.0/"

requires_arxiv_data = pytest.mark.skipif(
    not (ARXIV_API_RECORDINGS.is_dir() and ARXIV_OAI_RESPONSES.is_dir()),
    reason=f"needs the recorded arXiv responses in {SHARED_DATA}/arxiv_api and arxiv_oai (../shared/data is absent)",
)


@dataclass(frozen=True)
class RecordedQuery:
    search_query: str
    id_list: str
    start: int
    max_results: int
    status: int
    body: str

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.search_query, self.id_list, self.start, self.max_results)

    def entry_ids(self) -> list[str]:
        root = etree.fromstring(self.body.encode())
        return [entry.findtext("{http://www.w3.org/2005/Atom}id") for entry in root.iter("{*}entry")]


def load_recorded_queries() -> list[RecordedQuery]:
    recordings = []
    for path in sorted(ARXIV_API_RECORDINGS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        args = {
            name: values[0] for name, values in parse_qs(urlsplit(data["url"]).query, keep_blank_values=True).items()
        }
        recordings.append(
            RecordedQuery(
                args.get("search_query", ""),
                args.get("id_list", ""),
                int(args.get("start", "0")),
                int(args.get("max_results", "10")),
                data["status_code"],
                data["body"],
            )
        )
    return recordings


def atom_reply(recording: RecordedQuery) -> Reply:
    return Reply(recording.status, recording.body, {"Content-Type": "application/atom+xml; charset=UTF-8"})


class ArxivApiReplay:
    """Answers a query with the recording of the same search_query, id_list, start and max_results, or 404.
    `serve_every_search_as` answers any non-empty search_query with that query's recordings, for tests that
    check the query a caller builds."""

    def __init__(self, serve_every_search_as: str | None = None):
        self.recordings = {recording.key: recording for recording in load_recorded_queries()}
        self.serve_every_search_as = serve_every_search_as

    def recording(self, search_query: str = "", id_list: str = "", start: int = 0, max_results: int = 100):
        return self.recordings[(search_query, id_list, start, max_results)]

    def __call__(self, request: Request) -> Reply:
        search_query = request.arg("search_query", "")
        if search_query and self.serve_every_search_as:
            search_query = self.serve_every_search_as
        key = (
            search_query,
            request.arg("id_list", ""),
            int(request.arg("start", "0")),
            int(request.arg("max_results", "10")),
        )
        recording = self.recordings.get(key)
        if recording is None:
            return Reply(404, f"no recorded arXiv API response for {key}")
        return atom_reply(recording)


def load_real_oai_records() -> list[etree._Element]:
    """Every distinct record (by OAI identifier) in the recorded GetRecord and ListRecords responses."""
    records: dict[str, etree._Element] = {}
    for path in sorted(ARXIV_OAI_RESPONSES.glob("*.xml")):
        for record in etree.parse(str(path)).getroot().iter(f"{{{OAI}}}record"):
            records.setdefault(record.findtext(f"{{{OAI}}}header/{{{OAI}}}identifier").strip(), record)
    return list(records.values())


class OaiPmhReplay:
    """An arXiv OAI-PMH ListRecords endpoint over real records.

    The records are real; the paging is ours: each recorded response is a single page, so the records are
    served `page_size` at a time, linked by our own resumptionTokens (`page-<n>`), the last page ending with an
    empty resumptionToken (or none, with `final_token_element=False`). The deletions are ours too: no real
    record is deleted, so the identifiers in `deleted` are served as their real header with status="deleted"
    and no metadata. Faults: `busy_once_on_page` answers that page's first request with 503 + Retry-After;
    `expired_page` answers the token of that page with badResumptionToken; `empty_sets` answer noRecordsMatch.
    """

    def __init__(
        self,
        records: list[etree._Element],
        page_size: int = 5,
        deleted: frozenset[str] = frozenset(),
        final_token_element: bool = True,
        busy_once_on_page: int | None = None,
        retry_after: str = "7",
        expired_page: int | None = None,
        empty_sets: frozenset[str] = frozenset(),
    ):
        self.pages = [records[first : first + page_size] for first in range(0, len(records), page_size)]
        self.record_count = len(records)
        self.page_size = page_size
        self.deleted = deleted
        self.final_token_element = final_token_element
        self.busy_once_on_page = busy_once_on_page
        self.retry_after = retry_after
        self.expired_page = expired_page
        self.empty_sets = empty_sets

    def __call__(self, request: Request) -> Reply:
        args = {name: values[0] for name, values in request.query.items()}
        if args.get("verb") != "ListRecords":
            return self._error(args, "badVerb", "only ListRecords is served here")
        if "resumptionToken" in args:
            if set(args) != {"verb", "resumptionToken"}:
                return self._error(args, "badArgument", "resumptionToken is an exclusive argument")
            page = self._page_of(args["resumptionToken"])
            if page is None or page == self.expired_page:
                return self._error(
                    args, "badResumptionToken", "The value of the resumptionToken argument is invalid or expired."
                )
        else:
            if args.get("metadataPrefix") != "arXiv":
                return self._error(args, "cannotDisseminateFormat", f"{args.get('metadataPrefix')} is not served here")
            if args.get("set") in self.empty_sets:
                return self._error(
                    args,
                    "noRecordsMatch",
                    "The combination of the values of the from, until, set and metadataPrefix arguments results in an "
                    "empty list.",
                )
            page = 0
        if page == self.busy_once_on_page:
            self.busy_once_on_page = None
            return Reply(503, "Service Unavailable: harvest busy, retry later", {"Retry-After": self.retry_after})
        return self._xml(self._list_records(args, page))

    def _page_of(self, token: str) -> int | None:
        number = token.removeprefix("page-")
        if not number.isdigit() or not 0 < int(number) < len(self.pages):
            return None
        return int(number)

    def _list_records(self, args: dict[str, str], page: int) -> etree._Element:
        root = self._envelope(args)
        listing = etree.SubElement(root, f"{{{OAI}}}ListRecords")
        for record in self.pages[page]:
            listing.append(self._served(record))
        token = etree.Element(
            f"{{{OAI}}}resumptionToken", cursor=str(page * self.page_size), completeListSize=str(self.record_count)
        )
        if page + 1 < len(self.pages):
            token.text = f"page-{page + 1}"
            listing.append(token)
        elif self.final_token_element:
            listing.append(token)
        return root

    def _served(self, record: etree._Element) -> etree._Element:
        record = copy.deepcopy(record)
        header = record.find(f"{{{OAI}}}header")
        if header.findtext(f"{{{OAI}}}identifier").strip() in self.deleted:
            header.set("status", "deleted")
            record.remove(record.find(f"{{{OAI}}}metadata"))
        return record

    def _error(self, args: dict[str, str], code: str, message: str) -> Reply:
        root = self._envelope(args)
        etree.SubElement(root, f"{{{OAI}}}error", code=code).text = message
        return self._xml(root)

    def _envelope(self, args: dict[str, str]) -> etree._Element:
        root = etree.Element(f"{{{OAI}}}OAI-PMH", nsmap={None: OAI})
        now = datetime.datetime.now(datetime.timezone.utc)
        etree.SubElement(root, f"{{{OAI}}}responseDate").text = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        etree.SubElement(root, f"{{{OAI}}}request", attrib=args).text = "https://oaipmh.arxiv.org/oai"
        return root

    @staticmethod
    def _xml(root: etree._Element) -> Reply:
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return Reply(200, body, {"Content-Type": "text/xml; charset=UTF-8"})
