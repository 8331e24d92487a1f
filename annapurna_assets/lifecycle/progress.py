"""Where each paper stands, read from Dagster's own records (what the UI shows) and the paper index."""

import dagster as dg

from annapurna_assets.lifecycle.runs import EXECUTION_JOB, LIFECYCLE_JOB, papers_in_flight, runs_in_flight
from annapurna_assets.lifecycle.sections import PAPER_SECTIONS
from annapurna_assets.papers.partitions import papers_partitions
from annapurna_resources import PaperIndex
from annapurna_resources.storage.paper_counts import outcome_counts


def materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


def in_lifecycle_runs(instance: dg.DagsterInstance) -> set[str]:
    """Papers whose lifecycle is queued or running: in a batch run, or alone in a run materializing its assets."""
    alone = {run.tags["dagster/partition"] for run in runs_in_flight(instance) if "dagster/partition" in run.tags}
    return papers_in_flight(instance, LIFECYCLE_JOB) | alone


def pending_execution(instance: dg.DagsterInstance, paper_index: PaperIndex) -> dict[str, float]:
    """Papers whose code meets the contract and has not run (nor is running): key -> when the code was made."""
    waiting = materialized(instance, "generated_code") - materialized(instance, "trn_run_result")
    waiting -= papers_in_flight(instance, EXECUTION_JOB)
    docs = paper_index.get_many(waiting)
    return {
        key: doc["code"].get("generated_at", 0.0) for key, doc in docs.items() if doc.get("code", {}).get("contract_ok")
    }


def stage_counts(instance: dg.DagsterInstance, paper_index: PaperIndex) -> dict[str, int]:
    """Papers per stage as Dagster records them (each stage's materialized partitions), then how the recorded
    verdicts and runs came out; `pending_execution` leaves out papers whose batch is running."""
    keys = set(instance.get_dynamic_partitions(papers_partitions.name))
    done = {counted_as: materialized(instance, asset) & keys for asset, (_, counted_as) in PAPER_SECTIONS.items()}
    counts = {"discovered": len(keys)} | {counted_as: len(papers) for counted_as, papers in done.items()}
    outcomes = outcome_counts(paper_index.get_many(done["judged"] | done["code"] | done["executed"]).values())
    return counts | outcomes | {"pending_execution": len(pending_execution(instance, paper_index))}
