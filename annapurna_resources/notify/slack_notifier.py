"""Slack: one thread per paper in one channel, through dagster-slack's `SlackResource` (a slack_sdk WebClient).

The first message about a paper starts its thread in the channel (title, key, message); the thread's `ts` is kept
in the paper's index document (`slack` section), so later messages, from any run or process, go to that thread.
A rate-limited call (HTTP 429) is retried after its Retry-After. Slack failing never fails an asset: the problem is
logged as a warning and the message is dropped. A rejected token is found by `auth.test` at first use and said so.
"""

from dagster_slack import SlackResource
from pydantic import Field, PrivateAttr
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web import WebClient

from annapurna_resources.notify.notifier import Notifier
from annapurna_resources.storage.paper_document import SlackSection
from annapurna_resources.storage.paper_index import PaperIndex

_TOKEN_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}


def slack_escape(text: str) -> str:
    """Slack's three control characters in plain text (titles come from PDFs and listings)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier(Notifier):
    token: str = Field(description="Bot token (xoxb-...) with chat:write; SLACK_BOT_TOKEN.")
    channel: str = Field(description="Channel ID or name the bot is a member of.")
    api_url: str = Field(default="https://slack.com/api", description="Web API base (a Slack-compatible server).")
    paper_index: PaperIndex
    rate_limit_retries: int = Field(default=3, description="Retries of a call answered 429, after its Retry-After.")
    timeout_s: float = 15.0

    _client: WebClient | None = PrivateAttr(default=None)
    _token_problem: str | None = PrivateAttr(default=None)

    def paper_event(self, log, paper_key: str, message: str) -> None:
        if not self._ready(log):
            return
        thread = (self.paper_index.get(paper_key) or {}).get("slack") or {}
        if thread.get("channel") == self.channel and thread.get("thread_ts"):
            self._post(log, message, thread["thread_ts"])
            return
        reply = self._post(log, f"{self._headline(paper_key)}\n{message}")
        if reply is not None:
            self.paper_index.update(paper_key, slack=SlackSection(channel=self.channel, thread_ts=reply["ts"]))

    def channel_alert(self, log, message: str) -> None:
        if self._ready(log):
            self._post(log, message)

    def _headline(self, paper_key: str) -> str:
        doc = self.paper_index.get(paper_key) or {}
        title = doc.get("metadata", {}).get("title") or doc.get("source", {}).get("title") or paper_key
        return f"*{slack_escape(title)}* (`{paper_key}`)"

    def _ready(self, log) -> bool:
        """The client, once `auth.test` accepted the token; False (and a warning, once) when Slack rejects it."""
        if self._token_problem:
            return False
        if self._client is not None:
            return True
        client = SlackResource(token=self.token).get_client()
        client.base_url = self.api_url.rstrip("/") + "/"
        client.timeout = int(self.timeout_s)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=self.rate_limit_retries))
        try:
            identity = client.auth_test()
        except SlackApiError as error:
            reason = error.response.get("error") if isinstance(error.response.data, dict) else None
            if reason in _TOKEN_ERRORS:
                self._token_problem = reason
                log.warning(
                    f"Slack rejected SLACK_BOT_TOKEN ({reason}) at {self.api_url}/auth.test: "
                    "no Slack notifications will be posted; fix the token (a bot token, xoxb-...)"
                )
            else:
                log.warning(f"Slack auth.test at {self.api_url} failed: {_describe(error)}; not posting this message")
            return False
        except Exception as error:  # network: try again at the next message
            log.warning(f"Slack is unreachable at {self.api_url}: {error!r}; not posting this message")
            return False
        log.debug(f"Slack: posting as {identity.get('user')} in team {identity.get('team')}")
        self._client = client
        return True

    def _post(self, log, text: str, thread_ts: str | None = None) -> dict | None:
        """The posted message (with its `ts`), or None when Slack refused or could not be reached."""
        try:
            return self._client.chat_postMessage(channel=self.channel, text=text, thread_ts=thread_ts).data
        except SlackApiError as error:
            log.warning(f"Slack chat.postMessage to {self.channel} failed: {_describe(error)}")
        except Exception as error:
            log.warning(f"Slack chat.postMessage to {self.channel} failed: {error!r}")
        return None


def _describe(error: SlackApiError) -> str:
    response = error.response
    detail = response.data.get("error") if isinstance(response.data, dict) else str(response.data)[:200]
    return f"HTTP {response.status_code}: {detail}"
