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


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_webserver_serves_assets_partitions_and_checks(instance, annapurna_home):
    instance.add_dynamic_partitions("papers", ["local-0123456789abcdef", "arxiv-2106-09685"])
    port = free_port()
    annapurna = Path(sys.executable).with_name("annapurna")
    process = subprocess.Popen(
        [str(annapurna), "ui", "--host", "127.0.0.1", "--port", str(port)],
        cwd=annapurna_home.parent,
        env={**os.environ, "PATH": "/usr/bin:/bin"},  # no venv on PATH, as in `make`
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        data = None
        while time.time() < deadline:
            try:
                data = graphql(port, QUERY)["data"]
                if data["assetNodes"]:
                    break
            except urllib.error.HTTPError as error:
                raise AssertionError(error.read().decode()) from error
            except OSError:
                pass  # not listening yet
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            time.sleep(1)
        assert data and data["assetNodes"], "the webserver never served the asset graph"
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
        listing = nodes.pop("conference_listing")
        assert listing["partitionDefinition"]["type"] == "STATIC"
        assert {"iclr-2017", "iclr-2025", "icml-2024", "neurips-2023", "mlsys-2024"} <= set(listing["partitionKeys"])
        assert nodes.pop("arxiv_listing")["partitionDefinition"]["type"] == "TIME_WINDOW"
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
        for node in nodes.values():
            assert node["partitionDefinition"]["name"] == "papers"
            assert sorted(node["partitionKeys"]) == ["arxiv-2106-09685", "local-0123456789abcdef"]
        checks = {name: [c["name"] for c in n["assetChecksOrError"]["checks"]] for name, n in nodes.items()}
        assert checks["raw_pdf"] == ["readable_pdf"] and checks["trn_run_result"] == ["run_succeeded"]
        assert checks["paper_metadata"] == ["has_title_and_abstract"]
        sensors = {s["name"] for s in data["sensorsOrError"]["results"]}
        assert sensors == {"local_folder_sensor", "paper_lifecycle_sensor", "trn1_batch_sensor"}
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # dagster dev ignores SIGTERM from a non-interactive parent
        process.wait(timeout=30)
