"""Mode `ssm` end to end: S3, SSM's API and EC2 are moto (tests/aws_standin.py); moto records SSM commands but runs
nothing, so `PlayedSsmAgent` plays the instance's SSM agent: it runs each command sent to the instance with bash on
this machine and records the outcome in moto's (in-process) command state, as the real agent reports it to SSM."""

import os
import subprocess
import sys
import threading

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends

from annapurna_resources import Trn1Launcher
from annapurna_resources.launcher.ec2_instance import Ec2Instance
from annapurna_resources.launcher.ssm_host import SsmHost
from annapurna_resources.launcher.trn1_launcher import InfrastructureError, run_batch_in_job
from tests.annapurna_resources.launcher.test_ec2_instance import launch_instance
from tests.aws_standin import REGION, client
from tests.contract_scripts import training_script

BUCKET = "annapurna-test"
GOOD = training_script(steps=2, final_fields='"leaked": sorted(k for k in os.environ if "AWS" in k or "DAGSTER" in k)')
TINY = 'import json\nprint("METRICS: " + json.dumps({"step": 1, "loss": 0.5, "final_loss": 0.5}))\n'
CRASH = "raise RuntimeError('shape mismatch in layer 3')\n"


class PlayedSsmAgent:
    """The SSM agent of one instance, played here: polls moto for commands sent to the instance, runs their
    `commands` with bash, and sets the invocation's status, exit code and output in moto."""

    def __init__(self, endpoint: str, instance_id: str):
        self.ssm = client("ssm", endpoint)
        self.instance_id = instance_id
        self.ran: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)

    def _poll(self):
        seen = set()
        while not self._stop.wait(0.1):
            for command in self.ssm.list_commands(InstanceId=self.instance_id)["Commands"]:
                if command["CommandId"] not in seen:
                    seen.add(command["CommandId"])
                    self._execute(command)

    def _execute(self, command: dict):
        invocation = self._invocation(command["CommandId"])
        invocation.update(Status="InProgress", StatusDetails="InProgress")
        script = "\n".join(command["Parameters"]["commands"])
        completed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=dict(os.environ))
        status = "Success" if completed.returncode == 0 else "Failed"
        invocation.update(
            Status=status,
            StatusDetails=status,
            ResponseCode=completed.returncode,
            StandardOutputContent=completed.stdout[-24000:],
            StandardErrorContent=completed.stderr[-8000:],
        )
        self.ran.append({"id": command["CommandId"], "exit_code": completed.returncode, "stderr": completed.stderr})

    def _invocation(self, command_id: str) -> dict:
        command = ssm_backends[DEFAULT_ACCOUNT_ID][REGION].get_command_by_id(command_id)
        return next(i for i in command.invocations if i["InstanceId"] == self.instance_id)


@pytest.fixture
def trn1(aws_endpoint, monkeypatch):
    """A running trn1 instance in moto, the batch bucket, and short polls."""
    monkeypatch.setattr(SsmHost, "poll_interval_s", 0.2)
    monkeypatch.setattr(Ec2Instance, "poll_interval_s", 0.1)
    # Dagster's message reader looks for late messages for 10 s after a session that never got "closed"
    monkeypatch.setattr("dagster._core.pipes.utils.WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL", 0)
    client("s3", aws_endpoint).create_bucket(Bucket=BUCKET)
    return launch_instance(aws_endpoint)


def launcher(instance_id: str, endpoint: str, tmp_path, **overrides) -> Trn1Launcher:
    settings = {
        "mode": "ssm",
        "ec2": {"instance_id": instance_id},
        "ssm": {"bucket": overrides.pop("s3_bucket", BUCKET)},
        "aws_endpoint_url": endpoint,
        "remote_python": sys.executable,
        "remote_work_root": str(tmp_path / "instance"),
        "work_root": str(tmp_path / "runs"),
        "limits": {"timeout_s": overrides.pop("timeout_s", 30), "time_budget_s": 2},
        "slots": 2,
        **overrides,
    }
    return Trn1Launcher(**settings)


def bucket_keys(endpoint: str) -> list[str]:
    return [o["Key"] for o in client("s3", endpoint).list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_a_batch_runs_on_the_instance_through_ssm_and_s3(trn1, aws_endpoint, tmp_path):
    client("ec2", aws_endpoint).stop_instances(InstanceIds=[trn1])
    with PlayedSsmAgent(aws_endpoint, trn1) as agent:
        results = {
            r.paper_key: r
            for r in run_batch_in_job(launcher(trn1, aws_endpoint, tmp_path), {"good": GOOD, "crash": CRASH})
        }

    assert [run["exit_code"] for run in agent.ran] == [0], "one SSM command ran the whole batch"
    assert Ec2Instance(trn1, REGION, aws_endpoint).state() == "running", "the stopped instance was started"
    good = results["good"]
    assert good.ok and good.final["leaked"] == [], good.stderr_tail
    assert len(good.metrics) == 3 and good.trace and b"traceEvents" in good.trace
    assert good.profile_summary["profiled_optimizer_steps"] == 2
    crash = results["crash"]
    assert crash.status == "failed" and crash.exit_code == 1 and "shape mismatch in layer 3" in crash.stderr_tail
    assert all(r.instance_hours > 0 and r.usd > 0 for r in results.values())
    assert bucket_keys(aws_endpoint) == [], "the batch's S3 objects are deleted"
    assert not any((tmp_path / "instance").iterdir()), "the instance's batch dir is removed"


def test_a_command_the_agent_reports_failed_raises_an_infrastructure_error(trn1, aws_endpoint, tmp_path):
    broken = launcher(trn1, aws_endpoint, tmp_path, remote_python=str(tmp_path / "no-python"))
    with PlayedSsmAgent(aws_endpoint, trn1) as agent, pytest.raises(InfrastructureError) as raised:
        run_batch_in_job(broken, {"tiny": TINY})

    assert agent.ran and agent.ran[0]["exit_code"] == 91
    message = str(raised.value)
    assert "ended Failed" in message and "exit code 91" in message and "no-python" in message
    assert bucket_keys(aws_endpoint) == []


def test_a_command_no_agent_runs_times_out_with_an_infrastructure_error(trn1, aws_endpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(SsmHost, "start_margin_s", 1.0)
    with pytest.raises(InfrastructureError, match="no result after 2 s .*never ran it"):
        run_batch_in_job(launcher(trn1, aws_endpoint, tmp_path, timeout_s=1), {"tiny": TINY})

    command = client("ssm", aws_endpoint).list_commands(InstanceId=trn1)["Commands"][0]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert bucket_keys(aws_endpoint) == []


def test_a_missing_bucket_raises_an_infrastructure_error(trn1, aws_endpoint, tmp_path):
    with pytest.raises(InfrastructureError, match="NoSuchBucket"):
        run_batch_in_job(launcher(trn1, aws_endpoint, tmp_path, s3_bucket="annapurna-missing"), {"tiny": TINY})
