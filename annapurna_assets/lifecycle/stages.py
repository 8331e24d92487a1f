"""The lifecycle of a paper, stage by stage, in flow order: the one table the rest is made from.

Each stage's description lives with its domain (`papers`, `judge`, `codegen`); this table orders them. From it come
the per-paper assets (each depending on the stage before), the steps of `lifecycle_batch_job`, the chain of links
each materialization carries, and the stages `annapurna status` counts.
"""

from collections.abc import Iterator

import dagster as dg

from annapurna_assets.codegen.assets import code_stage, pages_stage
from annapurna_assets.judge.assets import verdict_stage
from annapurna_assets.lifecycle.sections import PAPER_SECTIONS
from annapurna_assets.lifecycle.stage import PaperStage, StageOutcome, stage_events
from annapurna_assets.papers.assets import metadata_stage, pdf_stage, text_stage

LIFECYCLE_STAGES: tuple[PaperStage, ...] = (
    metadata_stage,
    verdict_stage,
    pdf_stage,
    text_stage,
    pages_stage,
    code_stage,
)
STAGE_NAMES = tuple(stage.asset for stage in LIFECYCLE_STAGES)
PAPER_CHAIN = tuple(PAPER_SECTIONS)
"""A paper's assets in flow order: each of its materializations links the others."""
EXECUTION_ASSETS = PAPER_CHAIN[len(STAGE_NAMES) :]  # the per-paper assets of trn1_batch_job's batches
assert PAPER_CHAIN[: len(STAGE_NAMES)] == STAGE_NAMES, f"sections.py must list {STAGE_NAMES} first, in this order"


def stage_named(asset: str) -> PaperStage:
    return next(stage for stage in LIFECYCLE_STAGES if stage.asset == asset)


def paper_stage_events(context, stage: PaperStage, outcomes: dict[str, StageOutcome], in_asset: bool) -> Iterator:
    yield from stage_events(context, PAPER_CHAIN, stage.asset, outcomes, in_asset)
    if stage.recorded is not None and outcomes:
        stage.recorded(context, context.resources, outcomes)


def _deps(position: int) -> list:
    stage = LIFECYCLE_STAGES[position]
    if position == 0:
        return list(stage.extra_deps)
    before = LIFECYCLE_STAGES[position - 1]
    if before.accepted_only == stage.accepted_only:
        upstream = dg.AssetDep(before.asset)
    else:  # from the verdict (every paper) to the accepted papers' stages
        upstream = dg.AssetDep(before.asset, partition_mapping=dg.IdentityPartitionMapping())
    return [upstream, *stage.extra_deps]


def stage_asset(stage: PaperStage, deps: list, check_specs: list[dg.AssetCheckSpec]) -> dg.AssetsDefinition:
    """The per-paper asset of a stage: it runs the stage for its partition's paper."""

    @dg.asset(
        name=stage.asset,
        description=stage.description,
        partitions_def=stage.partitions,
        group_name=stage.group,
        deps=deps,
        kinds=set(stage.kinds),
        check_specs=check_specs,
        pool=stage.pool,
        required_resource_keys=set(stage.resources),
    )
    def materialize(context: dg.AssetExecutionContext) -> Iterator:
        key = context.partition_key
        result = stage.outcomes([key], context.resources, context.log)[key]
        if isinstance(result, Exception):
            raise result
        yield from paper_stage_events(context, stage, {key: result}, in_asset=True)

    return materialize


def stage_assets(smoke_runs: bool) -> list[dg.AssetsDefinition]:
    """Every lifecycle stage's per-paper asset. The code's smoke-run check is declared only where the configured
    generator smoke-runs its scripts, so no check is declared that is never evaluated."""
    assets = []
    for position, stage in enumerate(LIFECYCLE_STAGES):
        assets.append(stage_asset(stage, _deps(position), stage.check_specs(smoke_runs)))
    return assets
