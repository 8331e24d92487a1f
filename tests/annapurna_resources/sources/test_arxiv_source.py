import datetime
import time

import pytest

from annapurna_resources.sources.arxiv_source import ArxivSource, ArxivUnavailable
from tests.fakes.arxiv_api import (
    ArxivApiReplay,
    OaiPmhReplay,
    atom_reply,
    load_real_oai_records,
    requires_arxiv_data,
)
from tests.fakes.loopback import LoopbackServer, Reply


def api_source(server: LoopbackServer, **config) -> ArxivSource:
    return ArxivSource(api_url=f"{server.url}/api/query", delay_seconds=0, **config)


def oai_source(server: LoopbackServer, **config) -> ArxivSource:
    source = ArxivSource(oai_url=f"{server.url}/oai", delay_seconds=0, **config)
    source.oai_http_client().sleep = lambda seconds: None
    return source


def test_production_defaults_pace_one_request_per_three_seconds():
    source = ArxivSource()
    client = source.api_client()
    assert client.delay_seconds == 3.0 and client.page_size == 100 and client.num_retries == 3
    assert client.query_url_format == "https://export.arxiv.org/api/query?{}"
    assert source.oai_url == "https://oaipmh.arxiv.org/oai"
    assert source.oai_http_client().default_interval_s == 3.0
    assert source.api_client() is client
    assert (
        ArxivSource(categories=[]).day_query(datetime.date(2025, 3, 1))
        == "submittedDate:[202503010000 TO 202503012359]"
    )


@requires_arxiv_data
def test_id_lookups_parse_real_entries():
    with LoopbackServer(ArxivApiReplay()) as server:
        source = api_source(server)
        [markov] = source.fetch_ids(["1605.08386"])
        [jupiters] = source.fetch_ids(["astro-ph/0601001"])
        [zero] = source.fetch_ids(["2104.12255v1"])
        [quantum] = source.fetch_ids(["quant-ph/0201082v1"])
    assert markov.source == "arxiv" and markov.source_id == markov.arxiv_id == "1605.08386"
    assert markov.ids == {"arxiv": "1605.08386"}
    assert markov.title == "Heat-bath random walks with Markov bases"
    assert markov.authors == ["Caprice Stanley", "Tobias Windisch"]
    assert markov.abstract.startswith("Graphs on lattice points are studied")
    assert markov.categories == ["math.CO", "math.ST"]
    assert (markov.published, markov.year) == ("2016-05-26", 2016)
    assert (markov.venue, markov.decision, markov.keywords) == ("arxiv", "preprint", [])
    assert markov.track == "20 pages, 3 figures"
    assert markov.pdf_url == "https://arxiv.org/pdf/1605.08386"
    assert markov.forum_url == "https://arxiv.org/abs/1605.08386"

    assert jupiters.source_id == "astro-ph/0601001"
    assert jupiters.title.startswith("Frequency of Hot Jupiters and Very Hot Jupiters")
    assert jupiters.authors == ["Andrew Gould", "Susan Dorsher", "B. Scott Gaudi", "Andrzej Udalski"]
    assert jupiters.abstract.startswith("We derive the frequencies of hot Jupiters")
    assert jupiters.track == "ActaAstron.56:1-50,2006"  # journal_ref wins over the comment
    assert jupiters.pdf_url == "https://arxiv.org/pdf/astro-ph/0601001"
    assert (jupiters.published, jupiters.categories) == ("2006-01-02", ["astro-ph"])

    assert (zero.source_id, zero.title, zero.track) == ("2104.12255", "0", "")
    assert zero.authors == ["Quan Thoi Minh Nguyen"]
    assert quantum.source_id == "quant-ph/0201082"
    assert quantum.categories == ["quant-ph", "cs.PL"] and quantum.year == 2002


@requires_arxiv_data
def test_ids_go_in_one_request_and_unknown_ids_are_left_out():
    with LoopbackServer(ArxivApiReplay()) as server:
        source = api_source(server)
        papers = source.fetch_ids(["0808.05394", "1707.08567"])
        assert source.fetch_ids(["0000.0000"]) == []
        assert source.fetch_ids([]) == []
    assert [paper.source_id for paper in papers] == ["1707.08567"]
    assert papers[0].title == "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    assert [request.arg("id_list") for request in server.requests] == ["0808.05394,1707.08567", "0000.0000"]


@requires_arxiv_data
def test_a_bad_id_is_arxiv_unavailable_with_arxivs_message_and_not_retried():
    with LoopbackServer(ArxivApiReplay()) as server:
        with pytest.raises(ArxivUnavailable, match="HTTP 400.*incorrect id format for abc"):
            api_source(server, num_retries=3).fetch_ids(["abc"])
    assert len(server.requests) == 1


@requires_arxiv_data
def test_search_pages_through_the_recorded_testing_pages():
    replay = ArxivApiReplay()
    with LoopbackServer(replay) as server:
        papers = api_source(server, page_size=10).search("testing", max_results=30)
    assert [(r.arg("search_query"), r.arg("start"), r.arg("max_results")) for r in server.requests] == [
        ("testing", "0", "10"),
        ("testing", "10", "10"),
        ("testing", "20", "10"),
    ]
    recorded_ids = [
        entry_id for start in (0, 10, 20) for entry_id in replay.recording("testing", "", start, 10).entry_ids()
    ]
    assert [paper.forum_url.removeprefix("https://arxiv.org/abs/") for paper in papers] == [
        entry_id.removeprefix("http://arxiv.org/abs/").rsplit("v", 1)[0] for entry_id in recorded_ids
    ]
    assert papers[0].title == "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    assert papers[0].categories == ["cs.SE", "cs.LG"]
    assert papers[0].track.startswith("Artificial Intelligence in Software Testing @ 2022 IEEE")


@requires_arxiv_data
def test_list_day_asks_for_the_days_submissions_in_the_categories_matching_the_query(caplog):
    source_config = {"categories": ["cs.LG", "stat.ML"], "query": 'abs:"mixture of experts"', "page_size": 10}
    with LoopbackServer(ArxivApiReplay(serve_every_search_as="testing")) as server:
        with caplog.at_level("INFO", logger="annapurna.arxiv"):
            papers = api_source(server, max_results=20, **source_config).list_day(datetime.date(2024, 1, 15))
    assert len(papers) == 20
    first = server.requests[0]
    assert first.path == "/api/query"
    assert first.arg("search_query") == (
        '(cat:cs.LG OR cat:stat.ML) AND submittedDate:[202401150000 TO 202401152359] AND (abs:"mixture of experts")'
    )
    assert (first.arg("sortBy"), first.arg("sortOrder"), first.arg("id_list")) == ("submittedDate", "ascending", "")
    assert [request.arg("start") for request in server.requests] == ["0", "10"]
    assert "20 papers submitted on 2024-01-15" in caplog.text and "may have more" in caplog.text


@requires_arxiv_data
def test_delay_seconds_spaces_the_requests():
    replay, arrivals = ArxivApiReplay(), []

    def timed(request):
        arrivals.append(time.monotonic())
        return replay(request)

    with LoopbackServer(timed) as server:
        source = ArxivSource(api_url=f"{server.url}/api/query", delay_seconds=0.3, page_size=10)
        source.search("testing", max_results=30)
    assert len(arrivals) == 3
    assert all(later - earlier >= 0.29 for earlier, later in zip(arrivals, arrivals[1:]))


@requires_arxiv_data
def test_api_failures_after_retries_are_arxiv_unavailable():
    replay = ArxivApiReplay()
    first_page = replay.recording("testing", "", 0, 10)
    empty_feed = replay.recording("", "0000.0000", 0, 100)

    with LoopbackServer(lambda request: Reply(503, "busy")) as server:
        with pytest.raises(ArxivUnavailable, match="HTTP 503 after 2 tries"):
            api_source(server, num_retries=1).fetch_ids(["1605.08386"])
    assert len(server.requests) == 2

    def empty_after_first_page(request):
        return atom_reply(first_page if request.arg("start") == "0" else empty_feed)

    with LoopbackServer(empty_after_first_page) as server:
        with pytest.raises(ArxivUnavailable, match="empty page"):
            api_source(server, page_size=10, num_retries=1).search("testing", max_results=20)
    assert [request.arg("start") for request in server.requests] == ["0", "10", "10"]

    with LoopbackServer(lambda request: Reply(200)) as server:
        port = server.url
    with pytest.raises(ArxivUnavailable, match="could not be reached"):
        ArxivSource(api_url=f"{port}/api/query", delay_seconds=0, num_retries=0).fetch_ids(["1605.08386"])


@requires_arxiv_data
@pytest.mark.parametrize("final_token_element", [True, False], ids=["empty-final-token", "no-final-token"])
def test_harvest_follows_resumption_tokens_and_skips_deleted_records(final_token_element):
    records = load_real_oai_records()
    replay = OaiPmhReplay(
        records, page_size=5, deleted=frozenset({"oai:arXiv.org:1507.07790"}), final_token_element=final_token_element
    )
    with LoopbackServer(replay) as server:
        source = oai_source(server)
        papers = list(source.harvest("physics:hep-th", datetime.date(2017, 12, 14), datetime.date(2017, 12, 15)))
    by_id = {paper.source_id: paper for paper in papers}
    assert len(papers) == len(by_id) == len(records) - 1
    assert "1507.07790" not in by_id

    page_count = -(-len(records) // 5)
    assert len(server.requests) == page_count > 2
    first, *rest = [{name: values[0] for name, values in request.query.items()} for request in server.requests]
    assert first == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "set": "physics:hep-th",
        "from": "2017-12-14",
        "until": "2017-12-15",
    }
    assert rest == [{"verb": "ListRecords", "resumptionToken": f"page-{n}"} for n in range(1, page_count)]

    contact = by_id["1401.2122"]
    assert contact.title == "New integrable (3+1)-dimensional systems and contact geometry"
    assert contact.authors == ["A. Sergyeyev"]
    assert contact.categories == ["math.AP", "hep-th", "math-ph", "math.DG", "math.MP", "nlin.SI"]
    assert (contact.published, contact.year) == ("2014-01-09", 2014)
    assert contact.track == "Lett. Math. Phys. 108 (2018), no. 2, 359-376"
    assert contact.abstract.startswith("We introduce a novel systematic construction for integrable (3+1)-dimensional")
    assert "\n" not in contact.abstract
    assert (contact.source, contact.venue, contact.decision) == ("arxiv", "arxiv", "preprint")
    assert contact.pdf_url == "https://arxiv.org/pdf/1401.2122"
    toolbox = by_id["1412.8323"]
    assert toolbox.title == "Toolbox for reconstructing quantum theory from rules on information acquisition"
    assert toolbox.track.startswith("78 pages, many figures")  # no journal-ref: the comment
    assert by_id["1601.03238"].authors[0] == "Planck Collaboration"  # keyname only
    assert by_id["1601.03238"].authors[1] == "Jieci Wang"


@requires_arxiv_data
def test_harvest_waits_out_a_503_with_retry_after_then_goes_on():
    records = load_real_oai_records()
    with LoopbackServer(OaiPmhReplay(records, page_size=5, busy_once_on_page=1, retry_after="7")) as server:
        source = oai_source(server)
        waits = []
        source.oai_http_client().sleep = waits.append
        papers = list(source.harvest("cs", datetime.date(2024, 1, 1), datetime.date(2024, 1, 2)))
    assert len(papers) == len(records)
    assert waits == [7.0]
    tokens = [request.arg("resumptionToken") for request in server.requests]
    assert tokens[:3] == [None, "page-1", "page-1"]


@requires_arxiv_data
def test_harvest_no_records_match_is_empty_and_a_bad_token_is_arxiv_unavailable():
    records = load_real_oai_records()
    with LoopbackServer(OaiPmhReplay(records, empty_sets=frozenset({"stat"}))) as server:
        assert list(oai_source(server).harvest("stat", datetime.date(2024, 1, 1), datetime.date(2024, 1, 1))) == []
    assert len(server.requests) == 1

    harvested = []
    with LoopbackServer(OaiPmhReplay(records, page_size=5, expired_page=2)) as server:
        with pytest.raises(ArxivUnavailable, match="badResumptionToken"):
            for paper in oai_source(server).harvest("cs", datetime.date(2024, 1, 1), datetime.date(2024, 1, 2)):
                harvested.append(paper)
    assert len(harvested) == 10


def test_harvest_http_failure_and_non_oai_answers_are_arxiv_unavailable():
    with LoopbackServer(lambda request: Reply(503, "busy")) as server:
        with pytest.raises(ArxivUnavailable, match="HTTP 503 after 2 attempts"):
            list(oai_source(server, num_retries=1).harvest("cs", datetime.date(2024, 1, 1), datetime.date(2024, 1, 1)))
    with LoopbackServer(lambda request: Reply(200, "<html><body>maintenance</body></html>")) as server:
        with pytest.raises(ArxivUnavailable, match="not OAI-PMH"):
            list(oai_source(server).harvest("cs", datetime.date(2024, 1, 1), datetime.date(2024, 1, 1)))
