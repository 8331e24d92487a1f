"""trn1_idle_stop_sensor against moto's EC2 and a temporary Dagster instance holding real trn1_batch_job runs."""

import time

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from annapurna_assets.execution.idle_stop import trn1_idle_stop_sensor
from annapurna_resources import Trn1Launcher
from annapurna_resources.launcher.ec2_instance import Ec2Instance
from tests.annapurna_resources.launcher.test_ec2_instance import launch_instance
from tests.aws_standin import REGION

IDLE_MINUTES = 1.5 / 60  # 1.5 s


def evaluate(instance: dg.DagsterInstance, launcher: Trn1Launcher):
    context = dg.build_sensor_context(instance=instance, resources={"launcher": launcher})
    return trn1_idle_stop_sensor(context)


def ssm_launcher(instance_id: str, endpoint: str, idle_minutes: float = IDLE_MINUTES) -> Trn1Launcher:
    return Trn1Launcher(
        mode="ssm", ec2={"instance_id": instance_id, "idle_stop_minutes": idle_minutes}, aws_endpoint_url=endpoint
    )


def run_a_batch_job(instance: dg.DagsterInstance) -> None:
    """A finished run of a job named trn1_batch_job (its work does not matter here: only its end time)."""

    @dg.op
    def run_trn1_batch():
        pass

    @dg.job(name="trn1_batch_job")
    def batch_job():
        run_trn1_batch()

    assert batch_job.execute_in_process(instance=instance).success


def test_the_instance_is_stopped_once_idle_after_the_last_batch(aws_endpoint, instance):
    instance_id = launch_instance(aws_endpoint)
    trn1 = Ec2Instance(instance_id, REGION, aws_endpoint)
    run_a_batch_job(instance)

    skipped = evaluate(instance, ssm_launcher(instance_id, aws_endpoint, idle_minutes=10))
    assert "since the last batch ended); stops after 10 min" in skipped.skip_message
    assert trn1.state() == "running"

    time.sleep(IDLE_MINUTES * 60 + 0.2)
    launcher = ssm_launcher(instance_id, aws_endpoint)
    stopped = evaluate(instance, launcher)
    assert f"stopped {instance_id}" in stopped.skip_message
    assert trn1.state() == "stopped"
    assert "is stopped: nothing to stop" in evaluate(instance, launcher).skip_message


def test_a_batch_in_progress_keeps_the_instance_running(aws_endpoint, instance):
    instance_id = launch_instance(aws_endpoint)
    run_a_batch_job(instance)
    create_run_for_test(instance, job_name="trn1_batch_job", status=dg.DagsterRunStatus.STARTED)
    time.sleep(IDLE_MINUTES * 60 + 0.2)

    skipped = evaluate(instance, ssm_launcher(instance_id, aws_endpoint))

    assert "1 trn1_batch_job run(s) queued or in progress" in skipped.skip_message
    assert Ec2Instance(instance_id, REGION, aws_endpoint).state() == "running"


def test_an_instance_that_never_ran_a_batch_stops_after_the_idle_time_since_its_start(aws_endpoint, instance):
    instance_id = launch_instance(aws_endpoint)
    skipped = evaluate(instance, ssm_launcher(instance_id, aws_endpoint, idle_minutes=10))
    assert "(since it was started); stops after 10 min" in skipped.skip_message
    time.sleep(IDLE_MINUTES * 60 + 0.2)

    result = evaluate(instance, ssm_launcher(instance_id, aws_endpoint))

    assert f"stopped {instance_id}" in result.skip_message
    assert Ec2Instance(instance_id, REGION, aws_endpoint).state() == "stopped"


def test_without_an_instance_the_sensor_skips(instance):
    result = evaluate(instance, Trn1Launcher(mode="local"))
    assert isinstance(result, dg.SkipReason) and "no EC2 instance" in result.skip_message
