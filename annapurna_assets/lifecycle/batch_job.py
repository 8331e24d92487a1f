"""Many papers' lifecycles in one run: the stage table's stages, step by step, for a batch of papers.

A Dagster run per paper costs a process start and a model load (seconds), which a conference year of
thousands of papers cannot afford; backfill policies cannot help (they group only adjacent partitions into
one run, and a single-run backfill cannot report per-partition metadata). So `lifecycle_batch_job` takes the
paper keys in its run config and reports, for every paper, the same partitioned materializations and check
evaluations the assets would: partitions, metadata, checks and lineage are per paper either way.
A paper that fails a stage (an exception or a failed blocking check) stops there; the others go on.
"""

import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
from pydantic import Field

from annapurna_assets.lifecycle.runs import (
    KIND_TAG,
    LIFECYCLE_JOB,
    LIFECYCLE_KIND,
    LIFECYCLE_OP,
    parallel_lifecycle_runs,
)
from annapurna_assets.lifecycle.stage import PaperStage
from annapurna_assets.lifecycle.stages import LIFECYCLE_STAGES, STAGE_NAMES, paper_stage_events


class LifecycleBatchConfig(dg.Config):
    paper_keys: list[str] = Field(description="The `papers` partitions whose lifecycle this run goes through.")
    through: str = Field(
        default=STAGE_NAMES[-1],
        description=f"The last stage to run, one of {', '.join(STAGE_NAMES)} (e.g. verdict: only judge).",
    )


@dataclass
class PaperBatch:
    """What flows from one step of a lifecycle run to the next: the papers still going, and those that failed."""

    active: list[str]
    through: str
    total: int
    failed: dict[str, str] = field(default_factory=dict)

    def runs(self, stage: PaperStage) -> bool:
        return STAGE_NAMES.index(stage.asset) <= STAGE_NAMES.index(self.through)

    def fail(self, context, key: str, stage: str, error: Exception) -> None:
        self.failed[key] = f"{stage}: {error}"
        trace = "".join(traceback.format_exception(error, limit=6))
        context.log.error(f"{key} failed at {stage}: {error}\n{trace}")


def run_stage(context, batch: PaperBatch, stage: PaperStage) -> Iterator:
    """The stage for every active paper, yielding each paper's events; a paper that fails or is blocked stops."""
    if not batch.runs(stage) or not batch.active:
        return
    outcomes = {}
    for key, result in stage.outcomes(batch.active, context.resources, context.log).items():
        if isinstance(result, Exception):
            batch.fail(context, key, stage.asset, result)
        else:
            outcomes[key] = result
    yield from paper_stage_events(context, stage, outcomes, in_asset=False)
    batch.active = [key for key, outcome in outcomes.items() if outcome.goes_on]
    for key, outcome in outcomes.items():
        if outcome.blocked_by is not None:
            context.log.warning(f"{key} stops at {stage.asset}: {outcome.blocked_by.description}")


def step_op(name: str, stages: list[PaperStage], first: bool, last: bool) -> dg.OpDefinition:
    """The op that runs `stages` for the batch (the first one reads the batch from the run config)."""
    pools = {stage.pool for stage in stages}
    assert len(pools) == 1, f"the stages of step {name} claim different pools: {pools}"
    description = f"{', '.join(stage.asset for stage in stages)} for every paper of the batch still going."

    def run(context: dg.OpExecutionContext, batch: PaperBatch) -> Iterator:
        if "embedder" in options["required_resource_keys"]:  # other lifecycle runs embed beside this one
            context.resources.embedder.share_cpus(parallel_lifecycle_runs(context.instance))
        for stage in stages:
            yield from run_stage(context, batch, stage)
        if last:
            finish(context, batch)
        else:
            yield dg.Output(batch)

    options = dict(
        name=name,
        description=description,
        pool=pools.pop(),
        required_resource_keys={key for stage in stages for key in stage.resources},
        config_schema=LifecycleBatchConfig.to_config_schema() if first else None,
        out={} if last else dg.Out(PaperBatch),
    )
    if first:

        @dg.op(**options)
        def first_step(context: dg.OpExecutionContext) -> Iterator:
            config = LifecycleBatchConfig(**{k: context.op_config[k] for k in LifecycleBatchConfig.model_fields})
            if config.through not in STAGE_NAMES:
                raise dg.Failure(f"through={config.through!r} is not one of {STAGE_NAMES}")
            keys = list(dict.fromkeys(config.paper_keys))
            yield from run(context, PaperBatch(active=keys, through=config.through, total=len(keys)))

        return first_step

    @dg.op(**options, ins={"batch": dg.In(PaperBatch)})
    def next_step(context: dg.OpExecutionContext, batch: PaperBatch) -> Iterator:
        yield from run(context, batch)

    return next_step


def finish(context, batch: PaperBatch) -> None:
    context.log.info(
        f"{batch.total} papers: {len(batch.active)} went through {batch.through}, {len(batch.failed)} failed"
    )
    if batch.failed:
        raise dg.Failure(
            f"{len(batch.failed)} of {batch.total} papers failed (the others were recorded)",
            metadata={"failed_papers": dg.MetadataValue.json(batch.failed)},
        )


def _steps() -> list[dg.OpDefinition]:
    names = list(dict.fromkeys(stage.step for stage in LIFECYCLE_STAGES))
    assert names[0] == LIFECYCLE_OP, f"the first step must be {LIFECYCLE_OP} (it takes the run config)"
    return [
        step_op(name, [s for s in LIFECYCLE_STAGES if s.step == name], first=i == 0, last=i == len(names) - 1)
        for i, name in enumerate(names)
    ]


STEPS = _steps()


@dg.job(name=LIFECYCLE_JOB, tags={KIND_TAG: LIFECYCLE_KIND}, executor_def=dg.in_process_executor)
def lifecycle_batch_job():
    """The lifecycle of a batch of papers, stage by stage, from metadata to generated code (launched by
    lifecycle_batch_sensor; paper keys in the run config). Each paper's materializations and checks are its own."""
    batch = STEPS[0]()
    for step in STEPS[1:]:
        batch = step(batch)
