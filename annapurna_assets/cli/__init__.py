"""The `annapurna` command and what it runs: the demo, the doctor, a paper's report."""

from annapurna_assets.cli.commands import main

__all__ = ["main"]
