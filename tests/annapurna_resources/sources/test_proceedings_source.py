"""Proceedings-site sources against a loopback copy of the sites: PMLR pages rendered from real ICML records with
PMLR's layout, NeurIPS/MLSys pages from fixtures in the sites' markup (sources cited in each fixture)."""

import logging
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from annapurna_resources.sources.proceedings_source import (
    MlsysProceedingsSource,
    NeuripsProceedingsSource,
    PmlrSource,
    ProceedingsUnavailable,
)
from tests.conftest import SHARED_DATA
from tests.fakes.loopback import LoopbackServer, Reply, Request
from tests.fixtures.proceedings.pmlr_site import (
    PmlrSite,
    PmlrVolume,
    load_papercopilot_volume,
    load_posts_volume,
    render_volume_page,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "proceedings"
V235_POSTS = SHARED_DATA / "listings" / "pmlr_v235_icml2024"
ICML2019_DUMP = SHARED_DATA / "listings" / "papercopilot" / "icml__icml2019.json"

requires_v235 = pytest.mark.skipif(
    not V235_POSTS.is_dir(), reason=f"needs the real PMLR v235 posts in {V235_POSTS} (../shared/data is absent)"
)
requires_icml2019 = pytest.mark.skipif(
    not ICML2019_DUMP.is_file(),
    reason=f"needs the Paper Copilot ICML 2019 dump {ICML2019_DUMP} (../shared/data is absent)",
)

NEURIPS_PAGES = {
    "/paper_files/paper/2022": "neurips_2022_listing.html",
    "/paper_files/paper/2023": "neurips_2023_listing.html",
    "/paper_files/paper/2022/hash/67d57c32e20fd0a7a302cb81d36e40d5-Abstract-Conference.html": (
        "neurips_2022_flashattention.html"
    ),
    "/paper_files/paper/2022/hash/a1859debfb3b59d094f3504d5ebb6c25-Abstract-Datasets_and_Benchmarks.html": (
        "neurips_2022_laion5b.html"
    ),
}
MLSYS_PAGES = {
    "/paper_files/paper/2023": "mlsys_2023_listing.html",
    "/paper_files/paper/2023/hash/c4be71ab8d24cdfb45e3d06dbfca2780-Abstract-mlsys2023.html": (
        "mlsys_2023_scaling_transformer_inference.html"
    ),
}
FLASH_LISTING = "/paper_files/paper/2022"
FLASH_PAGE = "/paper_files/paper/2022/hash/67d57c32e20fd0a7a302cb81d36e40d5-Abstract-Conference.html"


class StaticSite:
    """Serves fixture files by path; anything else is a 404."""

    def __init__(self, pages: dict[str, str]):
        self.pages = {path: (FIXTURES / name).read_text() for path, name in pages.items()}

    def __call__(self, request: Request) -> Reply:
        page = self.pages.get(request.path)
        if page is None:
            return Reply(404, "<h1>Not Found</h1>", {"Content-Type": "text/html"})
        return Reply(200, page, {"Content-Type": "text/html; charset=utf-8"})


class FaultsFirst:
    """Answers the first requests for `path` with `faults(page)` in turn, then lets `site` answer."""

    def __init__(self, site, path: str, *faults):
        self.site, self.path, self.faults = site, path, list(faults)

    def __call__(self, request: Request) -> Reply:
        if request.path == self.path and self.faults:
            return self.faults.pop(0)(self.site(request))
        return self.site(request)


def fast(source_class, server: LoopbackServer, **settings):
    """A source pointed at the loopback server, with no pacing and tiny backoff."""
    defaults = {"min_interval_s": 0.0, "backoff_s": 0.01, "max_backoff_s": 0.05, "max_retries": 3}
    return source_class(base_url=server.url, **{**defaults, **settings})


def plain_text(abstract_html: str) -> str:
    return " ".join(BeautifulSoup(abstract_html, "html.parser").get_text().split())


def test_coverage_by_venue_and_year():
    pmlr, neurips, mlsys = PmlrSource(), NeuripsProceedingsSource(), MlsysProceedingsSource()
    assert pmlr.covers("icml", 2017) and pmlr.covers("icml", 2025)
    assert not pmlr.covers("icml", 2016) and not pmlr.covers("neurips", 2024)
    assert neurips.covers("neurips", 2017) and neurips.covers("neurips", 2024) and not neurips.covers("neurips", 2025)
    assert mlsys.covers("mlsys", 2019) and mlsys.covers("mlsys", 2025) and not mlsys.covers("mlsys", 2018)
    assert pmlr.volume_url(2024) == "https://proceedings.mlr.press/v235/"
    assert neurips.listing_url(2022) == "https://papers.nips.cc/paper_files/paper/2022"
    with pytest.raises(ProceedingsUnavailable, match="PMLR does not cover neurips 2024"):
        pmlr.list_papers("neurips", 2024)


@requires_v235
def test_pmlr_v235_listing_has_the_real_papers_and_details_add_abstracts():
    volume = load_posts_volume(V235_POSTS)
    with LoopbackServer(PmlrSite(volume)) as server:
        source = fast(PmlrSource, server)
        listed = source.list_papers("icml", 2024)
        assert [paper.title for paper in listed] == [paper.title for paper in volume.papers]
        for paper, record in zip(listed, volume.papers):
            assert paper.source == "pmlr" and paper.source_id == f"v235/{record.key}"
            assert (paper.venue, paper.year, paper.decision) == ("icml", 2024, "accept")
            assert paper.authors == record.authors
            assert paper.proceedings_url == f"{server.url}/v235/{record.key}.html"
            assert paper.pdf_url == record.pdf == f"https://proceedings.mlr.press/v235/{record.key}/{record.key}.pdf"
            assert paper.ids == {"pmlr": f"v235/{record.key}", "openreview": record.openreview}
            assert paper.forum_url == f"https://openreview.net/forum?id={record.openreview}"
            assert paper.abstract == ""  # PMLR volume pages carry no abstracts

        detailed = [source.paper_details(paper) for paper in listed]
    assert [paper.abstract for paper in detailed] == [plain_text(record.abstract_html) for record in volume.papers]
    chai = next(paper for paper in detailed if paper.source_id == "v235/agarwal24a")
    assert chai.title == "CHAI: Clustered Head Attention for Efficient LLM Inference"
    assert chai.authors[0] == "Saurabh Agarwal" and chai.authors[-1] == "Carole-Jean Wu"
    assert chai.ids["openreview"] == "xcDRx8vzCa" and chai.published == "2024-07-08"
    abe = next(paper for paper in detailed if paper.source_id == "v235/abe24a")
    assert "achieves last-iterate convergence" in abe.abstract and "<em>" not in abe.abstract
    assert len(server.requests) == 1 + len(listed)


@requires_icml2019
def test_pmlr_icml2019_volume_lists_hundreds_of_real_papers():
    volume = load_papercopilot_volume(
        ICML2019_DUMP, "v97", "Proceedings of the 36th International Conference on Machine Learning", "2019-05-24"
    )
    assert len(volume.papers) == 773  # the one Paper Copilot record without a PMLR entry is left out
    with LoopbackServer(PmlrSite(volume)) as server:
        source = fast(PmlrSource, server)
        listed = source.list_papers("icml", 2019)
        details = source.paper_details(listed[0])
    assert len(listed) == 773
    assert [paper.title for paper in listed] == [record.title for record in volume.papers]
    assert [paper.authors for paper in listed] == [record.authors for record in volume.papers]
    by_id = {paper.source_id: paper for paper in listed}
    mao = by_id["v97/mao19a"]
    assert mao.title == "A Baseline for Any Order Gradient Estimation in Stochastic Computation Graphs"
    assert mao.authors[:2] == ["Jingkai Mao", "Jakob Foerster"]
    assert mao.pdf_url == "http://proceedings.mlr.press/v97/mao19a/mao19a.pdf"
    assert mao.proceedings_url == f"{server.url}/v97/mao19a.html"
    assert "openreview" not in mao.ids
    assert details.abstract.startswith("By enabling correct differentiation in Stochastic Computation Graphs")


def test_neurips_listing_current_layout_with_tracks_and_links():
    with LoopbackServer(StaticSite(NEURIPS_PAGES)) as server:
        listed = fast(NeuripsProceedingsSource, server).list_papers("neurips", 2022)
    assert [paper.source_id for paper in listed] == [
        "2022/67d57c32e20fd0a7a302cb81d36e40d5",
        "2022/a1859debfb3b59d094f3504d5ebb6c25",
        "2022/a1a90fbba98b417c7cf53e75eb4ac933",
    ]
    flash, laion, motion = listed
    assert flash.title == "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness"
    assert flash.authors == ["Tri Dao", "Dan Fu", "Stefano Ermon", "Atri Rudra", "Christopher Ré"]
    assert (flash.source, flash.venue, flash.year, flash.decision) == ("neurips", "neurips", 2022, "accept")
    assert flash.track == motion.track == "Main Conference Track"
    assert laion.track == "Datasets and Benchmarks Track"
    assert len(laion.authors) == 16 and laion.authors[-1] == "Jenia Jitsev"
    assert flash.proceedings_url == server.url + FLASH_PAGE
    assert flash.pdf_url == (
        f"{server.url}/paper_files/paper/2022/file/67d57c32e20fd0a7a302cb81d36e40d5-Paper-Conference.pdf"
    )
    assert laion.pdf_url.endswith("/file/a1859debfb3b59d094f3504d5ebb6c25-Paper-Datasets_and_Benchmarks.pdf")
    assert motion.authors == ["Muhammad Firmansyah Kasim", "Yi Heng Lim"]


def test_neurips_listing_older_layout_with_italic_authors():
    with LoopbackServer(StaticSite(NEURIPS_PAGES)) as server:
        listed = fast(NeuripsProceedingsSource, server).list_papers("neurips", 2023)
    qlora, dpo, judge = listed
    assert qlora.title == "QLoRA: Efficient Finetuning of Quantized LLMs"
    assert qlora.authors == ["Tim Dettmers", "Artidoro Pagnoni", "Ari Holtzman", "Luke Zettlemoyer"]
    assert dpo.source_id == "2023/a85b405ed65c6477a4fe8302b5e06ce7" and dpo.authors[-1] == "Chelsea Finn"
    assert (qlora.track, judge.track) == ("Main Conference Track", "Datasets and Benchmarks Track")
    assert judge.authors[9] == "Eric P. Xing" and len(judge.authors) == 13


def test_neurips_paper_details_read_abstract_pdf_and_track():
    with LoopbackServer(StaticSite(NEURIPS_PAGES)) as server:
        source = fast(NeuripsProceedingsSource, server)
        flash, laion, _ = source.list_papers("neurips", 2022)
        flash_details, laion_details = source.paper_details(flash), source.paper_details(laion)
    assert flash_details.abstract.startswith("Transformers are slow and memory-hungry on long sequences")
    assert flash_details.abstract.endswith("Path-256 (seq. length 64K, 63.1% accuracy).")
    assert flash_details.pdf_url == flash.pdf_url
    assert flash_details.track == "Main Conference Track" and flash_details.authors == flash.authors
    assert laion_details.track == "Datasets and Benchmarks Track"
    assert laion_details.abstract.startswith("Groundbreaking language-vision architectures like CLIP and DALL-E")
    assert laion_details.pdf_url == laion.pdf_url


def test_mlsys_listing_and_paper_page():
    with LoopbackServer(StaticSite(MLSYS_PAGES)) as server:
        source = fast(MlsysProceedingsSource, server)
        scaling, megablocks = source.list_papers("mlsys", 2023)
        details = source.paper_details(scaling)
    assert scaling.title == "Efficiently Scaling Transformer Inference"
    assert scaling.authors[0] == "Reiner Pope" and scaling.authors[-1] == "Jeff Dean" and len(scaling.authors) == 9
    assert (scaling.source, scaling.source_id) == ("mlsys", "2023/c4be71ab8d24cdfb45e3d06dbfca2780")
    assert (scaling.venue, scaling.year, scaling.decision, scaling.track) == ("mlsys", 2023, "accept", "mlsys2023")
    assert megablocks.authors == ["Trevor Gale", "Deepak Narayanan", "Cliff Young", "Matei Zaharia"]
    assert details.abstract.startswith("We study the problem of efficient generative inference for Transformer models")
    assert details.pdf_url == (
        f"{server.url}/paper_files/paper/2023/file/c4be71ab8d24cdfb45e3d06dbfca2780-Paper-mlsys2023.pdf"
    )
    assert details.track == "mlsys2023"


def test_429_with_retry_after_is_waited_out_then_listing_succeeds():
    too_many = lambda page: Reply(429, "slow down", {"Retry-After": "7"})  # noqa: E731
    with LoopbackServer(FaultsFirst(StaticSite(NEURIPS_PAGES), FLASH_LISTING, too_many)) as server:
        source = fast(NeuripsProceedingsSource, server, max_backoff_s=10.0)
        waits = []
        source.http.sleep = waits.append  # record the waits instead of sleeping them
        listed = source.list_papers("neurips", 2022)
    assert len(listed) == 3
    assert waits == [7.0]
    assert [request.path for request in server.requests] == [FLASH_LISTING, FLASH_LISTING]


def test_503_then_success():
    unavailable = lambda page: Reply(503, "upstream down")  # noqa: E731
    with LoopbackServer(FaultsFirst(StaticSite(NEURIPS_PAGES), FLASH_LISTING, unavailable, unavailable)) as server:
        listed = fast(NeuripsProceedingsSource, server).list_papers("neurips", 2022)
    assert len(listed) == 3 and len(server.requests) == 3


def test_truncated_listing_is_fetched_again():
    def truncated(page: Reply) -> Reply:
        return Reply(page.status, page.body, page.headers, truncate_to=len(page.body) // 2)

    with LoopbackServer(FaultsFirst(StaticSite(NEURIPS_PAGES), FLASH_LISTING, truncated)) as server:
        listed = fast(NeuripsProceedingsSource, server).list_papers("neurips", 2022)
    assert [paper.title[:14] for paper in listed] == ["FlashAttention", "LAION-5B: An o", "Constants of m"]
    assert len(server.requests) == 2


def test_paper_page_that_stays_truncated_fails_that_paper_only():
    def truncated(page: Reply) -> Reply:
        return Reply(page.status, page.body, page.headers, truncate_to=200)

    site = FaultsFirst(StaticSite(NEURIPS_PAGES), FLASH_PAGE, *[truncated] * 10)
    with LoopbackServer(site) as server:
        source = fast(NeuripsProceedingsSource, server, max_retries=2)
        flash, laion, _ = source.list_papers("neurips", 2022)
        with pytest.raises(ProceedingsUnavailable) as failure:
            source.paper_details(flash)
        assert source.paper_details(laion).abstract.startswith("Groundbreaking")
    message = str(failure.value)
    assert "paper page of 2022/67d57c32e20fd0a7a302cb81d36e40d5" in message and FLASH_PAGE in message
    assert "after 3 attempts" in message


def test_malformed_entries_are_skipped_counted_and_logged(caplog):
    listing = (FIXTURES / "neurips_2022_listing.html").read_text()
    no_link = '<li class="conference"><div class="paper-content"><span class="paper-authors">Orphan</span></div></li>'
    no_title = (
        '<li class="conference"><div class="paper-content"><a title="" '
        'href="/paper_files/paper/2022/hash/0123456789abcdef0123456789abcdef-Abstract-Conference.html"> </a>'
        '<span class="paper-authors">No Title</span></div></li>'
    )
    broken = listing.replace('<ul class="paper-list">', f'<ul class="paper-list">\n{no_link}\n{no_title}')
    site = StaticSite(NEURIPS_PAGES)
    site.pages[FLASH_LISTING] = broken
    caplog.set_level(logging.INFO, logger="annapurna.proceedings")
    with LoopbackServer(site) as server:
        listed = fast(NeuripsProceedingsSource, server).list_papers("neurips", 2022)
    assert [paper.source_id[5:13] for paper in listed] == ["67d57c32", "a1859deb", "a1a90fbb"]
    skips = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(skips) == 2
    assert "entry 1" in skips[0] and "no link to a paper page" in skips[0]
    assert "entry 2" in skips[1] and "no title" in skips[1]
    summary = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert summary == [f"listed 3 papers from {server.url}{FLASH_LISTING}, skipped 2 malformed entries"]


@requires_v235
def test_pmlr_malformed_entries_are_skipped(caplog):
    volume = load_posts_volume(V235_POSTS)
    no_title = '<div class="paper"><p class="title"> </p><p class="links">[<a href="/v235/x24a.html">abs</a>]</p></div>'
    no_link = '<div class="paper"><p class="title">A paper without links</p><p class="links"></p></div>'

    def site(request: Request) -> Reply:
        page = render_volume_page(volume, f"http://{request.headers['host']}", extra_entries=no_title + no_link)
        return Reply(200, page, {"Content-Type": "text/html"})

    caplog.set_level(logging.WARNING, logger="annapurna.proceedings")
    with LoopbackServer(site) as server:
        listed = fast(PmlrSource, server).list_papers("icml", 2024)
    assert len(listed) == len(volume.papers) == 3
    assert ["no title" in r.getMessage() or "no abs link" in r.getMessage() for r in caplog.records] == [True, True]


def test_missing_listing_raises_a_clear_error():
    with LoopbackServer(StaticSite(NEURIPS_PAGES)) as server:
        source = fast(NeuripsProceedingsSource, server)
        with pytest.raises(ProceedingsUnavailable) as failure:
            source.list_papers("neurips", 2019)
    message = str(failure.value)
    assert message == f"NeurIPS 2019 listing at {server.url}/paper_files/paper/2019 could not be fetched: HTTP 404"
    assert len(server.requests) == 1  # a 404 is not retried


def test_page_without_entries_is_reported_not_returned_empty():
    empty = PmlrVolume("v235", "Proceedings of the 41st International Conference on Machine Learning", "2024-07-08", [])
    with LoopbackServer(PmlrSite(empty)) as server:
        with pytest.raises(ProceedingsUnavailable, match="no paper entries found on .*/v235/"):
            fast(PmlrSource, server).list_papers("icml", 2024)
