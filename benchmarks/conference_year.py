"""Conference years judged on the path users take: `annapurna ui` running, a UI backfill, the daemon's runs.

A fresh ANNAPURNA_HOME reads the venue-years from the listing files in ../shared/data (NeurIPS 2023: 2,217 papers;
ICML 2024: 1,791). The benchmark starts `annapurna ui` (webserver and daemon, as a user does), launches the backfill of
`conference_listing` for the venue-years through the webserver's GraphQL API (what the UI's Materialize button
sends), and waits until Dagster has recorded every registered paper's verdict. From there on the benchmark drives
nothing: the listing run registers the papers, `lifecycle_batch_sensor` requests lifecycle runs, the queue starts
them as their own processes (as many at once as dagster.yaml allows), and each judges its papers.

The judge is told to accept nothing (`relevance_threshold` above 1), so no PDF is fetched and the figure is the
judging path alone: every paper still gets its embedding, its nearest indexed neighbours and its verdict.

The floor is the judging compute that cannot be avoided: the same title+abstract texts embedded in one warm process.
The time split comes from the instance: queue waits, run worker starts (RUN_STARTING -> RUN_START: a process
start and the code location load), the steps, and the events each run wrote (their cost measured here per event).

Usage: .venv/bin/python benchmarks/conference_year.py [--venues neurips-2023 icml-2024] [--postgres]
Prints one final JSON line.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
DATA = PROJECT_ROOT.parent / "shared" / "data" / "listings"
LISTING_FILES = {
    "neurips-2023": str(DATA / "neurips2023" / "*.csv"),
    "icml-2024": str(DATA / "openreview_api_v2_tsv" / "ICML_cc_2024_Conference.tsv"),
}


def judged_and_registered(instance) -> tuple[int, int]:
    """(papers whose verdict Dagster has recorded, papers registered): what the UI shows."""
    import dagster as dg

    judged = instance.get_materialized_partitions(dg.AssetKey("verdict"))
    return len(judged), len(instance.get_dynamic_partitions("papers"))


def time_split(instance) -> dict:
    """Where the lifecycle runs' time went, summed over runs (they overlap: these are not parts of the wall time)."""
    import dagster as dg
    from dagster._core.events import DagsterEventType

    split = {"runs": 0, "queue_wait_s": 0.0, "worker_start_s": 0.0, "events": 0, "steps_s": {}}
    for record in instance.get_run_records(dg.RunsFilter(job_name="lifecycle_batch_job")):
        run = record.dagster_run
        split["runs"] += 1
        starting = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_STARTING)
        if starting and record.start_time:
            split["queue_wait_s"] += starting[0].timestamp - record.create_timestamp.timestamp()
            split["worker_start_s"] += record.start_time - starting[0].timestamp
        split["events"] += len(instance.all_logs(run.run_id))
        for step in instance.get_run_step_stats(run.run_id):
            if step.start_time and step.end_time:
                split["steps_s"][step.step_key] = split["steps_s"].get(step.step_key, 0.0) + (
                    step.end_time - step.start_time
                )
    split["queue_wait_s"] = round(split["queue_wait_s"], 1)
    split["worker_start_s"] = round(split["worker_start_s"], 1)
    split["steps_s"] = {step: round(seconds, 1) for step, seconds in split["steps_s"].items()}
    return split


def seconds_per_event(instance, samples: int = 200) -> float:
    """The cost of writing one asset materialization to this instance's event log, as a run worker does."""
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry

    entries = [
        EventLogEntry(
            error_info=None,
            level=20,
            user_message="",
            run_id="benchmark-events",
            timestamp=time.time(),
            job_name="benchmark",
            dagster_event=DagsterEvent(
                DagsterEventType.ASSET_MATERIALIZATION.value,
                job_name="benchmark",
                event_specific_data=StepMaterializationData(
                    dg.AssetMaterialization("benchmark_events", partition=f"p{i}", metadata={"decision": "reject"})
                ),
            ),
        )
        for i in range(samples)
    ]
    started = time.perf_counter()
    for entry in entries:
        instance.event_log_storage.store_event(entry)
    return (time.perf_counter() - started) / samples


def floor_seconds(venues: list[str]) -> tuple[float, float, int]:
    """(seconds to embed the venue-years' titles+abstracts in one warm process, seconds to load the model, papers),
    measured before anything else runs."""
    from annapurna_assets.judge.assets import paper_embedding_text
    from annapurna_resources import ListingFileSource, MiniLMEmbedder

    files = ListingFileSource(files={venue: LISTING_FILES[venue] for venue in venues})
    texts = []
    for venue_year in venues:
        venue, year = venue_year.rsplit("-", 1)
        texts += [paper_embedding_text(p.__dict__) for p in files.list_papers(venue, int(year)) if p.accepted]
    started = time.perf_counter()
    embedder = MiniLMEmbedder()
    embedder.embed(texts[:8])
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    embedder.embed(texts)
    return time.perf_counter() - started, load_seconds, len(texts)


def main(venues: list[str], postgres: bool, timeout_s: float) -> None:
    from tests.conftest import configure

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        os.environ["ANNAPURNA_HOME"] = str(home)
        configure(
            home,
            paper_sources={"files": {"files": {venue: LISTING_FILES[venue] for venue in venues}}},
            judge={"relevance_threshold": 1.01},  # accept nothing: the judging path alone
        )
        if not postgres:
            run(home, venues, timeout_s)
            return
        from tests.postgres_server import create_database, loopback_postgres

        with loopback_postgres() as server:
            os.environ["ANNAPURNA_POSTGRES_URL"] = create_database(*server)
            run(home, venues, timeout_s)


def run(home: Path, venues: list[str], timeout_s: float) -> None:
    floor, load_seconds, listed = floor_seconds(venues)
    print(f"floor: {listed} papers embedded in {floor:.1f} s (model loaded in {load_seconds:.1f} s)", flush=True)
    import dagster as dg

    from annapurna_assets.settings import ensure_dagster_home
    from tests.annapurna_assets.test_webserver import BACKFILL, graphql, start_ui, stop_ui, wait_for

    ensure_dagster_home()
    process, port = start_ui(home)
    try:
        wait_for("the UI", lambda: graphql(port, "{ version }")["data"], process)
        params = {"partitionNames": venues, "assetSelection": [{"path": ["conference_listing"]}]}
        started = time.perf_counter()
        launched = graphql(port, BACKFILL, {"params": params})["data"]["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        with dg.DagsterInstance.get() as instance:
            wait_for(
                "the listings",
                lambda: instance.get_materialized_partitions(dg.AssetKey("conference_listing")) == set(venues),
                process,
                timeout_s=timeout_s,
            )
            registered_s = time.perf_counter() - started
            last_report = 0.0
            while True:
                judged, registered = judged_and_registered(instance)
                if judged == registered:
                    break
                if time.perf_counter() - last_report > 30:
                    print(f"{time.perf_counter() - started:6.0f} s: {judged} of {registered} judged", flush=True)
                    last_report = time.perf_counter()
                assert process.poll() is None, "annapurna ui exited"
                lifecycle_runs = instance.get_runs(dg.RunsFilter(job_name="lifecycle_batch_job"))
                if lifecycle_runs and all(run.is_finished for run in lifecycle_runs) and registered:
                    print(f"every lifecycle run has finished with {judged} of {registered} judged", flush=True)
                    break
                assert time.perf_counter() - started < timeout_s, f"not done after {timeout_s} s"
                time.sleep(1)
            seconds = time.perf_counter() - started
            split = time_split(instance)
            failed = len(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])))
    finally:
        stop_ui(process)
    with dg.DagsterInstance.get() as instance:
        split["event_write_s"] = round(split["events"] * seconds_per_event(instance), 1)
    split["model_load_s_each"] = round(load_seconds, 1)
    print(
        json.dumps(
            {
                "venues": venues,
                "papers": judged,
                "seconds": round(seconds, 1),
                "floor_seconds": round(floor, 1),
                "ratio": round(seconds / floor, 2),
                "registered_after_s": round(registered_s, 1),
                "failed_runs": failed,
                "storage": "postgresql" if os.environ.get("ANNAPURNA_POSTGRES_URL") else "sqlite",
                "cpus": os.cpu_count(),
                "split": split,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venues", nargs="+", default=["neurips-2023", "icml-2024"], choices=sorted(LISTING_FILES))
    parser.add_argument("--postgres", action="store_true", help="store the instance in a local PostgreSQL server")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    main(args.venues, args.postgres, args.timeout)
