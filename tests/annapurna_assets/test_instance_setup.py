"""A fresh ANNAPURNA_HOME opened by several processes at once: the instance is set up once, and every one works.

Opening a fresh SQLite instance from several processes at once races in Dagster's schema set-up (duplicate alembic
heads, tables created twice); users do exactly this (`annapurna ui` in one terminal, a command in another).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TRIALS = 3


def _commands(home: Path) -> list[list[str]]:
    annapurna = str(Path(sys.executable).with_name("annapurna"))
    dagster = str(Path(sys.executable).with_name("dagster"))
    dagster_home = home / "dagster"
    wait_then_dagster = (  # Dagster refuses a DAGSTER_HOME that does not exist yet: it starts as soon as it does
        f"until [ -d {dagster_home} ]; do sleep 0.01; done; DAGSTER_HOME={dagster_home} {dagster} instance info"
    )
    return [
        [annapurna, "status", "--dagster", "--json"],
        [annapurna, "status", "--dagster", "--json"],
        [annapurna, "doctor"],
        [annapurna, "search", "transformer"],
        ["bash", "-c", wait_then_dagster],
        ["bash", "-c", wait_then_dagster],
    ]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_several_processes_open_a_fresh_home_at_once(tmp_path, trial):
    home = tmp_path / "home"
    env = {**os.environ, "ANNAPURNA_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in _commands(home)
    ]
    for command, process in zip(_commands(home), processes):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{command[-1][:80]} failed:\n{err[-3000:]}"
        assert "Traceback" not in err, err[-3000:]
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".dagster")) == []  # no staging left
    assert (home / "dagster" / ".initialized").exists()
