"""A loopback OpenReview API: GET /notes (API v2 and v1) and POST /login, served from real listings.

Note shapes: API v2 notes as openreview-py 2.9.1 reads them (`openreview.api.Note.from_json`: id, forum, number,
invitations, domain, content.<field>.value, cdate/mdate/tcdate/tmdate/pdate, signatures, readers, writers) with the
venueid/venue values OpenReview's docs describe (docs.openreview.net, "getting all notes" / querying by venueid:
accepted = the venue id, else `<venue id>/Rejected_Submission`, `/Withdrawn_Submission`, `/Desk_Rejected_Submission`);
API v1 notes as `openreview.Note.from_json` reads them (an `invitation`, plain content values, details.directReplies).
Paging as openreview-py's `tools.efficient_iterget` asks for it: first `GET /notes?invitation=..&sort=id&limit=1000
&count=true`, then `..&after=<last id of the previous page>&count=false` until a page comes back empty; v1's get_notes
never sends `count`, so the count is always answered. limit is capped at 1000 like the real API; offset is honoured too.

Rows (read at call time, never copied into the repository), under ../shared/data/listings/:
- openreview_api_v2_tsv/ICML_cc_2024_Conference.tsv: 1,791 ICML 2024 papers exported from API v2 (tab-separated, no
  header: forum_url, title, authors, keywords, primary_area, venue, pdf_url, supplementary_material, TLDR, spotlight,
  abstract); keywords, primary area and TLDR are empty in this export, so the notes leave those fields out.
- iclr2025_openreview_all_submissions.csv: 11,672 ICLR 2025 submissions (Title, Authors, Decision = the venue field);
  no forum ids or abstracts, so ids are derived from the title.
- papercopilot/iclr__iclr2018.json: Paper Copilot's 995 ICLR 2018 submissions (id, title, author, abstract, keywords,
  tldr, status = Oral / Poster / Workshop / Reject / Withdraw / Active).
"""

import base64
import csv
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from tests.fakes.loopback import LoopbackServer, Reply, Request

SHARED_LISTINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "listings"
ICML_2024_TSV = SHARED_LISTINGS / "openreview_api_v2_tsv" / "ICML_cc_2024_Conference.tsv"
ICLR_2025_CSV = SHARED_LISTINGS / "iclr2025_openreview_all_submissions.csv"
ICLR_2018_PAPERCOPILOT = SHARED_LISTINGS / "papercopilot" / "iclr__iclr2018.json"
API_PAGE_LIMIT = 1000

# Replaces the answer to one request: receives the answer the fake would give, returns what is sent instead.
Fault = Callable[[Reply], Reply]


def rate_limited(retry_after_s: int = 1) -> Fault:
    error = {"name": "RateLimitError", "message": "Too many requests, please try again later", "status": 429}
    return lambda answer: Reply.json(error, 429, **{"Retry-After": str(retry_after_s)})


def server_error(status: int = 503) -> Fault:
    error = {"name": "ServerError", "message": f"fake OpenReview answers {status}", "status": status}
    return lambda answer: Reply.json(error, status)


def truncated_body() -> Fault:
    return lambda answer: replace(answer, truncate_to=len(answer.body) // 2)


class FakeOpenReview:
    """Answers `GET /notes` from `notes` (v2 and v1 notes side by side; v1 replies such as decisions are notes too,
    attached to their forum note when `details=directReplies` is asked) and `POST /login` for any credentials.
    `faults` are used up one per request, in order; None answers that request normally."""

    def __init__(self, notes: Iterable[dict], faults: Iterable[Fault | None] = ()):
        self.notes = list(notes)
        self.faults = list(faults)
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        answer = self._answer(request)
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        return fault(answer) if fault else answer

    def _answer(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/login":
            user = {"id": "~Fake_User1", "profile": {"id": "~Fake_User1"}}
            return Reply.json({"token": "fake-token", "user": user})
        if request.method != "GET" or request.path != "/notes":
            return Reply.json({"name": "NotFoundError", "message": f"no route {request.path}", "status": 404}, 404)
        matching = [note for note in self.notes if _matches(note, request)]
        sort_field, _, direction = (request.arg("sort") or "id").partition(":")
        matching.sort(key=lambda note: note.get(sort_field) or 0, reverse=direction == "desc")
        after = request.arg("after")
        if after:
            matching = [note for note in matching if note["id"] > after]
        offset = int(request.arg("offset") or 0)
        limit = min(int(request.arg("limit") or API_PAGE_LIMIT), API_PAGE_LIMIT)
        page = matching[offset : offset + limit]
        if "directReplies" in (request.arg("details") or ""):
            page = [dict(note, details={"directReplies": self._replies_to(note["id"])}) for note in page]
        count = sum(1 for note in self.notes if _matches(note, request))
        return Reply.json({"notes": page, "count": count})

    def _replies_to(self, note_id: str) -> list[dict]:
        return [note for note in self.notes if note.get("replyto") == note_id]


def _matches(note: dict, request: Request) -> bool:
    invitation = request.arg("invitation")
    if invitation and invitation not in note.get("invitations", [note.get("invitation")]):
        return False
    return all(note.get(field) == request.arg(field) for field in ("id", "forum", "replyto") if request.arg(field))


@contextmanager
def serve_openreview(notes: Iterable[dict], faults: Iterable[Fault | None] = ()) -> Iterator[LoopbackServer]:
    """`with serve_openreview(notes) as server: OpenReviewSource(base_url=server.url, base_url_v1=server.url)`;
    `server.requests` records every request."""
    with LoopbackServer(FakeOpenReview(notes, faults)) as server:
        yield server


def icml2024_notes() -> list[dict]:
    """The 1,791 ICML 2024 papers as API v2 notes (all accepted: venue "ICML 2024 Oral" / "Spotlight" / "Poster")."""
    with ICML_2024_TSV.open(newline="", encoding="utf-8") as rows:
        table = list(csv.reader(rows, delimiter="\t", quoting=csv.QUOTE_NONE))
    notes = []
    for number, row in enumerate(table, start=1):
        (
            forum_url,
            title,
            authors,
            keywords,
            primary_area,
            venue,
            pdf_url,
            _supplementary,
            tldr,
            _spotlight,
            abstract,
        ) = row
        fields = {
            "title": title,
            "authors": authors.split(";"),
            "authorids": [_profile_id(name) for name in authors.split(";")],
            "abstract": abstract,
            "keywords": keywords.split(";") if keywords else None,
            "primary_area": primary_area or None,
            "TLDR": tldr or None,
            "venue": venue,
            "venueid": "ICML.cc/2024/Conference",
            "pdf": pdf_url.removeprefix("https://openreview.net"),
        }
        forum_id = forum_url.split("id=")[1]
        notes.append(_v2_note(forum_id, number, "ICML.cc/2024/Conference", fields))
    return notes


ICLR_2025_VENUEID_BY_DECISION = {
    "Submitted to ICLR 2025": "ICLR.cc/2025/Conference/Rejected_Submission",
    "ICLR 2025 Conference Withdrawn Submission": "ICLR.cc/2025/Conference/Withdrawn_Submission",
    "ICLR 2025 Conference Desk Rejected Submission": "ICLR.cc/2025/Conference/Desk_Rejected_Submission",
}


def iclr2025_notes() -> list[dict]:
    """The 11,672 ICLR 2025 submissions as API v2 notes: accepted (Oral / Spotlight / Poster), rejected ("Submitted to
    ICLR 2025"), withdrawn and desk rejected, each with the venueid the real API gives it."""
    with ICLR_2025_CSV.open(newline="", encoding="utf-8") as rows:
        table = list(csv.DictReader(rows))
    notes = []
    for number, row in enumerate(table, start=1):
        venueid = ICLR_2025_VENUEID_BY_DECISION.get(row["Decision"], "ICLR.cc/2025/Conference")
        forum_id = _id_from(row["Title"])
        fields = {
            "title": row["Title"],
            "authors": row["Authors"].split(", "),
            "authorids": [_profile_id(name) for name in row["Authors"].split(", ")],
            "venue": row["Decision"],
            "venueid": venueid,
            "pdf": f"/pdf/{hashlib.sha1(forum_id.encode()).hexdigest()}.pdf",
        }
        notes.append(_v2_note(forum_id, number, "ICLR.cc/2025/Conference", fields))
    return notes


def _v2_note(forum_id: str, number: int, venue_id: str, fields: dict) -> dict:
    created_ms = 1706745600000 + number * 1000
    authors_group = f"{venue_id}/Submission{number}/Authors"
    invitations = [f"{venue_id}/-/Submission", f"{venue_id}/-/Post_Submission"]
    for outcome in ("Withdrawn_Submission", "Desk_Rejected_Submission"):
        if fields["venueid"] == f"{venue_id}/{outcome}":
            invitations.append(f"{venue_id}/-/{outcome}")
    note = {
        "id": forum_id,
        "forum": forum_id,
        "number": number,
        "invitations": invitations,
        "domain": venue_id,
        "content": {name: {"value": value} for name, value in fields.items() if value is not None},
        "cdate": created_ms,
        "mdate": created_ms + 86_400_000,
        "tcdate": created_ms,
        "tmdate": created_ms + 86_400_000,
        "signatures": [authors_group],
        "readers": ["everyone"],
        "writers": [venue_id, authors_group],
        "license": "CC BY 4.0",
    }
    if fields["venueid"] == venue_id:
        note["pdate"] = created_ms + 120 * 86_400_000
    return note


ICLR_2018_DECISION_BY_STATUS = {
    "Oral": "Accept (Oral)",
    "Poster": "Accept (Poster)",
    "Workshop": "Invite to Workshop Track",
    "Reject": "Reject",
}


def iclr2018_v1_notes() -> list[dict]:
    """Paper Copilot's ICLR 2018 submissions as API v1 notes: blind submissions with an `Acceptance_Decision` reply
    (none for the 3 still "Active"), and withdrawn papers as `Withdrawn_Submission` notes."""
    papers = json.loads(ICLR_2018_PAPERCOPILOT.read_text(encoding="utf-8"))
    notes = []
    for number, paper in enumerate(papers, start=1):
        withdrawn = paper["status"] == "Withdraw"
        invitation = "Withdrawn_Submission" if withdrawn else "Blind_Submission"
        content = {
            "title": paper["title"],
            "authors": paper["author"].split(";"),
            "authorids": [_profile_id(name) for name in paper["author"].split(";")],
            "abstract": paper["abstract"],
            "keywords": paper["keywords"].split(";") if paper["keywords"] else [],
            "TL;DR": paper["tldr"],
            "pdf": f"/pdf/{paper['id']}.pdf",
        }
        notes.append(_v1_note(paper["id"], number, f"ICLR.cc/2018/Conference/-/{invitation}", content))
        decision = ICLR_2018_DECISION_BY_STATUS.get(paper["status"])
        if decision:
            decision_content = {"title": "ICLR 2018 Conference Acceptance Decision", "decision": decision}
            reply = _v1_note(
                _id_from(paper["id"] + "/decision"),
                0,
                "ICLR.cc/2018/Conference/-/Acceptance_Decision",
                decision_content,
                forum_id=paper["id"],
            )
            notes.append(reply)
    return notes


def _v1_note(note_id: str, number: int, invitation: str, content: dict, forum_id: str | None = None) -> dict:
    created_ms = 1509494400000 + number * 1000
    return {
        "id": note_id,
        "original": None,
        "number": number or None,
        "cdate": created_ms,
        "tcdate": created_ms,
        "tmdate": created_ms,
        "ddate": None,
        "content": content,
        "forum": forum_id or note_id,
        "replyto": forum_id,
        "invitation": invitation,
        "readers": ["everyone"],
        "nonreaders": [],
        "signatures": ["ICLR.cc/2018/Conference"],
        "writers": ["ICLR.cc/2018/Conference"],
    }


def _id_from(text: str) -> str:
    """A 10-character id like OpenReview's, stable for the same text."""
    return base64.urlsafe_b64encode(hashlib.sha1(text.encode()).digest()).decode()[:10]


def _profile_id(name: str) -> str:
    return "~" + "_".join(name.split()) + "1"
