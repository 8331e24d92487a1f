"""Runs on the host next to the batch runner in SSH mode: `python ssh_supervisor.py BATCH_DIR RUNNER MESSAGES`.

It starts the runner and streams the Pipes messages the runner appends to MESSAGES to stdout (the SSH channel).
When the channel closes (stdin reaches end of file, or stdout breaks) the connection is gone: it kills the runner
and the scripts still running in the batch directory (with the runner's own kill loop) and removes the directory.
Standard library only (and the runner file beside it).
"""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

CONNECTION_LOST = 255  # what ssh itself exits with when the connection fails


def load_runner(path: str):
    spec = importlib.util.spec_from_file_location("trn1_runner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def watch_channel(lost: threading.Event) -> None:
    while os.read(0, 65536):
        pass
    lost.set()


def kill_batch(runner: subprocess.Popen, batch_dir: str, runner_module) -> None:
    try:
        os.killpg(runner.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    inside = os.path.realpath(batch_dir)  # the scripts run in their own sessions, in work dirs under the batch dir
    runner_module.kill_processes(lambda pid: runner_module.cwd_inside(pid, inside))
    runner.wait()
    shutil.rmtree(batch_dir, ignore_errors=True)


def stream(runner: subprocess.Popen, messages_path: str, lost: threading.Event) -> int | None:
    """Copies new message lines to stdout until the runner exits (its exit code) or the channel is gone (None)."""
    offset, partial = 0, b""
    while not lost.is_set():
        exited = runner.poll() is not None
        try:
            with open(messages_path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        offset += len(data)
        *lines, partial = (partial + data).split(b"\n")
        try:
            if lines:
                sys.stdout.buffer.write(b"".join(line + b"\n" for line in lines))
                sys.stdout.buffer.flush()
        except OSError:
            return None
        if exited:
            return runner.returncode
        time.sleep(0.2)
    return None


def main(batch_dir: str, runner_path: str, messages_path: str) -> int:
    lost = threading.Event()
    threading.Thread(target=watch_channel, args=(lost,), daemon=True).start()
    runner = subprocess.Popen([sys.executable, "-u", runner_path], stdin=subprocess.DEVNULL, start_new_session=True)
    code = stream(runner, messages_path, lost)
    if code is not None:
        return code
    kill_batch(runner, batch_dir, load_runner(runner_path))
    return CONNECTION_LOST


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
