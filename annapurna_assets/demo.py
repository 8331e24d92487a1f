"""`annapurna demo`: the whole lifecycle, headless and in-process, on the bundled corpus (or any folder).

It does what the daemon would: evaluates `local_folder_sensor` and `paper_lifecycle_sensor` once, runs the
lifecycle runs they request, then flushes every pending paper through `trn1_batch_job` in batches (as the
sensor does after max_wait).
Every run is recorded in the instance under ANNAPURNA_HOME, so the UI shows it all afterwards.
"""

import time

import dagster as dg
from tqdm import tqdm

from annapurna_assets.alerts import post_failed_checks, post_failed_runs
from annapurna_assets.lifecycle import BATCH_JOB, lifecycle_paper_keys
from annapurna_assets.partitions import local_paper_key
from annapurna_assets.progress import pending_execution
from annapurna_assets.sensors import batch_run_request, plan_batch

PROGRESS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}  # one line per paper as it finishes


def run_demo(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict:
    """Registers the watched folder's new papers, runs their lifecycle and every pending paper through trn1."""
    started = time.time()
    resources = defs.resources
    registered = evaluate_sensor(defs, instance, "local_folder_sensor")
    lifecycle = evaluate_sensor(defs, instance, "paper_lifecycle_sensor")
    new_papers = [] if isinstance(lifecycle, dg.SkipReason) else lifecycle.run_requests
    lifecycle_job = defs.resolve_job_def(BATCH_JOB)
    failed_runs = []
    for request in new_papers:
        outcome = lifecycle_job.execute_in_process(
            instance=instance,
            run_config={**request.run_config, **PROGRESS},
            raise_on_error=False,
            tags={**request.tags, "annapurna/started_by": "annapurna demo"},
        )
        if not outcome.success:
            failed_runs.append(outcome)

    batch_job = defs.resolve_job_def("trn1_batch_job")
    paper_index = resources["paper_index"]
    launcher = resources["launcher"]
    pending = pending_execution(instance, paper_index)
    with tqdm(total=len(pending), desc="trn1 batches", unit="paper") as bar:
        while batch := plan_batch(pending, launcher.batch_size, max_wait_s=0, now=time.time()):
            request = batch_run_request(batch)
            outcome = batch_job.execute_in_process(
                instance=instance,
                run_config={**request.run_config, **PROGRESS},
                raise_on_error=False,
                tags={**request.tags, "annapurna/started_by": "annapurna demo"},
            )
            if not outcome.success:
                failed_runs.append(outcome)
            for key in batch:
                del pending[key]
            bar.update(len(batch))
    # What the daemon's alert sensors would post, when Slack is set up.
    post_failed_checks(defs, instance)
    post_failed_runs(defs, instance, failed_runs)
    found, _ = resources["paper_folder"].scan()
    return {
        "seconds": round(time.time() - started, 1),
        "new_papers": sum(len(lifecycle_paper_keys(r.run_config)) for r in new_papers),
        "registered_from_folder": len(registered.dynamic_partitions_requests[0].partition_keys)
        if registered.dynamic_partitions_requests
        else 0,
        "failed_runs": [result.run_id for result in failed_runs],
        "folder_papers": sorted({local_paper_key(paper.sha256) for paper in found}),
    }


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
