"""Sensors: new PDFs in the watched folder are registered; registered papers run their lifecycle in batches;
pending code is batched onto trn1."""

import hashlib
import json
import math
import time

import dagster as dg

from annapurna_assets.lifecycle.progress import in_lifecycle_runs, materialized, pending_execution
from annapurna_assets.lifecycle.runs import (
    EXECUTION_JOB,
    LIFECYCLE_JOB,
    execution_run_config,
    lifecycle_run_config,
    parallel_lifecycle_runs,
)
from annapurna_assets.lifecycle.settings import LifecycleSettings
from annapurna_assets.papers.partitions import LOCAL_DIGEST_CHARS, local_key_digest, local_paper_key, papers_partitions
from annapurna_assets.papers.pdf_text import read_heading
from annapurna_resources import LocalFolderSource, PaperIndex, Trn1Launcher
from annapurna_resources.sources.local_folder import FoundPaper


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each new PDF of the watched folder (the paper_folder setting) as a `papers` partition named "
    "by its title and content hash.",
)
def local_folder_sensor(
    context: dg.SensorEvaluationContext, paper_folder: LocalFolderSource, paper_index: PaperIndex
) -> dg.SensorResult:
    """Registers each new PDF of the watched folder as a `papers` partition (`lifecycle_batch_sensor` runs it).

    A paper is named by its title and content hash, so a file added twice (or under another name) is one paper.
    """
    known = json.loads(context.cursor) if context.cursor else {}
    found, scanned = paper_folder.scan(known)
    registered = folder_paper_keys(context.instance.get_dynamic_partitions(papers_partitions.name), found)
    new: dict[str, dict] = {}
    for paper in found:
        if paper.sha256 not in registered and not any(r["source_id"] == paper.sha256 for r in new.values()):
            new[local_paper_key(paper.sha256, folder_paper_title(paper))] = paper.source_record()
    paper_index.register_many(list(new.items()))
    if new:
        context.log.info(f"{len(new)} new paper(s) in {paper_folder.folder_path}: {', '.join(new)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[papers_partitions.build_add_request(list(new))] if new else [],
        cursor=json.dumps(scanned),
    )


def folder_paper_title(paper: FoundPaper) -> str:
    """The title a folder's paper is named by: its metadata file's, else its PDF's, else its file name."""
    title = paper.metadata.get("title") or read_heading(paper.path.read_bytes()).title
    return str(title or paper.path.stem)


def folder_paper_keys(keys: list[str], found: list[FoundPaper]) -> dict[str, str]:
    """sha256 -> registered key, for the found papers already registered (under new or old keys)."""
    by_digest = {digest: key for key in keys if (digest := local_key_digest(key))}
    return {
        paper.sha256: by_digest[paper.sha256[:LOCAL_DIGEST_CHARS]]
        for paper in found
        if paper.sha256[:LOCAL_DIGEST_CHARS] in by_digest
    }


def papers_to_start(instance: dg.DagsterInstance, after: str | None) -> list[str]:
    """Registered papers (after the `after` key, in registration order) with no metadata yet and no run in flight."""
    keys = instance.get_dynamic_partitions(papers_partitions.name)
    if after in keys:
        keys = keys[keys.index(after) + 1 :]
    if not keys:
        return []
    started = materialized(instance, "paper_metadata") | in_lifecycle_runs(instance)
    return [key for key in keys if key not in started]


def lifecycle_run_request(paper_keys: list[str], through: str = "generated_code") -> dg.RunRequest:
    digest = hashlib.sha1("\n".join(paper_keys).encode()).hexdigest()[:12]
    return dg.RunRequest(
        run_key=f"lifecycle-{digest}",
        run_config=lifecycle_run_config(paper_keys, through),
        tags={"annapurna/paper_count": str(len(paper_keys)), "annapurna/first_paper": paper_keys[0]},
    )


MIN_PAPERS_PER_RUN = 25  # fewer papers than this do not pay for a run's process start and model load


def split_into_runs(keys: list[str], most_per_run: int, parallel: int) -> list[list[str]]:
    """Runs sized to the work, their sizes differing by one at most: enough to fill the `parallel` run slots (each
    run at least MIN_PAPERS_PER_RUN papers), more in whole waves of `parallel` runs when a run would exceed
    `most_per_run`."""
    if not keys:
        return []
    waves = math.ceil(len(keys) / (most_per_run * parallel))
    filled = min(waves * parallel, len(keys) // MIN_PAPERS_PER_RUN)
    runs = max(1, math.ceil(len(keys) / most_per_run), filled)
    size, larger = divmod(len(keys), runs)  # the first `larger` runs take one paper more
    starts = [run * size + min(run, larger) for run in range(runs + 1)]
    return [keys[start:end] for start, end in zip(starts, starts[1:])]


@dg.sensor(
    job_name=LIFECYCLE_JOB,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts lifecycle_batch_job for newly registered papers (from listings or the folder): runs sized to "
    "the work, as many as the run queue starts at once, at most lifecycle.batch_size papers each.",
)
def lifecycle_batch_sensor(
    context: dg.SensorEvaluationContext, lifecycle: LifecycleSettings
) -> dg.SensorResult | dg.SkipReason:
    """Runs the lifecycle of newly registered papers (from listings or the folder).

    A run costs a process start and a model load, so the papers are split into as few runs as keep the run queue's
    lifecycle slots busy; a paper's failure stays its own inside a run.
    """
    keys = papers_to_start(context.instance, context.cursor)
    if not keys:
        return dg.SkipReason("no newly registered papers")
    batches = split_into_runs(keys, lifecycle.batch_size, parallel_lifecycle_runs(context.instance))
    context.log.info(f"{len(keys)} new paper(s) in {len(batches)} lifecycle run(s)")
    return dg.SensorResult(run_requests=[lifecycle_run_request(b) for b in batches], cursor=keys[-1])


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
        run_config=execution_run_config(paper_keys),
        tags={"annapurna/batch_size": str(len(paper_keys))},
    )


@dg.sensor(
    job_name=EXECUTION_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Batches accepted papers whose code meets the contract and has not run: one trn1_batch_job run per "
    "batch_size papers, or a smaller batch once the oldest has waited max_wait_minutes.",
)
def trn1_batch_sensor(context: dg.SensorEvaluationContext, launcher: Trn1Launcher, paper_index: PaperIndex):
    """Launches ONE run for every `batch_size` papers with code and no run result (and not in flight);
    a smaller batch goes once its oldest paper has waited `max_wait_minutes`."""
    pending = pending_execution(context.instance, paper_index)
    requests = []
    while True:
        batch = plan_batch(pending, launcher.batching.batch_size, launcher.batching.max_wait_minutes * 60, time.time())
        if not batch:
            break
        requests.append(batch_run_request(batch))
        for key in batch:
            del pending[key]
    if not requests:
        return dg.SkipReason(f"{len(pending)} paper(s) pending; waiting for {launcher.batching.batch_size} or max_wait")
    return requests
