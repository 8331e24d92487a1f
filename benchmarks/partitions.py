"""Registering all 11,672 ICLR 2025 submissions as `papers` partitions, and what that does to the sensor and status.

The real ICLR 2025 listing (titles, authors and decisions from ../shared/data) is served as OpenReview API v2
notes by the loopback fake; `conference_listing[iclr-2025]` lists and registers every submission (all decisions
kept) on a fresh instance. Then one tick of `lifecycle_batch_sensor` (the per-paper sensor, with no cursor: its
worst case, looking at every registered paper) and `annapurna status` (a fresh process, as a user runs it).
Prints one final JSON line. Usage: .venv/bin/python benchmarks/partitions.py
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from listing_replay import materialize_listing, replayed_openreview


def main() -> None:
    import dagster as dg

    from annapurna_assets.lifecycle.runs import LIFECYCLE_JOB, run_paper_keys
    from annapurna_resources.sources.listed_paper import DECISIONS
    from tests.fakes.openreview_api import iclr2025_notes

    notes = iclr2025_notes()
    with replayed_openreview(notes) as (home, instance, defs):
        register_seconds = materialize_listing(instance, defs, "iclr-2025", list(DECISIONS))
        partitions = len(instance.get_dynamic_partitions("papers"))

        sensor = defs.resolve_sensor_def("lifecycle_batch_sensor")
        started = time.perf_counter()
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            result = sensor(context)
        sensor_tick_seconds = time.perf_counter() - started
        requested = sum(len(run_paper_keys(LIFECYCLE_JOB, r.run_config)) for r in result.run_requests)

        annapurna = Path(sys.executable).with_name("annapurna")
        started = time.perf_counter()
        status = subprocess.run([str(annapurna), "status", "--json"], capture_output=True, text=True, check=True)
        status_seconds = time.perf_counter() - started

    print(f"listed {len(notes)} notes; sensor asked for {len(result.run_requests)} runs covering {requested} papers")
    print(f"status: {status.stdout.strip()}")
    print(
        json.dumps(
            {
                "partitions": partitions,
                "register_seconds": round(register_seconds, 2),
                "sensor_tick_seconds": round(sensor_tick_seconds, 2),
                "status_seconds": round(status_seconds, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
