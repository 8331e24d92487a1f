"""`annapurna demo`: the whole lifecycle, headless, on the bundled corpus (or any folder).

It does what the daemon would: evaluates `local_folder_sensor` and `lifecycle_batch_sensor` once, launches the
lifecycle runs they request, then flushes every pending paper through `trn1_batch_job` in batches (as the sensor does
after max_wait). Runs are launched through the instance from the `annapurna` code location, as the daemon launches
them (a run worker process each), so the UI shows them with their origin, on the Overview timeline and job pages.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._cli.job import _create_run
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from tqdm import tqdm

from annapurna_assets.alerts.sensors import post_failed_checks, post_failed_runs
from annapurna_assets.lifecycle.progress import pending_execution
from annapurna_assets.lifecycle.runs import LIFECYCLE_JOB, run_paper_keys
from annapurna_assets.lifecycle.sensors import batch_run_request, folder_paper_keys, plan_batch
from annapurna_assets.papers.partitions import papers_partitions

CODE_LOCATION = "annapurna"
STARTED_BY = {"annapurna/started_by": "annapurna demo"}


def run_demo(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict:
    """Registers the watched folder's new papers, runs their lifecycle and every pending paper through trn1."""
    started = time.time()
    resources = defs.resources
    evaluate_sensor(defs, instance, "local_folder_sensor")
    lifecycle = evaluate_sensor(defs, instance, "lifecycle_batch_sensor")
    new_papers = [] if isinstance(lifecycle, dg.SkipReason) else lifecycle.run_requests
    failed_runs = []
    with code_location(instance) as launch:
        runs = [launch(LIFECYCLE_JOB, request) for request in new_papers]
        failed_runs += [run for run in wait_for_runs(instance, runs) if run.status != dg.DagsterRunStatus.SUCCESS]

        pending = pending_execution(instance, resources["paper_index"])
        batch_size = resources["launcher"].batching.batch_size
        with tqdm(total=len(pending), desc="trn1 batches", unit="paper") as bar:
            while batch := plan_batch(pending, batch_size, max_wait_s=0, now=time.time()):
                [run] = wait_for_runs(instance, [launch("trn1_batch_job", batch_run_request(batch))])
                if run.status != dg.DagsterRunStatus.SUCCESS:
                    failed_runs.append(run)
                for key in batch:
                    del pending[key]
                bar.update(len(batch))
    # What the daemon's alert sensors would post, when Slack is set up.
    post_failed_checks(defs, instance)
    post_failed_runs(defs, instance, failed_runs)
    found, _ = resources["paper_folder"].scan()
    folder_keys = folder_paper_keys(instance.get_dynamic_partitions(papers_partitions.name), found)
    return {
        "seconds": round(time.time() - started, 1),
        "new_papers": sum(len(run_paper_keys(LIFECYCLE_JOB, r.run_config)) for r in new_papers),
        "failed_runs": [run.run_id for run in failed_runs],
        "folder_papers": sorted(set(folder_keys.values())),
    }


@contextmanager
def code_location(instance: dg.DagsterInstance) -> Iterator:
    """A `launch(job_name, run_request) -> run id` that launches runs of the `annapurna` code location (loaded in a
    code server, as `annapurna ui` loads it) with the instance's run launcher, bypassing the run queue."""
    target = ModuleTarget(
        module_name="annapurna_assets.definitions", attribute=None, working_directory=None, location_name=CODE_LOCATION
    )
    with WorkspaceProcessContext(instance, target) as workspace_process:
        workspace = workspace_process.create_request_context()
        location = workspace.get_code_location(CODE_LOCATION)
        repository = next(iter(location.get_repositories().values()))

        def launch(job_name: str, request: dg.RunRequest) -> str:
            run = _create_run(
                instance=instance,
                code_location=location,
                remote_repo=repository,
                remote_job=repository.get_full_job(job_name),
                run_config=request.run_config,
                tags={**request.tags, **STARTED_BY},
                op_selection=None,
                run_id=None,
            )
            instance.launch_run(run.run_id, workspace)
            return run.run_id

        yield launch


def wait_for_runs(instance: dg.DagsterInstance, run_ids: list[str], poll_s: float = 0.5) -> list[dg.DagsterRun]:
    """The runs, once every one of them has finished."""
    while True:
        runs = [instance.get_run_by_id(run_id) for run_id in run_ids]
        if all(run.is_finished for run in runs):
            return runs
        time.sleep(poll_s)


def evaluate_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, name: str):
    """A first tick of a sensor (no cursor: it looks at everything), with its partition requests applied."""
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        result = defs.resolve_sensor_def(name)(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def summary_rows(paper_index, keys: list[str]) -> list[dict]:
    rows = []
    for key, doc in sorted(paper_index.get_many(keys).items()):
        verdict = doc.get("verdict", {})
        run = doc.get("run", {})
        unjudgeable = "metadata" in doc and "verdict" not in doc and not doc["metadata"].get("abstract")
        problem = (
            doc.get("pdf", {}).get("problem")
            or doc.get("text", {}).get("problem")
            or ("no title/abstract: see paper_metadata" if unjudgeable else "")
        )
        rows.append(
            {
                "paper": key,
                "title": doc.get("metadata", {}).get("title", "")[:48],
                "verdict": verdict.get("decision", "-") if not problem else "-",
                "relevance": verdict.get("relevance"),
                "family": doc.get("code", {}).get("family", "-"),
                "run": run.get("status", "-") if run else ("failed: " + problem[:40] if problem else "-"),
                "final_loss": run.get("final", {}).get("final_loss"),
                "trace": "yes" if doc.get("profile") else "-",
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "(no papers)"
    columns = list(rows[0])
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
