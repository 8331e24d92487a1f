"""The trn1 launcher: a Dagster Pipes client that runs a batch of generated scripts on the execution host.

Each mode is a `BatchHost`: `local` runs the batch runner (`trn1_runner.py`, which needs only `dagster-pipes`
and torch) in a subprocess on this machine; `ssh` (`ssh_host.py`, a trn1 or GPU host) and `ssm` (`ssm_host.py`,
the EC2 instance through AWS Systems Manager) ship the same runner. With an EC2 instance configured, it is
started before each batch (`ec2_instance.py`).
"""

import abc
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from annapurna_resources.launcher.host import host_file
from annapurna_resources.launcher.host.trn1_runner import PROFILE_WRAPPER
from annapurna_resources.storage.home import state_path

RUNNER = host_file("trn1_runner.py")


@dataclass(frozen=True)
class ScriptResult:
    """One paper's outcome, as the runner reported it, with its files resolved on this machine."""

    paper_key: str
    status: str
    reason: str
    exit_code: int | None
    seconds: float
    metrics: list[dict]
    final: dict
    stdout_tail: str
    stderr_tail: str
    trace: bytes | None  # torch.profiler Chrome/Perfetto JSON
    profile_summary: dict  # top operators and how many optimizer steps were profiled
    sandbox: str = ""  # how the runner isolated it (bwrap, or rlimits only)
    uid: int | None = None  # the uid it ran as, when the batch had uids of its own (bwrap as root)
    instance_hours: float = 0.0  # this paper's share of the batch's EC2 instance time (by script seconds)
    usd: float = 0.0  # and of its price

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class InfrastructureError(dg.Failure):
    """The execution host failed, not the papers' code (host unreachable, connection lost, instance stopped,
    runner crashed): the papers stay pending and the sensor batches them again."""


class BatchHost(abc.ABC):
    """Where a batch runs. `run_runner` ships the local batch dir (one sub-directory per paper with its
    main.py) and `trn1_runner.py` to the host, runs the runner inside a Pipes session opened with the host's
    own context injector and message reader, and copies back what the runner wrote, so that on return the
    local batch dir holds each paper's result files. It raises InfrastructureError when the host fails."""

    description: str = ""

    @abc.abstractmethod
    def run_runner(self, context, extras: dict, batch_dir: Path) -> dg.PipesClientCompletedInvocation: ...


def runner_environment() -> dict:
    """The runner's own environment (never the scripts': the runner builds theirs from an allow-list).
    HOME only tells the runner which directory to hide from the scripts."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "")}
    if os.environ.get("ANNAPURNA_SANDBOX"):  # "rlimits": skip bwrap (to test the fallback)
        env["ANNAPURNA_SANDBOX"] = os.environ["ANNAPURNA_SANDBOX"]
    return env


class LocalHost(BatchHost):
    """This machine: the runner in a subprocess, Pipes through temp files."""

    description = "local"

    def run_runner(self, context, extras: dict, batch_dir: Path) -> dg.PipesClientCompletedInvocation:
        with dg.open_pipes_session(
            context=context,
            context_injector=dg.PipesTempFileContextInjector(),
            message_reader=dg.PipesTempFileMessageReader(),
            extras=extras,
        ) as session:
            completed = subprocess.run(
                [sys.executable, str(RUNNER)],
                env={**runner_environment(), **session.get_bootstrap_env_vars()},
                check=False,
            )
            if completed.returncode != 0:
                raise InfrastructureError(
                    f"the batch runner itself failed with exit code {completed.returncode} (an infrastructure "
                    "failure: the papers stay pending)"
                )
        return dg.PipesClientCompletedInvocation(session)


class BatchingPolicy(dg.Config):
    """When `trn1_batch_sensor` sends papers to the execution host."""

    batch_size: int = Field(default=10, description="Papers per trn1 batch run.")
    max_wait_minutes: float = Field(
        default=30.0, description="A smaller batch goes once its oldest paper waited this long."
    )


class ScriptLimits(dg.Config):
    """What each script of a batch gets and may use (the sandbox's limits)."""

    timeout_s: float = Field(default=120.0, description="Wall-clock limit per script (its process group is killed).")
    time_budget_s: float = Field(
        default=30.0, description="Training time each generated script gets (ANNAPURNA_TIME_BUDGET_S)."
    )
    profile_steps: int = Field(default=10, description="Optimizer steps profiled at the start of each script.")
    memory_mb: int = 16384
    file_size_mb: int = 512
    open_files: int = 1024
    processes: int = 512
    disk_mb: int = Field(default=2048, description="Disk a script may fill in its work directory.")


class SshSettings(dg.Config):
    """Mode ssh: any host with Python, dagster-pipes and torch."""

    host: str = Field(default="", description="The SSH execution host; empty with an EC2 instance: its address.")
    port: int = 22
    user: str = ""
    key_path: str = ""
    jump_host: str = Field(default="", description="A bastion, as ssh -J takes it: [user@]host[:port].")
    known_hosts_path: str = Field(default="", description="Host keys to trust; empty: ~/.ssh/known_hosts.")


class SsmSettings(dg.Config):
    """Mode ssm: AWS Systems Manager send-command to the EC2 instance, the batch and its Pipes messages through S3."""

    bucket: str = Field(default="", description="The bucket for the batch and its Pipes messages.")
    prefix: str = Field(default="annapurna/pipes", description="Key prefix of each batch.")


class Ec2Settings(dg.Config):
    """The EC2 instance batches run on: started when a batch is launched, stopped by trn1_idle_stop_sensor."""

    instance_id: str = Field(default="", description="The trn1 instance; empty: no EC2 lifecycle.")
    usd_per_hour: float = Field(default=1.34375, description="The instance's price, for each paper's cost.")
    idle_stop_minutes: float = Field(default=15.0, description="Idle time before the instance is stopped.")
    wait_timeout_s: float = Field(default=900.0, description="How long a start or stop may take.")


class Trn1Launcher(dg.ConfigurableResource):
    """Runs batches of scripts on the execution host: this machine (`local`), an SSH host or the EC2 instance over
    SSM; its batching policy is what `trn1_batch_sensor` follows."""

    mode: str = "local"
    slots: int = Field(
        default=0,
        description="Scripts at once; 0: sized to the host (a NeuronCore or GPU each, else CPU cores up to 4).",
    )
    batching: BatchingPolicy = Field(default_factory=BatchingPolicy)
    limits: ScriptLimits = Field(default_factory=ScriptLimits)
    work_root: str = ""
    keep_work_dirs: bool = False
    datasets_dir: str = Field(
        default="", description="Offline datasets on the execution host, readable by scripts as ANNAPURNA_DATA_DIR."
    )
    remote_work_root: str = Field(default="/tmp/annapurna-batches", description="Batch directories on a remote host.")
    remote_python: str = Field(
        default="python3", description="The remote host's Python (with dagster-pipes and torch)."
    )
    ssh: SshSettings = Field(default_factory=SshSettings)
    ssm: SsmSettings = Field(default_factory=SsmSettings)
    ec2: Ec2Settings = Field(default_factory=Ec2Settings)
    # AWS (ssm mode and the EC2 instance); credentials come from the standard AWS chain
    aws_region: str = "us-east-1"
    aws_endpoint_url: str = Field(default="", description="An AWS stand-in (moto, LocalStack); empty: AWS.")

    def batch_root(self) -> Path:
        """Where this machine keeps batch directories (one per batch, removed after it unless kept)."""
        return state_path(self.work_root, "runs")

    @property
    def device_description(self) -> str:
        if self.mode == "ssh":
            return f"ssh ({self.ssh.host or self.ec2.instance_id})"
        if self.mode == "ssm":
            return f"ssm ({self.ec2.instance_id})"
        return f"{self.mode} ({os.uname().nodename})"

    def ec2_instance(self):
        """The EC2 instance batches run on, or None (local mode, or a host that is not managed here)."""
        if not self.ec2.instance_id or self.mode == "local":
            return None
        from annapurna_resources.launcher.ec2_instance import Ec2Instance

        return Ec2Instance(
            instance_id=self.ec2.instance_id,
            region=self.aws_region,
            endpoint_url=self.aws_endpoint_url,
            usd_per_hour=self.ec2.usd_per_hour,
            wait_timeout_s=self.ec2.wait_timeout_s,
        )

    def _run_runner(self, context, extras: dict) -> dg.PipesClientCompletedInvocation:
        """Run the batch runner on the execution host with the Pipes session; the runner's files (traces,
        profiles) are in the local batch dir when it returns."""
        instance = self.ec2_instance()
        address = instance.ensure_running() if instance else ""
        return self.host(address).run_runner(context, extras, Path(extras["batch"]["batch_dir"]))

    def host(self, address: str = "") -> "BatchHost":
        """The host for mode local, ssh or ssm; `address` is the started EC2 instance's, when there is one."""
        if self.mode == "local":
            return LocalHost()
        if self.mode == "ssh":
            from annapurna_resources.launcher.ssh_host import SshHost

            if not (self.ssh.host or address):
                raise dg.Failure("ssh mode needs a host: set launcher.ssh.host (or launcher.ec2.instance_id)")

            return SshHost(
                host=self.ssh.host or address,
                port=self.ssh.port,
                user=self.ssh.user,
                key_path=self.ssh.key_path,
                jump_host=self.ssh.jump_host,
                known_hosts_path=self.ssh.known_hosts_path,
                remote_work_root=self.remote_work_root,
                remote_python=self.remote_python,
            )
        if self.mode == "ssm":
            from annapurna_resources.launcher.ssm_host import SsmHost

            if not (self.ec2.instance_id and self.ssm.bucket):
                raise dg.Failure("ssm mode needs launcher.ec2.instance_id and launcher.ssm.bucket")

            return SsmHost(
                instance_id=self.ec2.instance_id,
                bucket=self.ssm.bucket,
                prefix=self.ssm.prefix,
                region=self.aws_region,
                endpoint_url=self.aws_endpoint_url,
                remote_work_root=self.remote_work_root,
                remote_python=self.remote_python,
            )
        raise dg.Failure(f"trn1 launcher mode is {self.mode!r}: expected local, ssh or ssm")

    def run_batch(self, context, scripts: dict[str, str], smoke: bool = False) -> list[ScriptResult]:
        """Run each paper's script (paper key -> source) as one batch; returns one result per paper."""
        batch_dir = self.batch_root() / f"batch-{uuid.uuid4().hex[:12]}"
        batch_dir.mkdir(parents=True)
        shutil.copyfile(host_file("profile_wrapper.py"), batch_dir / PROFILE_WRAPPER)
        items = []
        for paper_key, code in scripts.items():
            workdir = batch_dir / paper_key
            workdir.mkdir(parents=True)
            (workdir / "main.py").write_text(code)
            items.append({"paper_key": paper_key, "script": "main.py"})
        cores = os.cpu_count() or 1
        batch = {
            "batch_dir": str(batch_dir),
            "datasets_dir": self.datasets_dir,
            "papers": items,
            "slots": self.slots,  # 0: the runner sizes the slots to its host (NeuronCores, GPUs or CPU cores)
            "threads_per_slot": max(1, cores // self.slots) if self.slots > 0 else 0,
            "timeout_s": self.limits.timeout_s,
            "time_budget_s": self.limits.time_budget_s,
            "profile": True,
            "profile_steps": self.limits.profile_steps,
            "smoke": smoke,
            "limits": {
                "cpu_seconds": self.limits.timeout_s * cores + 10,
                "memory_mb": self.limits.memory_mb,
                "file_size_mb": self.limits.file_size_mb,
                "open_files": self.limits.open_files,
                "processes": self.limits.processes,
                "disk_mb": self.limits.disk_mb,
            },
        }
        try:
            started = time.monotonic()
            invocation = self._run_runner(context, {"batch": batch})
            results = self._collect(batch_dir, list(scripts), invocation)
            return self._with_instance_cost(results, time.monotonic() - started)
        finally:
            if not self.keep_work_dirs:
                shutil.rmtree(batch_dir, ignore_errors=True)

    def _with_instance_cost(self, results: list[ScriptResult], batch_seconds: float) -> list[ScriptResult]:
        """Each paper's share of the instance time the batch took (start-up wait included), by script seconds."""
        if self.ec2_instance() is None or not results:
            return results
        hours = batch_seconds / 3600
        total = sum(r.seconds for r in results) or len(results)
        shares = [(r.seconds or total / len(results)) / total for r in results]
        return [
            dataclasses.replace(r, instance_hours=hours * share, usd=hours * share * self.ec2.usd_per_hour)
            for r, share in zip(results, shares, strict=True)
        ]

    @staticmethod
    def _collect(batch_dir: Path, paper_keys: list[str], invocation) -> list[ScriptResult]:
        reported = {m["paper_key"]: m for m in invocation.get_custom_messages() if isinstance(m, dict)}
        results = []
        for paper_key in paper_keys:
            message = reported.get(paper_key)
            if message is None:
                raise InfrastructureError(f"the runner reported nothing for {paper_key}: an infrastructure failure")
            results.append(
                ScriptResult(
                    paper_key=paper_key,
                    status=message["status"],
                    reason=message["reason"],
                    exit_code=message["exit_code"],
                    seconds=message["seconds"],
                    metrics=message["metrics"],
                    final=message["final"],
                    stdout_tail=message["stdout_tail"],
                    stderr_tail=message["stderr_tail"],
                    trace=(batch_dir / message["trace_file"]).read_bytes() if "trace_file" in message else None,
                    profile_summary=(
                        json.loads((batch_dir / message["profile_file"]).read_text())
                        if "profile_file" in message
                        else {}
                    ),
                    sandbox=message.get("sandbox", ""),
                    uid=message.get("uid"),
                )
            )
        return results


def run_batch_in_job(launcher: Trn1Launcher, scripts: dict[str, str], log_level: str = "INFO") -> list[ScriptResult]:
    """Run `scripts` (name -> source) as one batch through `launcher` outside the pipeline: the launcher is a Pipes
    client and needs an op's context, so the batch runs in a one-op job."""
    captured = {}

    @dg.op
    def run_batch(context: dg.OpExecutionContext, launcher: Trn1Launcher):
        captured["results"] = launcher.run_batch(context, scripts)

    @dg.job(resource_defs={"launcher": launcher}, logger_defs={"console": dg.default_loggers()["console"]})
    def run_scripts_job():
        run_batch()

    run_scripts_job.execute_in_process(run_config={"loggers": {"console": {"config": {"log_level": log_level}}}})
    return captured["results"]
