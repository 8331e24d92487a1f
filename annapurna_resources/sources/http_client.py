"""Polite HTTP for scraping sites and downloading PDFs: per-host pacing, retries with backoff and jitter on
429/5xx honouring Retry-After, a size cap, and errors that say what went wrong."""

import email.utils
import fcntl
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "annapurna/0.1 (+https://github.com/annapurna; research paper pipeline)"


class HttpFailure(Exception):
    """A request that could not be completed; `status` is the last HTTP status (None for network errors)."""

    def __init__(self, url: str, reason: str, status: int | None = None):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.status = url, reason, status


@dataclass
class HttpReply:
    url: str
    status: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


@dataclass
class PoliteHttpClient:
    """`host_intervals` maps a host to the minimum seconds between two requests to it (others use
    `default_interval_s`). Pacing holds across the threads of a process, and across processes (concurrent Dagster
    runs) when `pacing_dir` is set: the last request time per host is kept there under a file lock."""

    host_intervals: dict[str, float] = field(default_factory=dict)
    default_interval_s: float = 1.0
    max_retries: int = 4
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    timeout_s: float = 30.0
    max_bytes: int = 50 * 1024 * 1024
    user_agent: str = USER_AGENT
    pacing_dir: str = ""
    sleep: object = time.sleep  # replaced in tests that check the waits
    _last_request: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _session: requests.Session = field(default_factory=requests.Session, init=False, repr=False)

    def interval_for(self, host: str) -> float:
        for pattern, interval in self.host_intervals.items():
            if host == pattern or host.endswith("." + pattern):
                return interval
        return self.default_interval_s

    def _wait_turn(self, host: str) -> None:
        interval = self.interval_for(host)
        with self._lock:
            if not self.pacing_dir:
                wait = self._last_request.get(host, 0.0) + interval - time.monotonic()
                if wait > 0:
                    self.sleep(wait)
                self._last_request[host] = time.monotonic()
                return
            Path(self.pacing_dir).mkdir(parents=True, exist_ok=True)
            with open(Path(self.pacing_dir) / (host or "unknown"), "a+") as stamp:
                fcntl.flock(stamp, fcntl.LOCK_EX)
                stamp.seek(0)
                last = float(stamp.read().strip() or 0.0)
                wait = last + interval - time.time()
                if wait > 0:
                    self.sleep(wait)
                stamp.seek(0)
                stamp.truncate()
                stamp.write(repr(time.time()))

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer."""
        delay = random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff_s * 5))
        return delay

    def get(self, url: str, params: dict | None = None, max_bytes: int | None = None) -> HttpReply:
        """GET `url`, retrying 429/5xx and connection errors; raises HttpFailure when it cannot be had."""
        host = urlsplit(url).hostname or ""
        cap = max_bytes or self.max_bytes
        last_problem, last_status = "no attempt made", None
        for attempt in range(self.max_retries + 1):
            self._wait_turn(host)
            try:
                reply = self._fetch(url, params, cap)
            except _TooLarge as error:
                raise HttpFailure(url, str(error)) from None
            except requests.RequestException as error:
                last_problem, last_status = f"{type(error).__name__}: {error}", None
                wait = self.backoff(attempt, None)
            else:
                if reply.status < 400:
                    return reply
                last_problem, last_status = f"HTTP {reply.status}", reply.status
                if reply.status not in RETRY_STATUSES:
                    raise HttpFailure(url, last_problem, reply.status)
                wait = self.backoff(attempt, retry_after_seconds(reply.headers.get("retry-after")))
            if attempt < self.max_retries:
                self.sleep(wait)
        raise HttpFailure(url, f"{last_problem} after {self.max_retries + 1} attempts", last_status)

    def _fetch(self, url: str, params: dict | None, cap: int) -> HttpReply:
        with self._session.get(
            url, params=params, timeout=self.timeout_s, stream=True, headers={"User-Agent": self.user_agent}
        ) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise _TooLarge(f"{declared} bytes is over the {cap}-byte cap")
            body = bytearray()
            for chunk in response.iter_content(1 << 16):
                body.extend(chunk)
                if len(body) > cap:
                    raise _TooLarge(f"more than the {cap}-byte cap")
            headers = {k.lower(): v for k, v in response.headers.items()}
            if declared and declared.isdigit() and len(body) < int(declared):
                raise requests.ConnectionError(f"truncated: {len(body)} of {declared} bytes")
            return HttpReply(response.url, response.status_code, headers, bytes(body))


class _TooLarge(Exception):
    pass
