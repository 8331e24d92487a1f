"""Backend settings: a wrong value is refused with the setting's name and what it accepts."""

import dagster as dg
import pytest

from annapurna_assets.backends import build_launcher, build_resources
from annapurna_resources import Trn1Launcher


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("ANNAPURNA_ENV", "gcp", "expected local or aws"),
        ("ANNAPURNA_INDEX", "elastic", "expected sqlite or opensearch"),
        ("ANNAPURNA_BLOBS", "gcs", "expected local or s3"),
        ("ANNAPURNA_TRN1_MODE", "sshh", "expected local, ssh or ssm"),
        ("ANNAPURNA_TRN1_SLOTS", "four", "expected a number of slots or auto"),
        ("ANNAPURNA_DATASETS_OFFLINE", "mnist", "is not name=layout"),
    ],
)
def test_a_wrong_setting_is_refused_by_name(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    if name == "ANNAPURNA_DATASETS_OFFLINE":
        monkeypatch.setenv("ANNAPURNA_CODEGEN", "openai")
    with pytest.raises(ValueError, match=f"{name}.*{message}"):
        build_resources()


def test_aws_environment_switches_every_default(monkeypatch):
    monkeypatch.setenv("ANNAPURNA_ENV", "aws")
    monkeypatch.setenv("ANNAPURNA_S3_BUCKET", "annapurna-test")
    resources = build_resources()
    kinds = {name: type(resources[name]).__name__ for name in ("paper_index", "blob_store", "launcher")}
    assert kinds == {"paper_index": "OpenSearchPaperIndex", "blob_store": "S3BlobStore", "launcher": "Trn1Launcher"}
    assert resources["launcher"].mode == "ssm" and resources["launcher"].slots == 0  # sized on the instance


@pytest.mark.parametrize(
    "launcher, message",
    [
        (Trn1Launcher(mode="ssh"), "ssh mode needs a host"),
        (Trn1Launcher(mode="ssm", s3_bucket="annapurna-test"), "ssm mode needs ANNAPURNA_EC2_INSTANCE_ID"),
    ],
)
def test_a_remote_mode_without_its_host_is_refused(launcher, message):
    with pytest.raises(dg.Failure, match=message):
        launcher.host()


def test_the_default_launcher_runs_here():
    assert build_launcher().mode == "local"
