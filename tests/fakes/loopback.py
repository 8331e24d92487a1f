"""A loopback HTTP server for replaying recorded responses: tests point a real client's base URL at it."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate_to: int | None = None  # send only this many bytes of a body announced in full

    @classmethod
    def json(cls, data, status: int = 200, **headers) -> "Reply":
        import json

        return cls(status, json.dumps(data), {"Content-Type": "application/json", **headers})


class LoopbackServer:
    """`with LoopbackServer(handler) as server:` serves `handler(Request) -> Reply` on 127.0.0.1 at
    `server.url`; every request is kept in `server.requests` for assertions."""

    def __init__(self, handler: Callable[[Request], Reply]):
        self.handler = handler
        self.requests: list[Request] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    split.path,
                    parse_qs(split.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                outer.requests.append(request)
                try:
                    reply = outer.handler(request)
                except Exception as error:  # a broken fixture shows up as a 500 with the reason
                    reply = Reply(500, f"fixture error: {error!r}")
                body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body if reply.truncate_to is None else body[: reply.truncate_to])
                if reply.truncate_to is not None:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_HEAD = _serve

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "LoopbackServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
