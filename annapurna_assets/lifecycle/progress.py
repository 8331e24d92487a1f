"""Where each paper stands, read from Dagster's own records (what the UI shows) and the paper index."""

import dagster as dg
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from annapurna_assets.papers.partitions import papers_partitions
from annapurna_resources import PaperIndex

TRN1_BATCH = ("trn1_batch_job", "run_trn1_batch")
LIFECYCLE_BATCH = ("lifecycle_batch_job", "describe_papers")
STAGE_ASSETS = {
    "metadata": "paper_metadata",
    "judged": "verdict",
    "pdf": "raw_pdf",
    "text": "paper_text",
    "pages": "selected_pages",
    "code": "generated_code",
    "executed": "trn_run_result",
    "profiled": "trn_profile",
}


def materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


def _running(instance: dg.DagsterInstance, job: str | None = None) -> list:
    return instance.get_runs(dg.RunsFilter(job_name=job, statuses=list(IN_PROGRESS_RUN_STATUSES)))


def in_batch_runs(instance: dg.DagsterInstance, batch: tuple[str, str]) -> set[str]:
    """Papers named in the run config of queued or running runs of a batch (job, op)."""
    job, op = batch
    keys: set[str] = set()
    for run in _running(instance, job):
        keys.update(run.run_config.get("ops", {}).get(op, {}).get("config", {}).get("paper_keys", []))
    return keys


def in_lifecycle_runs(instance: dg.DagsterInstance) -> set[str]:
    """Papers whose lifecycle is queued or running: in a batch run, or alone in a run materializing its assets."""
    alone = {run.tags["dagster/partition"] for run in _running(instance) if "dagster/partition" in run.tags}
    return in_batch_runs(instance, LIFECYCLE_BATCH) | alone


def pending_execution(instance: dg.DagsterInstance, paper_index: PaperIndex) -> dict[str, float]:
    """Papers whose code meets the contract and has not run (nor is running): key -> when the code was made."""
    waiting = materialized(instance, "generated_code") - materialized(instance, "trn_run_result")
    waiting -= in_batch_runs(instance, TRN1_BATCH)
    docs = paper_index.get_many(waiting)
    return {
        key: doc["code"].get("generated_at", 0.0) for key, doc in docs.items() if doc.get("code", {}).get("contract_ok")
    }


def stage_counts(instance: dg.DagsterInstance, paper_index: PaperIndex) -> dict[str, int]:
    keys = set(instance.get_dynamic_partitions(papers_partitions.name))
    done = {stage: materialized(instance, asset) & keys for stage, asset in STAGE_ASSETS.items()}
    docs = paper_index.get_many(done["judged"] | done["executed"])
    decisions = [docs.get(k, {}).get("verdict", {}).get("decision") for k in done["judged"]]
    run_ok = [docs.get(k, {}).get("run", {}).get("ok") for k in done["executed"]]
    return {
        "discovered": len(keys),
        "described": len(done["metadata"]),
        "judged": len(done["judged"]),
        "accepted": decisions.count("accept"),
        "rejected": decisions.count("reject"),
        "pdf": len(done["pdf"]),
        "text": len(done["text"]),
        "code": len(done["code"]),
        "pending_execution": len(pending_execution(instance, paper_index)),
        "executed_ok": run_ok.count(True),
        "executed_failed": len(run_ok) - run_ok.count(True),
        "profiled": len(done["profiled"]),
    }
