"""Code that runs on the execution host, kept as files of the package.

`trn1_runner.py` runs a batch; `profile_wrapper.py` profiles each script; `ssh_supervisor.py` streams the runner's
Pipes messages over SSH and stops the batch when the connection goes; `batch_archive.py` unpacks a shipped batch and
packs its results (SSH mode); `s3_sync.py` moves a batch through S3 (SSM mode). Each needs only the standard library
(the runner also dagster-pipes; the S3 sync boto3). The launcher ships them as files, or as `python -c` source.
"""

from importlib.resources import files
from pathlib import Path


def host_file(name: str) -> Path:
    return Path(str(files(__name__) / name))


def host_source(name: str) -> str:
    return (files(__name__) / name).read_text()
