"""Sensors: new PDFs in the watched folder start the lifecycle; pending code is batched onto trn1."""

import json
import time

import dagster as dg

from annapurna_assets.partitions import local_paper_key, papers_partitions
from annapurna_assets.progress import pending_execution
from annapurna_resources import LocalFolderSource, SqlitePaperIndex, Trn1Launcher

LIFECYCLE_JOB = "paper_lifecycle_job"


@dg.sensor(job_name=LIFECYCLE_JOB, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def local_folder_sensor(
    context: dg.SensorEvaluationContext, paper_source: LocalFolderSource, paper_index: SqlitePaperIndex
) -> dg.SensorResult:
    """Registers each new PDF of the watched folder as a `papers` partition and runs its lifecycle.

    Papers are named by content hash, so a file added twice (or under another name) is one paper.
    """
    known = json.loads(context.cursor) if context.cursor else {}
    found, scanned = paper_source.scan(known)
    existing = set(context.instance.get_dynamic_partitions(papers_partitions.name))
    new_keys: list[str] = []
    for paper in found:
        key = local_paper_key(paper.sha256)
        if key in existing or key in new_keys:
            continue
        paper_index.register(key, paper.source_record())
        new_keys.append(key)
    if new_keys:
        context.log.info(f"{len(new_keys)} new paper(s) in {paper_source.folder_path}: {', '.join(new_keys)}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, partition_key=key) for key in new_keys],
        dynamic_partitions_requests=[papers_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(scanned),
    )


def plan_batch(pending: dict[str, float], batch_size: int, max_wait_s: float, now: float) -> list[str]:
    """The papers of the next batch: the oldest `batch_size` once that many wait, or all of them once the
    oldest has waited `max_wait_s`; [] otherwise."""
    if not pending:
        return []
    oldest_first = sorted(pending, key=lambda key: (pending[key], key))
    if len(oldest_first) >= batch_size:
        return oldest_first[:batch_size]
    if now - pending[oldest_first[0]] >= max_wait_s:
        return oldest_first
    return []


def batch_run_request(paper_keys: list[str]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"trn1-batch-{'-'.join(sorted(paper_keys))}-{int(time.time())}",
        run_config={"ops": {"run_trn1_batch": {"config": {"paper_keys": paper_keys}}}},
        tags={"annapurna/batch_size": str(len(paper_keys))},
    )


@dg.sensor(job_name="trn1_batch_job", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def trn1_batch_sensor(context: dg.SensorEvaluationContext, launcher: Trn1Launcher, paper_index: SqlitePaperIndex):
    """Launches ONE run for every `batch_size` papers with code and no run result (and not in flight);
    a smaller batch goes once its oldest paper has waited `max_wait_minutes`."""
    pending = pending_execution(context.instance, paper_index)
    requests = []
    while True:
        batch = plan_batch(pending, launcher.batch_size, launcher.max_wait_minutes * 60, time.time())
        if not batch:
            break
        requests.append(batch_run_request(batch))
        for key in batch:
            del pending[key]
    if not requests:
        return dg.SkipReason(f"{len(pending)} paper(s) pending; waiting for {launcher.batch_size} or max_wait")
    return requests
