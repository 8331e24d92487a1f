"""The trn1 launcher: a Dagster Pipes client that runs a batch of generated scripts on the execution host.

Mode `local` runs the batch runner (`trn1_runner.py`, which needs only `dagster-pipes` and torch) in a
subprocess on this machine. Remote modes (SSH to a trn1 or GPU host, AWS SSM) ship the same runner.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.pipes.client import PipesClient, PipesClientCompletedInvocation

from annapurna_resources.home import state_path

RUNNER = Path(__file__).with_name("trn1_runner.py")


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

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Trn1Launcher(dg.ConfigurableResource, PipesClient):
    """Runs batches of scripts; also holds the batching policy the `trn1_batch_sensor` follows."""

    mode: str = "local"
    slots: int = 1
    timeout_s: float = 120.0
    time_budget_s: float = 30.0
    profile_steps: int = 10
    batch_size: int = 10
    max_wait_minutes: float = 30.0
    work_root: str = ""
    memory_limit_mb: int = 16384
    file_size_limit_mb: int = 512
    open_files_limit: int = 1024
    processes_limit: int = 512
    disk_limit_mb: int = 2048
    keep_work_dirs: bool = False

    @property
    def device_description(self) -> str:
        return f"{self.mode} ({os.uname().nodename})"

    def run(self, *, context, extras: dict) -> PipesClientCompletedInvocation:  # the PipesClient interface
        if self.mode != "local":
            raise dg.Failure(f"trn1 launcher mode {self.mode!r} is not available yet; use 'local'")
        with dg.open_pipes_session(
            context=context,
            context_injector=dg.PipesTempFileContextInjector(),
            message_reader=dg.PipesTempFileMessageReader(),
            extras=extras,
        ) as session:
            # HOME only tells the runner which directory to hide from the scripts (they get their work dir).
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "HOME": os.environ.get("HOME", ""),
            }
            if os.environ.get("ANNAPURNA_SANDBOX"):  # "rlimits": skip bwrap (to test the fallback)
                env["ANNAPURNA_SANDBOX"] = os.environ["ANNAPURNA_SANDBOX"]
            completed = subprocess.run(
                [sys.executable, str(RUNNER)], env={**env, **session.get_bootstrap_env_vars()}, check=False
            )
            if completed.returncode != 0:
                raise dg.DagsterPipesExecutionError(
                    f"the batch runner itself failed with exit code {completed.returncode} (an infrastructure "
                    "failure: the papers stay pending)"
                )
        return PipesClientCompletedInvocation(session)

    def run_batch(self, context, scripts: dict[str, str], smoke: bool = False) -> list[ScriptResult]:
        """Run each paper's script (paper key -> source) as one batch; returns one result per paper."""
        batch_dir = state_path(self.work_root, "runs") / f"batch-{uuid.uuid4().hex[:12]}"
        items = []
        for paper_key, code in scripts.items():
            workdir = batch_dir / paper_key
            workdir.mkdir(parents=True)
            (workdir / "main.py").write_text(code)
            items.append({"paper_key": paper_key, "script": "main.py"})
        cores = os.cpu_count() or 1
        batch = {
            "batch_dir": str(batch_dir),
            "papers": items,
            "slots": self.slots,
            "threads_per_slot": max(1, cores // self.slots),
            "timeout_s": self.timeout_s,
            "time_budget_s": self.time_budget_s,
            "profile": True,
            "profile_steps": self.profile_steps,
            "smoke": smoke,
            "limits": {
                "cpu_seconds": self.timeout_s * cores + 10,
                "memory_mb": self.memory_limit_mb,
                "file_size_mb": self.file_size_limit_mb,
                "open_files": self.open_files_limit,
                "processes": self.processes_limit,
                "disk_mb": self.disk_limit_mb,
            },
        }
        try:
            invocation = self.run(context=context, extras={"batch": batch})
            return self._collect(batch_dir, list(scripts), invocation)
        finally:
            if not self.keep_work_dirs:
                shutil.rmtree(batch_dir, ignore_errors=True)

    @staticmethod
    def _collect(batch_dir: Path, paper_keys: list[str], invocation) -> list[ScriptResult]:
        reported = {m["paper_key"]: m for m in invocation.get_custom_messages() if isinstance(m, dict)}
        results = []
        for paper_key in paper_keys:
            message = reported.get(paper_key)
            if message is None:
                raise dg.Failure(f"the runner reported nothing for {paper_key}: an infrastructure failure")
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
