"""Process-wide settings: where state lives, and the Dagster instance under ANNAPURNA_HOME."""

import os
import shutil
from pathlib import Path

from annapurna_resources.home import annapurna_home

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = Path(__file__).resolve().parent / "demo_corpus"


def dagster_home() -> Path:
    return annapurna_home() / "dagster"


def ensure_dagster_home() -> Path:
    """Point DAGSTER_HOME at `$ANNAPURNA_HOME/dagster` (never ~/.dagster) with the project's dagster.yaml."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    template = PROJECT_ROOT / "dagster.yaml"
    target = home / "dagster.yaml"
    if template.exists() and (not target.exists() or target.read_bytes() != template.read_bytes()):
        shutil.copyfile(template, target)
    # Absolute paths, so that processes started elsewhere (dagster dev, run workers) find the same state.
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["ANNAPURNA_HOME"] = str(annapurna_home())
    if os.environ.get("ANNAPURNA_PAPERS_DIR"):
        os.environ["ANNAPURNA_PAPERS_DIR"] = str(Path(os.environ["ANNAPURNA_PAPERS_DIR"]).resolve())
    return home


def pool_limits() -> dict[str, int]:
    """Concurrency pools: `trn1` (one batch on the launcher at a time) and `llm` (steps calling an LLM at once,
    ANNAPURNA_LLM_CONCURRENCY, default 4). Each claiming step makes its LLM calls one after another."""
    return {"trn1": 1, "llm": int(os.environ.get("ANNAPURNA_LLM_CONCURRENCY") or 4)}


def configure_pools(instance) -> dict[str, int]:
    """Set the instance's pool limits from configuration (a pool Dagster has not seen would get default_limit 1)."""
    storage = instance.event_log_storage
    limits = pool_limits()
    for pool, limit in limits.items():
        if storage.get_concurrency_info(pool).slot_count != limit:
            storage.set_concurrency_slots(pool, limit)
    return limits
