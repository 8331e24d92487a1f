"""A real OpenSSH server on loopback for the SSH launcher tests.

`ssh_server` (session-scoped) starts `/usr/sbin/sshd -D -e -f <config>` on 127.0.0.1 on a free port, with a host
key and a client key made by ssh-keygen, the client key authorized for the current user, and a known_hosts file
that trusts the host key. It skips the tests that use it when sshd is missing or cannot start.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    key_path: str
    known_hosts_path: str
    pid: int

    def session_pids(self) -> list[int]:
        """The sshd processes serving connections (the listener's descendants that run sshd itself)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry))
        found, pending = [], list(children.get(self.pid, []))
        while pending:
            pid = pending.pop()
            pending += children.get(pid, [])
            try:
                if os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("sshd"):
                    found.append(pid)
            except OSError:
                continue
        return found

    def drop_connections(self) -> int:
        """SIGKILL every session process (the listener stays): the clients see the connection lost."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "annapurna-test", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _wait_listening(process: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory) -> SshServer:
    if not SSHD.exists() or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        pytest.skip(f"needs the OpenSSH server ({SSHD}) and client (ssh, ssh-keygen): apt-get install openssh-server")
    root = tmp_path_factory.mktemp("sshd")
    host_public = _keygen(root / "host_ed25519_key")
    client_public = _keygen(root / "client_ed25519_key")
    (root / "authorized_keys").write_text(client_public + "\n")
    port = free_port()
    # `localhost` too: a test uses this server as its own jump host, which ssh refuses under the same name
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port},[localhost]:{port} {host_public}\n")
    (root / "sshd_config").write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {root / 'host_ed25519_key'}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                "MaxStartups 50",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # sshd's privilege-separation directory
    log = (root / "sshd.log").open("wb")
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(root / "sshd_config")], stdout=log, stderr=subprocess.STDOUT
    )
    if not _wait_listening(process, port):
        process.kill()
        process.wait()
        pytest.skip(f"sshd could not start on 127.0.0.1:{port}: {(root / 'sshd.log').read_text()[-500:]}")
    try:
        yield SshServer(
            host="127.0.0.1",
            port=port,
            user=getpass.getuser(),
            key_path=str(root / "client_ed25519_key"),
            known_hosts_path=str(root / "known_hosts"),
            pid=process.pid,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
