"""`annapurna doctor`: what is wrong with an installation, in words, and what to do about it."""

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from annapurna_assets.lifecycle.progress import pending_execution
from annapurna_assets.lifecycle.runs import EXECUTION_JOB, papers_in_flight

STARTED_PID = re.compile(r"Started process for run \(pid: (\d+)\)")
LEFT_BEHIND_AFTER_S = 3600  # a batch directory this old with no batch running was left by a dead batch


@dataclass
class Finding:
    ok: bool
    what: str
    action: str = ""

    def line(self) -> str:
        return f"ok       {self.what}" if self.ok else f"PROBLEM  {self.what}\n         -> {self.action}"


def diagnose(instance: dg.DagsterInstance, resources: dict) -> list[Finding]:
    checks: dict[str, Callable[[], Iterator[Finding]]] = {
        "instance storage": lambda: _instance_storage(instance),
        "runs in progress": lambda: _stuck_runs(instance),
        "papers waiting": lambda: _papers_waiting(instance, resources),
        "batch directories": lambda: _batch_directories(instance, resources["launcher"]),
        "backends": lambda: _backends(resources),
    }
    findings = []
    for name, check in checks.items():
        try:
            findings.extend(check())
        except Exception as error:  # a check that cannot run is itself a finding
            findings.append(Finding(False, f"{name}: could not check: {type(error).__name__}: {error}", "see above"))
    return findings


def _instance_storage(instance: dg.DagsterInstance) -> Iterator[Finding]:
    instance.get_runs(limit=1)
    instance.get_dynamic_partitions("papers")
    instance.all_instigator_state()
    yield Finding(True, f"Dagster instance at {instance.root_directory}: runs, event log and schedules open")


def _stuck_runs(instance: dg.DagsterInstance) -> Iterator[Finding]:
    """Runs recorded as started whose run worker process is gone (on this machine)."""
    started = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    stuck = []
    for run in started:
        pid = _worker_pid(instance, run.run_id)
        if pid is not None and not _alive(pid):
            stuck.append(f"{run.run_id[:8]} ({run.job_name}, worker pid {pid})")
    if stuck:
        yield Finding(
            False,
            f"{len(stuck)} run(s) started but their worker is gone: {', '.join(stuck)}",
            "start `annapurna ui` (its daemon's run monitoring fails them and run retries start them again), or mark "
            "them failed in the UI (Runs → Terminate)",
        )
    else:
        yield Finding(True, f"{len(started)} run(s) in progress, none without a live worker")


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50).records
    for record in records:
        match = STARTED_PID.search(record.event_log_entry.dagster_event.message or "")
        if match:
            return int(match.group(1))
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _papers_waiting(instance: dg.DagsterInstance, resources: dict) -> Iterator[Finding]:
    launcher = resources["launcher"]
    pending = pending_execution(instance, resources["paper_index"])
    patience_min = 2 * launcher.batching.max_wait_minutes
    overdue = [key for key, since in pending.items() if time.time() - since > patience_min * 60]
    if overdue and not papers_in_flight(instance, EXECUTION_JOB):
        yield Finding(
            False,
            f"{len(overdue)} paper(s) have waited over {patience_min:g} minutes for execution with no "
            f"batch running (e.g. {overdue[0]})",
            "is the daemon running? Start `annapurna ui` (trn1_batch_sensor batches them), or `annapurna demo`",
        )
    else:
        yield Finding(True, f"{len(pending)} paper(s) wait for execution, none overdue")


def _batch_directories(instance: dg.DagsterInstance, launcher) -> Iterator[Finding]:
    root = Path(launcher.batch_root())
    if papers_in_flight(instance, EXECUTION_JOB) or not root.is_dir():
        yield Finding(True, "no batch directories left behind")
        return
    old = [p for p in root.glob("batch-*") if time.time() - p.stat().st_mtime > LEFT_BEHIND_AFTER_S]
    if old and not launcher.keep_work_dirs:
        size = sum(f.stat().st_size for p in old for f in p.rglob("*") if f.is_file())
        yield Finding(
            False,
            f"{len(old)} batch director(ies) left behind in {root} ({size / 1e6:.1f} MB), no batch running",
            f"remove them: rm -r {root}/batch-*",
        )
    else:
        yield Finding(True, "no batch directories left behind")


def _backends(resources: dict) -> Iterator[Finding]:
    index, blobs = resources["paper_index"], resources["blob_store"]
    for name, probe in (
        (f"paper index ({type(index).__name__})", lambda: index.get("annapurna-doctor-probe")),
        (f"blob store ({type(blobs).__name__})", lambda: blobs.exists("blob://" + "0" * 64)),
    ):
        try:
            probe()
            yield Finding(True, f"{name} answers")
        except Exception as error:
            yield Finding(False, f"{name} does not answer: {error}", "check its settings (see the README)")
