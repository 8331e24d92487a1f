"""The alert sensors, evaluated as the daemon does, posting to a loopback Slack; and a real lifecycle with Slack."""

import shutil

import dagster as dg
import pytest

from annapurna_assets.alerts.sensors import (
    check_failure_alert_sensor,
    post_failed_checks,
    post_failed_runs,
    run_failure_alert_sensor,
)
from annapurna_assets.cli.demo import evaluate_sensor
from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.runs import LIFECYCLE_JOB, run_paper_keys
from annapurna_assets.papers.partitions import papers_partitions
from annapurna_assets.settings import DEMO_CORPUS
from annapurna_resources import SqlitePaperIndex
from annapurna_resources.launcher.trn1_launcher import InfrastructureError
from annapurna_resources.notify.slack_notifier import SlackNotifier
from tests.conftest import configure
from tests.fakes.slack_api import CHANNEL, TOKEN, FakeSlack

PAPER = "local-0123456789abcdef"


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def resources(slack, annapurna_home):
    index = SqlitePaperIndex()
    index.register_many([(PAPER, {"title": "Switch Transformers"})])
    return {"notifier": SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, paper_index=index)}


@dg.asset(
    partitions_def=papers_partitions,
    check_specs=[dg.AssetCheckSpec("has_abstract", asset="paper_doc", partitions_def=papers_partitions)],
)
def paper_doc():
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(
        check_name="has_abstract", passed=False, description="no abstract on page 1", metadata={"pages": 12}
    )


@dg.asset(check_specs=[dg.AssetCheckSpec("enough_labels", asset="page_model")])
def page_model():
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="enough_labels", passed=False, description="only 3 labelled pages")


@dg.asset(check_specs=[dg.AssetCheckSpec("fine", asset="healthy")])
def healthy():
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="fine", passed=True)


def evaluate(defs, instance, resources, cursor=None) -> str:
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=resources) as context:
        return check_failure_alert_sensor(context).cursor


def test_failed_checks_post_once_to_the_paper_thread_or_the_channel(instance, resources, slack):
    instance.add_dynamic_partitions(papers_partitions.name, [PAPER])
    defs = dg.Definitions(assets=[paper_doc, page_model, healthy])
    paper_run = dg.materialize([paper_doc], instance=instance, partition_key=PAPER, raise_on_error=False)
    model_run = dg.materialize([page_model, healthy], instance=instance)

    cursor = evaluate(defs, instance, resources)
    assert evaluate(defs, instance, resources, cursor) == cursor  # a second tick posts nothing
    [root, model_alert] = slack.messages
    assert root.thread_ts is None and "*Switch Transformers*" in root.text
    assert f"check `has_abstract` of `paper_doc` failed for `{PAPER}`" in root.text
    assert "no abstract on page 1" in root.text and "pages: 12" in root.text and paper_run.run_id in root.text
    assert model_alert.thread_ts is None and "check `enough_labels` of `page_model` failed" in model_alert.text
    assert "only 3 labelled pages" in model_alert.text and model_run.run_id in model_alert.text
    assert resources["notifier"].paper_index.get(PAPER)["slack"]["thread_ts"] == root.ts

    # The paper fails again: the daemon restarted with its stored cursor posts only the new failure, in the thread.
    again = dg.materialize([paper_doc], instance=instance, partition_key=PAPER, raise_on_error=False)
    evaluate(defs, instance, resources, cursor)
    assert len(slack.messages) == 3
    assert slack.messages[-1].thread_ts == root.ts and again.run_id in slack.messages[-1].text


@dg.op
def run_trn1_batch(config: dg.PermissiveConfig):
    raise InfrastructureError("the batch runner itself failed (an infrastructure failure: the papers stay pending)")


@dg.job
def trn1_batch_job():
    run_trn1_batch()


def test_failed_run_is_posted_to_the_channel_and_its_papers_threads(instance, resources, slack):
    config = {"ops": {"run_trn1_batch": {"config": {"paper_keys": [PAPER]}}}}
    result = trn1_batch_job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
    assert not result.success
    with dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=resources,
    ) as context:
        run_failure_alert_sensor(context.for_run_failure())

    [channel_alert, paper_root] = slack.messages
    for message in (channel_alert, paper_root):
        assert f"run `{result.run_id}` of `trn1_batch_job` failed" in message.text
        assert "step `run_trn1_batch`: the batch runner itself failed" in message.text
        assert "the papers stay pending" in message.text
    assert channel_alert.thread_ts is None and "Switch Transformers" not in channel_alert.text
    assert paper_root.text.startswith(f"*Switch Transformers* (`{PAPER}`)")
    assert resources["notifier"].paper_index.get(PAPER)["slack"]["thread_ts"] == paper_root.ts


def test_the_headless_demo_posts_failed_runs_as_the_sensor_would(instance, resources, slack):
    config = {"ops": {"run_trn1_batch": {"config": {"paper_keys": [PAPER]}}}}
    result = trn1_batch_job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
    post_failed_runs(dg.Definitions(jobs=[trn1_batch_job], resources=resources), instance, [result.dagster_run])
    [channel_alert, paper_root] = slack.messages
    assert f"run `{result.run_id}` of `trn1_batch_job` failed" in channel_alert.text
    assert paper_root.text.startswith(f"*Switch Transformers* (`{PAPER}`)")
    assert "the papers stay pending" in paper_root.text

    post_failed_runs(dg.Definitions(jobs=[trn1_batch_job]), instance, [result.dagster_run])  # no Slack: nothing posted
    assert len(slack.messages) == 2


def test_lifecycle_posts_accepted_and_code_generated_in_each_paper_thread(instance, slack, tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("01_T5_JMLR2020.pdf", "02_SwitchTransformers_JMLR2022.pdf", "03_NCF_WWW2017.pdf"):
        shutil.copy(DEMO_CORPUS / name, inbox / name)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    configure(
        paper_folder={"folder": str(inbox)},
        notifier={"kind": "slack", "channel": CHANNEL, "api_url": slack.api_url},
    )
    defs = build_definitions()
    assert isinstance(defs.resources["notifier"], SlackNotifier)

    evaluate_sensor(defs, instance, "local_folder_sensor")
    [request] = evaluate_sensor(defs, instance, "lifecycle_batch_sensor").run_requests
    assert (
        defs.resolve_job_def(LIFECYCLE_JOB).execute_in_process(instance=instance, run_config=request.run_config).success
    )
    post_failed_checks(defs, instance)

    index = defs.resources["paper_index"]
    docs = index.get_many(run_paper_keys(LIFECYCLE_JOB, request.run_config))
    accepted = [key for key, doc in docs.items() if doc["verdict"]["decision"] == "accept"]
    assert len(docs) == 3 and len(accepted) == 2 and len(slack.roots()) == 2
    for key, doc in docs.items():
        if key not in accepted:  # rejected: no thread, nothing posted
            assert "slack" not in doc and all(key not in m.text for m in slack.messages)
            continue
        [root, code] = slack.thread(doc["slack"]["thread_ts"])
        assert root.text.startswith(f"*{doc['metadata']['title']}* (`{key}`)\naccepted by ")
        assert code.thread_ts == root.ts and code.text.startswith("code generated by ")
        assert "meets the contract" in code.text
