"""The Definitions object: the lifecycle's assets, checks, jobs and sensors, bound to the embedded defaults.

Backends and their addresses are chosen in `backends` from configuration (environment variables), never in asset code.
"""

import os

import dagster as dg

from annapurna_assets.alerts.sensors import check_failure_alert_sensor, run_failure_alert_sensor
from annapurna_assets.backends import build_resources
from annapurna_assets.codegen.page_model import page_classifier_model
from annapurna_assets.execution.assets import trn1_batch_job, trn_run
from annapurna_assets.execution.idle_stop import trn1_idle_stop_sensor
from annapurna_assets.lifecycle.batch_job import lifecycle_batch_job
from annapurna_assets.lifecycle.sensors import build_paper_lifecycle_sensor, local_folder_sensor, trn1_batch_sensor
from annapurna_assets.lifecycle.stages import stage_assets
from annapurna_assets.sources.listings import arxiv_listing, conference_listing


def build_definitions() -> dg.Definitions:
    """The Definitions, with resources configured from the environment as it is now."""
    resources = build_resources()
    return dg.Definitions(
        assets=[
            conference_listing,
            arxiv_listing,
            *stage_assets(smoke_runs=resources["code_generator"].smoke_runs),
            page_classifier_model,
            trn_run,
        ],
        jobs=[lifecycle_batch_job, trn1_batch_job],
        sensors=[
            local_folder_sensor,
            build_paper_lifecycle_sensor(int(os.environ.get("ANNAPURNA_LIFECYCLE_BATCH_SIZE") or 50)),
            trn1_batch_sensor,
            trn1_idle_stop_sensor,
            check_failure_alert_sensor,
            run_failure_alert_sensor,
        ],
        resources=resources,
        executor=dg.in_process_executor,
    )


defs = build_definitions()
