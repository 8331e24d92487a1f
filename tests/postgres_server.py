"""A real PostgreSQL server on loopback for the storage tests.

`_postgres_server` (session-scoped) runs initdb and `pg_ctl start` in a fresh folder under /tmp, listening on
127.0.0.1 on a free port with trust authentication (loopback only), as the `postgres` OS user when the tests run as
root. `postgres_url` (per test) creates a fresh database on it and returns its URL. The tests that use them are
skipped when PostgreSQL is not installed.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT_S = 30
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"


def _bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin, else the folder of `initdb` on PATH."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    found = versions[-1] if versions else shutil.which("initdb")
    if not found:
        return None
    folder = Path(found).resolve().parent
    return folder if (folder / "pg_ctl").exists() else None


def _run_as_postgres() -> tuple[list[str], str]:
    """The command prefix that runs a program as the server's OS user, and that user (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no `postgres` OS user to run the PostgreSQL server as")
    return ["runuser", "-u", "postgres", "--"], "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _checked(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S * 2)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")


class PostgresUnavailable(Exception):
    """PostgreSQL is not installed here, or there is no OS user to run it as."""


@contextmanager
def loopback_postgres() -> Iterator[tuple[str, int, str]]:
    """(host, port, superuser) of a server started for the block, in a fresh folder; stopped (pg_ctl, by its data
    folder) and deleted after it."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin or on PATH)"
        )
    as_user, user = _run_as_postgres()
    root = Path(tempfile.mkdtemp(prefix="annapurna-postgres-"))
    data = root / "data"
    if as_user:
        shutil.chown(root, user=user, group=pwd.getpwnam(user).pw_gid)
    port = _free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        _checked(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"],
            "initdb",
        )
        options = f"-h 127.0.0.1 -p {port} -k {root} {SERVER_OPTIONS}"
        _checked(
            [*pg_ctl, "-w", "-t", str(START_TIMEOUT_S), "-l", str(root / "server.log"), "-o", options, "start"],
            "pg_ctl start",
        )
    except Exception:
        log = root / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL from {bin_dir}; server log:\n{detail}") from None
    try:
        yield "127.0.0.1", port, user
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=START_TIMEOUT_S)
        shutil.rmtree(root, ignore_errors=True)


def create_database(host: str, port: int, user: str) -> str:
    """A new, empty database on the server: `postgresql://user@host:port/name`."""
    import psycopg2

    name = f"annapurna_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return f"postgresql://{user}@{host}:{port}/{name}"


@pytest.fixture(scope="session")
def _postgres_server():
    """(host, port, superuser) of a running server for the test session."""
    try:
        with loopback_postgres() as server:
            yield server
    except PostgresUnavailable as reason:
        pytest.skip(str(reason))


@pytest.fixture
def postgres_url(_postgres_server) -> str:
    """A new, empty database on the loopback server."""
    return create_database(*_postgres_server)
