"""Where Annapurna keeps its state: everything lives under ANNAPURNA_HOME (default `.annapurna/`)."""

import os
from pathlib import Path


def annapurna_home() -> Path:
    return Path(os.environ.get("ANNAPURNA_HOME", ".annapurna")).resolve()


def state_path(configured: str, default_name: str) -> Path:
    """A configured path, or `default_name` under ANNAPURNA_HOME when none was configured."""
    return Path(configured).resolve() if configured else annapurna_home() / default_name
