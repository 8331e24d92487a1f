"""From PDF to code on the path users take, per paper, and the share of it that is not the paper's own work.

The bundled demo corpus (ten PDFs) goes through `lifecycle_batch_job` up to `generated_code` with the offline
generator, launched as `annapurna demo` and the daemon launch it (a code server and a run worker process). The
paper's own work is then timed on the same accepted papers in one warm process, calling the same functions the
stages call: reading the PDF's pages and sections, choosing the sections, writing the code. Everything else (the
run's process start and definitions load, the index and blob writes, Dagster's events) is what the platform adds.

Usage: .venv/bin/python benchmarks/code_path.py. Prints one final JSON line.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
AFTER_VERDICT = ("read_papers", "write_papers_code")  # the steps of lifecycle_batch_job from PDF to code


def own_work_seconds(keys: list[str], paper_index, blob_store, code_generator, settings) -> float:
    """The PDF read into sections, the sections chosen and code written for each paper, in this process, as the
    stages do it."""
    from annapurna_assets.codegen.assets import classify_and_select
    from annapurna_assets.papers.pdf_text import extract_pages
    from annapurna_assets.papers.structure import read_structure
    from annapurna_resources import PaperSection

    docs = paper_index.get_many(keys)
    pdfs = {key: blob_store.get(doc["pdf"]["ref"]) for key, doc in docs.items()}
    classify_and_select(read_structure(pdfs[keys[0]]), settings)  # the classifier loaded, as in a warm worker
    started = time.perf_counter()
    for key, doc in docs.items():
        extract_pages(pdfs[key])
        selection, _ = classify_and_select(read_structure(pdfs[key]), settings)
        sections = [PaperSection(s.heading, tuple(s.pages), s.text) for s in selection.kept]
        metadata = doc["metadata"]
        code_generator.generate(key, metadata["title"], metadata["abstract"], sections)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["ANNAPURNA_HOME"] = home
        from annapurna_assets.settings import DEMO_CORPUS, ensure_dagster_home
        from tests.conftest import configure

        configure(Path(home), paper_folder={"folder": str(DEMO_CORPUS)})

        ensure_dagster_home()
        import dagster as dg

        from annapurna_assets.cli.demo import code_location, evaluate_sensor, wait_for_runs
        from annapurna_assets.definitions import build_definitions
        from annapurna_assets.lifecycle.runs import LIFECYCLE_JOB

        defs = build_definitions()
        with dg.DagsterInstance.get() as instance:
            evaluate_sensor(defs, instance, "local_folder_sensor")
            requests = evaluate_sensor(defs, instance, "lifecycle_batch_sensor").run_requests
            started = time.perf_counter()
            with code_location(instance) as launch:
                runs = wait_for_runs(instance, [launch(LIFECYCLE_JOB, request) for request in requests])
            seconds = time.perf_counter() - started
            assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), [r.status for r in runs]
            steps = {}
            for run in runs:
                for step in instance.get_run_step_stats(run.run_id):
                    steps[step.step_key] = steps.get(step.step_key, 0.0) + step.end_time - step.start_time
            accepted = sorted(instance.get_materialized_partitions(dg.AssetKey("generated_code")))
            assert accepted, "no paper of the corpus got code: nothing to measure"
            resources = defs.resources
            own = own_work_seconds(
                accepted,
                resources["paper_index"],
                resources["blob_store"],
                resources["code_generator"],
                resources["lifecycle"],
            )
    path = sum(steps[step] for step in AFTER_VERDICT)
    print(
        json.dumps(
            {
                "papers_with_code": len(accepted),
                "run_seconds": round(seconds, 1),
                "steps_seconds": {step: round(value, 2) for step, value in steps.items()},
                "pdf_to_code_seconds_per_paper": round(path / len(accepted), 2),
                "own_work_seconds_per_paper": round(own / len(accepted), 2),
                "share_not_own_work": round(1 - own / path, 3),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
