"""A year of ML papers as `papers` partitions: registration, the sensors that read partitions, `annapurna status`.

The benchmark writes a synthetic listing file of N papers (OpenReview API v2 TSV export, the format users download;
default 200,000, about a year of arXiv ML plus the conferences) and registers it the way a user does: materializing
`conference_listing` for the venue-year the file is configured for. Then one tick of each sensor that reads the
partitions (the lifecycle sensor with no cursor, its worst case: it looks at every registered paper), and
`annapurna status` as a user runs it (a fresh process). With `--ui`, `annapurna ui` is started and headless Chromium
opens `paper_metadata`'s partitions page: the seconds until the first partition keys show, cold and again.
Prints one final JSON line.

Usage: .venv/bin/python benchmarks/partitions.py [--papers 200000] [--ui]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
VENUE_YEAR = "neurips-2025"
SENSORS = ("lifecycle_batch_sensor", "trn1_batch_sensor", "local_folder_sensor")


def write_listing(path: Path, papers: int) -> None:
    """`papers` distinct rows: forum url, title, authors, keywords, area, venue, pdf, -, tldr, -, abstract."""
    words = "sparse attention diffusion graph reinforcement contrastive optimisation transformer robust causal".split()
    with path.open("w") as listing:
        for n in range(papers):
            topic = f"{words[n % 10]} {words[(n // 10) % 10]} {words[(n // 100) % 10]}"
            listing.write(
                f"https://openreview.net/forum?id=syn{n:07d}\tOn {topic} learning, part {n}\tA. Author;B. Author"
                f"\t{topic}\tdeep learning\tNeurIPS 2025 Poster\thttps://openreview.net/pdf?id=syn{n:07d}\t\t\t\t"
                f"We study {topic} learning at scale and report experiment {n}.\n"
            )


def partitions_page_seconds(home: Path) -> list[float]:
    """Seconds until `paper_metadata`'s partitions page shows partition keys in Chromium: first load, then again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.annapurna_assets.test_ui_browser import headless_chromium
    from tests.annapurna_assets.test_webserver import graphql, start_ui, stop_ui, wait_for

    process, port = start_ui(home)
    driver = headless_chromium(home.parent / "chromium-profile")
    try:
        wait_for("the UI", lambda: graphql(port, "{ version }")["data"], process)
        seconds = []
        for _ in range(2):
            started = time.perf_counter()
            driver.get(f"http://127.0.0.1:{port}/assets/paper_metadata?view=partitions")
            WebDriverWait(driver, 300).until(lambda d: VENUE_YEAR in d.find_element(By.TAG_NAME, "body").text)
            seconds.append(round(time.perf_counter() - started, 1))
        return seconds
    finally:
        driver.quit()
        stop_ui(process)


def main(papers: int, ui: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        os.environ["ANNAPURNA_HOME"] = str(home)
        listing = Path(folder) / "listing.tsv"
        write_listing(listing, papers)
        from tests.conftest import configure

        configure(home, paper_sources={"files": {"files": {VENUE_YEAR: str(listing)}}})
        from annapurna_assets.settings import ensure_dagster_home

        ensure_dagster_home()
        import dagster as dg

        from annapurna_assets.definitions import build_definitions
        from annapurna_assets.sources.listings import conference_listing

        defs = build_definitions()
        with dg.DagsterInstance.get() as instance:
            started = time.perf_counter()
            dg.materialize(
                [conference_listing],
                partition_key=VENUE_YEAR,
                instance=instance,
                resources=defs.resources,
                run_config=QUIET,
            )
            register_seconds = time.perf_counter() - started
            registered = len(instance.get_dynamic_partitions("papers"))

            ticks = {}
            for name in SENSORS:
                started = time.perf_counter()
                with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
                    result = defs.resolve_sensor_def(name)(context)
                ticks[name] = round(time.perf_counter() - started, 2)
                runs = len(result.run_requests) if isinstance(result, dg.SensorResult) else 0
                print(f"{name}: {ticks[name]} s, {runs} run request(s)")

        page_seconds = partitions_page_seconds(home) if ui else None
        annapurna = Path(sys.executable).with_name("annapurna")
        started = time.perf_counter()
        status = subprocess.run([str(annapurna), "status", "--json"], capture_output=True, text=True, check=True)
        status_seconds = time.perf_counter() - started
    print(f"status: {status.stdout.strip()[:200]}")
    print(
        json.dumps(
            {
                "partitions": registered,
                "register_seconds": round(register_seconds, 1),
                "sensor_tick_seconds": ticks,
                "status_seconds": round(status_seconds, 2),
                "partitions_page_seconds": page_seconds,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=200_000)
    parser.add_argument("--ui", action="store_true", help="also time the partitions page in headless Chromium")
    args = parser.parse_args()
    main(args.papers, args.ui)
