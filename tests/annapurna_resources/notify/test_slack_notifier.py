import logging
import time

import dagster as dg
import pytest

from annapurna_resources import SqlitePaperIndex
from annapurna_resources.notify.slack_notifier import SlackNotifier
from tests.fakes.slack_api import CHANNEL, TOKEN, FakeSlack

LOG = logging.getLogger("annapurna.test_slack")


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def index(tmp_path):
    index = SqlitePaperIndex(path=str(tmp_path / "index.sqlite"))
    index.register_many([("local-aaa", {"title": "from the listing"})])
    index.update("local-aaa", metadata={"title": "Attention <Is> All You Need", "abstract": "..."})
    index.register_many([("local-bbb", {"title": "Graph Convolutional Networks"})])
    return index


def notifier(slack: FakeSlack, index, token: str = TOKEN, channel: str = CHANNEL) -> SlackNotifier:
    return SlackNotifier(token=token, channel=channel, api_url=slack.api_url, paper_index=index)


def test_one_thread_per_paper_kept_on_the_index_document(slack, index):
    first = notifier(slack, index)
    first.paper_event(LOG, "local-aaa", "accepted")
    first.paper_event(LOG, "local-bbb", "accepted")
    # Another run (a new resource instance) finds the thread on the paper's document.
    notifier(slack, index).paper_event(LOG, "local-aaa", "code generated")

    roots = slack.roots()
    assert [m.text for m in roots] == [
        "*Attention &lt;Is&gt; All You Need* (`local-aaa`)\naccepted",
        "*Graph Convolutional Networks* (`local-bbb`)\naccepted",
    ]
    assert index.get("local-aaa")["slack"] == {"channel": CHANNEL, "thread_ts": roots[0].ts}
    assert index.get("local-bbb")["slack"] == {"channel": CHANNEL, "thread_ts": roots[1].ts}
    assert [m.text for m in slack.thread(roots[0].ts)] == [roots[0].text, "code generated"]
    assert slack.messages[-1].thread_ts == roots[0].ts
    auth_calls = [r for r in slack.requests if r.path.endswith("/auth.test")]
    assert len(auth_calls) == 2  # once per resource instance, at first use


def test_rate_limited_call_is_retried_after_retry_after(slack, index):
    slack.rate_limit_next(1)
    posting = notifier(slack, index)
    posting.channel_alert(LOG, "hello")  # auth.test is answered 429 once
    slack.rate_limit_next(2)
    started = time.monotonic()
    posting.paper_event(LOG, "local-bbb", "accepted")
    assert time.monotonic() - started >= 2.0  # two Retry-After: 1 waits
    assert slack.rate_limited_calls == ["auth.test", "chat.postMessage", "chat.postMessage"]
    assert [m.text.splitlines()[-1] for m in slack.messages] == ["hello", "accepted"]
    assert index.get("local-bbb")["slack"]["thread_ts"] == slack.messages[-1].ts


def test_invalid_token_is_a_clear_warning_and_nothing_is_posted(slack, index, caplog):
    bad = notifier(slack, index, token="xoxb-revoked")
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        bad.paper_event(LOG, "local-aaa", "accepted")
        bad.paper_event(LOG, "local-aaa", "code generated")
        bad.channel_alert(LOG, "a run failed")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rejected SLACK_BOT_TOKEN (invalid_auth)" in warnings[0]
    assert slack.messages == [] and "slack" not in index.get("local-aaa")
    assert len([r for r in slack.requests if r.path.endswith("/chat.postMessage")]) == 0


def test_unknown_channel_and_unreachable_slack_only_warn(slack, index, caplog):
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        notifier(slack, index, channel="C0NOPE").paper_event(LOG, "local-aaa", "accepted")
        SlackNotifier(token=TOKEN, channel=CHANNEL, api_url="http://127.0.0.1:9/api", paper_index=index).channel_alert(
            LOG, "a run failed"
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "channel_not_found" in warnings[0] and "unreachable" in warnings[1]
    assert "slack" not in index.get("local-aaa")


def test_slack_failure_never_fails_the_asset(slack, index):
    @dg.asset
    def announced(notifier: SlackNotifier) -> None:
        notifier.paper_event(dg.get_dagster_logger(), "local-aaa", "accepted")

    result = dg.materialize(
        [announced], resources={"notifier": notifier(slack, index, token="xoxb-revoked")}, raise_on_error=False
    )
    assert result.success and slack.messages == []
