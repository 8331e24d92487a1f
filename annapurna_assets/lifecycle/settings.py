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
    read_budget_tokens: int = Field(
        default=60_000,
        ge=1,
        description="At most this many tokens of a paper's sections reach the code generator (the least useful "
        "sections go first when a paper has more).",
    )
    section_min_probability: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="A section less likely than this to be useful (the section classifier's P) is not read.",
    )
