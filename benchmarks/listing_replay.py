"""What the listing benchmarks share: a fresh ANNAPURNA_HOME whose OpenReview is a loopback fake serving real notes."""

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@contextmanager
def replayed_openreview(notes: list[dict]) -> Iterator[tuple[Path, object, object]]:
    """(home, Dagster instance, Definitions) on a fresh instance, with OpenReview answered from `notes`."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["ANNAPURNA_HOME"] = home
        from annapurna_assets.settings import ensure_dagster_home

        ensure_dagster_home()
        import dagster as dg

        from annapurna_assets.definitions import build_definitions
        from tests.conftest import configure
        from tests.fakes.openreview_api import serve_openreview

        with serve_openreview(notes) as server, dg.DagsterInstance.get() as instance:
            configure(Path(home), paper_sources={"openreview": {"base_url": server.url}})
            yield Path(home), instance, build_definitions()


def materialize_listing(instance, defs, partition: str, decisions: list[str] | None = None) -> float:
    """Materializes `conference_listing[partition]`; returns the seconds it took."""
    import dagster as dg

    from annapurna_assets.sources.listings import conference_listing

    config = {"ops": {"conference_listing": {"config": {"decisions": decisions}}}} if decisions else {}
    started = time.perf_counter()
    dg.materialize(
        [conference_listing],
        partition_key=partition,
        instance=instance,
        resources=defs.resources,
        run_config={**config, **QUIET},
    )
    return time.perf_counter() - started
