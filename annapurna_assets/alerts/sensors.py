"""Alerts: every failed asset check and every failed run is told through the `notifier` (Slack or the log).

A paper's check failures and failed runs go to the paper's thread; the rest (unpartitioned assets, runs that
name no paper) to the channel.

Failed checks are read from the instance's asset-check execution records, whose ids are global and increasing
(the SQLite event log is sharded per run, so event storage ids are not). The cursor keeps the highest id below
which every record is settled, plus the failures already posted above it: each failure is posted once, across
ticks and daemon restarts, including a check that was planned before a newer one failed and fails later.
"""

import json
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from annapurna_assets.lifecycle import runs
from annapurna_assets.papers.partitions import papers_partitions
from annapurna_resources import Notifier

PAGE = 500
MAX_ALERTS_PER_TICK = 200  # a first tick over a long history posts the oldest failures, the next tick goes on
MAX_DETAIL_CHARS = 300


@dataclass
class CheckCursor:
    settled_through: int = 0  # every check record with an id up to this one is handled
    posted: set[int] = field(default_factory=set)  # failures above settled_through already posted

    @classmethod
    def parse(cls, text: str | None) -> "CheckCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data["settled_through"]), set(data.get("posted", [])))

    def dump(self) -> str:
        return json.dumps({"settled_through": self.settled_through, "posted": sorted(self.posted)})


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts each failed asset check once to Slack: to its paper's thread, or to the channel for "
    "unpartitioned assets (log only without Slack).",
)
def check_failure_alert_sensor(context: dg.SensorEvaluationContext, notifier: Notifier) -> dg.SensorResult:
    """Posts each failed asset check once: to its paper's thread, or to the channel for unpartitioned assets."""
    if context.repository_def is None:
        raise dg.DagsterInvariantViolationError(
            "check_failure_alert_sensor needs the repository's asset checks: evaluate it through the daemon or "
            "with dg.build_sensor_context(definitions=...)"
        )
    asset_graph = context.repository_def.asset_graph
    cursor = CheckCursor.parse(context.cursor)
    storage = context.instance.event_log_storage
    records = sorted(
        (r for key in asset_graph.asset_check_keys for r in _records_after(storage, key, cursor.settled_through)),
        key=lambda r: r.id,
    )
    alerts = 0
    settled = True
    for record in records:
        if alerts >= MAX_ALERTS_PER_TICK:
            break
        if record.status == AssetCheckExecutionRecordStatus.FAILED and record.id not in cursor.posted:
            _post_check_failure(context, notifier, asset_graph, record)
            cursor.posted.add(record.id)
            alerts += 1
        settled = settled and _is_settled(context.instance, record)
        if settled:
            cursor.settled_through = record.id
    cursor.posted = {i for i in cursor.posted if i > cursor.settled_through}
    if alerts:
        context.log.info(f"{alerts} failed check(s) posted")
    return dg.SensorResult(cursor=cursor.dump())


def _records_after(storage, check_key: dg.AssetCheckKey, after: int) -> list[AssetCheckExecutionRecord]:
    """The check's execution records with an id above `after` (the storage pages them newest first)."""
    records, before = [], None
    while True:
        page = storage.get_asset_check_execution_history(check_key, limit=PAGE, cursor=before)
        newer = [r for r in page if r.id > after]
        records.extend(newer)
        if len(page) < PAGE or len(newer) < len(page):
            return records
        before = page[-1].id


def _is_settled(instance: dg.DagsterInstance, record: AssetCheckExecutionRecord) -> bool:
    """A planned check can still fail while its run goes on; once the run is over it never will."""
    if record.status != AssetCheckExecutionRecordStatus.PLANNED:
        return True
    run = instance.get_run_by_id(record.run_id)
    return run is None or run.is_finished


def _post_check_failure(context, notifier: Notifier, asset_graph, record: AssetCheckExecutionRecord) -> None:
    evaluation = record.event.dagster_event.event_specific_data if record.event else None
    key = record.key
    lines = [f":x: check `{key.name}` of `{key.asset_key.to_user_string()}` failed"]
    if record.partition:
        lines[0] += f" for `{record.partition}`"
    description = getattr(evaluation, "description", None)
    if description:
        lines.append(_clip(description))
    for name, value in (getattr(evaluation, "metadata", None) or {}).items():
        lines.append(f"• {name}: {_clip(str(getattr(value, 'value', value)))}")
    lines.append(f"run `{record.run_id}`")
    text = "\n".join(lines)
    if record.partition and _is_paper_asset(asset_graph, key.asset_key):
        notifier.paper_event(context.log, record.partition, text)
    else:
        notifier.channel_alert(context.log, text)


def _is_paper_asset(asset_graph, asset_key: dg.AssetKey) -> bool:
    partitions_def = asset_graph.get(asset_key).partitions_def if asset_graph.has(asset_key) else None
    return getattr(partitions_def, "name", None) == papers_partitions.name


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts each failed run (job, run id, error) to Slack's channel and to the threads of its papers.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, notifier: Notifier) -> None:
    """Posts a failed run (job, run id, error) to the channel, and to the threads of the papers it names."""
    run = context.dagster_run
    errors, failed_papers = _step_errors(context)
    detail = "\n".join(errors) or _clip(context.failure_event.message or "no error message")
    notifier.channel_alert(context.log, f":rotating_light: run `{run.run_id}` of `{run.job_name}` failed\n{detail}")
    for paper_key in failed_papers or run_paper_keys(context.instance, run):
        notifier.paper_event(
            context.log, paper_key, f":rotating_light: run `{run.run_id}` of `{run.job_name}` failed\n{detail}"
        )


def _step_errors(context: dg.RunFailureSensorContext) -> tuple[list[str], list[str]]:
    """Each failed step's error, and the papers a step reported as failed (`failed_papers` metadata)."""
    errors, failed_papers = [], []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        failure = data.user_failure_data
        if failure and failure.description:
            message = failure.description
        elif data.error:
            message = f"{data.error.cls_name}: {data.error.message.strip()}"
        else:
            message = "unknown error"
        errors.append(f"step `{event.step_key}`: {_clip(message)}")
        reported = failure.metadata.get("failed_papers") if failure else None
        if reported is not None:
            failed_papers.extend(getattr(reported, "value", reported) or {})
    return errors, failed_papers


def run_paper_keys(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The papers a run was for: a lifecycle or trn1 batch's config, or its `papers` partition."""
    keys = runs.run_paper_keys(run.job_name, run.run_config or {})
    partition = run.tags.get("dagster/partition")
    if not keys and partition and instance.has_dynamic_partition(papers_partitions.name, partition):
        keys = [partition]
    return list(dict.fromkeys(keys))


HEADLESS_CURSOR_KEY = "annapurna/check_failure_alert_sensor/headless"


def post_failed_checks(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """What the daemon's check_failure_alert_sensor would post, for headless runs (`annapurna demo`) with Slack
    set up; its cursor is kept in the instance, so a second demo posts only the new failures."""
    from annapurna_resources.notify.slack_notifier import SlackNotifier

    if not isinstance((defs.resources or {}).get("notifier"), SlackNotifier):
        return
    cursor = instance.run_storage.get_cursor_values({HEADLESS_CURSOR_KEY}).get(HEADLESS_CURSOR_KEY)
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    ) as context:
        result = check_failure_alert_sensor(context)
    instance.run_storage.set_cursor_values({HEADLESS_CURSOR_KEY: result.cursor})


def post_failed_runs(defs: dg.Definitions, instance: dg.DagsterInstance, failed: list[dg.DagsterRun]) -> None:
    """What the daemon's run_failure_alert_sensor would post for runs that failed without the daemon watching
    (`annapurna demo`), with Slack set up."""
    from annapurna_resources.notify.slack_notifier import SlackNotifier

    if not isinstance((defs.resources or {}).get("notifier"), SlackNotifier):
        return
    for run in failed:
        [failure] = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records or [None]
        if failure is None:
            continue
        with dg.build_run_status_sensor_context(
            sensor_name=run_failure_alert_sensor.name,
            dagster_event=failure.event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
            resources=defs.resources,
        ) as context:
            run_failure_alert_sensor(context.for_run_failure())
