"""Mode `ssh` of the trn1 launcher: the batch runs on any host reachable over SSH (a trn1 instance, a GPU box).

The OpenSSH client does the work (`ssh -F <generated config>`, so BatchMode, strict host key checking against the
configured known_hosts, the key and the timeouts apply to the jump host too). One batch is four connections:
ship the batch dir, the runner and the Pipes context as a tar stream; run the runner under a small supervisor that
streams the runner's Pipes message file back over the channel (logs and per-paper results arrive while the batch
runs); fetch the traces, profiles and logs; remove the remote batch dir. The host needs only Python,
dagster-pipes and torch.
"""

import collections
import io
import json
import posixpath
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from annapurna_resources.launcher.host import host_file, host_source
from annapurna_resources.launcher.host.trn1_runner import RESULT_FILES
from annapurna_resources.launcher.trn1_launcher import RUNNER, BatchHost, InfrastructureError, runner_environment

# What ssh says when an established connection goes away (as opposed to one that could not be made).
DROPPED_CONNECTION = ("closed by remote host", "Connection reset", "Broken pipe", "Timeout, server")

RUNNER_NAME = "_trn1_runner.py"
SUPERVISOR_NAME = "_ssh_supervisor.py"
CONTEXT_NAME = "_pipes_context.json"
MESSAGES_NAME = "_pipes_messages.jsonl"
SSH_FAILED = 255  # what ssh exits with when the connection fails or is lost
CONNECT_TIMEOUT_S = 10
KEEPALIVE_S = 15  # a silent peer is dropped after 4 unanswered keepalives
CLEANUP_TIMEOUT_S = 60

ARCHIVE = host_source("batch_archive.py")  # run as `python -c` (nothing is on the host yet)


class ShippedContextInjector(dg.PipesContextInjector):
    """The Pipes context goes to the host as a file in the shipped batch (`context_data`, then `remote_path`)."""

    def __init__(self, remote_path: str):
        self.remote_path = remote_path
        self.context_data = None

    @contextmanager
    def inject_context(self, context_data) -> Iterator[dict]:
        self.context_data = context_data
        yield {"path": self.remote_path}

    def no_messages_debug_text(self) -> str:
        return f"Shipped the Pipes context over SSH as {self.remote_path} on the host."


class SshStreamMessageReader(dg.PipesMessageReader):
    """The runner appends its Pipes messages to `remote_path` on the host; the supervisor streams each line back
    over the SSH channel, and `handle_line` hands it to the session while the batch runs."""

    def __init__(self, remote_path: str):
        self.remote_path = remote_path
        self.opened = False
        self.closed = False
        self._handler = None

    @contextmanager
    def read_messages(self, handler) -> Iterator[dict]:
        self._handler = handler
        try:
            yield {"path": self.remote_path}
        finally:
            self._handler = None

    def handle_line(self, line: bytes, log) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict) or "method" not in message:
            log.info(f"[runner] {line.decode(errors='replace').rstrip()}")
            return
        self.opened = self.opened or message["method"] == "opened"
        self.closed = self.closed or message["method"] == "closed"
        self._handler.handle_message(message)

    def no_messages_debug_text(self) -> str:
        return f"Expected the runner's Pipes messages in {self.remote_path} on the host, streamed back over SSH."


class SshHost(BatchHost):
    """A host reached with the OpenSSH client; the batch runs in `remote_work_root/<batch dir name>`."""

    def __init__(
        self,
        host: str,
        port: int = 22,
        user: str = "",
        key_path: str = "",
        jump_host: str = "",
        known_hosts_path: str = "",
        remote_work_root: str = "/tmp/annapurna-batches",
        remote_python: str = "python3",
    ):
        if not host:
            raise dg.Failure("launcher mode ssh needs a host: set launcher.ssh.host or launcher.ec2.instance_id")
        if host.startswith("-") or jump_host.startswith("-"):
            raise dg.Failure(f"SSH host {host!r} / jump host {jump_host!r}: a host name cannot start with '-'")
        if not posixpath.isabs(remote_work_root) or posixpath.normpath(remote_work_root) == "/":
            raise dg.Failure(f"remote_work_root {remote_work_root!r} must be an absolute directory other than /")
        for label, path in (("ssh_key_path", key_path), ("ssh_known_hosts_path", known_hosts_path)):
            if path and not Path(path).expanduser().is_file():
                raise dg.Failure(f"{label} {path!r} does not exist (or is not a file) on this machine")
        self.host, self.port, self.user = host, port, user
        self.key_path = str(Path(key_path).expanduser()) if key_path else ""
        self.known_hosts_path = str(Path(known_hosts_path).expanduser()) if known_hosts_path else ""
        self.jump_host = jump_host
        self.remote_work_root = posixpath.normpath(remote_work_root)
        self.remote_python = remote_python
        self.description = f"ssh {user + '@' if user else ''}{host}:{port}" + (f" via {jump_host}" if jump_host else "")

    def ssh_config(self) -> str:
        """The client settings, as an ssh_config file: `ssh -J` passes `-F` on to the jump connection, not `-o`."""
        lines = [
            "Host *",
            "  BatchMode yes",
            "  StrictHostKeyChecking yes",
            f"  ConnectTimeout {CONNECT_TIMEOUT_S}",
            f"  ServerAliveInterval {KEEPALIVE_S}",
            "  ServerAliveCountMax 4",
            "  RequestTTY no",
            "  ForwardAgent no",
            "  ForwardX11 no",
            "  ClearAllForwardings yes",
            "  LogLevel ERROR",
        ]
        if self.known_hosts_path:
            lines += [f'  UserKnownHostsFile "{self.known_hosts_path}"', "  GlobalKnownHostsFile /dev/null"]
        if self.key_path:
            lines += [f'  IdentityFile "{self.key_path}"', "  IdentitiesOnly yes"]
        return "\n".join(lines) + "\n"

    def ssh_command(self, config_path: str, remote_command: str) -> list[str]:
        command = ["ssh", "-F", config_path, "-p", str(self.port)]
        if self.user:
            command += ["-l", self.user]
        if self.jump_host:
            command += ["-J", self.jump_host]
        return [*command, "--", self.host, remote_command]

    def run_runner(self, context, extras: dict, batch_dir: Path) -> dg.PipesClientCompletedInvocation:
        if shutil.which("ssh") is None:
            raise InfrastructureError("the OpenSSH client `ssh` is not installed here (Debian: openssh-client)")
        remote_dir = posixpath.join(self.remote_work_root, batch_dir.name)
        injector = ShippedContextInjector(posixpath.join(remote_dir, CONTEXT_NAME))
        reader = SshStreamMessageReader(posixpath.join(remote_dir, MESSAGES_NAME))
        remote_extras = {**extras, "batch": {**extras["batch"], "batch_dir": remote_dir}}
        with tempfile.TemporaryDirectory(prefix="annapurna-ssh-") as config_dir:
            config_path = str(Path(config_dir) / "ssh_config")
            Path(config_path).write_text(self.ssh_config())
            try:
                with dg.open_pipes_session(
                    context=context, context_injector=injector, message_reader=reader, extras=remote_extras
                ) as session:
                    context.log.info(f"shipping the batch to {remote_dir} on {self.description}")
                    self._ship(config_path, batch_dir, injector.context_data)
                    self._run(context, config_path, remote_dir, session.get_bootstrap_env_vars(), reader)
                    self._fetch_results(config_path, remote_dir, batch_dir)
            finally:
                self._remove(context, config_path, remote_dir)
        return dg.PipesClientCompletedInvocation(session)

    def _ship(self, config_path: str, batch_dir: Path, context_data) -> None:
        name = batch_dir.name
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(batch_dir, arcname=name)
            tar.add(RUNNER, arcname=f"{name}/{RUNNER_NAME}")
            tar.add(host_file("ssh_supervisor.py"), arcname=f"{name}/{SUPERVISOR_NAME}")
            for arcname, text in ((CONTEXT_NAME, json.dumps(context_data)),):
                data = text.encode()
                info = tarfile.TarInfo(f"{name}/{arcname}")
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        root = shlex.quote(self.remote_work_root)
        command = f"mkdir -p {root} && cd {root} && {shlex.quote(self.remote_python)} -c {shlex.quote(ARCHIVE)} extract"
        completed = subprocess.run(
            self.ssh_command(config_path, command), input=buffer.getvalue(), capture_output=True, check=False
        )
        if completed.returncode == SSH_FAILED:
            raise InfrastructureError(f"cannot reach {self.description}: {_last_lines(completed.stderr)}")
        if completed.returncode != 0:
            raise InfrastructureError(
                f"could not ship the batch to {self.description} (exit {completed.returncode}; is remote_python "
                f"{self.remote_python!r} a Python on the host?): {_last_lines(completed.stderr)}"
            )

    def _run(self, context, config_path: str, remote_dir: str, bootstrap_env: dict, reader) -> None:
        variables = {**bootstrap_env, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
        if "ANNAPURNA_SANDBOX" in (local := runner_environment()):  # "rlimits": skip bwrap (to test the fallback)
            variables["ANNAPURNA_SANDBOX"] = local["ANNAPURNA_SANDBOX"]
        assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in variables.items())
        arguments = " ".join(shlex.quote(a) for a in (SUPERVISOR_NAME, remote_dir, RUNNER_NAME, reader.remote_path))
        command = f"cd {shlex.quote(remote_dir)} && env {assignments} {shlex.quote(self.remote_python)} {arguments}"
        context.log.info(f"running the batch runner on {self.description}")
        process = subprocess.Popen(
            self.ssh_command(config_path, command),
            stdin=subprocess.PIPE,  # held open while the batch runs: the supervisor stops the batch when it closes
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stderr_tail: collections.deque[bytes] = collections.deque(maxlen=40)
        drain = threading.Thread(target=lambda: stderr_tail.extend(process.stderr), daemon=True)
        drain.start()
        try:
            for line in process.stdout:
                reader.handle_line(line, context.log)
            exit_code = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdin.close()
            drain.join(timeout=5)
        errors = _last_lines(b"".join(stderr_tail))
        if exit_code == SSH_FAILED and not reader.opened and not any(sign in errors for sign in DROPPED_CONNECTION):
            raise InfrastructureError(f"cannot run the batch on {self.description}: {errors}")
        if exit_code == SSH_FAILED:
            raise InfrastructureError(
                f"lost the SSH connection to {self.description} mid-batch ({errors or 'no message from ssh'}); "
                "the host side stops the batch and removes its files"
            )
        if not reader.opened:
            raise InfrastructureError(
                f"the batch runner did not start on {self.description} (exit {exit_code}; does remote_python "
                f"{self.remote_python!r} have dagster-pipes installed?): {errors}"
            )
        if exit_code != 0 or not reader.closed:
            raise InfrastructureError(
                f"the batch runner failed on {self.description} with exit code {exit_code} (an infrastructure "
                f"failure: the papers stay pending): {errors}"
            )

    def _fetch_results(self, config_path: str, remote_dir: str, batch_dir: Path) -> None:
        names = " ".join(shlex.quote(name) for name in RESULT_FILES)
        command = (
            f"cd {shlex.quote(remote_dir)} && {shlex.quote(self.remote_python)} -c {shlex.quote(ARCHIVE)} pack {names}"
        )
        with tempfile.TemporaryFile() as archive, tempfile.TemporaryFile() as errors:
            code = subprocess.run(
                self.ssh_command(config_path, command), stdout=archive, stderr=errors, check=False
            ).returncode
            errors.seek(0)
            if code != 0:
                raise InfrastructureError(
                    f"could not fetch the batch's traces and logs from {self.description} (exit {code}): "
                    f"{_last_lines(errors.read())}"
                )
            archive.seek(0)
            papers = {p.name for p in batch_dir.iterdir() if p.is_dir()}
            with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                members = [m for m in tar.getmembers() if m.isfile() and _is_result_file(m.name, papers)]
                tar.extractall(batch_dir, members=members, filter="data")

    def _remove(self, context, config_path: str, remote_dir: str) -> None:
        try:
            completed = subprocess.run(
                self.ssh_command(config_path, f"rm -rf -- {shlex.quote(remote_dir)}"),
                capture_output=True,
                timeout=CLEANUP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            context.log.warning(f"could not remove {remote_dir} on {self.description}: timed out")
            return
        if completed.returncode != 0:
            context.log.warning(f"could not remove {remote_dir} on {self.description}: {_last_lines(completed.stderr)}")


def _is_result_file(name: str, papers: set[str]) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[0] in papers and parts[1] in RESULT_FILES


def _last_lines(stderr: bytes, count: int = 8) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no error output)"
