"""What one stage did for one paper, and how that becomes Dagster events.

Each per-paper asset is a thin wrapper around a stage function returning a `StageOutcome` (or None when
the paper does not go through that stage, e.g. a rejected paper has no code). The asset turns it into a
MaterializeResult and check results; `lifecycle_batch_job` runs the same stage functions for many papers in
one run and turns each outcome into partitioned AssetMaterialization / AssetCheckEvaluation events, so
every paper keeps its own partition, metadata, checks and lineage whichever way it was run.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from annapurna_assets.lifecycle.progress import STAGE_ASSETS


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


PAPER_CHAIN = tuple(STAGE_ASSETS.values())  # a paper's assets in flow order, linked on each of its materializations


def paper_chain(paper_key: str, current: str, ends_here: bool = False) -> dg.MetadataValue:
    """Links to this paper's page in each asset of its lifecycle (the UI's partition view), this one in bold."""
    chain = PAPER_CHAIN[: PAPER_CHAIN.index(current) + 1] if ends_here else PAPER_CHAIN
    links = [
        f"**{asset}**" if asset == current else f"[{asset}](/assets/{asset}?view=partitions&partition={paper_key})"
        for asset in chain
    ]
    return dg.MetadataValue.md(" → ".join(links) + (" (the lifecycle ends here)" if ends_here else ""))


def asset_events(context: dg.AssetExecutionContext, outcome: StageOutcome | None) -> Iterator:
    """Events for an asset materializing one partition."""
    if outcome is None:
        return
    asset = context.asset_key.to_user_string()
    chain = paper_chain(context.partition_key, asset, outcome.ends_lifecycle)
    yield dg.MaterializeResult(metadata={**outcome.metadata, "paper": chain})
    for check in outcome.checks:
        yield dg.AssetCheckResult(
            check_name=check.name, passed=check.passed, description=check.description, metadata=check.metadata
        )


def partition_events(context, asset: str | dg.AssetKey, outcomes: dict[str, StageOutcome]) -> Iterator:
    """Events for the papers of a run that materializes many, for an op to yield: each paper's materialization,
    then its checks, each tied to the materialization it checked (without that link the UI shows the paper's check
    as missing)."""
    asset_key = dg.AssetKey.from_coercible(asset)
    for key, outcome in outcomes.items():
        metadata = {**outcome.metadata, "paper": paper_chain(key, asset_key.to_user_string(), outcome.ends_lifecycle)}
        yield dg.AssetMaterialization(asset_key, partition=key, metadata=metadata)
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
