"""A conference year end to end up to the verdict: the real ICML 2024 listing (1,791 papers) replayed from a
loopback OpenReview server -> conference_listing -> per-paper metadata -> offline verdict -> index.

This is what the daemon does after a UI backfill of `icml-2024`: the listing registers the papers, one tick of
`paper_lifecycle_sensor` asks for lifecycle runs of ANNAPURNA_LIFECYCLE_BATCH_SIZE papers each, and each run
(`lifecycle_batch_job`, stopped at `verdict` here: no PDFs are downloaded) is executed in this process, one
after another, as `annapurna demo` does. `floor_seconds` is the bare embedding of the same title+abstract texts
in one process with the model already loaded (the judging work that cannot be avoided); `seconds` includes
everything, model load included. Prints one final JSON line. Usage: .venv/bin/python benchmarks/conference_year.py
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["ANNAPURNA_HOME"] = home
        from annapurna_assets.settings import ensure_dagster_home

        ensure_dagster_home()
        import dagster as dg

        from annapurna_assets.definitions import build_definitions
        from annapurna_assets.lifecycle import lifecycle_run_config
        from annapurna_assets.listings import conference_listing
        from annapurna_assets.progress import stage_counts
        from tests.fakes.openreview_api import icml2024_notes, serve_openreview

        notes = icml2024_notes()
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        with serve_openreview(notes) as server, dg.DagsterInstance.get() as instance:
            os.environ["ANNAPURNA_OPENREVIEW_URL"] = server.url
            defs = build_definitions()
            started = time.perf_counter()
            dg.materialize(
                [conference_listing],
                partition_key="icml-2024",
                instance=instance,
                resources=defs.resources,
                run_config={"loggers": quiet["loggers"]},
            )
            listing_seconds = time.perf_counter() - started
            with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
                requests = defs.resolve_sensor_def("paper_lifecycle_sensor")(context).run_requests
            job = defs.resolve_job_def("lifecycle_batch_job")
            failed_runs = 0
            for request in requests:
                keys = request.run_config["ops"]["run_paper_lifecycle"]["config"]["paper_keys"]
                outcome = job.execute_in_process(
                    instance=instance,
                    run_config={**lifecycle_run_config(keys, through="verdict"), **quiet},
                    tags=request.tags,
                    raise_on_error=False,
                )
                failed_runs += not outcome.success
            seconds = time.perf_counter() - started
            counts = stage_counts(instance, defs.resources["paper_index"])

        texts = [f"{n['content']['title']['value']}. {n['content']['abstract']['value']}" for n in notes]
        embedder = defs.resources["embedder"]
        embedder.embed(texts[:8])
        started = time.perf_counter()
        embedder.embed(texts)
        floor_seconds = time.perf_counter() - started

    print(f"listing and registration {listing_seconds:.1f} s; {len(requests)} lifecycle runs ({failed_runs} failed)")
    print(f"stages: {counts}")
    print(
        json.dumps(
            {
                "papers": counts["judged"],
                "seconds": round(seconds, 1),
                "floor_seconds": round(floor_seconds, 1),
                "ratio": round(seconds / floor_seconds, 2),
                "runs": len(requests),
                "accepted": counts["accepted"],
                "rejected": counts["rejected"],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
