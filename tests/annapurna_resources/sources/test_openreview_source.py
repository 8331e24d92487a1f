import copy
import csv
import json
import logging

import pytest
import urllib3

from annapurna_resources.sources.openreview_source import (
    OpenReviewSource,
    OpenReviewUnavailable,
    decision_from_v1_words,
    decision_from_venue_fields,
)
from tests.fakes.loopback import Reply
from tests.fakes.openreview_api import (
    ICLR_2018_PAPERCOPILOT,
    ICLR_2025_CSV,
    ICML_2024_TSV,
    SHARED_LISTINGS,
    iclr2018_v1_notes,
    iclr2025_notes,
    icml2024_notes,
    rate_limited,
    serve_openreview,
    server_error,
    truncated_body,
)

requires_listings = pytest.mark.skipif(
    not SHARED_LISTINGS.is_dir(),
    reason=f"needs the real OpenReview listings in {SHARED_LISTINGS} (../shared/data is absent)",
)
ICML_2024_SUBMISSIONS = "ICML.cc/2024/Conference/-/Submission"


@pytest.fixture(autouse=True)
def no_openreview_credentials_from_the_environment(monkeypatch):
    # openreview-py logs in with OPENREVIEW_USERNAME/PASSWORD whenever it is given no credentials
    monkeypatch.delenv("OPENREVIEW_USERNAME", raising=False)
    monkeypatch.delenv("OPENREVIEW_PASSWORD", raising=False)


@pytest.fixture(scope="module")
def icml_notes() -> list[dict]:
    return icml2024_notes()


def source_for(server, **credentials) -> OpenReviewSource:
    return OpenReviewSource(base_url=server.url, base_url_v1=server.url, **credentials)


def notes_requests(server) -> list:
    return [request for request in server.requests if request.path == "/notes"]


@requires_listings
def test_lists_all_icml_2024_papers_page_by_page_through_the_real_client(icml_notes, capsys, caplog):
    with open(ICML_2024_TSV, newline="", encoding="utf-8") as rows:
        expected = {row[0].split("id=")[1]: row for row in csv.reader(rows, delimiter="\t", quoting=csv.QUOTE_NONE)}
    caplog.set_level(logging.INFO, logger="annapurna.openreview")

    with serve_openreview(icml_notes) as server:
        papers = source_for(server).list_papers("icml", 2024)

    assert len(papers) == len(expected) == 1791
    for paper in papers:
        forum_url, title, authors, _, _, venue, pdf_url, _, _, _, abstract = expected[paper.source_id]
        assert (paper.source, paper.venue, paper.year) == ("openreview", "icml", 2024)
        assert (paper.title, paper.authors, paper.abstract) == (title, authors.split(";"), abstract.strip())
        assert (paper.track, paper.forum_url, paper.pdf_url) == (venue, forum_url, pdf_url)
        assert (paper.keywords, paper.primary_area) == ([], "")  # this export has none
        assert paper.decision == venue.removeprefix("ICML 2024 ").lower()
        assert paper.ids == {"openreview": paper.source_id}
    assert {paper.decision for paper in papers} == {"oral", "spotlight", "poster"}

    pages = notes_requests(server)
    assert len(pages) == 3  # 1000 + 791 + the empty page that ends openreview-py's paging
    assert all(page.arg("invitation") == ICML_2024_SUBMISSIONS and page.arg("limit") == "1000" for page in pages)
    assert (pages[0].arg("count"), pages[0].arg("after")) == ("true", None)
    assert pages[1].arg("after") and pages[2].arg("after") > pages[1].arg("after")
    assert "Getting V2 Notes" not in capsys.readouterr().err  # tqdm's bar stays off the terminal
    assert "read 1791 notes, listed 1791 papers" in caplog.text


@requires_listings
def test_iclr_2025_decisions_come_from_venueid_and_venue():
    with open(ICLR_2025_CSV, newline="", encoding="utf-8") as rows:
        venue_by_title = {row["Title"]: row["Decision"] for row in csv.DictReader(rows)}
    expected_decision = {
        "ICLR 2025 Oral": "oral",
        "ICLR 2025 Spotlight": "spotlight",
        "ICLR 2025 Poster": "poster",
        "Submitted to ICLR 2025": "reject",
        "ICLR 2025 Conference Withdrawn Submission": "withdrawn",
        "ICLR 2025 Conference Desk Rejected Submission": "desk_rejected",
    }

    with serve_openreview(iclr2025_notes()) as server:
        papers = source_for(server).list_papers("iclr", 2025)

    assert len(papers) == len(venue_by_title) == 11672
    for paper in papers:
        assert paper.track == venue_by_title[paper.title]
        assert paper.decision == expected_decision[paper.track], paper.title
    assert {paper.decision for paper in papers} == set(expected_decision.values())
    assert len(notes_requests(server)) == 13


@pytest.mark.parametrize(
    "venueid, venue, decision",
    [
        ("NeurIPS.cc/2023/Conference", "NeurIPS 2023 poster", "poster"),
        ("NeurIPS.cc/2023/Conference", "NeurIPS 2023 oral", "oral"),
        ("NeurIPS.cc/2023/Conference", "NeurIPS 2023", "accept"),
        ("NeurIPS.cc/2023/Conference/Rejected_Submission", "Submitted to NeurIPS 2023", "reject"),
        ("NeurIPS.cc/2023/Conference/Submission", "NeurIPS 2023 Conference Submission", "unknown"),
        ("", "", "unknown"),
    ],
)
def test_decision_from_venue_fields(venueid, venue, decision):
    assert decision_from_venue_fields(venueid, venue, "NeurIPS.cc/2023/Conference") == decision


@requires_listings
def test_notes_without_title_or_with_malformed_content_are_skipped_and_counted(icml_notes, caplog):
    notes = copy.deepcopy(icml_notes[:40])
    del notes[0]["content"]["title"]
    notes[1]["content"]["title"] = {"value": "  "}
    notes[2]["content"]["authors"] = {"value": 7}
    notes[3]["content"]["keywords"] = {"value": ["prompt optimization", "diffusion models"]}
    notes[3]["content"]["primary_area"] = {"value": "generative_models"}
    del notes[4]["content"]["pdf"]

    with serve_openreview(notes) as server:
        papers = source_for(server).list_papers("icml", 2024)

    assert len(papers) == 37
    by_id = {paper.source_id: paper for paper in papers}
    assert by_id[notes[3]["id"]].keywords == ["prompt optimization", "diffusion models"]
    assert by_id[notes[3]["id"]].primary_area == "generative_models"
    assert by_id[notes[4]["id"]].pdf_url == f"https://openreview.net/pdf?id={notes[4]['id']}"
    assert "skipped 3 notes without a title or with malformed content" in caplog.text


@requires_listings
@pytest.mark.parametrize("fault", [rate_limited(retry_after_s=1), server_error(503)], ids=["429", "503"])
def test_a_throttled_or_unavailable_page_is_retried_by_openreview_py(icml_notes, fault, caplog):
    with serve_openreview(icml_notes, faults=[None, fault]) as server:
        papers = source_for(server).list_papers("icml", 2024)

    assert len(papers) == 1791
    pages = notes_requests(server)
    assert len(pages) == 4 and pages[1].query == pages[2].query  # the second page, asked twice
    assert "openreview-py: Retrying request: GET" in caplog.text  # its retry notice is logged, not printed


@requires_listings
def test_a_cut_off_page_restarts_the_listing_once(icml_notes, caplog):
    with serve_openreview(icml_notes, faults=[None, truncated_body()]) as server:
        papers = source_for(server).list_papers("icml", 2024)

    assert len(papers) == 1791
    assert len(notes_requests(server)) == 2 + 3
    assert "trying again" in caplog.text


@requires_listings
def test_a_body_cut_off_every_time_raises_openreview_unavailable(icml_notes):
    with serve_openreview(icml_notes, faults=[truncated_body()] * 2) as server:
        with pytest.raises(OpenReviewUnavailable, match=f"listing {ICML_2024_SUBMISSIONS} .* after 2 attempts"):
            source_for(server).list_papers("icml", 2024)


@requires_listings
def test_a_persistent_server_error_raises_openreview_unavailable(icml_notes, monkeypatch):
    # openreview-py backs off 2, 4, 8 ... 120 s between its 8 retries of a 500; the test does not wait for that
    monkeypatch.setattr(urllib3.util.retry.Retry, "get_backoff_time", lambda retry: 0)
    with serve_openreview(icml_notes, faults=[server_error(500)] * 20) as server:
        with pytest.raises(OpenReviewUnavailable) as raised:
            source_for(server).list_papers("icml", 2024)

    listing = f"OpenReview failed listing {ICML_2024_SUBMISSIONS} from {server.url}: "
    assert str(raised.value).startswith(listing + f"HTTP 500 Internal Server Error for GET {server.url}/notes?")
    assert len(notes_requests(server)) == 9  # the first try and openreview-py's 8 retries


@requires_listings
def test_credentials_log_in_and_the_token_is_sent(icml_notes):
    with serve_openreview(icml_notes[:10]) as server:
        papers = source_for(server, username="reader@example.org", password="secret").list_papers("icml", 2024)

    assert len(papers) == 10
    login, *pages = server.requests
    assert (login.method, login.path, json.loads(login.body)["id"]) == ("POST", "/login", "reader@example.org")
    assert all(page.headers["authorization"] == "Bearer fake-token" for page in pages)


def test_a_refused_login_raises_openreview_unavailable():
    refused = Reply.json({"name": "ForbiddenError", "message": "Invalid username or password", "status": 403}, 403)
    with serve_openreview([], faults=[lambda answer: refused]) as server:
        with pytest.raises(
            OpenReviewUnavailable, match="logging in to .*: HTTP 403 Forbidden for POST .*/login: .*Invalid username"
        ):
            source_for(server, username="reader@example.org", password="wrong").list_papers("icml", 2024)


@requires_listings
def test_iclr_2018_through_api_v1_with_decision_replies():
    papercopilot = {paper["id"]: paper for paper in json.loads(ICLR_2018_PAPERCOPILOT.read_text(encoding="utf-8"))}
    expected_decision = {
        "Oral": "oral",
        "Poster": "poster",
        "Workshop": "reject",
        "Reject": "reject",
        "Withdraw": "withdrawn",
        "Active": "unknown",
    }

    with serve_openreview(iclr2018_v1_notes()) as server:
        papers = source_for(server).list_papers("iclr", 2018)

    assert len(papers) == len(papercopilot) == 995
    for paper in papers:
        row = papercopilot[paper.source_id]
        assert (paper.title, paper.authors) == (row["title"], row["author"].split(";"))
        assert paper.abstract == row["abstract"].strip()
        assert paper.keywords == (row["keywords"].split(";") if row["keywords"] else [])
        assert paper.decision == expected_decision[row["status"]], paper.title
        assert paper.pdf_url == f"https://openreview.net/pdf/{paper.source_id}.pdf"
    invitations = {request.arg("invitation") for request in notes_requests(server)}
    assert invitations == {
        f"ICLR.cc/2018/Conference/-/{name}"
        for name in ("Blind_Submission", "Withdrawn_Submission", "Desk_Rejected_Submission")
    }
    assert all(request.arg("details") == "directReplies" for request in notes_requests(server))


@pytest.mark.parametrize(
    "words, decision",
    [
        ("Accept (Oral)", "oral"),
        ("Accept (Talk)", "oral"),
        ("Accept: notable-top-5%", "oral"),
        ("Accept (Spotlight)", "spotlight"),
        ("Accept: notable-top-25%", "spotlight"),
        ("Accept (Poster)", "poster"),
        ("Accept: poster", "poster"),
        ("Accept", "accept"),
        ("Reject", "reject"),
        ("Invite to Workshop Track", "reject"),
        ("", "unknown"),
    ],
)
def test_decision_from_v1_words(words, decision):
    assert decision_from_v1_words(words) == decision


def test_covers_the_years_each_api_serves():
    source = OpenReviewSource()
    assert all(source.covers("iclr", year) for year in range(2017, 2027))
    assert all(source.covers(venue, year) for venue in ("icml", "neurips") for year in (2023, 2024, 2025))
    assert not any(source.covers(venue, 2022) for venue in ("icml", "neurips"))
    assert not source.covers("iclr", 2016)
    assert not source.covers("mlsys", 2024)
    with pytest.raises(ValueError, match="does not cover mlsys 2024"):
        source.list_papers("mlsys", 2024)


def test_paper_details_returns_the_listed_paper_unchanged():
    from annapurna_resources.sources.listed_paper import ListedPaper

    paper = ListedPaper(source="openreview", source_id="abc", title="A paper")
    assert OpenReviewSource().paper_details(paper) is paper
