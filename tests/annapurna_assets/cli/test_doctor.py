"""`annapurna doctor` says in words what needs action, and exits 1 then."""

import os
import subprocess
import time

import dagster as dg

from annapurna_assets import cli
from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.runs import lifecycle_run_config


def test_a_healthy_installation_is_all_well(instance, capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "PROBLEM" not in out and out.rstrip().endswith("all well")


def test_a_run_whose_worker_died_and_a_batch_left_behind_are_problems(instance, annapurna_home, capsys):
    defs = build_definitions()
    job = defs.resolve_job_def("lifecycle_batch_job")
    run = instance.create_run_for_job(
        job, run_config=lifecycle_run_config(["icml-2024-a-paper"]), status=dg.DagsterRunStatus.STARTED
    )
    worker = subprocess.Popen(["true"])
    worker.wait()  # a pid that no longer runs
    instance.report_engine_event(f"Started process for run (pid: {worker.pid}).", run)
    left = defs.resources["launcher"].batch_root() / "batch-0123456789ab"
    (left / "paper").mkdir(parents=True)
    (left / "paper" / "stdout.log").write_text("x" * 1000)
    an_hour_ago = time.time() - 2 * 3600
    os.utime(left, (an_hour_ago, an_hour_ago))

    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"1 run(s) started but their worker is gone: {run.run_id[:8]} (lifecycle_batch_job, worker pid " in out
    assert "1 batch director(ies) left behind" in out and f"rm -r {left.parent}/batch-*" in out
    assert out.rstrip().endswith("2 problem(s)")
