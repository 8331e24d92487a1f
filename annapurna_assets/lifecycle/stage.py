"""A paper stage, described once, and the Dagster events of what it did.

A `PaperStage` names the per-paper asset it materializes, the function that does the work, its checks, pool,
what it tells the team once recorded, and the step of `lifecycle_batch_job` that runs it.
`lifecycle.stages` puts the stages in flow order and makes from each its per-paper asset and its batch step. Both
run `PaperStage.outcomes` and yield the same per-paper events (`stage_events`), so every paper keeps its own
partition, metadata, checks and lineage whichever way it was run.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from annapurna_assets.papers.partitions import accepted_papers_partitions, papers_partitions


@dataclass(frozen=True)
class Check:
    """A per-paper asset check a stage declares; a failed blocking one stops that paper (the others go on)."""

    name: str
    description: str
    blocking: bool = True


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    blocking: bool = True


@dataclass
class StageOutcome:
    metadata: dict
    checks: list[CheckOutcome] = field(default_factory=list)
    ends_lifecycle: bool = False  # the paper goes no further (e.g. rejected): its chain stops here

    @property
    def blocked_by(self) -> CheckOutcome | None:
        """The first failed blocking check: the paper goes no further."""
        return next((c for c in self.checks if c.blocking and not c.passed), None)

    @property
    def goes_on(self) -> bool:
        return self.blocked_by is None and not self.ends_lifecycle


StageResults = dict[str, StageOutcome | Exception]
"""What a stage did for each paper: its outcome, or the error that stopped it (one paper's error is its own)."""


@dataclass(frozen=True)
class PaperStage:
    """One stage of a paper's lifecycle, and everything Dagster needs to know of it.

    `run(key, resources, log)` does the work for one paper; `run_many(keys, resources, log)`, where
    given, does it for many at once (when that is cheaper: one model call for a batch) and returns `StageResults`.
    `resources` is the run's resources (`context.resources`), of which the stage uses the keys it names.
    `recorded(context, resources, outcomes)` runs once the outcomes are stored and is where the team is told.
    """

    asset: str
    description: str
    group: str
    step: str  # the op of lifecycle_batch_job that runs this stage for a batch of papers
    resources: tuple[str, ...]
    run: Callable[..., StageOutcome] | None = None
    run_many: Callable[..., StageResults] | None = None
    checks: tuple[Check, ...] = ()
    smoke_checks: tuple[Check, ...] = ()  # declared only where the configured code generator smoke-runs its scripts
    pool: str | None = None
    kinds: tuple[str, ...] = ("python",)
    extra_deps: tuple[Any, ...] = ()  # inputs besides the previous stage (listings, the page classifier model)
    recorded: Callable[..., None] | None = None
    accepted_only: bool = True  # partitioned by `accepted_papers` (the stages after the verdict)

    def outcomes(self, keys: list[str], resources, log) -> StageResults:
        if self.run_many is not None:
            return self.run_many(keys, resources, log)
        results: StageResults = {}
        for key in keys:
            try:
                results[key] = self.run(key, resources, log)
            except Exception as error:  # one paper's failure must not stop the others
                results[key] = error
        return results

    @property
    def partitions(self) -> dg.DynamicPartitionsDefinition:
        return accepted_papers_partitions if self.accepted_only else papers_partitions

    def check_specs(self, smoke_runs: bool) -> list[dg.AssetCheckSpec]:
        return [
            dg.AssetCheckSpec(
                check.name,
                asset=self.asset,
                partitions_def=self.partitions,
                blocking=check.blocking,
                description=check.description,
            )
            for check in (*self.checks, *(self.smoke_checks if smoke_runs else ()))
        ]


def paper_chain(chain: tuple[str, ...], paper_key: str, current: str, ends_here: bool = False) -> dg.MetadataValue:
    """Links to this paper's page in each asset of its lifecycle (the UI's partition view), this one in bold."""
    shown = chain[: chain.index(current) + 1] if ends_here else chain
    links = [
        f"**{asset}**" if asset == current else f"[{asset}](/assets/{asset}?view=partitions&partition={paper_key})"
        for asset in shown
    ]
    return dg.MetadataValue.md(" → ".join(links) + (" (the lifecycle ends here)" if ends_here else ""))


def stage_events(
    context, chain: tuple[str, ...], asset: str | dg.AssetKey, outcomes: dict[str, StageOutcome], in_asset: bool
) -> Iterator:
    """The events of what a stage did, for a step to yield.

    In the asset's own step (`in_asset`, one paper): MaterializeResult and AssetCheckResult. In a batch op: each
    paper's AssetMaterialization, then its AssetCheckEvaluations, each tied to the materialization it checked
    (without that link the UI shows the paper's check as missing).
    """
    asset_key = dg.AssetKey.from_coercible(asset)
    name = asset_key.to_user_string()

    def metadata(key: str, outcome: StageOutcome) -> dict:
        return {**outcome.metadata, "paper": paper_chain(chain, key, name, outcome.ends_lifecycle)}

    if in_asset:
        for key, outcome in outcomes.items():
            yield dg.MaterializeResult(asset_key=asset_key, metadata=metadata(key, outcome))
            for check in outcome.checks:
                yield dg.AssetCheckResult(
                    asset_key=asset_key,
                    check_name=check.name,
                    passed=check.passed,
                    description=check.description,
                    metadata=check.metadata,
                )
        return
    for key, outcome in outcomes.items():
        yield dg.AssetMaterialization(asset_key, partition=key, metadata=metadata(key, outcome))
    if not any(outcome.checks for outcome in outcomes.values()):
        return
    targets = _materializations_of_run(context.instance, asset_key, list(outcomes), context.run_id)
    for key, outcome in outcomes.items():
        for check in outcome.checks:
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=check.name,
                passed=check.passed,
                partition=key,
                description=check.description,
                metadata=check.metadata,
                target_materialization_data=targets.get(key),
            )


def _materializations_of_run(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str], run_id: str
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each partition by this run (one query for the whole stage)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=2 * len(partitions)
    ).records
    targets = {}
    for record in records:  # newest first
        if record.run_id == run_id and record.partition_key not in targets:
            targets[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
    return targets
