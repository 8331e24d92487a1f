"""A loopback fake of the Slack Web API methods the notifier calls: `auth.test` and `chat.postMessage`.

As Slack does: the token comes as `Authorization: Bearer <token>` (slack_sdk sends it so), bodies are form-encoded
or JSON, errors are HTTP 200 with `{"ok": false, "error": ...}` (`not_authed`, `invalid_auth`,
`channel_not_found`, `no_text`, `unknown_method`), and a rate limit is HTTP 429 with `Retry-After` (seconds).
Every posted message is kept in `fake.messages` (channel, text, thread_ts, ts) for assertions.
"""

import json
import threading
from dataclasses import dataclass
from itertools import count
from urllib.parse import parse_qs

from tests.fakes.loopback import LoopbackServer, Reply, Request

TOKEN = "xoxb-fake-annapurna-bot"
CHANNEL = "C0PAPERS"


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    text: str
    thread_ts: str | None
    ts: str


class FakeSlack:
    """`with FakeSlack() as slack:` serves the API at `slack.api_url` (like https://slack.com/api)."""

    def __init__(self, token: str = TOKEN, channels: tuple[str, ...] = (CHANNEL,)):
        self.token = token
        self.channels = set(channels)
        self.messages: list[PostedMessage] = []
        self.rate_limited_calls: list[str] = []
        self._rate_limit_next = 0
        self._lock = threading.Lock()
        self._ts = count(1)
        self._server = LoopbackServer(self._handle)

    @property
    def api_url(self) -> str:
        return f"{self._server.url}/api"

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    def rate_limit_next(self, calls: int) -> None:
        """Answer the next `calls` calls with HTTP 429 and Retry-After: 1."""
        self._rate_limit_next = calls

    def thread(self, thread_ts: str) -> list[PostedMessage]:
        """The thread's root message and its replies, in order."""
        return [m for m in self.messages if thread_ts in (m.ts, m.thread_ts)]

    def roots(self) -> list[PostedMessage]:
        return [m for m in self.messages if m.thread_ts is None]

    def __enter__(self) -> "FakeSlack":
        self._server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._server.__exit__(*exc)

    def _handle(self, request: Request) -> Reply:
        method = request.path.removeprefix("/api/")
        with self._lock:
            if self._rate_limit_next > 0:
                self._rate_limit_next -= 1
                self.rate_limited_calls.append(method)
                return Reply.json({"ok": False, "error": "ratelimited"}, status=429, **{"Retry-After": "1"})
        if request.method != "POST":
            return Reply.json({"ok": False, "error": "invalid_request"}, status=405)
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return Reply.json({"ok": False, "error": "not_authed"})
        if authorization.removeprefix("Bearer ") != self.token:
            return Reply.json({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return Reply.json({"ok": True, "url": "https://annapurna.slack.test/", "team": "Annapurna", "user": "bot"})
        if method == "chat.postMessage":
            return self._post_message(_params(request))
        return Reply.json({"ok": False, "error": "unknown_method"})

    def _post_message(self, params: dict) -> Reply:
        channel = params.get("channel", "")
        if channel not in self.channels:
            return Reply.json({"ok": False, "error": "channel_not_found"})
        if not params.get("text"):
            return Reply.json({"ok": False, "error": "no_text"})
        with self._lock:
            ts = f"1700000000.{next(self._ts):06d}"
            message = PostedMessage(channel, params["text"], params.get("thread_ts") or None, ts)
            self.messages.append(message)
        body = {"type": "message", "text": message.text, "user": "U0BOT", "ts": ts}
        if message.thread_ts:
            body["thread_ts"] = message.thread_ts
        return Reply.json({"ok": True, "channel": channel, "ts": ts, "message": body})


def _params(request: Request) -> dict:
    if request.headers.get("content-type", "").startswith("application/json"):
        return {k: v for k, v in json.loads(request.body or b"{}").items() if v is not None}
    return {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
