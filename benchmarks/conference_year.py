"""A conference year end to end up to the verdict: the real ICML 2024 listing (1,791 papers) replayed from a
loopback OpenReview server -> conference_listing -> per-paper metadata -> offline verdict -> index.

This is what happens after a UI backfill of `icml-2024`: the listing registers the papers, one tick of
`lifecycle_batch_sensor` asks for lifecycle runs of ANNAPURNA_LIFECYCLE_BATCH_SIZE papers each, and the runs
(`lifecycle_batch_job`, stopped at `verdict` here: no PDFs are downloaded) execute `--workers` at a time, one
worker process per CPU as the daemon's run queue would with its concurrency limit (a worker runs its share of
the runs one after another in one process, so the model loads once per worker, not once per run).
`floor_seconds` is the bare embedding of the same title+abstract texts in one process with the model already
loaded (the judging work that cannot be avoided); `seconds` includes everything, model loads included.
Prints one final JSON line. Usage: .venv/bin/python benchmarks/conference_year.py [--workers N]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from listing_replay import QUIET, materialize_listing, replayed_openreview


def run_worker(run_configs_file: Path) -> None:
    """Executes the lifecycle runs listed in the file (JSON list of [run_config, tags]) on the shared instance."""
    import dagster as dg

    from annapurna_assets.definitions import build_definitions

    job = build_definitions().resolve_job_def("lifecycle_batch_job")
    with dg.DagsterInstance.get() as instance:
        for run_config, tags in json.loads(run_configs_file.read_text()):
            outcome = job.execute_in_process(
                instance=instance, run_config={**run_config, **QUIET}, tags=tags, raise_on_error=False
            )
            if not outcome.success:
                print(f"run {outcome.run_id} failed", file=sys.stderr)


def main(workers: int) -> None:
    import dagster as dg

    from annapurna_assets.lifecycle.progress import stage_counts
    from annapurna_assets.lifecycle.runs import LIFECYCLE_JOB, lifecycle_run_config, run_paper_keys
    from tests.fakes.openreview_api import icml2024_notes

    notes = icml2024_notes()
    with replayed_openreview(notes) as (home, instance, defs):
        started = time.perf_counter()
        listing_seconds = materialize_listing(instance, defs, "icml-2024")
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            requests = defs.resolve_sensor_def("lifecycle_batch_sensor")(context).run_requests
        runs = [
            (
                lifecycle_run_config(run_paper_keys(LIFECYCLE_JOB, r.run_config), "verdict"),
                r.tags,
            )
            for r in requests
        ]
        shares = []
        for worker in range(workers):
            share = Path(home) / f"runs-{worker}.json"
            share.write_text(json.dumps(runs[worker::workers]))
            shares.append(share)
        processes = [
            subprocess.Popen([sys.executable, __file__, "--worker-runs", str(share)], env=os.environ.copy())
            for share in shares
        ]
        failed_workers = sum(process.wait() != 0 for process in processes)
        seconds = time.perf_counter() - started
        counts = stage_counts(instance, defs.resources["paper_index"])
        failed_runs = len(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])))

        texts = [f"{n['content']['title']['value']}. {n['content']['abstract']['value']}" for n in notes]
        embedder = defs.resources["embedder"]
        embedder.embed(texts[:8])
        started = time.perf_counter()
        embedder.embed(texts)
        floor_seconds = time.perf_counter() - started

    print(
        f"listing and registration {listing_seconds:.1f} s; {len(runs)} lifecycle runs on {workers} workers "
        f"({failed_runs} failed runs, {failed_workers} failed workers)"
    )
    print(f"stages: {counts}")
    print(
        json.dumps(
            {
                "papers": counts["judged"],
                "seconds": round(seconds, 1),
                "floor_seconds": round(floor_seconds, 1),
                "ratio": round(seconds / floor_seconds, 2),
                "runs": len(runs),
                "workers": workers,
                "accepted": counts["accepted"],
                "rejected": counts["rejected"],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker-runs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_runs:
        run_worker(args.worker_runs)
    else:
        main(args.workers)
