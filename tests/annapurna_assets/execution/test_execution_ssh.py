"""Done when: a ten-paper batch goes sensor -> launcher (ssh, here to a real sshd on loopback) -> per-paper results
and traces, each paper its own `trn_run_result` and `trn_profile` partition."""

import json
import sys
import time
from pathlib import Path

import dagster as dg

from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.sensors import trn1_batch_sensor
from annapurna_resources import OfflineCodeGenerator
from tests.conftest import configure
from tests.contract_scripts import training_script

CRASH = "raise RuntimeError('mat1 and mat2 shapes cannot be multiplied')\n"
# Most papers are small contract-style scripts so that ten fit in a lean test; one is the offline generator's code.
SMALL = training_script(final_fields='"steps_per_sec": 1.0')


def test_ten_papers_go_from_the_sensor_over_ssh_to_per_paper_results_and_traces(
    instance, ssh_server, tmp_path, monkeypatch
):
    remote_root = tmp_path / "remote"
    configure(
        launcher={
            "kind": "ssh",
            "ssh": {
                "host": ssh_server.host,
                "port": ssh_server.port,
                "user": ssh_server.user,
                "key_path": ssh_server.key_path,
                "known_hosts_path": ssh_server.known_hosts_path,
            },
            "remote_python": sys.executable,
            "remote_work_root": str(remote_root),
            "limits": {"time_budget_s": 2},
        }
    )
    defs = build_definitions()
    index, blobs = defs.resources["paper_index"], defs.resources["blob_store"]
    assert defs.resources["launcher"].mode == "ssh"

    generated = OfflineCodeGenerator(max_steps=3).generate("local-ssh0", "Graph convolutional networks", "", [])
    papers = {f"local-ssh{i:013d}": SMALL for i in range(1, 9)}
    papers |= {"local-ssh0000000000000": generated["code"], "local-sshcrash0000000": CRASH}
    instance.add_dynamic_partitions("accepted_papers", list(papers))
    for key, code in papers.items():
        index.update(key, code={"ref": blobs.put(code.encode()), "contract_ok": True, "generated_at": time.time()})
        instance.report_runless_asset_event(dg.AssetMaterialization("generated_code", partition=key))

    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        [request] = trn1_batch_sensor(context)
    assert sorted(request.run_config["ops"]["run_trn1_batch"]["config"]["paper_keys"]) == sorted(papers)

    result = defs.resolve_job_def("trn1_batch_job").execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags
    )
    assert result.success  # one paper's crash is not the batch's failure

    assert instance.get_materialized_partitions(dg.AssetKey("trn_run_result")) == set(papers)
    good_keys = set(papers) - {"local-sshcrash0000000"}
    assert instance.get_materialized_partitions(dg.AssetKey("trn_profile")) >= good_keys
    for key in good_keys:
        run = index.get(key)["run"]
        assert run["status"] == "ok", (key, run["reason"], run["stderr_tail"][-500:])
        assert run["host"].startswith("ssh (127.0.0.1")
        trace = json.loads(blobs.get(index.get(key)["profile"]["trace_ref"]))
        assert trace["traceEvents"], f"{key}: the torch.profiler trace came back over SSH"
    crash = index.get("local-sshcrash0000000")["run"]
    assert crash["status"] == "failed" and "mat1 and mat2 shapes cannot be multiplied" in crash["stderr_tail"]

    event = instance.get_latest_materialization_event(dg.AssetKey("trn_run_result"))
    assert event.asset_materialization.metadata["host"].value.startswith("ssh (127.0.0.1")
    assert not Path(remote_root).exists() or not any(Path(remote_root).iterdir()), "the remote batch dir is removed"
