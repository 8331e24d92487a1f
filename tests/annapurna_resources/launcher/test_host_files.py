"""The code that runs on the execution host is real files of the package, run here as the host runs them."""

import io
import subprocess
import sys
import tarfile

from annapurna_resources.launcher.host import host_file, host_source
from annapurna_resources.launcher.host.profile_wrapper import union_ms

HOST_FILES = ("trn1_runner.py", "profile_wrapper.py", "ssh_supervisor.py", "batch_archive.py", "s3_sync.py")


def test_every_host_file_ships_with_the_package_and_compiles():
    for name in HOST_FILES:
        assert host_file(name).is_file()
        compile(host_source(name), name, "exec")


def test_the_batch_archive_round_trips_results_and_never_packs_a_link(tmp_path):
    archive = host_source("batch_archive.py")
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        data = b"print('hi')\n"
        info = tarfile.TarInfo("batch-1/paper-a/main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    subprocess.run([sys.executable, "-c", archive, "extract"], cwd=shipped, input=packed.getvalue(), check=True)
    paper = shipped / "batch-1" / "paper-a"
    assert (paper / "main.py").read_text() == "print('hi')\n"

    (paper / "stdout.log").write_text("METRICS: {}\n")
    (paper / "annapurna_trace.json").symlink_to("/etc/passwd")  # a script's attempt to smuggle a file out
    out = subprocess.run(
        [sys.executable, "-c", archive, "pack", "stdout.log", "annapurna_trace.json"],
        cwd=shipped / "batch-1",
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(out), mode="r:gz") as tar:
        assert tar.getnames() == ["paper-a/stdout.log"]


def test_the_profile_wrapper_counts_overlapping_ops_once():
    assert union_ms([(0, 1000), (500, 2000), (3000, 4000)]) == 3.0


def test_the_profile_wrapper_runs_a_script_without_profiling_when_asked_for_no_steps(tmp_path):
    (tmp_path / "main.py").write_text("import sys\nprint('ran', sys.argv)\n")
    done = subprocess.run(
        [sys.executable, str(host_file("profile_wrapper.py")), "0", "trace.json", "profile.json", "main.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ran ['main.py']" in done.stdout
    assert (tmp_path / "trace.json").is_file() and (tmp_path / "profile.json").is_file()
