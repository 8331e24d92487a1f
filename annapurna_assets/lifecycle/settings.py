"""How the lifecycle batches its papers and budgets what the code generator reads (the `lifecycle` resource)."""

import dagster as dg
from pydantic import Field

from annapurna_assets.judge.filters import PaperFilters


class LifecycleSettings(dg.ConfigurableResource):
    """Settings of the lifecycle itself, the same for the per-paper assets and `lifecycle_batch_job`."""

    batch_size: int = Field(
        default=1000,
        ge=1,
        description="Most papers in one run of lifecycle_batch_sensor (it sizes runs to the work and the run queue).",
    )
    filters: PaperFilters = Field(
        default=PaperFilters(), description="Keyword and author filters applied before the judge."
    )
    llm_concurrency: int = Field(default=4, ge=1, description="Steps calling an LLM at once (the `llm` pool's limit).")
    page_budget_tokens: int = Field(
        default=30_000, ge=1, description="At most this many tokens of pages reach the code generator."
    )
    page_max_fraction: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="At most this fraction of a paper's tokens reaches the generator.",
    )
    page_min_probability: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="A page less likely than this to be useful never goes in.",
    )
