"""Downloading a paper's PDF politely and checking that it is one."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

import dagster as dg
from pydantic import PrivateAttr

from annapurna_resources.sources.http_client import HttpFailure, PoliteHttpClient
from annapurna_resources.storage.home import state_path

PDF_CONTENT_TYPES = ("application/pdf", "application/x-pdf", "application/octet-stream", "binary/octet-stream")
DEFAULT_HOST_INTERVALS = {"arxiv.org": 3.0, "openreview.net": 1.0}


class PdfUnavailable(Exception):
    """The PDF could not be had; the message says why."""


class PdfFetcher(dg.ConfigurableResource):
    """Fetches `https://` PDFs (per-host pacing shared by every process of this ANNAPURNA_HOME: arXiv one request
    per 3 s; retries with backoff and jitter on 429/5xx honouring Retry-After) and `file://` ones from disk."""

    host_intervals: dict[str, float] = DEFAULT_HOST_INTERVALS
    default_interval_s: float = 1.0
    max_bytes: int = 60 * 1024 * 1024
    max_retries: int = 4
    backoff_s: float = 2.0
    timeout_s: float = 60.0
    _client: PoliteHttpClient = PrivateAttr()

    def model_post_init(self, __context) -> None:
        self._client = PoliteHttpClient(
            host_intervals=dict(self.host_intervals),
            default_interval_s=self.default_interval_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            timeout_s=self.timeout_s,
            max_bytes=self.max_bytes,
            pacing_dir=str(state_path("", "http_pacing")),
        )

    def fetch(self, url: str) -> bytes:
        """The PDF's bytes; PdfUnavailable when it cannot be had or is not a PDF."""
        scheme = urlsplit(url).scheme
        if scheme == "file":
            return self._read_file(Path(unquote(urlsplit(url).path)))
        if scheme not in ("http", "https"):
            raise PdfUnavailable(f"no way to fetch {url!r}: not an http(s) or file URL")
        try:
            reply = self._client.get(url)
        except HttpFailure as failure:
            raise PdfUnavailable(f"download failed: {failure}") from None
        content_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in PDF_CONTENT_TYPES:
            raise PdfUnavailable(f"{url} answered {content_type!r}, not a PDF (a login or error page?)")
        if not reply.content.lstrip()[:5].startswith(b"%PDF"):
            raise PdfUnavailable(f"{url} sent {len(reply.content)} bytes that do not start with %PDF")
        return reply.content

    def _read_file(self, path: Path) -> bytes:
        if not path.is_file():
            raise PdfUnavailable(f"{path} does not exist (moved or deleted?)")
        if path.stat().st_size > self.max_bytes:
            raise PdfUnavailable(f"{path} is over the {self.max_bytes}-byte cap")
        return path.read_bytes()
