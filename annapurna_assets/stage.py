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

    @property
    def blocked_by(self) -> CheckOutcome | None:
        """The first failed blocking check: the paper goes no further."""
        return next((c for c in self.checks if c.blocking and not c.passed), None)


def asset_events(outcome: StageOutcome | None) -> Iterator:
    """Events for an asset materializing one partition."""
    if outcome is None:
        return
    yield dg.MaterializeResult(metadata=outcome.metadata)
    for check in outcome.checks:
        yield dg.AssetCheckResult(
            check_name=check.name, passed=check.passed, description=check.description, metadata=check.metadata
        )


def partition_events(asset: str, partition: str, outcome: StageOutcome) -> Iterator:
    """Events for one paper of a run that materializes many."""
    yield dg.AssetMaterialization(asset, partition=partition, metadata=outcome.metadata)
    for check in outcome.checks:
        yield dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(asset),
            check_name=check.name,
            passed=check.passed,
            partition=partition,
            description=check.description,
            metadata=check.metadata,
        )
