"""The Definitions object: the lifecycle's assets, checks, jobs and sensors, bound to the embedded defaults.

Backends are chosen here from configuration (environment variables), never in asset code.
"""

import os

import dagster as dg

from annapurna_assets.codegen import generated_code, selected_pages
from annapurna_assets.execution import trn1_batch_job, trn_run
from annapurna_assets.ingest import paper_metadata, paper_text, raw_pdf
from annapurna_assets.judging import verdict
from annapurna_assets.partitions import papers_partitions
from annapurna_assets.sensors import LIFECYCLE_JOB, local_folder_sensor, trn1_batch_sensor
from annapurna_resources import (
    LocalBlobStore,
    LocalFolderSource,
    LogNotifier,
    MiniLMEmbedder,
    OfflineCodeGenerator,
    OfflineJudge,
    SqlitePaperIndex,
    Trn1Launcher,
)
from annapurna_resources.judge import DEFAULT_RESEARCH_INTERESTS


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def build_resources() -> dict:
    embedder = MiniLMEmbedder()
    return {
        "paper_source": LocalFolderSource(folder=_env("ANNAPURNA_PAPERS_DIR", "")),
        "paper_index": SqlitePaperIndex(),
        "blob_store": LocalBlobStore(),
        "embedder": embedder,
        "judge": OfflineJudge(
            embedder=embedder,
            research_interests=_env("ANNAPURNA_RESEARCH_INTERESTS", DEFAULT_RESEARCH_INTERESTS),
            relevance_threshold=float(_env("ANNAPURNA_RELEVANCE_THRESHOLD", "0.34")),
        ),
        "code_generator": OfflineCodeGenerator(),
        "launcher": Trn1Launcher(
            slots=int(_env("ANNAPURNA_TRN1_SLOTS", str(min(os.cpu_count() or 1, 4)))),
            timeout_s=float(_env("ANNAPURNA_RUN_TIMEOUT_S", "120")),
            time_budget_s=float(_env("ANNAPURNA_TIME_BUDGET_S", "30")),
            batch_size=int(_env("ANNAPURNA_BATCH_SIZE", "10")),
            max_wait_minutes=float(_env("ANNAPURNA_BATCH_MAX_WAIT_MINUTES", "30")),
        ),
        "notifier": LogNotifier(),
    }


paper_lifecycle_job = dg.define_asset_job(
    LIFECYCLE_JOB,
    selection=dg.AssetSelection.assets(paper_metadata, raw_pdf, paper_text, verdict, selected_pages, generated_code),
    partitions_def=papers_partitions,
    executor_def=dg.in_process_executor,
    description="One paper from registration to generated code (execution is batched by trn1_batch_sensor).",
)


def build_definitions() -> dg.Definitions:
    """The Definitions, with resources configured from the environment as it is now."""
    return dg.Definitions(
        assets=[paper_metadata, raw_pdf, paper_text, verdict, selected_pages, generated_code, trn_run],
        jobs=[paper_lifecycle_job, trn1_batch_job],
        sensors=[local_folder_sensor, trn1_batch_sensor],
        resources=build_resources(),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
