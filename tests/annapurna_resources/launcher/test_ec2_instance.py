"""The EC2 lifecycle against moto's EC2 (tests/aws_standin.py): start, wait, address, errors, cost shares."""

import pytest

from annapurna_resources import Trn1Launcher
from annapurna_resources.launcher.ec2_instance import Ec2Instance
from annapurna_resources.launcher.trn1_launcher import InfrastructureError, ScriptResult
from tests.aws_standin import REGION, client


def launch_instance(endpoint: str) -> str:
    ec2 = client("ec2", endpoint)
    launched = ec2.run_instances(ImageId="ami-12c6146b", InstanceType="trn1.2xlarge", MinCount=1, MaxCount=1)
    return launched["Instances"][0]["InstanceId"]


def instance(instance_id: str, endpoint: str, wait_timeout_s: float = 5) -> Ec2Instance:
    return Ec2Instance(
        instance_id=instance_id,
        region=REGION,
        endpoint_url=endpoint,
        usd_per_hour=1.34375,
        wait_timeout_s=wait_timeout_s,
        poll_interval_s=0.1,
    )


def test_ensure_running_starts_a_stopped_instance_and_returns_its_address(aws_endpoint):
    instance_id = launch_instance(aws_endpoint)
    ec2 = client("ec2", aws_endpoint)
    ec2.stop_instances(InstanceIds=[instance_id])
    trn1 = instance(instance_id, aws_endpoint)
    assert trn1.state() == "stopped"

    address = trn1.ensure_running()

    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running"
    assert address and address == (described.get("PublicDnsName") or described["PrivateIpAddress"])
    status = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"][0]
    assert status["InstanceStatus"]["Status"] == "ok"

    assert trn1.stop() in ("stopping", "stopped")
    assert trn1.state() == "stopped"


def test_a_running_instance_is_left_as_is(aws_endpoint):
    instance_id = launch_instance(aws_endpoint)
    trn1 = instance(instance_id, aws_endpoint)
    launched = trn1.launch_time()

    assert trn1.ensure_running()
    assert trn1.state() == "running" and trn1.launch_time() == launched


def test_a_terminated_or_unknown_instance_raises_an_infrastructure_error(aws_endpoint):
    instance_id = launch_instance(aws_endpoint)
    client("ec2", aws_endpoint).terminate_instances(InstanceIds=[instance_id])
    with pytest.raises(InfrastructureError, match=f"{instance_id} is terminated"):
        instance(instance_id, aws_endpoint).ensure_running()

    with pytest.raises(InfrastructureError, match="i-0123456789abcdef0 does not exist"):
        instance("i-0123456789abcdef0", aws_endpoint).ensure_running()


def test_an_unreachable_aws_endpoint_raises_an_infrastructure_error(aws_endpoint):
    with pytest.raises(InfrastructureError, match="could not describe it"):
        instance("i-0123456789abcdef0", "http://127.0.0.1:9").state()


def test_each_paper_pays_its_share_of_the_batch_instance_time(aws_endpoint):
    launcher = Trn1Launcher(
        mode="ssm",
        ec2={"instance_id": launch_instance(aws_endpoint), "usd_per_hour": 2.0},
        aws_endpoint_url=aws_endpoint,
    )
    assert isinstance(launcher.ec2_instance(), Ec2Instance)
    results = [result("fast", seconds=30.0), result("slow", seconds=90.0)]

    shared = {r.paper_key: r for r in launcher._with_instance_cost(results, batch_seconds=3600.0)}

    assert shared["fast"].instance_hours == pytest.approx(0.25) and shared["fast"].usd == pytest.approx(0.5)
    assert shared["slow"].instance_hours == pytest.approx(0.75) and shared["slow"].usd == pytest.approx(1.5)
    local = Trn1Launcher(mode="local", ec2={"instance_id": "i-0123456789abcdef0"})
    assert local.ec2_instance() is None and local._with_instance_cost(results, 3600.0) == results


def result(paper_key: str, seconds: float) -> ScriptResult:
    return ScriptResult(
        paper_key=paper_key,
        status="ok",
        reason="",
        exit_code=0,
        seconds=seconds,
        metrics=[],
        final={"final_loss": 0.1},
        stdout_tail="",
        stderr_tail="",
        trace=None,
        profile_summary={},
    )
