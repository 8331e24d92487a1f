import shutil
import time

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRunStatus

from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.runs import LIFECYCLE_JOB, parallel_lifecycle_runs, run_paper_keys
from annapurna_assets.lifecycle.sensors import (
    local_folder_sensor,
    plan_batch,
    split_into_runs,
    trn1_batch_sensor,
)
from tests.conftest import configure, make_pdf


def add_pending_code(instance, defs, keys, generated_at):
    instance.add_dynamic_partitions("papers", keys)
    instance.add_dynamic_partitions("accepted_papers", keys)
    index = defs.resources["paper_index"]
    for key in keys:
        index.update(key, code={"contract_ok": True, "generated_at": generated_at, "ref": "blob://" + "0" * 64})
        instance.report_runless_asset_event(dg.AssetMaterialization("generated_code", partition=key))


def evaluate(sensor, instance, defs):
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        return sensor(context)


def test_ten_pending_papers_make_exactly_one_run_and_nine_make_none(instance):
    defs = build_definitions()
    add_pending_code(instance, defs, [f"local-{i:016d}" for i in range(9)], generated_at=time.time())
    assert isinstance(evaluate(trn1_batch_sensor, instance, defs), dg.SkipReason)

    add_pending_code(instance, defs, ["local-9999999999999999"], generated_at=time.time())
    requests = evaluate(trn1_batch_sensor, instance, defs)
    assert len(requests) == 1
    keys = requests[0].run_config["ops"]["run_trn1_batch"]["config"]["paper_keys"]
    assert len(keys) == 10 and len(set(keys)) == 10

    # Once that run is in flight, the same papers are not launched again.
    job = defs.resolve_job_def("trn1_batch_job")
    instance.create_run_for_job(job, run_config=requests[0].run_config, status=DagsterRunStatus.STARTED)
    assert isinstance(evaluate(trn1_batch_sensor, instance, defs), dg.SkipReason)


def test_a_small_batch_is_flushed_after_max_wait(instance):
    defs = build_definitions()
    add_pending_code(instance, defs, ["local-aaaaaaaaaaaaaaaa", "local-bbbbbbbbbbbbbbbb"], time.time() - 31 * 60)
    [request] = evaluate(trn1_batch_sensor, instance, defs)
    assert len(request.run_config["ops"]["run_trn1_batch"]["config"]["paper_keys"]) == 2


def test_plan_batch_takes_the_oldest_first():
    pending = {f"k{i}": float(i) for i in range(25)}
    assert plan_batch(pending, 10, 1800, now=30.0) == [f"k{i}" for i in range(10)]
    assert plan_batch({"a": 100.0}, 10, 1800, now=200.0) == []
    assert plan_batch({}, 10, 0, now=0) == []


def test_folder_sensor_registers_each_file_once_by_content(instance, tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_pdf(inbox / "one.pdf", "first paper")
    make_pdf(inbox / "two.pdf", "second paper")
    shutil.copy(inbox / "one.pdf", inbox / "one-again.pdf")
    configure(paper_folder={"folder": str(inbox)})
    defs = build_definitions()

    result = evaluate(local_folder_sensor, instance, defs)
    keys = sorted(result.dynamic_partitions_requests[0].partition_keys)
    assert [k.rsplit("-", 1)[0] for k in keys] == ["one-again", "two"]  # no title: named by the first file name
    assert not result.run_requests  # lifecycle_batch_sensor starts them
    instance.add_dynamic_partitions("papers", keys)

    again = evaluate(local_folder_sensor, instance, defs)
    assert again.dynamic_partitions_requests == []
    assert defs.resources["paper_index"].get(keys[0])["source"]["source"] == "local"

    lifecycle = defs.resolve_sensor_def("lifecycle_batch_sensor")
    [request] = evaluate(lifecycle, instance, defs).run_requests
    assert run_paper_keys(LIFECYCLE_JOB, request.run_config) == keys


def test_runs_are_sized_to_the_work_and_the_run_queue(instance):
    keys = [f"p{i}" for i in range(4008)]
    assert parallel_lifecycle_runs(instance) == 3  # dagster.yaml: lifecycle-batch runs limited to 3 (of 4)
    assert [len(run) for run in split_into_runs(keys, 1000, 3)] == [668] * 6  # two waves of three runs
    assert [len(run) for run in split_into_runs(keys[:100], 1000, 3)] == [34, 33, 33]  # the slots filled
    assert [len(run) for run in split_into_runs(keys[:76], 1000, 3)] == [26, 25, 25]  # none below 25
    assert split_into_runs([], 1000, 3) == []
    assert [len(run) for run in split_into_runs(keys[:30], 1000, 3)] == [30]  # too few for a second run
    assert [len(run) for run in split_into_runs(keys[:9], 4, 3)] == [3, 3, 3]  # never above most_per_run


def test_lifecycle_sensor_batches_new_papers_and_skips_started_ones(instance, monkeypatch):
    configure(lifecycle={"batch_size": 4})
    defs = build_definitions()
    keys = [f"iclr-2025-paper-{i:02d}" for i in range(10)]
    instance.add_dynamic_partitions("papers", keys)
    instance.report_runless_asset_event(dg.AssetMaterialization("paper_metadata", partition=keys[0]))
    lifecycle = defs.resolve_sensor_def("lifecycle_batch_sensor")
    result = evaluate(lifecycle, instance, defs)
    batches = [run_paper_keys(LIFECYCLE_JOB, r.run_config) for r in result.run_requests]
    assert batches == [keys[1:4], keys[4:7], keys[7:]] and result.cursor == keys[-1]  # at most 4, equal sizes

    # Runs in flight hold their papers; a later tick (from the cursor) sees only papers registered since.
    job = defs.resolve_job_def("lifecycle_batch_job")
    for request in result.run_requests:
        instance.create_run_for_job(job, run_config=request.run_config, status=DagsterRunStatus.STARTED)
    assert isinstance(evaluate(lifecycle, instance, defs), dg.SkipReason)
    instance.add_dynamic_partitions("papers", ["arxiv-2501-00001"])
    with dg.build_sensor_context(instance=instance, resources=defs.resources, cursor=result.cursor) as context:
        [request] = lifecycle(context).run_requests
    assert run_paper_keys(LIFECYCLE_JOB, request.run_config) == ["arxiv-2501-00001"]
