"""Judging in lifecycle runs: the `llm` concurrency pool across runs, and Claude's Message Batches."""

import threading
import time

import dagster as dg

from annapurna_assets.definitions import build_definitions
from annapurna_assets.lifecycle.runs import LLM_POOL, lifecycle_run_config
from annapurna_assets.settings import configure_pools
from annapurna_assets.sources.registration import register_papers
from annapurna_resources.sources.listed_paper import ListedPaper
from tests.conftest import configure
from tests.fakes.anthropic_api import FakeAnthropicApi, overloaded, tool_verdict

PAPERS = [
    ListedPaper(
        source="arxiv",
        source_id="2009.14794",
        title="Rethinking Attention with Performers",
        abstract="We introduce Performers, Transformer architectures which can estimate regular softmax attention "
        "with provable accuracy using linear space and time complexity.",
        venue="arxiv",
        year=2020,
        decision="preprint",
    ),
    ListedPaper(
        source="arxiv",
        source_id="1609.02907",
        title="Semi-Supervised Classification with Graph Convolutional Networks",
        abstract="We present a scalable approach for semi-supervised learning on graph-structured data that is "
        "based on an efficient variant of convolutional neural networks which operate directly on graphs.",
        venue="arxiv",
        year=2016,
        decision="preprint",
    ),
]


def test_judging_waits_for_a_free_llm_slot(instance, monkeypatch):
    configure(lifecycle={"llm_concurrency": 1})
    assert configure_pools(instance) == {"trn1": 1, "llm": 1}
    defs = build_definitions()
    job = defs.resolve_job_def("lifecycle_batch_job")
    assert {node.name: node.definition.pool for node in job.nodes} == {
        "describe_papers": None,
        "judge_papers": LLM_POOL,
        "read_papers": None,
        "write_papers_code": LLM_POOL,
    }
    keys = register_papers(instance, defs.resources["paper_index"], PAPERS, "test").new_keys
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot(LLM_POOL, "another-run", "judge_papers").is_claimed

    outcome = {}
    run = threading.Thread(
        target=lambda: outcome.setdefault(
            "result", job.execute_in_process(instance=instance, run_config=lifecycle_run_config(keys, "verdict"))
        )
    )
    run.start()
    deadline = time.monotonic() + 60
    while instance.get_materialized_partitions(dg.AssetKey("paper_metadata")) != set(keys):
        assert time.monotonic() < deadline, "describe_papers never finished"
        time.sleep(0.2)
    time.sleep(2.0)  # judge_papers is ready now, and must wait for the slot
    waiting = {(step.run_id, step.step_key) for step in storage.get_concurrency_info(LLM_POOL).pending_steps}
    assert (instance.get_runs()[0].run_id, "judge_papers") in waiting
    assert not instance.get_materialized_partitions(dg.AssetKey("verdict"))

    storage.free_concurrency_slot_for_step("another-run", "judge_papers")
    run.join(timeout=120)
    assert outcome["result"].success
    assert instance.get_materialized_partitions(dg.AssetKey("verdict")) == set(keys)
    assert not storage.get_concurrency_info(LLM_POOL).claimed_slots  # released when the step ended


def test_a_backfill_judged_by_claude_message_batch_records_each_paper(instance, monkeypatch):
    with FakeAnthropicApi(tool_verdict(input_tokens=1200, output_tokens=180), overloaded()) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        judge = {"kind": "claude", "base_url": fake.url, "use_message_batches": True, "batch_min_papers": 2}
        configure(judge={**judge, "batch_poll_s": 0.01})
        defs = build_definitions()
        keys = register_papers(instance, defs.resources["paper_index"], PAPERS, "test").new_keys
        result = defs.resolve_job_def("lifecycle_batch_job").execute_in_process(
            instance=instance, run_config=lifecycle_run_config(keys, "verdict"), raise_on_error=False
        )

    assert result.success  # a failed verdict is the paper's failed check, not a failed run
    assert [r.path for r in fake.requests if r.method == "POST"] == ["/v1/messages/batches"]
    checks = {}
    for record in instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("verdict"), "well_formed"), limit=10
    ):
        evaluation = record.event.dagster_event.event_specific_data
        checks[record.partition] = (evaluation.passed, evaluation.description)
    # results come back in reverse order; custom ids put them right: the first paper got the verdict
    assert checks[keys[0]] == (True, "accept (relevance 0.86)")
    assert checks[keys[1]][0] is False and "errored: overloaded_error" in checks[keys[1]][1]
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("verdict"), asset_partitions=[keys[0]]), limit=1
    ).records[0]
    shown = record.asset_materialization.metadata
    assert shown["judge"].value == "claude" and shown["message_batch"].value.startswith("msgbatch_")
    assert shown["input_tokens"].value == 1200 and shown["cost_usd"].value == (1200 * 3 + 180 * 15) / 1e6 / 2


def test_filters_reject_papers_before_the_judge_and_say_why(instance):
    """Configured keyword filters reject a paper unjudged (no embedding, no LLM call) with the reason in its
    verdict; a paper by a followed author reaches the judge whatever its words."""
    performers = ListedPaper(**{**PAPERS[0].__dict__, "authors": ["Krzysztof Choromanski"]})
    configure(
        lifecycle={"filters": {"keywords": ["graph"], "exclude_keywords": ["Transformer"], "authors": []}},
        judge={"relevance_threshold": 0.0},
    )
    defs = build_definitions()
    index = defs.resources["paper_index"]
    keys = register_papers(instance, index, [performers, PAPERS[1]], "test").new_keys
    job = defs.resolve_job_def("lifecycle_batch_job")
    result = job.execute_in_process(instance=instance, run_config=lifecycle_run_config(keys, "verdict"))
    assert result.success
    performers_key, gcn_key = keys
    filtered, judged = index.get(performers_key)["verdict"], index.get(gcn_key)["verdict"]
    assert filtered["judge"] == "filters" and filtered["decision"] == "reject"
    assert filtered["reasons"] == [
        "filtered out before the judge: it mentions Transformer (lifecycle.filters.exclude_keywords)"
    ]
    assert judged["judge"] != "filters" and judged["decision"] == "accept"
    well_formed = {e.partition: e.passed for e in result.get_asset_check_evaluations() if e.check_name == "well_formed"}
    assert well_formed == {performers_key: True, gcn_key: True}  # a filtered verdict is a proper verdict in the UI

    configure(lifecycle={"filters": {"authors": ["Krzysztof Choromanski"]}})
    followed = build_definitions().resources["lifecycle"].filters
    assert followed.rules_out(index.get(performers_key)["metadata"]) is None
