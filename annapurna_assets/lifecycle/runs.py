"""The two batch jobs' names, their run config, and which runs are in flight: written here once.

`lifecycle_batch_job` takes a batch of papers from registration to generated code; `trn1_batch_job` runs a batch
of generated scripts on the trn1 launcher. Both carry their paper keys in the run config of their first op.
"""

import dagster as dg

LIFECYCLE_JOB = "lifecycle_batch_job"
LIFECYCLE_OP = "describe_papers"  # the lifecycle op that takes the paper keys
EXECUTION_JOB = "trn1_batch_job"
EXECUTION_OP = "run_trn1_batch"
LLM_POOL = "llm"  # bounds concurrent LLM calls across runs: the judging and code-writing steps claim it
TRN1_POOL = "trn1"  # one batch on the execution host at a time
KIND_TAG = "annapurna/kind"  # dagster.yaml's run queue limits each kind of run by this tag
LIFECYCLE_KIND = "lifecycle-batch"
EXECUTION_KIND = "trn1-batch"

IN_FLIGHT = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
_FIRST_OP = {LIFECYCLE_JOB: LIFECYCLE_OP, EXECUTION_JOB: EXECUTION_OP}


def lifecycle_run_config(paper_keys: list[str], through: str = "generated_code") -> dict:
    return {"ops": {LIFECYCLE_OP: {"config": {"paper_keys": paper_keys, "through": through}}}}


def execution_run_config(paper_keys: list[str]) -> dict:
    return {"ops": {EXECUTION_OP: {"config": {"paper_keys": paper_keys}}}}


def run_paper_keys(job_name: str, run_config: dict) -> list[str]:
    """The paper keys a run of one of the batch jobs was launched with ([] for other jobs)."""
    op = _FIRST_OP.get(job_name)
    return run_config.get("ops", {}).get(op, {}).get("config", {}).get("paper_keys", []) if op else []


def runs_in_flight(instance: dg.DagsterInstance, job_name: str | None = None) -> list[dg.DagsterRun]:
    """Queued or running runs (of one job, or of every job)."""
    return instance.get_runs(dg.RunsFilter(job_name=job_name, statuses=list(IN_FLIGHT)))


def papers_in_flight(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    """Papers named in the run config of queued or running runs of a batch job."""
    return {key for run in runs_in_flight(instance, job_name) for key in run_paper_keys(job_name, run.run_config)}


def parallel_lifecycle_runs(instance: dg.DagsterInstance) -> int:
    """How many lifecycle runs the instance's run queue starts at once (dagster.yaml's `concurrency.runs`)."""
    queue = instance.get_concurrency_config().run_queue_config
    if queue is None:  # no queue: runs start as they are requested
        return 1
    limits = [
        limit["limit"]
        for limit in queue.tag_concurrency_limits
        if limit.get("key") == KIND_TAG and limit.get("value") in (None, LIFECYCLE_KIND)  # no value: every kind
    ]
    if queue.max_concurrent_runs >= 0:
        limits.append(queue.max_concurrent_runs)
    return max(1, min(limits, default=1))
