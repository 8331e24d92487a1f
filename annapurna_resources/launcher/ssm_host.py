"""Mode `ssm`: the batch runs on the EC2 instance through AWS Systems Manager, with Pipes through S3.

The batch (each paper's main.py and `trn1_runner.py`) goes to s3://bucket/prefix/<batch>/input/; an
`AWS-RunShellScript` command makes the instance fetch it (Python + boto3 there), run the runner with the Pipes
bootstrap env vars (context and messages through S3 under the batch's prefix), put each paper's result files in
.../output/ and a `_done.json` marker last. The host waits for the command, the runner's Pipes "closed" message and
the marker, fetches the result files into the local batch dir and deletes the batch's S3 objects.
"""

import contextlib
import json
import math
import shlex
import time
from pathlib import Path

import boto3
import dagster as dg
from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.pipes import PipesS3ContextInjector, PipesS3MessageReader

from annapurna_resources.launcher.host import host_source
from annapurna_resources.launcher.host.trn1_runner import RESULT_FILES
from annapurna_resources.launcher.trn1_launcher import RUNNER, BatchHost, InfrastructureError

DONE_MARKER = "_done.json"
MAX_EXECUTION_S = 172800  # AWS-RunShellScript's executionTimeout limit (48 h)
SSM_FAILED = {"Failed", "TimedOut", "Cancelled", "Cancelling", "Undeliverable", "Terminated", "DeliveryTimedOut"}

S3_SYNC = host_source("s3_sync.py")  # run as `python -c` on the instance


class BatchS3MessageReader(PipesS3MessageReader):
    """dagster-aws's S3 message reader with the message chunks under the batch's prefix (so they are cleaned up
    with it), not under a random top-level key."""

    def __init__(self, *, key_prefix: str, **kwargs):
        super().__init__(**kwargs)
        self.key_prefix = key_prefix

    @contextlib.contextmanager
    def get_params(self):
        with super().get_params() as params:
            yield {**params, "key_prefix": self.key_prefix}


class SsmHost(BatchHost):
    """The EC2 instance, reached through SSM send-command; Pipes context and messages through S3."""

    poll_interval_s: float = 2.0  # between get_command_invocation calls, and the S3 message reader's interval
    start_margin_s: float = 600.0  # SSM delivery and the batch's download and upload, on top of its scripts' time

    def __init__(
        self,
        instance_id: str,
        bucket: str,
        prefix: str = "annapurna/pipes",
        region: str = "us-east-1",
        endpoint_url: str = "",
        remote_work_root: str = "/tmp/annapurna-batches",
        remote_python: str = "python3",
        poll_interval_s: float | None = None,
        start_margin_s: float | None = None,
    ):
        if not instance_id:
            raise InfrastructureError("ssm mode needs the EC2 instance id (launcher.ec2.instance_id)")
        if not bucket:
            raise InfrastructureError("ssm mode needs an S3 bucket for the batch and Pipes (launcher.ssm.bucket)")
        self.instance_id = instance_id
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.endpoint_url = endpoint_url
        self.remote_work_root = remote_work_root.rstrip("/") or "/"
        self.remote_python = remote_python
        if poll_interval_s is not None:
            self.poll_interval_s = poll_interval_s
        if start_margin_s is not None:
            self.start_margin_s = start_margin_s
        self.description = f"ssm ({instance_id})"
        self.s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint_url or None)
        self.ssm = boto3.client("ssm", region_name=region, endpoint_url=endpoint_url or None)

    def run_runner(self, context, extras: dict, batch_dir: Path) -> dg.PipesClientCompletedInvocation:
        batch_name = batch_dir.name
        batch_prefix = f"{self.prefix}/{batch_name}" if self.prefix else batch_name
        remote_dir = f"{self.remote_work_root}/{batch_name}"
        remote_extras = {**extras, "batch": {**extras["batch"], "batch_dir": f"{remote_dir}/papers"}}
        try:
            self._upload_batch(batch_dir, batch_prefix)
            with dg.open_pipes_session(
                context=context,
                context_injector=PipesS3ContextInjector(
                    bucket=self.bucket, client=self.s3, key_prefix=f"{batch_prefix}/context/"
                ),
                message_reader=BatchS3MessageReader(
                    key_prefix=f"{batch_prefix}/messages",
                    bucket=self.bucket,
                    client=self.s3,
                    interval=self.poll_interval_s,
                ),
                extras=remote_extras,
            ) as session:
                script = self._remote_script(batch_prefix, remote_dir, session.get_bootstrap_env_vars())
                timeout_s = self._batch_seconds(extras["batch"])
                command_id = self._send(script, timeout_s)
                context.log.info(f"batch {batch_name}: SSM command {command_id} sent to {self.instance_id}")
                exit_code = self._wait(command_id, session, batch_prefix, timeout_s)
                if exit_code != 0:
                    raise InfrastructureError(
                        f"the batch runner on {self.instance_id} failed with exit code {exit_code} (an "
                        "infrastructure failure: the papers stay pending)"
                    )
            self._download_results(batch_dir, batch_prefix)
        except (ClientError, BotoCoreError, Boto3Error) as error:
            raise InfrastructureError(f"ssm mode: AWS call failed for batch {batch_name}: {error}") from error
        finally:
            self._delete_prefix(batch_prefix)
        return dg.PipesClientCompletedInvocation(session)

    def _batch_seconds(self, batch: dict) -> float:
        """How long the batch may take on the instance: its scripts' timeouts, slot by slot, plus the margin."""
        rounds = math.ceil(len(batch["papers"]) / max(1, batch["slots"]))
        return batch["timeout_s"] * rounds + self.start_margin_s

    def _upload_batch(self, batch_dir: Path, batch_prefix: str) -> None:
        self.s3.upload_file(str(RUNNER), self.bucket, f"{batch_prefix}/input/trn1_runner.py")
        for path in sorted(batch_dir.rglob("*")):
            if path.is_file():
                key = f"{batch_prefix}/input/papers/{path.relative_to(batch_dir).as_posix()}"
                self.s3.upload_file(str(path), self.bucket, key)

    def _remote_script(self, batch_prefix: str, remote_dir: str, pipes_env: dict) -> str:
        python, work, sync = shlex.quote(self.remote_python), shlex.quote(remote_dir), shlex.quote(S3_SYNC)
        bucket, prefix = shlex.quote(self.bucket), shlex.quote(batch_prefix)
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, **pipes_env}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        exports = "\n".join(f"export {name}={shlex.quote(value)}" for name, value in env.items())
        done = shlex.quote(f"{batch_prefix}/output/{DONE_MARKER}")
        return f"""set -u
{exports}
rm -rf {work} && mkdir -p {work} || exit 90
{python} -c {sync} download {bucket} {prefix}/input {work} || exit 91
cd {work}
{python} {work}/trn1_runner.py
code=$?
{python} -c {sync} upload {bucket} {prefix}/output {work}/papers {",".join(RESULT_FILES)} || exit 92
{python} -c {sync} done {bucket} {done} "$code" || exit 93
cd / && rm -rf {work}
exit $code
"""

    def _send(self, script: str, timeout_s: float) -> str:
        try:
            response = self.ssm.send_command(
                InstanceIds=[self.instance_id],
                DocumentName="AWS-RunShellScript",
                Comment="annapurna trn1 batch",
                Parameters={"commands": [script], "executionTimeout": [str(min(int(timeout_s), MAX_EXECUTION_S))]},
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            reason = (
                "it is not managed by SSM (agent not running, no instance profile with AmazonSSMManagedInstanceCore, "
                "or not in this region)"
                if code == "InvalidInstanceId"
                else str(error)
            )
            raise InfrastructureError(f"SSM could not send the batch to {self.instance_id}: {reason}") from error
        return response["Command"]["CommandId"]

    def _wait(self, command_id: str, session, batch_prefix: str, timeout_s: float) -> int:
        """Wait until SSM reports the command done, the runner closed its Pipes session and the result files are
        up; returns the runner's exit code. SSM's status alone is not enough: it can lag (or, in a stand-in, say
        Success at once)."""
        deadline = time.monotonic() + timeout_s
        status = "Pending"
        while True:
            invocation = self._invocation(command_id)
            if invocation is not None:
                status = invocation["Status"]
                if status in SSM_FAILED:
                    raise InfrastructureError(self._failure_reason(command_id, invocation))
            done = self._done_marker(batch_prefix)
            if done is not None and done["exit_code"] != 0:
                return int(done["exit_code"])  # the runner crashed: it may never have closed its session
            if done is not None and status == "Success" and session.message_handler.received_closed_message:
                return 0
            if time.monotonic() >= deadline:
                with contextlib.suppress(ClientError, BotoCoreError):
                    self.ssm.cancel_command(CommandId=command_id, InstanceIds=[self.instance_id])
                closed = "closed" if session.message_handler.received_closed_message else "not closed"
                raise InfrastructureError(
                    f"SSM command {command_id} on {self.instance_id}: no result after {timeout_s:g} s (SSM status "
                    f"{status}, runner's Pipes session {closed}): the instance never ran it or the batch hung; "
                    "the command was cancelled"
                )
            time.sleep(self.poll_interval_s)

    def _invocation(self, command_id: str) -> dict | None:
        try:
            return self.ssm.get_command_invocation(CommandId=command_id, InstanceId=self.instance_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
                return None  # not yet delivered
            raise

    def _failure_reason(self, command_id: str, invocation: dict) -> str:
        details = invocation.get("StatusDetails", "")
        stderr = (invocation.get("StandardErrorContent") or "").strip()[-2000:]
        return (
            f"SSM command {command_id} on {self.instance_id} ended {invocation['Status']} ({details}, exit code "
            f"{invocation.get('ResponseCode')})" + (f": {stderr}" if stderr else "")
        )

    def _done_marker(self, batch_prefix: str) -> dict | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{batch_prefix}/output/{DONE_MARKER}")["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(body.read())

    def _download_results(self, batch_dir: Path, batch_prefix: str) -> None:
        output = f"{batch_prefix}/output/"
        for key in self._keys(output):
            relative = key[len(output) :]
            if relative == DONE_MARKER or "/" not in relative:
                continue
            paper_key, name = relative.split("/", 1)
            if name not in RESULT_FILES or not (batch_dir / paper_key).is_dir():
                continue
            self.s3.download_file(self.bucket, key, str(batch_dir / paper_key / name))

    def _keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _delete_prefix(self, batch_prefix: str) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            keys = self._keys(f"{batch_prefix}/")
            for start in range(0, len(keys), 1000):
                chunk = [{"Key": key} for key in keys[start : start + 1000]]
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
