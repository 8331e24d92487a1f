"""Downloading PDFs: pacing per host across processes, retries honouring Retry-After, and what is not a PDF."""

import time

import pytest

from annapurna_resources.sources.http_client import PoliteHttpClient, retry_after_seconds
from annapurna_resources.sources.pdf_fetcher import PdfFetcher, PdfUnavailable
from tests.conftest import make_pdf
from tests.fakes.loopback import LoopbackServer, Reply

PDF_HEADERS = {"Content-Type": "application/pdf"}


@pytest.fixture
def pdf_bytes(tmp_path) -> bytes:
    return make_pdf(tmp_path / "paper.pdf", "A paper about attention. " * 50).read_bytes()


def fast_fetcher(**config) -> PdfFetcher:
    return PdfFetcher(default_interval_s=0, backoff_s=0.01, **config)


def test_retries_429_and_503_honouring_retry_after(annapurna_home, pdf_bytes):
    replies = iter(
        [Reply(429, "slow down", {"Retry-After": "1"}), Reply(503, "busy"), Reply(200, pdf_bytes, PDF_HEADERS)]
    )
    with LoopbackServer(lambda request: next(replies)) as server:
        started = time.monotonic()
        data = fast_fetcher().fetch(f"{server.url}/pdf/1706.03762")
    assert data == pdf_bytes and len(server.requests) == 3
    assert time.monotonic() - started >= 1.0  # the server asked for a second


def test_what_is_not_a_pdf_is_refused_with_the_reason(annapurna_home, pdf_bytes):
    pages = {
        "/login": Reply(200, "<html><body>Please sign in</body></html>", {"Content-Type": "text/html; charset=utf-8"}),
        "/disguised": Reply(200, "<!DOCTYPE html><html>captcha</html>", PDF_HEADERS),
        "/huge": Reply(200, pdf_bytes, PDF_HEADERS),
        "/truncated": Reply(200, pdf_bytes, PDF_HEADERS, truncate_to=len(pdf_bytes) // 3),
        "/gone": Reply(404, "not found"),
    }
    with LoopbackServer(lambda request: pages[request.path]) as server:
        fetcher = fast_fetcher(max_retries=1)
        reasons = {}
        for path in pages:
            with pytest.raises(PdfUnavailable) as error:
                fetcher.fetch(server.url + path) if path != "/huge" else fast_fetcher(max_bytes=100).fetch(
                    server.url + path
                )
            reasons[path] = str(error.value)
    assert "'text/html'" in reasons["/login"]
    assert "do not start with %PDF" in reasons["/disguised"]
    assert "cap" in reasons["/huge"]
    assert "truncated" in reasons["/truncated"].lower() or "IncompleteRead" in reasons["/truncated"]
    assert "HTTP 404" in reasons["/gone"]
    with pytest.raises(PdfUnavailable, match="not an http"):
        fetcher.fetch("ftp://example.org/paper.pdf")


def test_file_urls_are_read_from_disk(annapurna_home, tmp_path, pdf_bytes):
    assert fast_fetcher().fetch((tmp_path / "paper.pdf").as_uri()) == pdf_bytes
    with pytest.raises(PdfUnavailable, match="does not exist"):
        fast_fetcher().fetch((tmp_path / "moved.pdf").as_uri())


def test_pacing_per_host_holds_across_clients_sharing_a_pacing_dir(tmp_path):
    """Two clients (two Dagster runs in two processes) share the per-host clock through the pacing dir."""
    with LoopbackServer(lambda request: Reply(200, "ok")) as server:
        first = PoliteHttpClient(host_intervals={"127.0.0.1": 0.4}, pacing_dir=str(tmp_path))
        second = PoliteHttpClient(host_intervals={"127.0.0.1": 0.4}, pacing_dir=str(tmp_path))
        started = time.monotonic()
        for client in (first, second, first, second):
            client.get(server.url)
    assert time.monotonic() - started >= 3 * 0.4


def test_arxiv_is_paced_at_one_request_per_three_seconds_by_default():
    fetcher = PdfFetcher()
    assert fetcher.host_intervals["arxiv.org"] == 3.0
    client = PoliteHttpClient(host_intervals=fetcher.host_intervals)
    assert client.interval_for("export.arxiv.org") == 3.0 and client.interval_for("arxiv.org") == 3.0
    assert client.interval_for("openreview.net") == 1.0 and client.interval_for("example.org") == 1.0


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 25 Nov 2026 07:00:10 GMT", now=1795590000.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
