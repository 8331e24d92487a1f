"""The instance's event log keeps its SQLite connections open and records every event as Dagster's own does."""

import subprocess
import sys

import dagster as dg

from annapurna_assets.event_log_storage import MAX_OPEN_RUN_SHARDS, PooledSqliteEventLogStorage

PAPERS = [f"local-paper{n}" for n in range(25)]


@dg.op(out={})
def record_papers(context: dg.OpExecutionContext):
    for key in PAPERS:
        yield dg.AssetMaterialization("paper_metadata", partition=key, metadata={"paper": key})


@dg.job
def record_job():
    record_papers()


def test_events_are_recorded_through_open_connections_and_other_processes_see_them(instance):
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    runs = [record_job.execute_in_process(instance=instance) for _ in range(MAX_OPEN_RUN_SHARDS + 2)]
    assert all(run.success for run in runs)
    assert len(storage._engines) <= MAX_OPEN_RUN_SHARDS + 1  # the index and the run shards written last
    key = dg.AssetKey("paper_metadata")
    assert instance.get_materialized_partitions(key) == set(PAPERS)
    records = instance.fetch_materializations(key, limit=1000).records
    assert len(records) == len(PAPERS) * len(runs)
    assert all(
        len(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)) == 25 for run in runs
    )

    # another process, reading the same files while this one holds its connections open, sees every event
    count = (
        "import dagster as dg; i = dg.DagsterInstance.get(); "
        "print(len(i.fetch_materializations(dg.AssetKey('paper_metadata'), limit=1000).records))"
    )
    seen = subprocess.run([sys.executable, "-c", count], capture_output=True, text=True, timeout=120, check=True)
    assert seen.stdout.split()[-1] == str(len(records))

    instance.wipe()  # connections closed before the files go
    assert instance.get_materialized_partitions(key) == set()
    assert record_job.execute_in_process(instance=instance).success
    assert instance.get_materialized_partitions(key) == set(PAPERS)
