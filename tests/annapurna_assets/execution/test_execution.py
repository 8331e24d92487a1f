"""A batch run reports each paper as its own partition; a broken script fails only its own paper."""

import shutil

import dagster as dg
import pytest

from annapurna_assets.definitions import build_definitions
from annapurna_resources import OfflineCodeGenerator
from tests.conftest import configure

CRASH = "import torch\nraise RuntimeError('mat1 and mat2 shapes cannot be multiplied')\n"


def test_batch_job_reports_each_paper_and_isolates_a_crash(instance):
    defs = build_definitions()
    index, blobs = defs.resources["paper_index"], defs.resources["blob_store"]
    good_code = OfflineCodeGenerator(max_steps=5).generate("local-good", "Graph convolutional networks", "", [])["code"]
    papers = {"local-good000000000000": good_code, "local-crash00000000000": CRASH}
    instance.add_dynamic_partitions("accepted_papers", list(papers))
    for key, code in papers.items():
        index.update(key, code={"ref": blobs.put(code.encode()), "contract_ok": True, "generated_at": 0.0})

    result = defs.resolve_job_def("trn1_batch_job").execute_in_process(
        instance=instance, run_config={"ops": {"run_trn1_batch": {"config": {"paper_keys": list(papers)}}}}
    )
    assert result.success  # a paper's failure is not the batch's failure

    materialized = instance.get_materialized_partitions(dg.AssetKey("trn_run_result"))
    assert materialized == set(papers)
    checks = {
        record.partition: record.status.value
        for record in instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("trn_run_result"), "run_succeeded"), limit=10
        )
    }
    assert checks == {"local-good000000000000": "SUCCEEDED", "local-crash00000000000": "FAILED"}
    # Each paper's check names the materialization it checked, as the UI's per-partition check status needs.
    check_key = dg.AssetCheckKey(dg.AssetKey("trn_run_result"), "run_succeeded")
    infos = instance.event_log_storage.get_asset_check_partition_info([check_key])
    assert {i.partition_key for i in infos} == set(papers)
    assert all(i.latest_target_materialization_storage_id == i.latest_materialization_storage_id for i in infos)

    good, crash = index.get("local-good000000000000")["run"], index.get("local-crash00000000000")["run"]
    assert good["status"] == "ok" and good["final"]["step"] == 5
    assert crash["status"] == "failed" and crash["exit_code"] == 1
    assert "mat1 and mat2 shapes cannot be multiplied" in crash["stderr_tail"]
    assert instance.get_materialized_partitions(dg.AssetKey("trn_profile")) >= {"local-good000000000000"}


def test_run_metadata_has_metrics_loss_curve_and_time_split(instance):
    defs = build_definitions()
    index, blobs = defs.resources["paper_index"], defs.resources["blob_store"]
    code = OfflineCodeGenerator(max_steps=12).generate("local-curve", "Graph convolutional networks", "", [])["code"]
    key = "local-curve00000000000"
    instance.add_dynamic_partitions("accepted_papers", [key])
    index.update(key, code={"ref": blobs.put(code.encode()), "contract_ok": True, "generated_at": 0.0})

    result = defs.resolve_job_def("trn1_batch_job").execute_in_process(
        instance=instance, run_config={"ops": {"run_trn1_batch": {"config": {"paper_keys": [key]}}}}
    )
    assert result.success

    run = instance.get_latest_materialization_event(dg.AssetKey("trn_run_result")).asset_materialization.metadata
    final = index.get(key)["run"]["final"]
    assert f"| final_loss | {final['final_loss']:.6g} |" in run["final_metrics"].value
    assert "| steps_per_sec |" in run["final_metrics"].value and "| parameters |" in run["final_metrics"].value
    # A paper's own figures are no numeric series: Dagster would plot unrelated papers' losses as one.
    numbers = {name for name, value in run.items() if isinstance(value, dg.FloatMetadataValue | dg.IntMetadataValue)}
    assert numbers == {"wall_seconds"}
    curve_url = run["loss_curve_png"].value
    assert curve_url.endswith(".png") and f"![loss curve of {key}]({curve_url})" == run["loss_curve"].value
    png = blobs.get("blob://" + curve_url.rsplit("/", 1)[1].removesuffix(".png"))
    assert png.startswith(b"\x89PNG") and index.get(key)["run"]["loss_curve_ref"] == blobs.put(png)

    profile = instance.get_latest_materialization_event(dg.AssetKey("trn_profile")).asset_materialization.metadata
    split = index.get(key)["profile"]["time_split"]
    assert split["wall_ms"] > 0 and split["compute_ms"] > 0
    assert split["data_loading_ms"] > 0  # the offline scripts mark batch creation as data_loading
    assert split["compute_ms"] + split["data_loading_ms"] + split["idle_ms"] <= split["wall_ms"] * 1.05
    assert profile["open_in_perfetto"].value == "https://ui.perfetto.dev/#!/?url=" + profile["trace"].value
    assert "| compute |" in profile["time_split"].value and "| data loading |" in profile["time_split"].value
    assert "| operator |" in profile["top_operators"].value


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client (ssh); .ci/run installs it")
def test_an_unreachable_host_fails_the_batch_run_and_leaves_its_papers_pending(instance, monkeypatch):
    import socket

    from annapurna_assets.lifecycle.sensors import trn1_batch_sensor

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    configure(
        launcher={
            "kind": "ssh",
            "ssh": {"host": "127.0.0.1", "port": closed_port},
            "batching": {"max_wait_minutes": 0},
        }
    )
    defs = build_definitions()
    index, blobs = defs.resources["paper_index"], defs.resources["blob_store"]
    code = OfflineCodeGenerator(max_steps=5).generate("local-host", "Graph convolutional networks", "", [])["code"]
    keys = ["local-hostdown0000000a", "local-hostdown0000000b"]
    instance.add_dynamic_partitions("accepted_papers", keys)
    for key in keys:
        index.update(key, code={"ref": blobs.put(code.encode()), "contract_ok": True, "generated_at": 0.0})
        instance.report_runless_asset_event(dg.AssetMaterialization("generated_code", partition=key))

    run_config = {"ops": {"run_trn1_batch": {"config": {"paper_keys": keys}}}}
    result = defs.resolve_job_def("trn1_batch_job").execute_in_process(
        instance=instance, run_config=run_config, raise_on_error=False
    )
    assert not result.success
    failure = result.failure_data_for_node("run_trn1_batch").error
    assert "InfrastructureError" in failure.cls_name and "127.0.0.1" in failure.message

    # Nothing was recorded against the papers: no result, no failed check, the stored code untouched ...
    assert not instance.get_materialized_partitions(dg.AssetKey("trn_run_result"))
    assert all("run" not in index.get(key) for key in keys)
    # ... and the sensor batches them again.
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        [request] = trn1_batch_sensor(context)
    assert sorted(request.run_config["ops"]["run_trn1_batch"]["config"]["paper_keys"]) == keys
