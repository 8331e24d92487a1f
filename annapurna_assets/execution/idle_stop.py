"""Stops the trn1 EC2 instance once no batch has needed it for `ec2.idle_stop_minutes` (the launcher starts it
again for the next batch)."""

import datetime
import time

import dagster as dg

from annapurna_assets.lifecycle.runs import EXECUTION_JOB, IN_FLIGHT
from annapurna_resources import Trn1Launcher
from annapurna_resources.launcher.trn1_launcher import InfrastructureError

ENDED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def last_batch_end(instance: dg.DagsterInstance) -> float | None:
    """When the latest-ended trn1_batch_job run ended (epoch seconds), or None when none ever ended."""
    records = instance.get_run_records(dg.RunsFilter(job_name=EXECUTION_JOB, statuses=ENDED), limit=20)
    ends = [r.end_time or r.update_timestamp.timestamp() for r in records]
    return max(ends, default=None)


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Stops the trn1 EC2 instance once no batch is in flight and it has been idle for the launcher's "
    "ec2_idle_stop_minutes (nothing to do without an EC2 instance).",
)
def trn1_idle_stop_sensor(context: dg.SensorEvaluationContext, launcher: Trn1Launcher):
    """Stops the EC2 instance when no trn1_batch_job run is in flight and it has been idle (since the last batch
    ended, or since it was started if that was later) for the launcher's `ec2.idle_stop_minutes`."""
    ec2 = launcher.ec2_instance()
    if ec2 is None:
        return dg.SkipReason(f"no EC2 instance to stop (trn1 mode {launcher.mode}, instance id unset or local)")
    in_flight = context.instance.get_runs_count(dg.RunsFilter(job_name=EXECUTION_JOB, statuses=list(IN_FLIGHT)))
    if in_flight:
        return dg.SkipReason(f"{in_flight} {EXECUTION_JOB} run(s) queued or in progress: {ec2.instance_id} is in use")
    try:
        state = ec2.state()
        if state != "running":
            return dg.SkipReason(f"{ec2.instance_id} is {state}: nothing to stop")
        started = ec2.launch_time().timestamp()
    except InfrastructureError as error:
        return dg.SkipReason(f"could not check {ec2.instance_id}: {error}")
    last_end = last_batch_end(context.instance)
    idle_since = max(started, last_end or 0.0)
    idle_s = time.time() - idle_since
    limit_s = launcher.ec2.idle_stop_minutes * 60
    since = "the last batch ended" if last_end and last_end >= started else "it was started"
    if idle_s < limit_s:
        return dg.SkipReason(
            f"{ec2.instance_id} idle for {idle_s / 60:.1f} min (since {since}); stops after "
            f"{launcher.ec2.idle_stop_minutes:g} min"
        )
    new_state = ec2.stop()
    context.log.info(
        f"stopped EC2 instance {ec2.instance_id} ({new_state}): idle for {idle_s / 60:.1f} min since {since} "
        f"({datetime.datetime.fromtimestamp(idle_since, datetime.UTC):%Y-%m-%d %H:%M:%S} UTC), limit "
        f"{launcher.ec2.idle_stop_minutes:g} min"
    )
    return dg.SkipReason(f"stopped {ec2.instance_id} after {idle_s / 60:.1f} idle min")
