"""Blobs for the browser: a read-only HTTP server that `annapurna ui` runs beside the Dagster UI.

Blobs have no file names, so a browser cannot open a server path to one. Asset metadata links to
`<browser_base_url>/blobs/<sha256><suffix>` instead (the loss curve as `.png`, the code as `.py`, the trace as `.json`),
and this server answers them from the configured blob store with the suffix's content type. It only reads, listens on
loopback unless told otherwise, and allows any origin, so the Perfetto UI can load a trace from it
(`https://ui.perfetto.dev/#!/?url=http://127.0.0.1:9001/blobs/<sha256>.json`; Perfetto trusts port 9001 on loopback).
"""

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from annapurna_resources.storage.blob_store import (
    BLOB_SCHEME,
    CONTENT_TYPES,
    BlobNotFoundError,
    BlobStore,
    content_type,
)

BLOB_PATH = re.compile(r"^/blobs/(?P<digest>[0-9a-f]{64})(?P<suffix>\.[a-z]+)?$")
PERFETTO_UI = "https://ui.perfetto.dev/#!/?url="


def perfetto_url(trace_url: str) -> str:
    """The Perfetto UI, opening the trace at `trace_url`."""
    return PERFETTO_UI + trace_url


def _handler(blob_store: BlobStore) -> type[BaseHTTPRequestHandler]:
    class BlobHandler(BaseHTTPRequestHandler):
        server_version = "annapurna-blobs"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self._answer(with_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(with_body=False)

        def _answer(self, with_body: bool) -> None:
            match = BLOB_PATH.match(urlsplit(self.path).path)
            suffix = match and match.group("suffix") or ""
            if not match or (suffix and suffix not in CONTENT_TYPES):
                self._plain(HTTPStatus.NOT_FOUND, "not a blob path: /blobs/<sha256>[.png|.json|.py|.pdf|.txt]\n")
                return
            try:
                data = blob_store.get(BLOB_SCHEME + match.group("digest"))
            except BlobNotFoundError:
                self._plain(HTTPStatus.NOT_FOUND, "no such blob\n")
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type(suffix))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Cache-Control", "public, max-age=31536000, immutable")  # content-addressed
            self.end_headers()
            if with_body:
                self.wfile.write(data)

        def _plain(self, status: HTTPStatus, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:  # quiet: the UI's terminal is for Dagster
            pass

    return BlobHandler


def serve_blobs(blob_store: BlobStore, host: str, port: int) -> ThreadingHTTPServer:
    """Starts serving `blob_store` on host:port in a daemon thread; `shutdown()` the result to stop."""
    server = ThreadingHTTPServer((host, port), _handler(blob_store))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="annapurna-blobs", daemon=True).start()
    return server
