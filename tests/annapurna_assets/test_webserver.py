"""`annapurna ui` starts the Dagster UI on loopback: asset graph, `papers` partitions, checks and sensors."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import configure
from tests.fakes.openreview_api import ICLR_2025_CSV, ICML_2024_TSV, iclr2025_notes, icml2024_notes, serve_openreview

requires_listings = pytest.mark.skipif(
    not (ICML_2024_TSV.is_file() and ICLR_2025_CSV.is_file()), reason="needs the real listings in ../shared/data"
)

QUERY = """
{
  assetNodes {
    assetKey { path }
    partitionDefinition { name type }
    partitionKeys
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
  sensorsOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "annapurna"}) {
    ... on Sensors { results { name } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def start_ui(annapurna_home: Path, **env) -> tuple[subprocess.Popen, int]:
    """`annapurna ui` as a user starts it; its output goes to `ui.log` beside the home, as to a terminal that is
    always read (a pipe nobody reads fills up and blocks the run workers that log to it)."""
    port = free_port()
    annapurna = Path(sys.executable).with_name("annapurna")
    with (annapurna_home.parent / "ui.log").open("wb") as log:
        process = subprocess.Popen(
            [str(annapurna), "ui", "--host", "127.0.0.1", "--port", str(port)],
            cwd=annapurna_home.parent,
            env={**os.environ, "PATH": "/usr/bin:/bin", **env},  # no venv on PATH, as in `make`
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.log_path = annapurna_home.parent / "ui.log"
    return process, port


def wait_for(what: str, probe, process: subprocess.Popen, timeout_s: float = 120):
    """Polls `probe()` until it returns something truthy (and returns it), failing with the UI's stderr."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            value = probe()
        except urllib.error.HTTPError as error:
            raise AssertionError(error.read().decode()) from error
        except OSError:
            value = None  # not listening yet
        if value:
            return value
        assert process.poll() is None, process.log_path.read_text(errors="replace")[-3000:]
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def stop_ui(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # dagster dev ignores SIGTERM from a non-interactive parent
    process.wait(timeout=30)


def test_webserver_serves_assets_partitions_and_checks(instance, annapurna_home):
    instance.add_dynamic_partitions("papers", ["local-0123456789abcdef", "arxiv-2106-09685"])
    instance.add_dynamic_partitions("accepted_papers", ["arxiv-2106-09685"])
    process, port = start_ui(annapurna_home)
    try:
        data = wait_for("the asset graph", lambda: graphql(port, QUERY)["data"], process)
        assert data["assetNodes"], "the webserver never served the asset graph"
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
        listing = nodes.pop("conference_listing")
        assert listing["partitionDefinition"]["type"] == "STATIC"
        assert {"iclr-2017", "iclr-2025", "icml-2024", "neurips-2023", "mlsys-2024"} <= set(listing["partitionKeys"])
        assert nodes.pop("arxiv_listing")["partitionDefinition"]["type"] == "TIME_WINDOW"
        assert nodes.pop("page_classifier_model")["partitionDefinition"] is None
        assert set(nodes) == {
            "paper_metadata",
            "raw_pdf",
            "paper_text",
            "verdict",
            "selected_pages",
            "generated_code",
            "trn_run_result",
            "trn_profile",
        }
        for name in ("paper_metadata", "verdict"):
            assert nodes[name]["partitionDefinition"]["name"] == "papers"
            assert sorted(nodes[name]["partitionKeys"]) == ["arxiv-2106-09685", "local-0123456789abcdef"]
        for name in set(nodes) - {"paper_metadata", "verdict"}:  # after the verdict: the accepted papers only
            assert nodes[name]["partitionDefinition"]["name"] == "accepted_papers"
            assert nodes[name]["partitionKeys"] == ["arxiv-2106-09685"]
        checks = {name: [c["name"] for c in n["assetChecksOrError"]["checks"]] for name, n in nodes.items()}
        assert checks["raw_pdf"] == ["readable_pdf"] and checks["trn_run_result"] == ["run_succeeded"]
        assert checks["paper_metadata"] == ["has_title_and_abstract"]
        sensors = {s["name"] for s in data["sensorsOrError"]["results"]}
        assert sensors == {
            "local_folder_sensor",
            "lifecycle_batch_sensor",
            "trn1_batch_sensor",
            "trn1_idle_stop_sensor",
            "check_failure_alert_sensor",
            "run_failure_alert_sensor",
        }
    finally:
        stop_ui(process)


BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


@requires_listings
def test_a_ui_backfill_of_two_conference_years_registers_their_papers_and_starts_their_lifecycle(
    instance, annapurna_home
):
    """...and a lifecycle run whose worker is killed (SIGKILL) fails, is retried, and every paper gets its verdict."""
    notes = icml2024_notes()[:12] + iclr2025_notes()[:40]
    with serve_openreview(notes) as openreview:
        configure(
            annapurna_home,
            # PDF links stay on loopback (the fake answers 404)
            paper_sources={"openreview": {"base_url": openreview.url, "site_url": openreview.url}},
            lifecycle={"batch_size": 10},
        )
        process, port = start_ui(annapurna_home)
        try:
            wait_for("the UI", lambda: graphql(port, "{ version }")["data"], process)
            params = {
                "partitionNames": ["icml-2024", "iclr-2025"],
                "assetSelection": [{"path": ["conference_listing"]}],
            }
            launched = graphql(port, BACKFILL, {"params": params})["data"]["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched

            accepted_iclr = [n for n in notes[12:] if n["content"]["venueid"]["value"] == "ICLR.cc/2025/Conference"]
            expected = 12 + len(accepted_iclr)
            keys = wait_for(
                "both venue-years registered",
                lambda: len(papers := instance.get_dynamic_partitions("papers")) == expected and papers,
                process,
                timeout_s=180,
            )
            assert {key[:9] for key in keys} == {"icml-2024", "iclr-2025"}
            listed = {"icml-2024", "iclr-2025"}  # a run registers its papers just before it records its listing
            wait_for(
                "both listings materialized",
                lambda: instance.get_materialized_partitions(dg.AssetKey("conference_listing")) == listed,
                process,
                timeout_s=60,
            )
            # Without another click, the daemon's lifecycle_batch_sensor starts their lifecycle runs.
            runs = wait_for(
                "lifecycle runs",
                lambda: instance.get_runs(dg.RunsFilter(job_name="lifecycle_batch_job")),
                process,
                timeout_s=180,
            )
            assert sum(int(run.tags["annapurna/paper_count"]) for run in runs) <= expected

            worker = wait_for("a lifecycle run worker", lambda: _a_running_worker(instance), process, timeout_s=180)
            os.kill(worker, signal.SIGKILL)
            wait_for(
                "every paper described and no lifecycle run left, the killed one retried",
                lambda: (
                    instance.get_materialized_partitions(dg.AssetKey("paper_metadata")) == set(keys)
                    and not instance.get_runs(dg.RunsFilter(job_name="lifecycle_batch_job", statuses=IN_FLIGHT))
                ),
                process,
                timeout_s=420,
            )
            runs = instance.get_runs(dg.RunsFilter(job_name="lifecycle_batch_job"))
            killed = [run for run in runs if run.status == dg.DagsterRunStatus.FAILURE]
            retries = [run for run in runs if run.tags.get("dagster/retry_number") == "1"]
            assert len(killed) == 1 and len(retries) == 1 and retries[0].status == dg.DagsterRunStatus.SUCCESS
            assert instance.get_materialized_partitions(dg.AssetKey("verdict"))  # the judgeable papers were judged
        finally:
            stop_ui(process)


IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
IN_FLIGHT += [dg.DagsterRunStatus.STARTED]


def _a_running_worker(instance) -> int | None:
    """The pid of a lifecycle run's worker process, once one has started."""
    from annapurna_assets.cli.doctor import _worker_pid

    running = instance.get_runs(dg.RunsFilter(job_name="lifecycle_batch_job", statuses=[dg.DagsterRunStatus.STARTED]))
    return next((pid for run in running if (pid := _worker_pid(instance, run.run_id))), None)
