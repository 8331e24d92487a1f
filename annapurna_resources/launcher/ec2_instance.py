"""The EC2 instance batches run on: started (and waited for) before a batch, stopped when idle."""

import datetime
import math

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from annapurna_resources.launcher.trn1_launcher import InfrastructureError

UNUSABLE_STATES = ("shutting-down", "terminated")


class Ec2Instance:
    """One EC2 instance, by id. `endpoint_url` points boto3 at an AWS stand-in (moto, LocalStack); empty: AWS."""

    poll_interval_s: float = 15.0  # between the waiters' describe calls

    def __init__(
        self,
        instance_id: str,
        region: str = "us-east-1",
        endpoint_url: str = "",
        usd_per_hour: float = 0.0,
        wait_timeout_s: float = 900.0,
        poll_interval_s: float | None = None,
    ):
        if not instance_id:
            raise InfrastructureError("no EC2 instance id is configured (launcher.ec2.instance_id)")
        self.instance_id = instance_id
        self.region = region
        self.endpoint_url = endpoint_url
        self.usd_per_hour = usd_per_hour
        self.wait_timeout_s = wait_timeout_s
        if poll_interval_s is not None:
            self.poll_interval_s = poll_interval_s
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = boto3.client("ec2", region_name=self.region, endpoint_url=self.endpoint_url or None)
        return self._client

    def describe(self) -> dict:
        """The instance's DescribeInstances record; InfrastructureError when it does not exist."""
        try:
            reservations = self.client.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code.startswith("InvalidInstanceID"):
                raise InfrastructureError(
                    f"EC2 instance {self.instance_id} does not exist in {self.region} ({code}): check "
                    "launcher.ec2.instance_id and launcher.aws_region"
                ) from error
            raise self._aws_error("describe", error) from error
        except BotoCoreError as error:
            raise self._aws_error("describe", error) from error
        instances = [i for r in reservations for i in r["Instances"] if i["InstanceId"] == self.instance_id]
        if not instances:
            raise InfrastructureError(f"EC2 instance {self.instance_id} does not exist in {self.region}")
        return instances[0]

    def state(self) -> str:
        """pending, running, stopping, stopped, shutting-down or terminated."""
        return self.describe()["State"]["Name"]

    def launch_time(self) -> datetime.datetime:
        """When the instance was last started (EC2 resets LaunchTime on every start)."""
        return self.describe()["LaunchTime"]

    def ensure_running(self) -> str:
        """Start the instance if it is stopped, wait until it runs and its status checks pass; returns its
        address (public DNS name or IP, else private IP)."""
        state = self.state()
        if state in UNUSABLE_STATES:
            raise InfrastructureError(
                f"EC2 instance {self.instance_id} is {state}: it cannot be started again; configure another "
                "instance (launcher.ec2.instance_id)"
            )
        if state == "stopping":
            self._wait("instance_stopped")
            state = "stopped"
        if state == "stopped":
            try:
                self.client.start_instances(InstanceIds=[self.instance_id])
            except (ClientError, BotoCoreError) as error:
                raise self._aws_error("start", error) from error
        self._wait("instance_running")
        self._wait("instance_status_ok")
        return self.address()

    def address(self) -> str:
        instance = self.describe()
        for key in ("PublicDnsName", "PublicIpAddress", "PrivateIpAddress"):
            if instance.get(key):
                return instance[key]
        raise InfrastructureError(f"EC2 instance {self.instance_id} is running but has no address")

    def stop(self) -> str:
        """Ask EC2 to stop the instance; returns its state right after the request (stopping, or stopped)."""
        try:
            response = self.client.stop_instances(InstanceIds=[self.instance_id])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code.startswith("InvalidInstanceID"):
                raise InfrastructureError(f"EC2 instance {self.instance_id} does not exist ({code})") from error
            raise self._aws_error("stop", error) from error
        except BotoCoreError as error:
            raise self._aws_error("stop", error) from error
        return response["StoppingInstances"][0]["CurrentState"]["Name"]

    def _wait(self, waiter_name: str) -> None:
        delay = max(self.poll_interval_s, 0.01)
        attempts = max(1, math.ceil(self.wait_timeout_s / delay))
        try:
            self.client.get_waiter(waiter_name).wait(
                InstanceIds=[self.instance_id], WaiterConfig={"Delay": delay, "MaxAttempts": attempts}
            )
        except WaiterError as error:
            raise InfrastructureError(
                f"EC2 instance {self.instance_id}: gave up waiting for {waiter_name.removeprefix('instance_')} "
                f"after {self.wait_timeout_s:g} s (state now: {self._state_or_unknown()}): {error}"
            ) from error
        except (ClientError, BotoCoreError) as error:
            raise self._aws_error(f"wait for {waiter_name}", error) from error

    def _state_or_unknown(self) -> str:
        try:
            return self.state()
        except InfrastructureError:
            return "unknown"

    def _aws_error(self, action: str, error: Exception) -> InfrastructureError:
        return InfrastructureError(f"EC2 instance {self.instance_id}: could not {action} it: {error}")
