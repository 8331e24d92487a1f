"""Process-wide settings: where state lives, and the Dagster instance under ANNAPURNA_HOME."""

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from annapurna_resources.storage.home import annapurna_home

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = Path(__file__).resolve().parent / "demo_corpus"
POSTGRES_URL_ENV = "ANNAPURNA_POSTGRES_URL"
POSTGRES_STORAGE = f"""
# Written by ensure_dagster_home because {POSTGRES_URL_ENV} is set.
storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_ENV}
"""


SETUP_STAMP = ".initialized"  # the configuration and Dagster version the instance was last set up for


def dagster_home() -> Path:
    return annapurna_home() / "dagster"


def postgres_url() -> str:
    """ANNAPURNA_POSTGRES_URL (postgresql://user:password@host:port/db), or "" for SQLite under DAGSTER_HOME.

    The driver is made explicit (postgresql+psycopg2://): dagster-postgres ships psycopg2, while SQLAlchemy 2.1
    reads a bare postgresql:// as psycopg 3."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        return ""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise ValueError(
            f"{POSTGRES_URL_ENV} must look like postgresql://user:password@host:5432/database (got scheme {scheme!r})"
        )
    return f"postgresql+psycopg2://{rest}"


SQLITE_EVENT_LOG = """
# Written by ensure_dagster_home: the SQLite event log with its connections kept open (see event_log_storage.py),
# where Dagster keeps it by default.
event_log_storage:
  module: annapurna_assets.event_log_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {runs}
"""


def dagster_yaml(home: Path, with_postgres: bool) -> str:
    """The instance configuration of DAGSTER_HOME `home`: the project's dagster.yaml, plus PostgreSQL storage when
    asked, else the pooled SQLite event log."""
    template = PROJECT_ROOT / "dagster.yaml"
    text = template.read_text() if template.exists() else ""
    runs = json.dumps(str(home / "history" / "runs"))  # a JSON string is a YAML string, whatever the path holds
    storage = POSTGRES_STORAGE if with_postgres else SQLITE_EVENT_LOG.format(runs=runs)
    return text + storage


def ensure_dagster_home() -> Path:
    """Point DAGSTER_HOME at `$ANNAPURNA_HOME/dagster` (never ~/.dagster) with the project's dagster.yaml, storing
    in PostgreSQL when ANNAPURNA_POSTGRES_URL is set (the file names the variable; the URL stays in the environment)."""
    home = dagster_home()
    url = postgres_url()
    if url:
        os.environ[POSTGRES_URL_ENV] = url
    config = dagster_yaml(home, with_postgres=bool(url))
    ready = f"{config}\n# dagster {_dagster_version()}"
    if not home.exists():
        _create_home(home, dagster_yaml(home.parent / "{staging}", bool(url)), config, ready)
    # Absolute paths, so that processes started elsewhere (dagster dev, run workers) find the same state.
    os.environ["DAGSTER_HOME"] = str(home)
    target, stamp = home / "dagster.yaml", home / SETUP_STAMP
    if not (target.exists() and target.read_text() == config and stamp.exists() and stamp.read_text() == ready):
        with _home_lock(home):  # the configuration or Dagster changed: set the instance up again, once
            if not target.exists() or target.read_text() != config:
                _write_atomically(target, config)
            if not stamp.exists() or stamp.read_text() != ready:
                _initialize_storage(home)
                _write_atomically(stamp, ready)
    os.environ["ANNAPURNA_HOME"] = str(annapurna_home())
    return home


def _create_home(home: Path, staging_config: str, config: str, ready: str) -> None:
    """A new DAGSTER_HOME appears whole or not at all: it is set up in a staging directory beside it, then renamed
    into place (atomic); when another process got there first, its home is kept and this one discarded. So no
    process, `annapurna` or `dagster`, ever opens a half-made instance. `staging_config` is the configuration with
    `{staging}` for the staging directory's name (its paths point into it while it is set up)."""
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-setup-", dir=home.parent))
    staging.chmod(0o755)  # as mkdir would have made it (mkdtemp makes 0700)
    try:
        (staging / "dagster.yaml").write_text(staging_config.replace("{staging}", staging.name))
        _initialize_storage(staging)
        (staging / "dagster.yaml").write_text(config)
        (staging / SETUP_STAMP).write_text(ready)
        try:
            os.rename(staging, home)
        except OSError:  # another process's home is in place
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """One process at a time sets the instance up (other processes of this machine wait for it)."""
    with open(home / ".setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def _dagster_version() -> str:
    from importlib.metadata import version

    return version("dagster")


def _initialize_storage(home: Path) -> None:
    """Create and migrate the instance's storage now, once: Dagster sets a fresh SQLite schema up (alembic) on first
    open, and several processes opening a fresh home at once corrupt it (duplicate alembic heads, tables created
    twice)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions("papers")
        instance.all_instigator_state()
        instance.event_log_storage.get_concurrency_keys()


def pool_limits() -> dict[str, int]:
    """Concurrency pools: `trn1` (one batch on the launcher at a time) and `llm` (steps calling an LLM at once: the
    settings' `lifecycle.llm_concurrency`). Each claiming step makes its LLM calls one after another."""
    from annapurna_assets.deployment import load_settings
    from annapurna_assets.lifecycle.settings import LifecycleSettings

    lifecycle = LifecycleSettings(**(load_settings().get("lifecycle") or {}))
    return {"trn1": 1, "llm": lifecycle.llm_concurrency}


def configure_pools(instance) -> dict[str, int]:
    """Set the instance's pool limits from configuration (a pool Dagster has not seen would get default_limit 1)."""
    storage = instance.event_log_storage
    limits = pool_limits()
    for pool, limit in limits.items():
        if storage.get_concurrency_info(pool).slot_count != limit:
            storage.set_concurrency_slots(pool, limit)
    return limits
