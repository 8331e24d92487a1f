"""The Definitions object: the lifecycle's assets, checks, jobs and sensors, bound to the deployment's resources.

Which implementation each resource gets, and its settings, come from `deployment` (the profile and the settings
file), never from asset code. Dagster loads `defs` when it loads the code location, not when this module is imported.
"""

import dagster as dg

from annapurna_assets.alerts.sensors import check_failure_alert_sensor, run_failure_alert_sensor
from annapurna_assets.codegen.page_model import page_classifier_model
from annapurna_assets.deployment import build_resources
from annapurna_assets.execution.assets import trn1_batch_job, trn_run
from annapurna_assets.execution.idle_stop import trn1_idle_stop_sensor
from annapurna_assets.lifecycle.batch_job import lifecycle_batch_job
from annapurna_assets.lifecycle.sensors import lifecycle_batch_sensor, local_folder_sensor, trn1_batch_sensor
from annapurna_assets.lifecycle.stages import stage_assets
from annapurna_assets.sources.listings import build_arxiv_listing, build_conference_listing


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The Definitions with these resources (by default: the deployment's, from its profile and settings file)."""
    resources = build_resources() if resources is None else resources
    return dg.Definitions(
        assets=[
            build_conference_listing(resources["paper_sources"].openreview.configured_first_years()),
            build_arxiv_listing(resources["paper_sources"].arxiv.start_date),
            *stage_assets(smoke_runs=resources["code_generator"].smoke_runs),
            page_classifier_model,
            trn_run,
        ],
        jobs=[lifecycle_batch_job, trn1_batch_job],
        sensors=[
            local_folder_sensor,
            lifecycle_batch_sensor,
            trn1_batch_sensor,
            trn1_idle_stop_sensor,
            check_failure_alert_sensor,
            run_failure_alert_sensor,
        ],
        resources=resources,
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
