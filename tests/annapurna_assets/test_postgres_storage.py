"""dagster.yaml as `annapurna` installs it: SQLite by default, PostgreSQL (a real server on loopback) when configured,
with the run queue, pools and run retries; and the demo lifecycle on PostgreSQL storage."""

import shutil

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.runs import SqliteRunStorage
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from annapurna_assets.settings import DEMO_CORPUS, configure_pools, ensure_dagster_home
from tests.conftest import configure

DEMO_PAPERS = ["02_SwitchTransformers_JMLR2022.pdf", "09_Re_BinaryOptimizerBop_ReScienceC2020.pdf"]


def installed_config() -> dict:
    return yaml.safe_load((ensure_dagster_home() / "dagster.yaml").read_text())


def test_default_instance_is_sqlite_with_queue_pools_and_retries(annapurna_home, monkeypatch):
    monkeypatch.delenv("ANNAPURNA_POSTGRES_URL", raising=False)
    assert "storage" not in installed_config()
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, SqliteRunStorage)
        assert str(instance.root_directory).startswith(str(annapurna_home))
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert {"key": "annapurna/kind", "value": "trn1-batch", "limit": 1} in queue.tag_concurrency_limits
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure  # only infrastructure failures retry
        configure(lifecycle={"llm_concurrency": 3})
        assert configure_pools(instance) == {"trn1": 1, "llm": 3}
        assert instance.event_log_storage.get_concurrency_info("llm").slot_count == 3


def test_a_postgres_url_that_is_not_one_is_refused(annapurna_home, monkeypatch):
    monkeypatch.setenv("ANNAPURNA_POSTGRES_URL", "mysql://user:secret@db/annapurna")
    with pytest.raises(ValueError, match="postgresql://") as raised:
        ensure_dagster_home()
    assert "secret" not in str(raised.value)


def test_demo_lifecycle_on_postgres_storage(postgres_url, annapurna_home, tmp_path, monkeypatch):
    monkeypatch.setenv("ANNAPURNA_POSTGRES_URL", postgres_url)
    config = installed_config()
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "ANNAPURNA_POSTGRES_URL"}}}
    assert postgres_url not in (annapurna_home / "dagster" / "dagster.yaml").read_text()  # no credentials in the file

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in DEMO_PAPERS:
        shutil.copy(DEMO_CORPUS / name, inbox / name)
    configure(paper_folder={"folder": str(inbox)})
    from annapurna_assets.cli.demo import run_demo
    from annapurna_assets.definitions import build_definitions

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        configure_pools(instance)
        outcome = run_demo(build_definitions(), instance)
        papers = outcome["folder_papers"]
        assert outcome["new_papers"] == 2 and not outcome["failed_runs"]

    with psycopg2.connect(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pipeline_name, status FROM runs")
        runs = cursor.fetchall()
        cursor.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'papers'")
        partitions = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT asset_key, partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        materialized = set(cursor.fetchall())
        cursor.execute('SELECT concurrency_key, "limit" FROM concurrency_limits')
        pools = dict(cursor.fetchall())
    connection.close()
    assert {status for _, status in runs} == {"SUCCESS"}
    assert {job for job, _ in runs} >= {"trn1_batch_job"}
    assert set(papers) <= partitions
    for paper in papers:
        for asset in ("raw_pdf", "paper_text", "generated_code", "trn_run_result", "trn_profile"):
            assert (dg.AssetKey(asset).to_string(), paper) in materialized, (asset, paper)
    assert pools["trn1"] == 1
